/* The networking commands of berth-runtime, called once per container or network by the
 * TypeScript network layer. Each takes the dispatcher's argc/argv (argv[0] is the command
 * name), prints a one-line "berth-runtime: <message>" on stderr on failure, and returns the
 * process exit code. See docs/network-native.md for the command lines and their output. */
#ifndef BR_NET_COMMANDS_H
#define BR_NET_COMMANDS_H

int br_cmd_netns_create(int argc, char **argv);
int br_cmd_netns_delete(int argc, char **argv);
int br_cmd_bridge_ensure(int argc, char **argv);
int br_cmd_bridge_delete(int argc, char **argv);
int br_cmd_veth_attach(int argc, char **argv);
int br_cmd_veth_detach(int argc, char **argv);
int br_cmd_port_proxy(int argc, char **argv);
int br_cmd_nat_ensure(int argc, char **argv);
int br_cmd_nat_remove(int argc, char **argv);

#endif
