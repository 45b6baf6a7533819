/* bridge-ensure / bridge-delete / veth-attach / veth-detach: the per-network and
 * per-container links, each one process and a handful of netlink requests. */
#include "net-commands.h"
#include "net-link.h"
#include "net-netlink.h"
#include "net-util.h"
#include "utils.h"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_bridge(const char *name)
{
  char path[64];
  struct stat st;
  snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", name);
  return stat(path, &st) == 0;
}

static int read_mtu(const char *name)
{
  char path[64], buf[16] = {0};
  cleanup_close int fd = -1;
  snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", name);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
    return 0;
  return atoi(buf);
}

int net_delete_link(int nl, const char *name)
{
  struct br_nl_msg m;
  struct ifinfomsg *ifi;
  br_nl_msg_init(&m, RTM_DELLINK, 0);
  ifi = br_nl_msg_put_hdr(&m, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  br_nl_attr_put_str(&m, IFLA_IFNAME, name);
  return br_nl_transact(nl, &m);
}

/* NLM_F_REPLACE makes re-adding the same address a success, so bridge-ensure stays
 * idempotent and two racing callers both succeed. IPv6 addresses skip duplicate address
 * detection: the subnet is ours, and DAD would hold the address "tentative" (unusable) for
 * about a second after every container start. */
static int add_addr(int nl, int ifindex, const struct net_addr *a)
{
  struct br_nl_msg m;
  struct ifaddrmsg *ifa;
  size_t alen = net_addr_len(a->family);
  br_nl_msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  ifa = br_nl_msg_put_hdr(&m, sizeof(*ifa));
  ifa->ifa_family = (unsigned char)a->family;
  ifa->ifa_prefixlen = (unsigned char)a->prefix;
  ifa->ifa_index = (unsigned)ifindex;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  br_nl_attr_put(&m, IFA_LOCAL, a->bytes, alen);
  br_nl_attr_put(&m, IFA_ADDRESS, a->bytes, alen);
  if (a->family == AF_INET6)
    br_nl_attr_put_u32(&m, IFA_FLAGS, IFA_F_NODAD);
  return br_nl_transact(nl, &m);
}

static int add_default_route(int nl, int ifindex, const struct net_addr *gw)
{
  struct br_nl_msg m;
  struct rtmsg *rt;
  br_nl_msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  rt = br_nl_msg_put_hdr(&m, sizeof(*rt));
  rt->rtm_family = (unsigned char)gw->family;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  br_nl_attr_put(&m, RTA_GATEWAY, gw->bytes, net_addr_len(gw->family));
  br_nl_attr_put_u32(&m, RTA_OIF, (uint32_t)ifindex);
  return br_nl_transact(nl, &m);
}

static int parse_addrs(const struct net_opt *o, int need_prefix, struct net_addr *out,
                       br_error_t *err)
{
  for (int i = 0; i < o->n; i++)
    if (net_parse_addr(o->val[i], need_prefix, &out[i], err) < 0)
      return br_error_wrap(err, "--%s", o->name);
  return 0;
}

int br_cmd_bridge_ensure(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "name"}, {.name = "addr", .max = MAX_ADDRS}, {.name = "mtu"}};
  struct net_addr addrs[MAX_ADDRS];
  unsigned long mtu = 0;
  cleanup_close int nl = -1;
  const char *name;
  struct br_nl_msg m;
  struct ifinfomsg *ifi;
  struct rtattr *info;
  unsigned ifindex;
  int r;

  if (net_parse_opts(argc, argv, opts, 3, &err) < 0)
    return net_fail(&err);
  name = opts[0].n ? opts[0].val[0] : NULL;
  if (name == NULL) {
    br_error_make(&err, 0, "%s: --name is required", argv[0]);
    return net_fail(&err);
  }
  if (net_check_ifname(name, "bridge name", &err) < 0 ||
      parse_addrs(&opts[1], 1, addrs, &err) < 0 ||
      (opts[2].n && net_parse_ulong(opts[2].val[0], 68, 65535, "--mtu", &mtu, &err) < 0))
    return net_fail(&err);

  nl = br_nl_open();
  if (nl < 0) {
    br_error_make(&err, -nl, "ensure bridge `%s`: open netlink socket", name);
    return net_fail(&err);
  }
  br_nl_msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifi = br_nl_msg_put_hdr(&m, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  br_nl_attr_put_str(&m, IFLA_IFNAME, name);
  if (mtu)
    br_nl_attr_put_u32(&m, IFLA_MTU, (uint32_t)mtu);
  /* A bridge without its own MAC takes the lowest of its ports' and changes it as containers
   * come and go, which breaks every neighbour's ARP entry for the gateway. */
  for (int i = 0; i < opts[1].n; i++)
    if (addrs[i].family == AF_INET) {
      unsigned char mac[6];
      net_mac_from_ipv4(addrs[i].bytes, mac);
      br_nl_attr_put(&m, IFLA_ADDRESS, mac, 6);
      break;
    }
  info = br_nl_nest_start(&m, IFLA_LINKINFO);
  br_nl_attr_put_str(&m, IFLA_INFO_KIND, "bridge");
  br_nl_nest_end(&m, info);
  r = br_nl_transact(nl, &m);
  if (r == -EEXIST) {
    if (!is_bridge(name)) {
      br_error_make(&err, 0, "ensure bridge `%s`: a link of that name exists and is not a bridge",
                    name);
      return net_fail(&err);
    }
  } else if (r < 0) {
    br_error_make(&err, -r, "ensure bridge `%s`: create", name);
    return net_fail(&err);
  }
  ifindex = if_nametoindex(name);
  if (ifindex == 0) {
    /* A racing bridge-delete removed it between our two steps. */
    br_error_make(&err, errno, "ensure bridge `%s`: find its index", name);
    return net_fail(&err);
  }
  for (int i = 0; i < opts[1].n; i++) {
    r = add_addr(nl, (int)ifindex, &addrs[i]);
    if (r < 0 && r != -EEXIST) {
      br_error_make(&err, -r, "ensure bridge `%s`: add address `%s`", name, opts[1].val[i]);
      return net_fail(&err);
    }
  }
  r = br_nl_link_up(nl, (int)ifindex);
  if (r < 0) {
    br_error_make(&err, -r, "ensure bridge `%s`: bring it up", name);
    return net_fail(&err);
  }
  fputs("{\"name\":", stdout);
  net_json_str(stdout, name);
  printf(",\"ifindex\":%u}\n", ifindex);
  return 0;
}

int br_cmd_bridge_delete(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "name"}};
  cleanup_close int nl = -1;
  const char *name;
  int r;

  if (net_parse_opts(argc, argv, opts, 1, &err) < 0)
    return net_fail(&err);
  if (opts[0].n == 0) {
    br_error_make(&err, 0, "%s: --name is required", argv[0]);
    return net_fail(&err);
  }
  name = opts[0].val[0];
  if (net_check_ifname(name, "bridge name", &err) < 0)
    return net_fail(&err);
  if (if_nametoindex(name) == 0)
    return 0;
  /* Never delete eth0 because a caller passed the wrong name. */
  if (!is_bridge(name)) {
    br_error_make(&err, 0, "delete bridge `%s`: it is not a bridge", name);
    return net_fail(&err);
  }
  nl = br_nl_open();
  if (nl < 0) {
    br_error_make(&err, -nl, "delete bridge `%s`: open netlink socket", name);
    return net_fail(&err);
  }
  r = net_delete_link(nl, name);
  if (r < 0 && r != -ENODEV) {
    br_error_make(&err, -r, "delete bridge `%s`", name);
    return net_fail(&err);
  }
  return 0;
}

static void random_ifname(char *buf, size_t len)
{
  unsigned char rnd[4] = {0};
  if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
    unsigned v = (unsigned)getpid() ^ (unsigned)(uintptr_t)&rnd;
    memcpy(rnd, &v, sizeof(rnd));
  }
  snprintf(buf, len, "vb%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
}

/* One RTM_NEWLINK creates both ends: the host end enslaved to the bridge and up, the peer
 * created directly inside the target namespace with its final name, MAC and MTU. The peer
 * cannot be brought up in the same request (the kernel answers ENOTCONN when the peer sits
 * in another namespace), so that happens from inside the namespace. */
static int create_veth(int nl, const char *host, const char *peer, int nsfd, unsigned bridx,
                       int mtu, const unsigned char mac[6])
{
  struct br_nl_msg m;
  struct ifinfomsg *ifi, *pifi;
  struct rtattr *info, *data, *peerattr;

  br_nl_msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifi = br_nl_msg_put_hdr(&m, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  br_nl_attr_put_str(&m, IFLA_IFNAME, host);
  br_nl_attr_put_u32(&m, IFLA_MASTER, bridx);
  if (mtu > 0)
    br_nl_attr_put_u32(&m, IFLA_MTU, (uint32_t)mtu);
  info = br_nl_nest_start(&m, IFLA_LINKINFO);
  br_nl_attr_put_str(&m, IFLA_INFO_KIND, "veth");
  data = br_nl_nest_start(&m, IFLA_INFO_DATA);
  peerattr = br_nl_nest_start(&m, VETH_INFO_PEER);
  pifi = br_nl_msg_put_hdr(&m, sizeof(*pifi));
  pifi->ifi_family = AF_UNSPEC;
  br_nl_attr_put_str(&m, IFLA_IFNAME, peer);
  br_nl_attr_put_u32(&m, IFLA_NET_NS_FD, (uint32_t)nsfd);
  br_nl_attr_put(&m, IFLA_ADDRESS, mac, 6);
  if (mtu > 0)
    br_nl_attr_put_u32(&m, IFLA_MTU, (uint32_t)mtu);
  br_nl_nest_end(&m, peerattr);
  br_nl_nest_end(&m, data);
  br_nl_nest_end(&m, info);
  return br_nl_transact(nl, &m);
}

int net_veth_parse(const struct net_opt *o, struct net_veth *v, br_error_t *err)
{
  memset(v, 0, sizeof(*v));
  v->bridge = o[0].n ? o[0].val[0] : NULL;
  v->ifname = o[1].n ? o[1].val[0] : "eth0";
  v->host_ifname = o[5].n ? o[5].val[0] : NULL;
  if (v->bridge == NULL)
    return br_error_make(err, 0, "--bridge is required");
  if (net_check_ifname(v->bridge, "bridge name", err) < 0 ||
      net_check_ifname(v->ifname, "--ifname", err) < 0 ||
      (v->host_ifname && net_check_ifname(v->host_ifname, "--host-ifname", err) < 0) ||
      parse_addrs(&o[2], 1, v->addrs, err) < 0 || parse_addrs(&o[3], 0, v->gws, err) < 0 ||
      (o[4].n && net_parse_mac(o[4].val[0], v->mac, err) < 0) ||
      (o[6].n && net_parse_ulong(o[6].val[0], 68, 65535, "--mtu", &v->mtu, err) < 0))
    return -1;
  v->naddrs = o[2].n;
  v->ngws = o[3].n;
  for (int i = 0; i < v->naddrs; i++)
    v->addr_str[i] = o[2].val[i];
  for (int i = 0; i < v->ngws; i++)
    v->gw_str[i] = o[3].val[i];
  v->have_mac = o[4].n > 0;
  for (int i = 0; !v->have_mac && i < v->naddrs; i++)
    if (v->addrs[i].family == AF_INET) {
      net_mac_from_ipv4(v->addrs[i].bytes, v->mac);
      v->have_mac = 1;
    }
  if (!v->have_mac) {
    if (getrandom(v->mac, 6, GRND_NONBLOCK) != 6)
      memset(v->mac, 0x5a, 6);
    v->mac[0] = (unsigned char)((v->mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
    v->have_mac = 1;
  }
  return 0;
}

int net_veth_prepare(struct net_veth *v, br_error_t *err)
{
  v->bridx = if_nametoindex(v->bridge);
  if (v->bridx == 0)
    return br_error_make(err, 0, "bridge `%s` does not exist", v->bridge);
  if (v->mtu == 0)
    v->mtu = (unsigned long)read_mtu(v->bridge);
  v->hnl = br_nl_open();
  if (v->hnl < 0)
    return br_error_make(err, -v->hnl, "open netlink socket");
  return 0;
}

int net_veth_create(struct net_veth *v, int nsfd, br_error_t *err)
{
  int r;
  for (int attempt = 0;; attempt++) {
    if (v->host_ifname)
      snprintf(v->host, sizeof(v->host), "%s", v->host_ifname);
    else
      random_ifname(v->host, sizeof(v->host));
    r = create_veth(v->hnl, v->host, v->ifname, nsfd, v->bridx, (int)v->mtu, v->mac);
    /* A random name may collide with another container's; a chosen one may not. */
    if (r == -EEXIST && !v->host_ifname && attempt < 4 && if_nametoindex(v->host) != 0)
      continue;
    break;
  }
  if (r == -EEXIST)
    return br_error_make(err, 0,
                         "create veth `%s`/`%s`: `%s` exists on the host or `%s` in the namespace",
                         v->host, v->ifname, v->host, v->ifname);
  if (r < 0)
    return br_error_make(err, -r, "create veth `%s`/`%s` on bridge `%s`", v->host, v->ifname,
                         v->bridge);
  v->created = 1;
  return 0;
}

int net_veth_configure(struct net_veth *v, int nnl, br_error_t *err)
{
  unsigned idx = if_nametoindex(v->ifname);
  int r;
  if (idx == 0)
    return br_error_make(err, errno, "find `%s` in the namespace", v->ifname);
  for (int i = 0; i < v->naddrs; i++) {
    r = add_addr(nnl, (int)idx, &v->addrs[i]);
    if (r < 0)
      return br_error_make(err, -r, "add address `%s` to `%s`", v->addr_str[i], v->ifname);
  }
  r = br_nl_link_up(nnl, (int)idx);
  if (r < 0)
    return br_error_make(err, -r, "bring `%s` up", v->ifname);
  for (int i = 0; i < v->ngws; i++) {
    r = add_default_route(nnl, (int)idx, &v->gws[i]);
    if (r < 0)
      return br_error_make(err, -r, "add default route via `%s`", v->gw_str[i]);
  }
  return 0;
}

void net_veth_undo(struct net_veth *v)
{
  /* Deleting the host end deletes the peer too; the host socket still lives on the host. */
  if (v->created && v->hnl >= 0)
    net_delete_link(v->hnl, v->host);
  v->created = 0;
}

void net_veth_release(struct net_veth *v)
{
  if (v->hnl >= 0)
    close(v->hnl);
  v->hnl = -1;
}

void net_veth_print(const struct net_veth *v)
{
  char mac[18];
  net_format_mac(v->mac, mac, sizeof(mac));
  fputs("\"hostIfname\":", stdout);
  net_json_str(stdout, v->host);
  printf(",\"mac\":\"%s\"", mac);
}

int br_cmd_veth_attach(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[1 + NET_VETH_NOPTS] = {{.name = "netns"}, NET_VETH_OPTS};
  struct net_veth v = {.hnl = -1};
  cleanup_close int nsfd = -1;
  cleanup_close int nnl = -1;
  const char *netns;

  if (net_parse_opts(argc, argv, opts, 1 + NET_VETH_NOPTS, &err) < 0)
    return net_fail(&err);
  if (opts[0].n == 0) {
    br_error_make(&err, 0, "%s: --netns is required", argv[0]);
    return net_fail(&err);
  }
  netns = opts[0].val[0];
  if (net_veth_parse(&opts[1], &v, &err) < 0) {
    br_error_wrap(&err, "%s", argv[0]);
    return net_fail(&err);
  }
  nsfd = net_open_netns(netns, &err);
  if (nsfd < 0)
    return net_fail(&err);
  if (net_veth_prepare(&v, &err) < 0 || net_veth_create(&v, nsfd, &err) < 0)
    goto fail;
  /* This process is single-threaded and exits next: moving it into the namespace for good
   * is the cheapest way to get a netlink socket there. */
  if (setns(nsfd, CLONE_NEWNET) < 0) {
    br_error_make(&err, errno, "enter the namespace");
    goto fail;
  }
  nnl = br_nl_open();
  if (nnl < 0) {
    br_error_make(&err, -nnl, "open netlink socket in the namespace");
    goto fail;
  }
  if (net_veth_configure(&v, nnl, &err) < 0)
    goto fail;
  putchar('{');
  net_veth_print(&v);
  puts("}");
  net_veth_release(&v);
  return 0;

fail:
  net_veth_undo(&v);
  net_veth_release(&v);
  br_error_wrap(&err, "attach `%s`", netns);
  return net_fail(&err);
}

int br_cmd_veth_detach(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "netns"}, {.name = "ifname"}, {.name = "host-ifname"}};
  cleanup_close int nsfd = -1;
  cleanup_close int nl = -1;
  const char *name;
  int r;

  if (net_parse_opts(argc, argv, opts, 3, &err) < 0)
    return net_fail(&err);
  if (opts[0].n == 0 && opts[2].n == 0) {
    br_error_make(&err, 0, "%s: --netns (with --ifname) or --host-ifname is required", argv[0]);
    return net_fail(&err);
  }
  if (opts[0].n) {
    name = opts[1].n ? opts[1].val[0] : "eth0";
    /* Idempotent: a namespace already deleted took its veth with it. */
    if (access(opts[0].val[0], F_OK) < 0 && errno == ENOENT)
      return 0;
    nsfd = net_open_netns(opts[0].val[0], &err);
    if (nsfd < 0)
      return net_fail(&err);
    if (setns(nsfd, CLONE_NEWNET) < 0) {
      br_error_make(&err, errno, "detach `%s` from `%s`: enter the namespace", name,
                    opts[0].val[0]);
      return net_fail(&err);
    }
  } else {
    name = opts[2].val[0];
  }
  if (net_check_ifname(name, "interface name", &err) < 0)
    return net_fail(&err);
  nl = br_nl_open();
  if (nl < 0) {
    br_error_make(&err, -nl, "detach `%s`: open netlink socket", name);
    return net_fail(&err);
  }
  r = net_delete_link(nl, name);
  if (r < 0 && r != -ENODEV) {
    br_error_make(&err, -r, "detach `%s`: delete the link", name);
    return net_fail(&err);
  }
  return 0;
}
