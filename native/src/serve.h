/* `berth-runtime serve`: a co-process that runs berth-runtime commands for one parent process
 * (the Node engine) without the cost of a spawn from it. See serve.c for the protocol. */
#ifndef BR_SERVE_H
#define BR_SERVE_H

/* The command-line entry point: parses the global flags and runs one command; returns the exit
 * code. main() and every child of serve run it, so a command behaves the same either way. */
int br_main(int argc, char **argv);

/* Runs the serve loop until the parent closes the request pipe or dies; returns an exit code. */
int br_cmd_serve(int argc, char **argv);

/* mount-overlay and umount: the engine's rootfs mounts as one syscall each, not a mount(8). */
int br_cmd_mount_overlay(int argc, char **argv);
int br_cmd_umount(int argc, char **argv);

#endif
