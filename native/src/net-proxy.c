/* port-proxy: the userland proxy behind published ports. One daemon per container holds
 * every listener of that container and forwards TCP with splice() through pipes (the bytes
 * never enter user space) and UDP with one connected socket per client flow.
 *
 * It is started by the Node process but must outlive it, so by default it double-forks into
 * its own session. The starting process exits only after the daemon has written its pid
 * file and the ready line, so a caller can simply wait for the exit, then read the ports. */
#include "net-commands.h"
#include "net-util.h"
#include "utils.h"

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MAPS 64
#define MAX_LISTENERS (2 * MAX_MAPS)
#define UDP_MAX_FLOWS 1024
#define UDP_BUCKETS 256
/* Bigger pipes mean fewer splice calls per byte on bulk transfers; the kernel only backs
 * them with pages while data is in flight, so an idle connection costs nothing extra. */
#define PIPE_SIZE (1024 * 1024)

enum ep_kind { EP_TCP_LISTEN, EP_UDP_LISTEN, EP_CLIENT, EP_TARGET, EP_UDP_FLOW, EP_SIGNAL };

struct endpoint {
  enum ep_kind kind;
  int fd;
};

struct map {
  int proto; /* SOCK_STREAM or SOCK_DGRAM */
  const char *spec;
  const char *host; /* as given: an address or "loopback" */
  unsigned long host_port;
  struct sockaddr_storage target;
  socklen_t target_len;
  char target_ip[INET6_ADDRSTRLEN];
  unsigned long target_port;
};

struct listener {
  struct endpoint ep;
  struct map *map;
  int family;
  char ip[INET6_ADDRSTRLEN];
  unsigned port;
};

struct pipe_dir {
  int pipe[2];
  size_t pending; /* bytes sitting in the pipe */
  size_t cap;     /* the pipe's size: PIPE_SIZE, or less where the kernel refused it */
  int eof;        /* the source sent FIN */
  int shut;       /* the FIN was passed on */
};

struct conn {
  struct endpoint client, target;
  int connecting;
  int dead; /* closed; freed after the current batch of events */
  struct conn *next_dead;
  struct pipe_dir dir[2]; /* 0: client -> target, 1: target -> client */
};

struct udp_flow {
  struct endpoint ep;
  struct listener *l;
  struct sockaddr_storage client;
  socklen_t client_len;
  int64_t last; /* ms, CLOCK_MONOTONIC: in whole seconds, a flow made just before a second
                 * boundary would be forgotten by the sweep right after it */
  struct udp_flow *next;
};

struct proxy {
  int epfd;
  int reserve_fd; /* released to accept-and-drop a client when out of descriptors */
  struct map maps[MAX_MAPS];
  int nmaps;
  struct listener listeners[MAX_LISTENERS];
  int nlisteners;
  struct conn *dead; /* closed connections a later event of the batch may still name */
  struct udp_flow *flows[UDP_BUCKETS];
  int nflows;
  unsigned long udp_timeout;
  time_t last_sweep;
};

static unsigned char udp_buf[65536];

static time_t now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_sockaddr(const struct net_addr *a, unsigned port, struct sockaddr_storage *ss,
                        socklen_t *len)
{
  memset(ss, 0, sizeof(*ss));
  if (a->family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    memcpy(&sin->sin_addr, a->bytes, 4);
    *len = sizeof(*sin);
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    memcpy(&sin6->sin6_addr, a->bytes, 16);
    *len = sizeof(*sin6);
  }
  return 0;
}

/* Splits PROTO:HOSTIP:HOSTPORT:TARGETIP:TARGETPORT, where an IPv6 address is written in
 * brackets ([::1]) so its colons are not separators. */
static int parse_map(const char *spec, struct map *m, br_error_t *err)
{
  char buf[256], *tok[5];
  int n = 0;
  size_t len = strlen(spec);
  struct net_addr a;
  char *p;

  if (len >= sizeof(buf))
    return br_error_make(err, 0, "--map `%s`: too long", spec);
  memcpy(buf, spec, len + 1);
  p = buf;
  while (n < 5) {
    tok[n++] = p;
    if (*p == '[') {
      p = strchr(p, ']');
      if (p == NULL)
        return br_error_make(err, 0, "--map `%s`: unclosed `[`", spec);
      p++;
    }
    p = strchr(p, ':');
    if (p == NULL)
      break;
    *p++ = '\0';
  }
  if (n != 5 || p != NULL)
    return br_error_make(err, 0, "--map `%s`: expected PROTO:HOSTIP:HOSTPORT:TARGETIP:TARGETPORT",
                         spec);
  memset(m, 0, sizeof(*m));
  m->spec = spec;
  if (strcmp(tok[0], "tcp") == 0)
    m->proto = SOCK_STREAM;
  else if (strcmp(tok[0], "udp") == 0)
    m->proto = SOCK_DGRAM;
  else
    return br_error_make(err, 0, "--map `%s`: protocol must be tcp or udp", spec);
  if (strcmp(tok[1], "loopback") == 0) {
    m->host = "loopback";
  } else {
    if (net_parse_addr(tok[1], 0, &a, err) < 0 || a.prefix >= 0)
      return br_error_make(err, 0, "--map `%s`: invalid host address `%s`", spec, tok[1]);
    /* The listener code re-parses it; keep the caller's spelling for messages. */
    m->host = spec + (tok[1] - buf);
  }
  if (net_parse_ulong(tok[2], 0, 65535, "host port", &m->host_port, err) < 0 ||
      net_parse_ulong(tok[4], 1, 65535, "target port", &m->target_port, err) < 0)
    return br_error_wrap(err, "--map `%s`", spec);
  if (net_parse_addr(tok[3], 0, &a, err) < 0 || a.prefix >= 0)
    return br_error_make(err, 0, "--map `%s`: invalid target address `%s`", spec, tok[3]);
  set_sockaddr(&a, (unsigned)m->target_port, &m->target, &m->target_len);
  net_format_addr(&a, m->target_ip, sizeof(m->target_ip));
  return 0;
}

/* The host part of a map, without the ":HOSTPORT..." that follows it in the spec. */
static int map_host_addr(const struct map *m, struct net_addr *a, br_error_t *err)
{
  char buf[INET6_ADDRSTRLEN + 3];
  const char *h = m->host, *end;
  size_t n;
  if (*h == '[') {
    end = strchr(h, ']');
    end = end ? end + 1 : h + strlen(h);
  } else {
    end = strchr(h, ':');
    if (end == NULL)
      end = h + strlen(h);
  }
  n = (size_t)(end - h);
  if (n >= sizeof(buf))
    return br_error_make(err, 0, "invalid host address in `%s`", m->spec);
  memcpy(buf, h, n);
  buf[n] = '\0';
  return net_parse_addr(buf, 0, a, err);
}

static int bind_one(struct proxy *px, struct map *m, const struct net_addr *a, unsigned port,
                    struct listener **out, br_error_t *err)
{
  struct sockaddr_storage ss;
  socklen_t len;
  struct listener *l;
  int fd, one = 1;

  if (px->nlisteners >= MAX_LISTENERS)
    return br_error_make(err, 0, "too many listeners (at most %d)", MAX_LISTENERS);
  fd = socket(a->family, m->proto | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return br_error_make(err, errno, "socket");
  /* SO_REUSEADDR lets a restarted proxy rebind while old connections sit in TIME_WAIT; on
   * Linux it never lets two listeners share a port. */
  if (m->proto == SOCK_STREAM)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (a->family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  set_sockaddr(a, port, &ss, &len);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
      (m->proto == SOCK_STREAM && listen(fd, 512) < 0)) {
    int e = errno;
    close(fd);
    errno = e;
    return -1; /* the caller words the message: it knows which port was asked for */
  }
  l = &px->listeners[px->nlisteners++];
  memset(l, 0, sizeof(*l));
  l->ep.kind = m->proto == SOCK_STREAM ? EP_TCP_LISTEN : EP_UDP_LISTEN;
  l->ep.fd = fd;
  l->map = m;
  l->family = a->family;
  net_format_addr(a, l->ip, sizeof(l->ip));
  len = sizeof(ss);
  getsockname(fd, (struct sockaddr *)&ss, &len);
  l->port = ntohs(a->family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                       : ((struct sockaddr_in6 *)&ss)->sin6_port);
  *out = l;
  return 0;
}

static void unbind_last(struct proxy *px)
{
  close(px->listeners[--px->nlisteners].ep.fd);
}

static int bind_error(int e, const char *ip, unsigned long port, br_error_t *err)
{
  if (e == EADDRINUSE)
    return br_error_make(err, 0, "port %lu on %s is already in use", port, ip);
  return br_error_make(err, e, "bind port %lu on %s", port, ip);
}

static int bind_map(struct proxy *px, struct map *m, br_error_t *err)
{
  struct listener *l4, *l6;
  struct net_addr a4 = {.family = AF_INET, .bytes = {127, 0, 0, 1}};
  struct net_addr a6 = {.family = AF_INET6, .bytes = {[15] = 1}};

  if (strcmp(m->host, "loopback") != 0) {
    struct net_addr a;
    char ip[INET6_ADDRSTRLEN];
    if (map_host_addr(m, &a, err) < 0)
      return -1;
    if (bind_one(px, m, &a, (unsigned)m->host_port, &l4, err) < 0) {
      net_format_addr(&a, ip, sizeof(ip));
      return bind_error(errno, ip, m->host_port, err);
    }
    return 0;
  }
  /* "loopback" is both families on one port number, because `localhost` resolves to either.
   * With port 0 the kernel picks a port free on 127.0.0.1 that may be taken on ::1: pick
   * again. A host without IPv6 gets the IPv4 listener alone. */
  for (int attempt = 0;; attempt++) {
    if (bind_one(px, m, &a4, (unsigned)m->host_port, &l4, err) < 0)
      return bind_error(errno, "127.0.0.1", m->host_port, err);
    if (bind_one(px, m, &a6, l4->port, &l6, err) == 0)
      return 0;
    if (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)
      return 0;
    {
      int e = errno;
      unsigned port = l4->port;
      unbind_last(px);
      if (e != EADDRINUSE || m->host_port != 0 || attempt >= 32)
        return bind_error(e, "::1", port, err);
    }
  }
}

static void epoll_add(struct proxy *px, struct endpoint *ep, uint32_t events)
{
  struct epoll_event ev = {.events = events, .data.ptr = ep};
  epoll_ctl(px->epfd, EPOLL_CTL_ADD, ep->fd, &ev);
}

/* Closing with a zero linger sends RST, which is what a client of a real server would see
 * when the server refused or died mid-stream. */
static void close_reset(int fd)
{
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  if (fd < 0)
    return;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

static void conn_close(struct proxy *px, struct conn *c, int reset)
{
  if (c->dead)
    return;
  for (int i = 0; i < 2; i++)
    for (int k = 0; k < 2; k++)
      if (c->dir[i].pipe[k] >= 0)
        close(c->dir[i].pipe[k]);
  if (reset) {
    close_reset(c->client.fd);
    close_reset(c->target.fd);
  } else {
    close(c->client.fd);
    if (c->target.fd >= 0)
      close(c->target.fd);
  }
  c->dead = 1;
  c->next_dead = px->dead;
  px->dead = c;
}

static void set_nodelay(int fd)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void tcp_accept(struct proxy *px, struct listener *l)
{
  for (;;) {
    struct conn *c;
    int cfd = accept4(l->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if ((errno == EMFILE || errno == ENFILE) && px->reserve_fd >= 0) {
        close(px->reserve_fd);
        cfd = accept4(l->ep.fd, NULL, NULL, SOCK_CLOEXEC);
        close_reset(cfd);
        px->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
      close_reset(cfd);
      continue;
    }
    for (int i = 0; i < 2; i++)
      c->dir[i].pipe[0] = c->dir[i].pipe[1] = -1;
    c->client.kind = EP_CLIENT;
    c->client.fd = cfd;
    c->target.kind = EP_TARGET;
    c->target.fd = socket(l->map->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->target.fd < 0) {
      conn_close(px, c, 1);
      continue;
    }
    set_nodelay(cfd);
    set_nodelay(c->target.fd);
    if (connect(c->target.fd, (struct sockaddr *)&l->map->target, l->map->target_len) < 0 &&
        errno != EINPROGRESS) {
      conn_close(px, c, 1);
      continue;
    }
    c->connecting = 1;
    epoll_add(px, &c->client, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    epoll_add(px, &c->target, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  }
}

/* Moves what it can in one direction; returns -1 on a socket error. Edge-triggered epoll
 * needs each side driven to EAGAIN, so the loop stops only when neither splice progressed:
 * a blocked read is re-armed by the source's next EPOLLIN, a blocked write by the
 * destination's EPOLLOUT, and every event on either socket pumps both directions. */
static int pump(struct pipe_dir *d, int src, int dst)
{
  for (;;) {
    int moved = 0;
    ssize_t n;
    if (!d->eof && d->pending < d->cap) {
      n = splice(src, NULL, d->pipe[1], NULL, d->cap - d->pending,
                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->pending += (size_t)n;
        moved = 1;
      } else if (n == 0) {
        d->eof = 1;
        moved = 1;
      } else if (errno != EAGAIN && errno != EINTR) {
        return -1;
      }
    }
    if (d->pending > 0) {
      n = splice(d->pipe[0], NULL, dst, NULL, d->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->pending -= (size_t)n;
        moved = 1;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return -1;
      }
    }
    if (d->eof && d->pending == 0 && !d->shut) {
      /* Pass the half-close on: the other side may still be sending its answer. */
      shutdown(dst, SHUT_WR);
      d->shut = 1;
    }
    if (!moved)
      return 0;
  }
}

static int conn_connected(struct conn *c)
{
  int soerr = 0, r;
  socklen_t len = sizeof(soerr);
  if (getsockopt(c->target.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
    return -1;
  for (int i = 0; i < 2; i++) {
    if (pipe2(c->dir[i].pipe, O_NONBLOCK | O_CLOEXEC) < 0)
      return -1;
    /* Past the per-user pipe quota (an unprivileged proxy with many connections) the kernel
     * keeps the pipe small; a short splice then only costs more calls. */
    r = fcntl(c->dir[i].pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
    if (r < 0)
      r = fcntl(c->dir[i].pipe[1], F_GETPIPE_SZ);
    c->dir[i].cap = r > 0 ? (size_t)r : 4096;
  }
  c->connecting = 0;
  return 0;
}

static void conn_event(struct proxy *px, struct conn *c, struct endpoint *ep, uint32_t events)
{
  /* With edge triggering a direction is stalled only on its source (waiting for EPOLLIN) or
   * its destination (waiting for EPOLLOUT), so an event needs to pump only the direction
   * that reads from this socket, the one that writes to it, or both. */
  int from = ep == &c->client ? 0 : 1;
  int pump_from = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
  int pump_to = (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
  int fds[2];

  if (c->dead)
    return;
  if (c->connecting) {
    if (ep == &c->client) {
      /* A client that sent its request and FIN before we reached the target is fine (the
       * data waits in its socket); one that is gone altogether is not worth the connect. */
      if (events & (EPOLLERR | EPOLLHUP))
        conn_close(px, c, 1);
      return;
    }
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
      return;
    if (conn_connected(c) < 0) {
      conn_close(px, c, 1);
      return;
    }
    pump_from = pump_to = 1;
  }
  fds[0] = c->client.fd;
  fds[1] = c->target.fd;
  /* Direction d reads fds[d] and writes fds[1 - d]. */
  if ((pump_from && pump(&c->dir[from], fds[from], fds[1 - from]) < 0) ||
      (pump_to && pump(&c->dir[1 - from], fds[1 - from], fds[from]) < 0)) {
    conn_close(px, c, 1);
    return;
  }
  if (c->dir[0].shut && c->dir[1].shut)
    conn_close(px, c, 0);
}

static unsigned flow_hash(const struct listener *l, const struct sockaddr_storage *ss)
{
  const unsigned char *p = (const unsigned char *)ss;
  size_t n = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  uint32_t h = 2166136261u ^ (uint32_t)(uintptr_t)l;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h % UDP_BUCKETS;
}

static void flow_free(struct proxy *px, struct udp_flow *f)
{
  unsigned b = flow_hash(f->l, &f->client);
  for (struct udp_flow **pp = &px->flows[b]; *pp; pp = &(*pp)->next)
    if (*pp == f) {
      *pp = f->next;
      break;
    }
  close(f->ep.fd);
  free(f);
  px->nflows--;
}

static struct udp_flow *flow_get(struct proxy *px, struct listener *l,
                                 const struct sockaddr_storage *from, socklen_t fromlen)
{
  unsigned b = flow_hash(l, from);
  struct udp_flow *f;
  for (f = px->flows[b]; f; f = f->next)
    if (f->l == l && f->client_len == fromlen && memcmp(&f->client, from, fromlen) == 0)
      return f;
  /* Past the cap new clients are dropped, as a full conntrack table would. */
  if (px->nflows >= UDP_MAX_FLOWS)
    return NULL;
  f = calloc(1, sizeof(*f));
  if (f == NULL)
    return NULL;
  f->ep.kind = EP_UDP_FLOW;
  f->ep.fd = socket(l->map->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (f->ep.fd < 0 ||
      connect(f->ep.fd, (struct sockaddr *)&l->map->target, l->map->target_len) < 0) {
    if (f->ep.fd >= 0)
      close(f->ep.fd);
    free(f);
    return NULL;
  }
  f->l = l;
  memcpy(&f->client, from, fromlen);
  f->client_len = fromlen;
  f->next = px->flows[b];
  px->flows[b] = f;
  px->nflows++;
  epoll_add(px, &f->ep, EPOLLIN);
  return f;
}

static void udp_listener_event(struct proxy *px, struct listener *l)
{
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof(from);
    struct udp_flow *f;
    ssize_t n = recvfrom(l->ep.fd, udp_buf, sizeof(udp_buf), MSG_DONTWAIT, (struct sockaddr *)&from,
                         &fromlen);
    if (n < 0)
      return;
    f = flow_get(px, l, &from, fromlen);
    if (f == NULL)
      continue;
    f->last = now_ms();
    /* ECONNREFUSED here reports an ICMP error for an earlier datagram: UDP carries on. */
    send(f->ep.fd, udp_buf, (size_t)n, MSG_DONTWAIT);
  }
}

static void udp_flow_event(struct udp_flow *f)
{
  for (int i = 0; i < 64; i++) {
    ssize_t n = recv(f->ep.fd, udp_buf, sizeof(udp_buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ECONNREFUSED)
        continue;
      return;
    }
    f->last = now_ms();
    sendto(f->l->ep.fd, udp_buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&f->client,
           f->client_len);
  }
}

static void udp_sweep(struct proxy *px)
{
  time_t now = now_s();
  if (now == px->last_sweep)
    return;
  px->last_sweep = now;
  for (int b = 0; b < UDP_BUCKETS; b++) {
    struct udp_flow *f = px->flows[b];
    while (f) {
      struct udp_flow *next = f->next;
      if (now_ms() - f->last >= (int64_t)px->udp_timeout * 1000)
        flow_free(px, f);
      f = next;
    }
  }
}

static int run_loop(struct proxy *px, int sigfd)
{
  struct endpoint sig = {.kind = EP_SIGNAL, .fd = sigfd};
  struct epoll_event evs[64];

  epoll_add(px, &sig, EPOLLIN);
  for (int i = 0; i < px->nlisteners; i++)
    epoll_add(px, &px->listeners[i].ep, EPOLLIN);
  for (;;) {
    int n = epoll_wait(px->epfd, evs, 64, px->nflows ? 1000 : -1);
    if (n < 0 && errno != EINTR)
      return -1;
    for (int i = 0; i < n; i++) {
      struct endpoint *ep = evs[i].data.ptr;
      switch (ep->kind) {
      case EP_SIGNAL:
        return 0;
      case EP_TCP_LISTEN:
        tcp_accept(px, (struct listener *)ep);
        break;
      case EP_UDP_LISTEN:
        udp_listener_event(px, (struct listener *)ep);
        break;
      case EP_CLIENT:
        conn_event(px, (struct conn *)((char *)ep - offsetof(struct conn, client)), ep,
                   evs[i].events);
        break;
      case EP_TARGET:
        conn_event(px, (struct conn *)((char *)ep - offsetof(struct conn, target)), ep,
                   evs[i].events);
        break;
      case EP_UDP_FLOW:
        udp_flow_event((struct udp_flow *)ep);
        break;
      }
    }
    while (px->dead) {
      struct conn *c = px->dead;
      px->dead = c->next_dead;
      free(c);
    }
    if (px->nflows)
      udp_sweep(px);
  }
}

static int write_all(int fd, const char *s, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static char *ready_json(struct proxy *px)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  fprintf(f, "{\"pid\":%d,\"ports\":[", (int)getpid());
  for (int i = 0; i < px->nlisteners; i++) {
    struct listener *l = &px->listeners[i];
    fprintf(f,
            "%s{\"proto\":\"%s\",\"hostIp\":\"%s\",\"hostPort\":%u,\"targetIp\":\"%s\","
            "\"targetPort\":%lu}",
            i ? "," : "", l->map->proto == SOCK_STREAM ? "tcp" : "udp", l->ip, l->port,
            l->map->target_ip, l->map->target_port);
  }
  fputs("]}\n", f);
  fclose(f);
  return buf;
}

static void report_error(int ready_fd, br_error_t *err)
{
  if (ready_fd >= 0) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
      fputs("{\"error\":", f);
      net_json_str(f, (*err)->msg ? (*err)->msg : "unknown error");
      fputs("}\n", f);
      fclose(f);
      write_all(ready_fd, buf, len);
      free(buf);
    }
  }
}

static int write_pid_file(const char *path, br_error_t *err)
{
  char tmp[PATH_MAX], buf[32];
  int fd, n;
  if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp))
    return br_error_make(err, 0, "pid file path `%s` is too long", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return br_error_make(err, errno, "write pid file `%s`", path);
  n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
  if (write_all(fd, buf, (size_t)n) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return br_error_make(err, e, "write pid file `%s`", path);
  }
  return 0;
}

/* Returns in the daemon (with *status_fd set to report success to the waiting parent);
 * never returns in the parent, which exits with the daemon's verdict. */
static void daemonize(int *status_fd)
{
  int p[2];
  pid_t pid;
  char ok = 0;

  if (pipe2(p, O_CLOEXEC) < 0) {
    perror("berth-runtime: port-proxy: pipe");
    _exit(1);
  }
  pid = fork();
  if (pid < 0) {
    perror("berth-runtime: port-proxy: fork");
    _exit(1);
  }
  if (pid > 0) {
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    close(p[1]);
    waitpid(pid, NULL, 0);
    /* The daemon answers within milliseconds; the bound keeps a wedged one from hanging
     * the caller. */
    if (poll(&pfd, 1, 10000) == 1 && read(p[0], &ok, 1) == 1 && ok == 1)
      _exit(0);
    _exit(1);
  }
  close(p[0]);
  setsid();
  pid = fork();
  if (pid < 0)
    _exit(1);
  if (pid > 0)
    _exit(0);
  *status_fd = p[1];
}

static void stdio_to_null(void)
{
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return;
  dup2(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  close(fd);
}

int br_cmd_port_proxy(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {
      {.name = "pid-file"},
      {.name = "ready-fd"},
      {.name = "map", .max = MAX_MAPS},
      {.name = "foreground", .flag = 1},
      {.name = "netns"},
      {.name = "udp-timeout"},
  };
  static struct proxy px;
  static char pid_path[PATH_MAX];
  unsigned long ready = 0, timeout = 90;
  int ready_fd = -1, status_fd = -1, sigfd, rc;
  sigset_t mask;
  struct rlimit rl;
  char *line;

  if (net_parse_opts(argc, argv, opts, 6, &err) < 0)
    return net_fail(&err);
  if (opts[1].n) {
    if (net_parse_ulong(opts[1].val[0], 3, INT_MAX, "--ready-fd", &ready, &err) < 0)
      return net_fail(&err);
    ready_fd = (int)ready;
    if (fcntl(ready_fd, F_GETFD) < 0) {
      br_error_make(&err, errno, "--ready-fd %d", ready_fd);
      return net_fail(&err);
    }
    fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
  }
  /* Docker's proxy forgets a UDP client after 90 s of silence. */
  if (opts[5].n && net_parse_ulong(opts[5].val[0], 1, 86400, "--udp-timeout", &timeout, &err) < 0)
    goto fail;
  /* The daemon moves to / so it pins no directory: hold the pid file by absolute path. */
  if (opts[0].n && opts[0].val[0][0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL || snprintf(pid_path, sizeof(pid_path), "%s/%s", cwd,
                                                     opts[0].val[0]) >= (int)sizeof(pid_path)) {
      br_error_make(&err, 0, "--pid-file `%s`: path too long", opts[0].val[0]);
      goto fail;
    }
    opts[0].val[0] = pid_path;
  }
  if (opts[2].n == 0) {
    br_error_make(&err, 0, "%s: at least one --map is required", argv[0]);
    goto fail;
  }
  for (int i = 0; i < opts[2].n; i++)
    if (parse_map(opts[2].val[i], &px.maps[px.nmaps++], &err) < 0)
      goto fail;

  /* A daemon must not pin its caller's pipes or files open: keep stdio and the ready fd. */
  if (ready_fd > 3)
    syscall(SYS_close_range, 3, ready_fd - 1, 0);
  syscall(SYS_close_range, ready_fd >= 3 ? ready_fd + 1 : 3, ~0U, 0);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  for (int i = 0; i < px.nmaps; i++)
    if (bind_map(&px, &px.maps[i], &err) < 0)
      goto fail;
  /* Listeners stay on the host; connections to the targets start inside the namespace. */
  if (opts[4].n) {
    int nsfd = net_open_netns(opts[4].val[0], &err);
    if (nsfd < 0)
      goto fail;
    if (setns(nsfd, CLONE_NEWNET) < 0) {
      br_error_make(&err, errno, "enter network namespace `%s`", opts[4].val[0]);
      close(nsfd);
      goto fail;
    }
    close(nsfd);
  }
  px.udp_timeout = timeout;
  px.epfd = epoll_create1(EPOLL_CLOEXEC);
  px.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (px.epfd < 0 || sigfd < 0) {
    br_error_make(&err, errno, "set up the event loop");
    goto fail;
  }

  if (!opts[3].n)
    daemonize(&status_fd);
  if (chdir("/") < 0) {
    /* Only keeps the daemon from pinning a directory; harmless if it fails. */
  }
  if (opts[0].n && write_pid_file(opts[0].val[0], &err) < 0)
    goto fail;
  line = ready_json(&px);
  if (line == NULL) {
    br_error_make(&err, ENOMEM, "format the ready line");
    goto fail;
  }
  write_all(ready_fd >= 0 ? ready_fd : 1, line, strlen(line));
  free(line);
  if (ready_fd >= 0)
    close(ready_fd);
  if (status_fd >= 0) {
    char ok = 1;
    write_all(status_fd, &ok, 1);
    close(status_fd);
    stdio_to_null();
  }
  rc = run_loop(&px, sigfd);
  if (opts[0].n)
    unlink(opts[0].val[0]);
  return rc < 0 ? 1 : 0;

fail:
  report_error(ready_fd, &err);
  if (status_fd >= 0)
    _exit(net_fail(&err));
  return net_fail(&err);
}
