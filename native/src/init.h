/* A minimal init for pid 1 (`--init`, like tini): it forks the container's process, forwards
 * every catchable signal to it, reaps every zombie, and exits as the process did. */
#ifndef BR_INIT_H
#define BR_INIT_H

/* Called as pid 1 inside the container, when everything is set up and only execve() is
 * left. Blocks signals, forks; the child restores the signal mask and calls
 * exec_child(arg), which must exec or _exit(127/126). The parent forwards signals to the
 * child and reaps. Never returns: _exit()s with the child's exit code, or 128+signal when it
 * was killed by a signal. */
__attribute__((noreturn)) void br_init_run(int (*exec_child)(void *arg), void *arg);

#endif
