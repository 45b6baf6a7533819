/* Both ends of the network benchmark, in C so that the measured cost is the network path
 * (direct, or through port-proxy) and not the peer's runtime.
 *
 *   net-bench-peer serve PORT                 sink on PORT, echo on PORT+1 (IPv4 and IPv6)
 *   net-bench-peer send HOST PORT BYTES       prints {"bytes":N,"seconds":S}
 *   net-bench-peer pingpong HOST PORT N SIZE  prints {"n":N,"medianUs":M,"p99Us":P}
 *
 * serve prints "ready" once listening and runs until killed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_on(int port)
{
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
  int fd = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
    perror("listen");
    exit(1);
  }
  return fd;
}

static void *sink_conn(void *arg)
{
  int fd = (int)(long)arg;
  char *b = malloc(1 << 20);
  while (read(fd, b, 1 << 20) > 0) {
  }
  free(b);
  close(fd);
  return NULL;
}

static void *echo_conn(void *arg)
{
  int fd = (int)(long)arg, one = 1;
  char b[4096];
  ssize_t n;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  while ((n = read(fd, b, sizeof(b))) > 0)
    if (write(fd, b, (size_t)n) != n)
      break;
  close(fd);
  return NULL;
}

static void *accept_loop(void *arg)
{
  int lfd = (int)((long)arg >> 1), echo = (int)((long)arg & 1);
  for (;;) {
    pthread_t t;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
      continue;
    pthread_create(&t, NULL, echo ? echo_conn : sink_conn, (void *)(long)fd);
    pthread_detach(t);
  }
  return NULL;
}

/* inet_pton rather than getaddrinfo: the static link would warn about NSS for the latter. */
static int connect_to(const char *host, const char *port)
{
  struct sockaddr_storage ss = {0};
  socklen_t len;
  int fd, one = 1;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)atoi(port));
    len = sizeof(*sin);
  } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)atoi(port));
    len = sizeof(*sin6);
  } else {
    fprintf(stderr, "bad address %s\n", host);
    exit(1);
  }
  fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
    perror("connect");
    exit(1);
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "serve") == 0) {
    int port = atoi(argv[2]);
    pthread_t t1, t2;
    long sink = (long)listen_on(port) << 1, echo = ((long)listen_on(port + 1) << 1) | 1;
    pthread_create(&t1, NULL, accept_loop, (void *)sink);
    pthread_create(&t2, NULL, accept_loop, (void *)echo);
    puts("ready");
    fflush(stdout);
    pthread_join(t1, NULL);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "send") == 0) {
    long long total = atoll(argv[4]), left = total;
    int fd = connect_to(argv[2], argv[3]);
    double t0 = now();
    memset(buf, 'x', sizeof(buf));
    while (left > 0) {
      ssize_t n = write(fd, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));
      if (n <= 0) {
        perror("write");
        return 1;
      }
      left -= n;
    }
    /* Wait for the sink to have read everything: it closes only at our EOF. */
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    printf("{\"bytes\":%lld,\"seconds\":%.6f}\n", total, now() - t0);
    return 0;
  }
  if (argc == 6 && strcmp(argv[1], "pingpong") == 0) {
    int n = atoi(argv[4]), size = atoi(argv[5]);
    int fd = connect_to(argv[2], argv[3]);
    double *rtt = calloc((size_t)n, sizeof(double));
    char msg[4096];
    memset(msg, 'p', sizeof(msg));
    for (int i = 0; i < n; i++) {
      double t0 = now();
      int got = 0;
      if (write(fd, msg, (size_t)size) != size) {
        perror("write");
        return 1;
      }
      while (got < size) {
        ssize_t r = read(fd, buf, (size_t)(size - got));
        if (r <= 0) {
          perror("read");
          return 1;
        }
        got += (int)r;
      }
      rtt[i] = (now() - t0) * 1e6;
    }
    qsort(rtt, (size_t)n, sizeof(double), cmp);
    printf("{\"n\":%d,\"medianUs\":%.2f,\"p99Us\":%.2f}\n", n, rtt[n / 2], rtt[n * 99 / 100]);
    return 0;
  }
  fprintf(stderr,
          "usage: net-bench-peer serve PORT | send HOST PORT BYTES | pingpong HOST PORT N SIZE\n");
  return 2;
}
