/* The attach endpoint; see attach.h for the protocol. Everything is non-blocking: the monitor
 * also keeps the log and must never stall on one client. */
#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spec.h"
#include "utils.h"

#define HEADER 5
#define MAX_PAYLOAD 65536
/* Above this much unsent output to one client the container's output is no longer read. */
#define CLIENT_HIGH_WATER (1 << 20)
/* Above this much unwritten stdin the clients are no longer read. */
#define STDIN_HIGH_WATER (256 << 10)
#define CLOSE_FLUSH_MS 2000
#define FIRST_FRAME_MS 1000

struct buf {
  char *data;
  size_t len, cap;
};

struct client {
  int fd;
  struct buf out;
  char in[HEADER + MAX_PAYLOAD];
  size_t in_len;
  bool shut; /* the container is gone: our end is shut, theirs awaited */
};

struct br_attach {
  char *path;
  int listen_fd;
  int stdin_fd;
  int pty;
  bool close_stdin; /* once what is pending is written */
  struct buf pending;
  struct client *clients[BR_ATTACH_MAX_CLIENTS];
  /* What br_attach_poll_fill put where: the client index, or -1 listen, -2 stdin. */
  int slot[BR_ATTACH_MAX_FDS];
  size_t nslots;
};

/* A name for `<dir>/<name>` that fits a sockaddr_un: itself, or the same file through an fd
 * of `dir` (`/proc/self/fd/N/<name>`), which a long state root needs. `*dirfd` is that fd
 * (-1 when none); it must stay open while the name is used. */
static char *socket_name(const char *dir, const char *name, int *dirfd)
{
  struct sockaddr_un addr;
  *dirfd = -1;
  if (strlen(dir) + 1 + strlen(name) < sizeof(addr.sun_path))
    return br_strdup_printf("%s/%s", dir, name);
  *dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dirfd < 0)
    return NULL;
  return br_strdup_printf("/proc/self/fd/%d/%s", *dirfd, name);
}

static void buf_append(struct buf *b, const void *data, size_t len)
{
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL)
      abort(); /* as br_xstrdup: out of memory is not recoverable here */
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
}

static void buf_consume(struct buf *b, size_t n)
{
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

static void client_drop(struct br_attach *a, int i)
{
  struct client *c = a->clients[i];
  close(c->fd);
  free(c->out.data);
  free(c);
  a->clients[i] = NULL;
}

/* What the result of one non-blocking send, recv or write (already retried on EINTR) means to
 * the loop around it: the bytes moved (> 0); 0 when it would block, so the rest waits for the
 * next poll; -1 when the other end is gone (end of file, a closed pipe or socket, any error). */
static ssize_t moved(ssize_t n)
{
  if (n > 0)
    return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  return -1;
}

/* Sends what the client has pending; false when the client is gone. */
static bool client_flush(struct client *c)
{
  while (c->out.len > 0) {
    ssize_t n = moved(
        TEMP_FAILURE_RETRY(send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT)));
    if (n <= 0)
      return n == 0;
    buf_consume(&c->out, n);
  }
  return true;
}

static void stdin_close(struct br_attach *a)
{
  if (a->stdin_fd >= 0)
    close(a->stdin_fd);
  a->stdin_fd = -1;
  a->pending.len = 0;
}

static void stdin_flush(struct br_attach *a)
{
  while (a->stdin_fd >= 0 && a->pending.len > 0) {
    ssize_t n = moved(TEMP_FAILURE_RETRY(write(a->stdin_fd, a->pending.data, a->pending.len)));
    if (n == 0)
      return;
    if (n < 0) {
      /* EPIPE: the container closed its stdin; what it will not read is dropped. */
      stdin_close(a);
      return;
    }
    buf_consume(&a->pending, n);
  }
  if (a->close_stdin && a->pending.len == 0)
    stdin_close(a);
}

static void handle_frame(struct br_attach *a, int type, const char *data, size_t len)
{
  switch (type) {
  case BR_ATTACH_STDIN:
    if (a->stdin_fd >= 0 && !a->close_stdin) {
      buf_append(&a->pending, data, len);
      stdin_flush(a);
    }
    break;
  case BR_ATTACH_CLOSE_STDIN:
    /* A terminal's stdin outlives its clients' input, as Docker's does (^D is a byte). */
    if (a->pty < 0) {
      a->close_stdin = true;
      stdin_flush(a);
    }
    break;
  case BR_ATTACH_RESIZE:
    if (a->pty >= 0 && len >= 4) {
      const unsigned char *u = (const unsigned char *)data;
      struct winsize ws = {.ws_row = (u[0] << 8) | u[1], .ws_col = (u[2] << 8) | u[3]};
      if (ws.ws_row && ws.ws_col)
        ioctl(a->pty, TIOCSWINSZ, &ws);
    }
    break;
  default:
    break;
  }
}

/* Reads what the client sent; false when it is gone (or spoke something else). */
static bool client_read(struct br_attach *a, struct client *c)
{
  for (;;) {
    ssize_t n = moved(TEMP_FAILURE_RETRY(
        recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT)));
    if (n <= 0)
      return n == 0;
    c->in_len += n;
    for (;;) {
      const unsigned char *h = (const unsigned char *)c->in;
      size_t len;
      if (c->in_len < HEADER)
        break;
      len = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
      if (len > MAX_PAYLOAD)
        return false;
      if (c->in_len < HEADER + len)
        break;
      handle_frame(a, h[0], c->in + HEADER, len);
      memmove(c->in, c->in + HEADER + len, c->in_len - HEADER - len);
      c->in_len -= HEADER + len;
    }
    if (a->pending.len >= STDIN_HIGH_WATER)
      return true;
  }
}

static void accept_client(struct br_attach *a)
{
  int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  size_t i;
  if (fd < 0)
    return;
  for (i = 0; i < BR_ATTACH_MAX_CLIENTS; i++)
    if (a->clients[i] == NULL) {
      a->clients[i] = calloc(1, sizeof(struct client));
      if (a->clients[i] == NULL)
        break;
      a->clients[i]->fd = fd;
      return;
    }
  close(fd);
}

int br_attach_open(struct br_attach **out, const char *state_dir, int stdin_fd, int pty,
                   br_error_t *err)
{
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  struct br_attach *a;
  cleanup_free char *path = br_strdup_printf("%s/attach.sock", state_dir);
  cleanup_free char *name = NULL;
  cleanup_close int s = -1, dirfd = -1;
  name = socket_name(state_dir, "attach.sock", &dirfd);
  if (name == NULL || strlen(name) >= sizeof(addr.sun_path)) {
    if (stdin_fd >= 0)
      close(stdin_fd);
    return br_error_make(err, errno, "attach socket `%s`", path);
  }
  strcpy(addr.sun_path, name);
  s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, 0600) < 0 ||
      listen(s, BR_ATTACH_MAX_CLIENTS) < 0) {
    int e = errno;
    if (stdin_fd >= 0)
      close(stdin_fd);
    unlink(path);
    return br_error_make(err, e, "attach socket `%s`", path);
  }
  a = calloc(1, sizeof(*a));
  if (a == NULL)
    return br_error_make(err, ENOMEM, "attach");
  if (stdin_fd >= 0)
    fcntl(stdin_fd, F_SETFL, fcntl(stdin_fd, F_GETFL) | O_NONBLOCK);
  a->path = path;
  path = NULL;
  a->listen_fd = s;
  s = -1;
  a->stdin_fd = stdin_fd;
  a->pty = pty;
  *out = a;
  return 0;
}

bool br_attach_wait_client(struct br_attach *a, int timeout_ms)
{
  struct pollfd p = {.fd = a->listen_fd, .events = POLLIN};
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    long left;
    int r;
    clock_gettime(CLOCK_MONOTONIC, &now);
    left =
        timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0)
      return false;
    r = poll(&p, 1, left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    accept_client(a);
    for (size_t i = 0; i < BR_ATTACH_MAX_CLIENTS; i++)
      if (a->clients[i]) {
        /* A client sends its first frame at once (a terminal's size): the container's
         * process must start with it, or `stty size` at its start sees 0 0. */
        struct pollfd c = {.fd = a->clients[i]->fd, .events = POLLIN};
        if (poll(&c, 1, FIRST_FRAME_MS) > 0 && !client_read(a, a->clients[i]))
          client_drop(a, i);
        return true;
      }
  }
}

size_t br_attach_poll_fill(struct br_attach *a, struct pollfd *p)
{
  size_t n = 0, i;
  bool read_clients = a->pending.len < STDIN_HIGH_WATER;
  p[n] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
  a->slot[n++] = -1;
  if (a->stdin_fd >= 0 && a->pending.len > 0) {
    p[n] = (struct pollfd){.fd = a->stdin_fd, .events = POLLOUT};
    a->slot[n++] = -2;
  }
  for (i = 0; i < BR_ATTACH_MAX_CLIENTS; i++) {
    struct client *c = a->clients[i];
    if (c == NULL)
      continue;
    p[n] = (struct pollfd){.fd = c->fd,
                           .events = (read_clients ? POLLIN : 0) | (c->out.len ? POLLOUT : 0)};
    a->slot[n++] = (int)i;
  }
  a->nslots = n;
  return n;
}

void br_attach_poll_handle(struct br_attach *a, const struct pollfd *p, size_t n)
{
  size_t k;
  for (k = 0; k < n && k < a->nslots; k++) {
    int s = a->slot[k];
    short ev = p[k].revents;
    if (ev == 0)
      continue;
    if (s == -1)
      accept_client(a);
    else if (s == -2)
      stdin_flush(a);
    else if (a->clients[s]) {
      struct client *c = a->clients[s];
      bool ok = true;
      if (ev & (POLLIN | POLLHUP | POLLERR))
        ok = client_read(a, c);
      if (ok && (ev & POLLOUT))
        ok = client_flush(c);
      if (!ok)
        client_drop(a, s);
    }
  }
}

static void frame(struct client *c, int type, const char *data, size_t len)
{
  unsigned char h[HEADER] = {type, len >> 24, len >> 16, len >> 8, len};
  buf_append(&c->out, h, HEADER);
  buf_append(&c->out, data, len);
}

void br_attach_output(struct br_attach *a, int stream, const char *data, size_t len)
{
  for (int i = 0; i < BR_ATTACH_MAX_CLIENTS; i++) {
    struct client *c = a->clients[i];
    if (c == NULL)
      continue;
    for (size_t off = 0; off < len; off += MAX_PAYLOAD)
      frame(c, stream, data + off, len - off < MAX_PAYLOAD ? len - off : MAX_PAYLOAD);
    /* A client that cannot keep up even past the high-water mark is stuck, not slow. */
    if (!client_flush(c) || c->out.len > 16 * CLIENT_HIGH_WATER)
      client_drop(a, i);
  }
}

bool br_attach_output_blocked(const struct br_attach *a)
{
  for (int i = 0; i < BR_ATTACH_MAX_CLIENTS; i++)
    if (a->clients[i] && a->clients[i]->out.len >= CLIENT_HIGH_WATER)
      return true;
  return false;
}

void br_attach_close(struct br_attach *a, int exit_code)
{
  unsigned char code[4] = {(unsigned)exit_code >> 24, (unsigned)exit_code >> 16,
                           (unsigned)exit_code >> 8, (unsigned)exit_code};
  struct timespec start, now;
  int i;
  /* No late client may connect to a container that is gone. */
  unlink(a->path);
  close(a->listen_fd);
  for (i = 0; i < BR_ATTACH_MAX_CLIENTS; i++)
    if (a->clients[i])
      frame(a->clients[i], BR_ATTACH_EXIT, (const char *)code, 4);
  clock_gettime(CLOCK_MONOTONIC, &start);
  /* Each client gets its output, then our end of the stream (SHUT_WR), and is closed once
   * it has closed its own: closing with its last frames (a CLOSE_STDIN racing the exit)
   * unread would reset the connection, and the client would lose the output it had not
   * read yet. */
  for (;;) {
    struct pollfd p[BR_ATTACH_MAX_CLIENTS];
    int n = 0;
    long left;
    for (i = 0; i < BR_ATTACH_MAX_CLIENTS; i++) {
      struct client *c = a->clients[i];
      char discard[4096];
      ssize_t r;
      if (c == NULL)
        continue;
      if (!client_flush(c)) {
        client_drop(a, i);
        continue;
      }
      if (c->out.len == 0 && !c->shut) {
        shutdown(c->fd, SHUT_WR);
        c->shut = true;
      }
      if (c->shut) {
        while ((r = recv(c->fd, discard, sizeof(discard), MSG_DONTWAIT)) > 0)
          ;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          client_drop(a, i);
          continue;
        }
      }
      p[n++] = (struct pollfd){.fd = c->fd, .events = c->shut ? POLLIN : POLLOUT};
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    left = CLOSE_FLUSH_MS -
           ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (n == 0 || left <= 0)
      break;
    if (poll(p, n, left) < 0 && errno != EINTR)
      break;
  }
  for (i = 0; i < BR_ATTACH_MAX_CLIENTS; i++)
    if (a->clients[i])
      client_drop(a, i);
  stdin_close(a);
  free(a->pending.data);
  free(a->path);
  free(a);
}

void br_attach_abandon(struct br_attach_io *io)
{
  int *fds[] = {&io->in_w, &io->out_r, &io->err_r, &io->console, &io->root_fd};
  for (size_t i = 0; i < BR_ARRAY_SIZE(fds); i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
  if (io->console_path) {
    unlink(io->console_path);
    free(io->console_path);
    io->console_path = NULL;
  }
  free(io->console_name);
  io->console_name = NULL;
}

int br_attach_prepare(const char *root, const char *bundle, bool open_stdin,
                      struct br_attach_io *io, const char **console_socket, br_error_t *err)
{
  struct json_object *spec = NULL;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
  *io = (struct br_attach_io){
      .open_stdin = open_stdin, .in_w = -1, .out_r = -1, .err_r = -1, .console = -1, .root_fd = -1};
  if (br_spec_load(bundle ? bundle : ".", &spec, err) < 0)
    return -1;
  io->tty = br_json_bool(br_json_get(spec, "process"), "terminal");
  json_object_put(spec);
  if (io->tty) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char name[64];
    /* Beside the containers, dot-named as the runtime's own entries are: the state
     * directory does not exist yet. The runtime connects from this process, so the name
     * may go through our fd of the root. */
    snprintf(name, sizeof(name), ".console-%d", (int)getpid());
    io->console_path = br_strdup_printf("%s/%s", root, name);
    if (mkdir(root, 0700) < 0 && errno != EEXIST && br_mkdir_p(root, 0700, err) < 0) {
      br_attach_abandon(io);
      return -1;
    }
    io->console_name = socket_name(root, name, &io->root_fd);
    if (io->console_name == NULL || strlen(io->console_name) >= sizeof(addr.sun_path)) {
      br_error_make(err, errno, "console socket `%s`", io->console_path);
      br_attach_abandon(io);
      return -1;
    }
    strcpy(addr.sun_path, io->console_name);
    unlink(io->console_path);
    io->console = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (io->console < 0 || bind(io->console, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(io->console, 1) < 0) {
      br_error_make(err, errno, "console socket `%s`", io->console_path);
      br_attach_abandon(io);
      return -1;
    }
    *console_socket = io->console_name;
    return 0;
  }
  if ((open_stdin ? pipe2(in, O_CLOEXEC) : 0) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
      pipe2(errp, O_CLOEXEC) < 0) {
    int e = errno;
    int all[] = {in[0], in[1], out[0], out[1], errp[0], errp[1]};
    for (size_t i = 0; i < BR_ARRAY_SIZE(all); i++)
      if (all[i] >= 0)
        close(all[i]);
    return br_error_make(err, e, "pipe");
  }
  if (!open_stdin)
    in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
  /* A monitor started with 0-2 closed got them back from pipe2: move ours above first,
   * or the dup2s below would close one end into another. */
  {
    int *ends[] = {&in[0], &in[1], &out[0], &out[1], &errp[0], &errp[1]};
    for (size_t i = 0; i < BR_ARRAY_SIZE(ends); i++)
      if (*ends[i] >= 0 && *ends[i] <= 2) {
        int moved = fcntl(*ends[i], F_DUPFD_CLOEXEC, 3);
        if (moved >= 0)
          *ends[i] = moved;
      }
  }
  /* dup2 clears close-on-exec on 0-2: the container's process inherits them. The monitor
   * drops its own copies for /dev/null once the container is made. */
  dup2(in[0], 0);
  dup2(out[1], 1);
  dup2(errp[1], 2);
  close(in[0]);
  close(out[1]);
  close(errp[1]);
  io->in_w = in[1];
  io->out_r = out[0];
  io->err_r = errp[0];
  return 0;
}

int br_attach_finish(struct br_attach_io *io, const char *state_dir, int *out_fd, int *err_fd,
                     struct br_attach **out, br_error_t *err)
{
  int stdin_fd = -1, pty = -1;
  if (io->tty) {
    char name[64];
    /* The runtime connected and sent the master during the create, in this process: the
     * connection is queued already. */
    int conn = accept4(io->console, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
      br_error_make(err, errno, "console socket `%s`", io->console_path);
      br_attach_abandon(io);
      return -1;
    }
    if (br_recv_fd(conn, &pty, name, sizeof(name), err) < 0 || pty < 0) {
      close(conn);
      if (pty < 0 && *err == NULL)
        br_error_make(err, 0, "console socket `%s`: no pty master received", io->console_path);
      br_attach_abandon(io);
      return -1;
    }
    close(conn);
    br_attach_abandon(io);
    fcntl(pty, F_SETFL, fcntl(pty, F_GETFL) | O_NONBLOCK);
    if (io->open_stdin)
      stdin_fd = fcntl(pty, F_DUPFD_CLOEXEC, 3);
    *out_fd = pty;
    *err_fd = -1;
  } else {
    stdin_fd = io->in_w;
    *out_fd = io->out_r;
    *err_fd = io->err_r;
    fcntl(*out_fd, F_SETFL, O_NONBLOCK);
    fcntl(*err_fd, F_SETFL, O_NONBLOCK);
    io->in_w = io->out_r = io->err_r = -1;
  }
  if (br_attach_open(out, state_dir, stdin_fd, pty, err) < 0) {
    close(*out_fd);
    if (*err_fd >= 0)
      close(*err_fd);
    *out_fd = *err_fd = -1;
    return -1;
  }
  return 0;
}
