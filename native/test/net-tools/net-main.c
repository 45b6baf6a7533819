/* A stand-alone dispatcher for the net-* commands, so they can be built and tested before
 * berth-runtime's own dispatcher (native/src/main.c) routes to them: `make net-test`. */
#include "../../src/net-commands.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int (*fn)(int, char **);
} commands[] = {
    {"netns-create", br_cmd_netns_create},   {"netns-delete", br_cmd_netns_delete},
    {"bridge-ensure", br_cmd_bridge_ensure}, {"bridge-delete", br_cmd_bridge_delete},
    {"veth-attach", br_cmd_veth_attach},     {"veth-detach", br_cmd_veth_detach},
    {"port-proxy", br_cmd_port_proxy},       {"nat-ensure", br_cmd_nat_ensure},
    {"nat-remove", br_cmd_nat_remove},
};

int main(int argc, char **argv)
{
  if (argc < 2) {
    fputs("berth-runtime: usage: net-test COMMAND [OPTIONS]\n", stderr);
    return 2;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "berth-runtime: unknown command `%s`\n", argv[1]);
  return 2;
}
