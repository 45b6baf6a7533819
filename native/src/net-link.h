/* The veth half of veth-attach, shared with netns-create, which can attach the new
 * namespace in the same process (one spawn per container instead of two). */
#ifndef BR_NET_LINK_H
#define BR_NET_LINK_H

#include "net-util.h"

#include <net/if.h>

#define MAX_ADDRS 8

/* The options of a veth, in this order, for an opts table: --bridge --ifname --addr
 * --gateway --mac --host-ifname --mtu. */
#define NET_VETH_NOPTS 7
#define NET_VETH_OPTS                                                                              \
  {.name = "bridge"}, {.name = "ifname"}, {.name = "addr", .max = MAX_ADDRS},                      \
      {.name = "gateway", .max = 2}, {.name = "mac"}, {.name = "host-ifname"},                     \
  {                                                                                                \
    .name = "mtu"                                                                                  \
  }

struct net_veth {
  const char *bridge, *ifname, *host_ifname;
  struct net_addr addrs[MAX_ADDRS];
  const char *addr_str[MAX_ADDRS];
  int naddrs;
  struct net_addr gws[2];
  const char *gw_str[2];
  int ngws;
  unsigned char mac[6];
  int have_mac;
  unsigned long mtu;
  unsigned bridx;
  int hnl; /* netlink socket on the host; -1 when not open */
  char host[IFNAMSIZ];
  int created;
};

/* Reads the NET_VETH_NOPTS options starting at o. */
int net_veth_parse(const struct net_opt *o, struct net_veth *v, br_error_t *err);
/* Looks the bridge up and opens the host netlink socket: call while still on the host. */
int net_veth_prepare(struct net_veth *v, br_error_t *err);
/* Creates the pair, the peer inside the namespace nsfd. */
int net_veth_create(struct net_veth *v, int nsfd, br_error_t *err);
/* Address, up, default routes: nnl is a netlink socket inside the namespace, and the calling
 * thread must be in it too (interface names are looked up there). */
int net_veth_configure(struct net_veth *v, int nnl, br_error_t *err);
void net_veth_undo(struct net_veth *v);
void net_veth_release(struct net_veth *v);
/* Deletes the link `name` in the netlink socket's namespace: 0, or a negative errno. */
int net_delete_link(int nl, const char *name);
/* Prints "hostIfname":…,"mac":… (no braces) on stdout. */
void net_veth_print(const struct net_veth *v);

#endif
