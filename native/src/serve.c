/* `berth-runtime serve --parent PID`: runs berth-runtime commands on behalf of one parent.
 *
 * Why: a spawn from Node costs ~3 ms (Node forks its whole address space), and a container's
 * life takes about ten runtime commands. This small static process forks in ~0.1 ms, so the
 * parent starts it once and sends it each command as a request.
 *
 * Protocol, on the serve process's stdin (requests) and stdout (replies); integers are
 * native-endian u32 (the parent is on the same machine):
 *   request: len id timeout_ms argc input_len, then argc NUL-terminated strings (the command
 *            line without the program name), then input_len bytes for the command's stdin.
 *   reply:   len id exit_code signal timed_out out_len err_len, then the command's stdout and
 *            stderr. exit_code is valid when signal is 0.
 * `len` counts the bytes after itself.
 *
 * Each request runs in a forked child through br_main(), the same code as the command line.
 * Its stdout and stderr are memfds rather than pipes: the reply is sent when the child exits,
 * and a container or monitor that inherited them can never hold a request open. A request
 * past its time limit gets SIGTERM, then SIGKILL a second later, as a spawn from Node did.
 *
 * The serve process ends when its parent closes the request pipe or dies (PR_SET_PDEATHSIG,
 * checked against --parent for a parent that died before prctl). Requests in flight then run
 * to their end, as a spawned command would, except the read-only ones (state, list, ps, wait),
 * which nobody will read: they die with it. Monitors of detached containers start their own
 * session and are not its children once their creator exits, so they outlive it.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cloned_binary.h"
#include "error.h"
#include "utils.h"

#define REQ_HDR_WORDS 5
#define REPLY_HDR_WORDS 7
#define MAX_REQUEST (64u << 20)
#define KILL_GRACE_MS 1000

struct job {
  pid_t pid;
  uint32_t id;
  int out;
  int err;
  int64_t deadline; /* ms on CLOCK_MONOTONIC; 0 for none */
  bool term_sent;
  bool timed_out;
};

struct server {
  struct job *jobs;
  size_t njobs;
  size_t cap;
  char *buf; /* unparsed request bytes */
  size_t len;
  size_t bufcap;
};

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The whole content of a memfd the child wrote through its own file offset. */
static char *slurp(int fd, uint32_t *len)
{
  struct stat st;
  char *data;
  size_t off = 0;
  *len = 0;
  if (fstat(fd, &st) < 0 || st.st_size <= 0)
    return NULL;
  data = malloc(st.st_size);
  if (data == NULL)
    return NULL;
  while (off < (size_t)st.st_size) {
    ssize_t r = pread(fd, data + off, st.st_size - off, off);
    if (r <= 0) {
      if (r < 0 && errno == EINTR)
        continue;
      break;
    }
    off += (size_t)r;
  }
  *len = (uint32_t)off;
  return data;
}

static void reply(const struct job *j, int status)
{
  cleanup_free char *out = NULL;
  cleanup_free char *errtext = NULL;
  uint32_t hdr[REPLY_HDR_WORDS], out_len, err_len;
  out = slurp(j->out, &out_len);
  errtext = slurp(j->err, &err_len);
  hdr[0] = (REPLY_HDR_WORDS - 1) * 4 + out_len + err_len;
  hdr[1] = j->id;
  hdr[2] = WIFEXITED(status) ? (uint32_t)WEXITSTATUS(status) : 0;
  hdr[3] = WIFSIGNALED(status) ? (uint32_t)WTERMSIG(status) : 0;
  hdr[4] = j->timed_out;
  hdr[5] = out_len;
  hdr[6] = err_len;
  /* A parent that stopped reading is gone: nothing is left to serve. */
  if (write_all(STDOUT_FILENO, hdr, sizeof(hdr)) < 0 ||
      write_all(STDOUT_FILENO, out, out_len) < 0 || write_all(STDOUT_FILENO, errtext, err_len) < 0)
    _exit(0);
}

/* A reply for a request that never ran (no memory, no fork): exit 1 and the reason. */
static void reply_error(uint32_t id, const char *msg)
{
  uint32_t hdr[REPLY_HDR_WORDS];
  uint32_t n = (uint32_t)strlen(msg);
  hdr[0] = (REPLY_HDR_WORDS - 1) * 4 + n;
  hdr[1] = id;
  hdr[2] = 1;
  hdr[3] = 0;
  hdr[4] = 0;
  hdr[5] = 0;
  hdr[6] = n;
  if (write_all(STDOUT_FILENO, hdr, sizeof(hdr)) < 0 || write_all(STDOUT_FILENO, msg, n) < 0)
    _exit(0);
}

/* The serve process's own argv area, which each child rewrites with its command line: a
 * fork runs no exec, so /proc/<pid>/cmdline would otherwise say `serve` for every command and
 * for the monitors and proxies they leave, and the tools that find a port-proxy or a
 * container's monitor by its command line (and `ps`) would not. The parent passes an
 * `--argv-space` argument to make the area large enough. */
static char *title_area;
static size_t title_size;

static void set_title(char **argv, int argc)
{
  size_t off = 0;
  int i;
  if (title_area == NULL)
    return;
  for (i = 0; i < argc && off < title_size; i++) {
    size_t n = strlen(argv[i]) + 1;
    if (n > title_size - off)
      n = title_size - off;
    memcpy(title_area + off, argv[i], n);
    off += n;
  }
  memset(title_area + off, 0, title_size - off);
  /* Truncated mid-argument: the area still ends with a NUL, as the kernel expects. */
  title_area[title_size - 1] = '\0';
}

static void init_title(int argc, char **argv)
{
  char *end;
  int i;
  if (argc < 1)
    return;
  end = argv[0];
  for (i = 0; i < argc; i++) {
    if (argv[i] != end)
      return; /* not one contiguous area: leave the titles alone */
    end = argv[i] + strlen(argv[i]) + 1;
  }
  title_area = argv[0];
  title_size = (size_t)(end - argv[0]);
}

static bool is_readonly_command(const char *cmd)
{
  return strcmp(cmd, "state") == 0 || strcmp(cmd, "list") == 0 || strcmp(cmd, "ps") == 0 ||
         strcmp(cmd, "wait") == 0;
}

/* The child's side: a process as fresh as a spawn would make it, then the command line. */
static void run_child(char **argv, int argc, int in, int out, int err, bool readonly)
{
  sigset_t none;
  int sig;
  sigemptyset(&none);
  for (sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (readonly)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
    _exit(127);
  set_title(argv, argc);
  /* Nothing of the server (its pipes, other requests' memfds) may reach a container. */
  syscall(SYS_close_range, 3, ~0U, 0);
  exit(br_main(argc, argv));
}

static int memfd_with(const char *data, size_t n)
{
  int fd = memfd_create("berth-serve-in", MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  if (write_all(fd, data, n) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void start_job(struct server *s, const uint32_t *hdr, char *payload, size_t plen)
{
  uint32_t id = hdr[1], timeout = hdr[2], argc = hdr[3], input_len = hdr[4];
  cleanup_free char **argv = NULL;
  cleanup_close int in = -1;
  struct job j = {.id = id, .out = -1, .err = -1};
  size_t off = 0;
  uint32_t i;
  if (argc == 0 || input_len > plen) {
    reply_error(id, "berth-runtime serve: malformed request\n");
    return;
  }
  argv = calloc(argc + 2, sizeof(char *));
  if (argv == NULL) {
    reply_error(id, "berth-runtime serve: out of memory\n");
    return;
  }
  argv[0] = "berth-runtime";
  for (i = 0; i < argc; i++) {
    char *end = memchr(payload + off, '\0', plen - input_len - off);
    if (end == NULL) {
      reply_error(id, "berth-runtime serve: malformed request\n");
      return;
    }
    argv[i + 1] = payload + off;
    off = (size_t)(end - payload) + 1;
  }
  in = input_len ? memfd_with(payload + plen - input_len, input_len)
                 : open("/dev/null", O_RDONLY | O_CLOEXEC);
  j.out = memfd_create("berth-serve-out", MFD_CLOEXEC);
  j.err = memfd_create("berth-serve-err", MFD_CLOEXEC);
  if (in < 0 || j.out < 0 || j.err < 0)
    goto fail;
  if (s->njobs == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    struct job *n = realloc(s->jobs, cap * sizeof(*n));
    if (n == NULL)
      goto fail;
    s->jobs = n;
    s->cap = cap;
  }
  /* The first non-flag word is the command (global flags all take a value or none). */
  {
    const char *cmd = NULL;
    for (i = 1; i <= argc; i++) {
      if (argv[i][0] != '-') {
        cmd = argv[i];
        break;
      }
      if ((strcmp(argv[i], "--root") == 0 || strcmp(argv[i], "--log") == 0 ||
           strcmp(argv[i], "--log-format") == 0) &&
          i < argc)
        i++;
    }
    j.pid = fork();
    if (j.pid == 0)
      run_child(argv, (int)argc + 1, in, j.out, j.err, cmd && is_readonly_command(cmd));
  }
  if (j.pid < 0)
    goto fail;
  j.deadline = timeout ? now_ms() + timeout : 0;
  s->jobs[s->njobs++] = j;
  return;
fail:
  reply_error(id, errno == ENOMEM ? "berth-runtime serve: out of memory\n"
                                  : "berth-runtime serve: cannot start the command\n");
  if (j.out >= 0)
    close(j.out);
  if (j.err >= 0)
    close(j.err);
}

static void finish_job(struct server *s, pid_t pid, int status)
{
  size_t i;
  for (i = 0; i < s->njobs; i++) {
    if (s->jobs[i].pid != pid)
      continue;
    reply(&s->jobs[i], status);
    close(s->jobs[i].out);
    close(s->jobs[i].err);
    s->jobs[i] = s->jobs[--s->njobs];
    return;
  }
}

/* Parses every complete request in the buffer and starts it. */
static void take_requests(struct server *s)
{
  size_t off = 0;
  while (s->len - off >= REQ_HDR_WORDS * 4) {
    uint32_t hdr[REQ_HDR_WORDS];
    size_t total;
    memcpy(hdr, s->buf + off, sizeof(hdr));
    if (hdr[0] < (REQ_HDR_WORDS - 1) * 4 || hdr[0] > MAX_REQUEST) {
      /* A parent that speaks another protocol: nothing it sends can be trusted any more. */
      _exit(2);
    }
    total = 4 + (size_t)hdr[0];
    if (s->len - off < total)
      break;
    start_job(s, hdr, s->buf + off + REQ_HDR_WORDS * 4, total - REQ_HDR_WORDS * 4);
    off += total;
  }
  memmove(s->buf, s->buf + off, s->len - off);
  s->len -= off;
}

static int read_requests(struct server *s)
{
  for (;;) {
    ssize_t n;
    if (s->bufcap - s->len < 65536) {
      size_t cap = s->bufcap ? s->bufcap * 2 : 131072;
      char *b = realloc(s->buf, cap);
      if (b == NULL)
        return -1;
      s->buf = b;
      s->bufcap = cap;
    }
    n = read(STDIN_FILENO, s->buf + s->len, s->bufcap - s->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return 0;
    if (n <= 0)
      return -1; /* EOF: the parent is done with us */
    s->len += (size_t)n;
    take_requests(s);
  }
}

static void enforce_deadlines(struct server *s, int64_t now)
{
  size_t i;
  for (i = 0; i < s->njobs; i++) {
    struct job *j = &s->jobs[i];
    if (j->deadline == 0 || now < j->deadline)
      continue;
    j->timed_out = true;
    if (!j->term_sent) {
      kill(j->pid, SIGTERM);
      j->term_sent = true;
      j->deadline = now + KILL_GRACE_MS;
    } else {
      kill(j->pid, SIGKILL);
      j->deadline = 0;
    }
  }
}

static int next_timeout(const struct server *s, int64_t now)
{
  int64_t best = -1;
  size_t i;
  for (i = 0; i < s->njobs; i++) {
    int64_t d = s->jobs[i].deadline;
    if (d == 0)
      continue;
    d = d > now ? d - now : 0;
    if (best < 0 || d < best)
      best = d;
  }
  return best > 0x7fffffff ? 0x7fffffff : (int)best;
}

int br_cmd_serve(int argc, char **argv)
{
  struct server s = {0};
  br_error_t err = NULL;
  sigset_t chld;
  long parent = 0;
  int sfd, i;

  for (i = 2; i < argc; i++)
    if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc)
      parent = strtol(argv[++i], NULL, 10);
  /* Every child runs container code: it must run from the sealed copy, and fork inherits it. */
  if (br_cloned_binary_ensure(argv, &err) < 0) {
    fprintf(stderr, "berth-runtime serve: %s\n", err->msg);
    br_error_release(&err);
    return 1;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (parent > 0 && getppid() != (pid_t)parent)
    return 0;
  init_title(argc, argv);
  {
    /* Its own title without the padding: `berth-runtime serve --parent PID`. */
    char pid[32];
    char *own[] = {argv[0], "serve", "--parent", pid};
    snprintf(pid, sizeof(pid), "%ld", parent);
    char *copy[4];
    for (i = 0; i < 4; i++)
      copy[i] = strdup(own[i]);
    set_title(copy, 4);
    for (i = 0; i < 4; i++)
      free(copy[i]);
  }
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    perror("berth-runtime serve: signalfd");
    return 1;
  }
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  for (;;) {
    struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    int64_t now = now_ms();
    int r;
    enforce_deadlines(&s, now);
    r = poll(p, 2, next_timeout(&s, now));
    if (r < 0 && errno != EINTR)
      return 1;
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      pid_t pid;
      int status;
      while (read(sfd, &si, sizeof(si)) == sizeof(si))
        ;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        finish_job(&s, pid, status);
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
      if (read_requests(&s) < 0)
        return 0;
  }
}
