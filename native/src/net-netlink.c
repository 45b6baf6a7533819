#include "net-netlink.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint32_t br_nl_seq;

void br_nl_msg_init(struct br_nl_msg *m, uint16_t type, uint16_t flags)
{
  memset(m, 0, sizeof(*m));
  m->h.nlmsg_len = NLMSG_LENGTH(0);
  m->h.nlmsg_type = type;
  m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
}

static void *br_nl_reserve(struct br_nl_msg *m, size_t len)
{
  size_t at = NLMSG_ALIGN(m->h.nlmsg_len);
  void *p;
  if (at + RTA_ALIGN(len) > sizeof(m->buf)) {
    m->overflow = 1;
    return NULL;
  }
  p = m->buf + at;
  memset(p, 0, RTA_ALIGN(len));
  m->h.nlmsg_len = (uint32_t)(at + len);
  return p;
}

void *br_nl_msg_put_hdr(struct br_nl_msg *m, size_t len)
{
  void *p = br_nl_reserve(m, len);
  /* The header is the first thing after nlmsghdr, and callers write through the pointer:
   * hand back a harmless scratch area on overflow so they need no NULL check. */
  static char scratch[64];
  return p ? p : scratch;
}

void br_nl_attr_put(struct br_nl_msg *m, uint16_t type, const void *data, size_t len)
{
  struct rtattr *rta = br_nl_reserve(m, RTA_LENGTH(len));
  if (rta == NULL)
    return;
  rta->rta_type = type;
  rta->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len)
    memcpy(RTA_DATA(rta), data, len);
}

void br_nl_attr_put_u32(struct br_nl_msg *m, uint16_t type, uint32_t v)
{
  br_nl_attr_put(m, type, &v, sizeof(v));
}

void br_nl_attr_put_str(struct br_nl_msg *m, uint16_t type, const char *s)
{
  br_nl_attr_put(m, type, s, strlen(s) + 1);
}

struct rtattr *br_nl_nest_start(struct br_nl_msg *m, uint16_t type)
{
  struct rtattr *rta = br_nl_reserve(m, RTA_LENGTH(0));
  if (rta == NULL)
    return NULL;
  rta->rta_type = type;
  return rta;
}

void br_nl_nest_end(struct br_nl_msg *m, struct rtattr *nest)
{
  if (nest != NULL)
    nest->rta_len = (unsigned short)(m->buf + m->h.nlmsg_len - (char *)nest);
}

int br_nl_open(void)
{
  return br_nl_open_groups(0);
}

int br_nl_open_groups(uint32_t groups)
{
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups};
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return -errno;
  /* No NETLINK_EXT_ACK: extended ACKs would only make replies longer. */
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int br_nl_transact(int fd, struct br_nl_msg *m)
{
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  char reply[8192];
  uint32_t seq;

  if (m->overflow)
    return -EMSGSIZE;
  seq = ++br_nl_seq;
  m->h.nlmsg_seq = seq;
  if (sendto(fd, m->buf, m->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    return -errno;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;
    int r = poll(&p, 1, 5000);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    if (r == 0)
      return -ETIMEDOUT;
    n = recv(fd, reply, sizeof(reply), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)n);
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq)
        continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        return e->error;
      }
      if (h->nlmsg_type == NLMSG_DONE)
        return 0;
    }
  }
}

int br_nl_link_up(int nl, int ifindex)
{
  struct br_nl_msg m;
  struct ifinfomsg *ifi;
  br_nl_msg_init(&m, RTM_NEWLINK, 0);
  ifi = br_nl_msg_put_hdr(&m, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  return br_nl_transact(nl, &m);
}
