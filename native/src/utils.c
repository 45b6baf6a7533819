#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

char *br_strdup_printf(const char *fmt, ...)
{
  va_list ap;
  char *s;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    abort();
  va_end(ap);
  return s;
}

char *br_xstrdup(const char *s)
{
  char *r;
  if (s == NULL)
    return NULL;
  r = strdup(s);
  if (r == NULL)
    abort();
  return r;
}

int br_write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= n;
  }
  return 0;
}

ssize_t br_read_all(int fd, void *buf, size_t len)
{
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, p + got, len - got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (n == 0)
      break;
    got += n;
  }
  return got;
}

int br_read_file(const char *path, char **out, size_t *len, br_error_t *err)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t cap = 4096, used = 0;
  char *buf;
  if (fd < 0)
    return br_error_make(err, errno, "open `%s`", path);
  buf = malloc(cap);
  if (buf == NULL)
    abort();
  for (;;) {
    ssize_t n;
    if (used + 1 >= cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (buf == NULL)
        abort();
    }
    n = read(fd, buf + used, cap - used - 1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      free(buf);
      return br_error_make(err, errno, "read `%s`", path);
    }
    if (n == 0)
      break;
    used += n;
  }
  buf[used] = '\0';
  *out = buf;
  if (len)
    *len = used;
  return 0;
}

int br_write_file(const char *path, const char *data, size_t len, br_error_t *err)
{
  cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
  if (fd < 0)
    return br_error_make(err, errno, "open `%s`", path);
  if (br_write_all(fd, data, len) < 0)
    return br_error_make(err, errno, "write `%s`", path);
  return 0;
}

int br_write_file_atomic(const char *path, const char *data, size_t len, br_error_t *err)
{
  cleanup_free char *tmp = br_strdup_printf("%s.tmp.%d", path, getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return br_error_make(err, errno, "create `%s`", tmp);
  /* No fsync: these files describe processes, which a reboot ends anyway; the rename alone
   * guarantees a reader never sees a partial file. */
  if (br_write_all(fd, data, len) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return br_error_make(err, e, "write `%s`", tmp);
  }
  close(fd);
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return br_error_make(err, e, "rename `%s` to `%s`", tmp, path);
  }
  return 0;
}

int br_mkdir_p(const char *path, mode_t mode, br_error_t *err)
{
  cleanup_free char *p = br_xstrdup(path);
  char *s;
  for (s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, mode) < 0 && errno != EEXIST)
      return br_error_make(err, errno, "mkdir `%s`", p);
    *s = '/';
  }
  if (mkdir(p, mode) < 0 && errno != EEXIST)
    return br_error_make(err, errno, "mkdir `%s`", p);
  return 0;
}

int br_remove_dir(const char *path, br_error_t *err)
{
  cleanup_dir DIR *d = opendir(path);
  struct dirent *de;
  if (d == NULL) {
    if (errno == ENOENT)
      return 0;
    return br_error_make(err, errno, "open `%s`", path);
  }
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
      if (errno == EISDIR) {
        cleanup_free char *sub = br_strdup_printf("%s/%s", path, de->d_name);
        if (br_remove_dir(sub, err) < 0)
          return -1;
        continue;
      }
      return br_error_make(err, errno, "remove `%s/%s`", path, de->d_name);
    }
  }
  if (rmdir(path) < 0 && errno != ENOENT)
    return br_error_make(err, errno, "remove `%s`", path);
  return 0;
}

void br_format_time(char buf[40], const struct timespec *ts)
{
  struct tm tm;
  char base[24];
  gmtime_r(&ts->tv_sec, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, 40, "%.20s.%09ldZ", base, (long)(ts->tv_nsec % 1000000000L));
}

void br_now(char buf[40])
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  br_format_time(buf, &ts);
}

unsigned long long br_proc_start_time(pid_t pid)
{
  char path[64], buf[1024], *p;
  unsigned long long v = 0;
  int fd, i;
  ssize_t n;
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  /* comm can hold spaces and parentheses: fields are counted after its last ')'. */
  p = strrchr(buf, ')');
  if (p == NULL)
    return 0;
  p += 2;
  /* p is at field 3 (state); a zombie has exited already. */
  if (*p == 'Z' || *p == 'X')
    return 0;
  for (i = 3; i < 22 && p; i++) {
    p = strchr(p, ' ');
    if (p)
      p++;
  }
  if (p)
    v = strtoull(p, NULL, 10);
  return v;
}

bool br_proc_alive(pid_t pid, unsigned long long start_time)
{
  unsigned long long st;
  if (pid <= 0)
    return false;
  st = br_proc_start_time(pid);
  if (st == 0)
    return false;
  return start_time == 0 || st == start_time;
}

int br_pidfd_open(pid_t pid)
{
  return syscall(SYS_pidfd_open, pid, 0);
}

int br_send_fd(int sock, int fd, const void *data, size_t len, br_error_t *err)
{
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  struct cmsghdr *cmsg;
  memset(&u, 0, sizeof(u));
  if (fd >= 0) {
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof(u.buf);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR)
      return br_error_make(err, errno, "send file descriptor");
  }
  return 0;
}

int br_recv_fd(int sock, int *fd, void *data, size_t len, br_error_t *err)
{
  struct iovec iov = {.iov_base = data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  struct cmsghdr *cmsg;
  ssize_t n;
  *fd = -1;
  do
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return br_error_make(err, errno, "receive file descriptor");
  for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
      memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
  return n;
}

static const struct {
  const char *name;
  int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

int br_parse_signal(const char *s, int *sig, br_error_t *err)
{
  const char *name = s;
  char *end;
  long v;
  size_t i;
  v = strtol(s, &end, 10);
  if (*s && *end == '\0') {
    if (v <= 0 || v > SIGRTMAX)
      return br_error_make(err, 0, "invalid signal `%s`", s);
    *sig = v;
    return 0;
  }
  if (strncasecmp(name, "SIG", 3) == 0)
    name += 3;
  for (i = 0; i < BR_ARRAY_SIZE(signals); i++)
    if (strcasecmp(name, signals[i].name) == 0) {
      *sig = signals[i].sig;
      return 0;
    }
  if (strncasecmp(name, "RTMIN+", 6) == 0) {
    v = strtol(name + 6, &end, 10);
    if (*end == '\0' && SIGRTMIN + v <= SIGRTMAX) {
      *sig = SIGRTMIN + v;
      return 0;
    }
  }
  return br_error_make(err, 0, "unknown signal `%s`", s);
}

const char *br_signal_name(int sig)
{
  size_t i;
  for (i = 0; i < BR_ARRAY_SIZE(signals); i++)
    if (signals[i].sig == sig)
      return signals[i].name;
  return "?";
}
