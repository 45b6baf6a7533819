/* A minimal rtnetlink client: build one request in a fixed buffer, send it, read its ACK.
 * Every call of the net commands is a single request answered by one ACK, so no dumps and no
 * multipart parsing are needed. */
#ifndef BR_NET_NETLINK_H
#define BR_NET_NETLINK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>

struct br_nl_msg {
  union {
    struct nlmsghdr h;
    char buf[2048];
  };
  int overflow; /* set when an attribute did not fit: br_nl_transact then refuses to send */
};

void br_nl_msg_init(struct br_nl_msg *m, uint16_t type, uint16_t flags);
/* Appends the zeroed family header (ifinfomsg, ifaddrmsg, rtmsg) and returns it. */
void *br_nl_msg_put_hdr(struct br_nl_msg *m, size_t len);
void br_nl_attr_put(struct br_nl_msg *m, uint16_t type, const void *data, size_t len);
void br_nl_attr_put_u32(struct br_nl_msg *m, uint16_t type, uint32_t v);
void br_nl_attr_put_str(struct br_nl_msg *m, uint16_t type, const char *s);
struct rtattr *br_nl_nest_start(struct br_nl_msg *m, uint16_t type);
void br_nl_nest_end(struct br_nl_msg *m, struct rtattr *nest);

/* A bound NETLINK_ROUTE socket in the caller's current network namespace, or -errno. */
int br_nl_open(void);
/* br_nl_open, also subscribed to the RTMGRP_* multicast `groups` (0 for none). */
int br_nl_open_groups(uint32_t groups);
/* Sends m with NLM_F_ACK and waits (at most 5 s) for its ACK: 0, or the kernel's -errno. */
int br_nl_transact(int fd, struct br_nl_msg *m);

/* Sets IFF_UP on link `ifindex` in the namespace `nl` is bound to; br_nl_transact's result. */
int br_nl_link_up(int nl, int ifindex);

#endif
