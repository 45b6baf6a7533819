/* The monitor (`create --monitor`, `run --monitor`): a detached process that is the
 * container's parent for its whole life.
 *
 * The caller forks it first; the monitor starts its own session, becomes a child subreaper,
 * creates the container itself (only the parent can wait() for a process, and the exit
 * code is what the engine needs), reports "created" back through a pipe, and lets go of the
 * caller's stdio. It then copies the container's stdout/stderr into a json-file log when
 * asked, and records the exit in the state directory. A foreground `run --monitor` keeps
 * the pipe open and gets the exit code through it.
 *
 * Under a restart policy (restart.h) the monitor runs the container again when it exits:
 * through the same create and start as the first run, in the same state directory, with the
 * log appended. It outlives the process that asked for the container, so the policy holds
 * without a daemon (but not across a reboot: nothing runs the monitor again then).
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

#include "attach.h"
#include "cgroup.h"
#include "health.h"
#include "hooks.h"
#include "log.h"
#include "restart.h"
#include "spec.h"
#include "state.h"
#include "sync.h"
#include "utils.h"

#define LOG_MAX_LINE 16384
#define LOG_PARTIAL_MS 50
#define DRAIN_IDLE_MS 250
/* How long a `run --attach-wait` waits for its client before starting anyway. */
#define ATTACH_WAIT_MS 10000

struct stream {
  const char *name;
  int fd;
  char buf[LOG_MAX_LINE];
  size_t len;
  struct timespec since; /* when the pending partial line started waiting */
};

/* The container's attach endpoint, when asked for (`--attach`, `--stdin`). */
static struct br_attach *attach;

/* Output goes to the attached clients as it is read, not line by line as the log takes it. */
static void tap(const struct stream *s, size_t n)
{
  if (attach)
    br_attach_output(attach, strcmp(s->name, "stderr") == 0 ? BR_ATTACH_STDERR : BR_ATTACH_STDOUT,
                     s->buf + s->len, n);
}

static long ms_since(const struct timespec *t)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* One Docker json-file record: {"log":"...","stream":"stdout","time":"..."}. */
static void emit(int logfd, const char *stream, const char *data, size_t len)
{
  static char out[LOG_MAX_LINE * 6 + 256];
  size_t off = 0;
  char now[40];
  br_now(now);
  memcpy(out, "{\"log\":\"", 8);
  off = 8;
  br_json_escape(out, &off, data, len);
  off += sprintf(out + off, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, now);
  br_write_all(logfd, out, off);
}

static void flush_lines(int logfd, struct stream *s, bool all)
{
  size_t start = 0, i;
  for (i = 0; i < s->len; i++)
    if (s->buf[i] == '\n') {
      emit(logfd, s->name, s->buf + start, i + 1 - start);
      start = i + 1;
    }
  if (start < s->len && (all || s->len - start >= LOG_MAX_LINE)) {
    emit(logfd, s->name, s->buf + start, s->len - start);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  if (start > 0 || s->len == 0)
    clock_gettime(CLOCK_MONOTONIC, &s->since);
  s->len -= start;
}

static bool read_stream(int logfd, struct stream *s)
{
  ssize_t n;
  if (s->len == 0)
    clock_gettime(CLOCK_MONOTONIC, &s->since);
  n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0) {
    flush_lines(logfd, s, true);
    close(s->fd);
    s->fd = -1;
    return false;
  }
  tap(s, n);
  s->len += n;
  flush_lines(logfd, s, false);
  return true;
}

/* What is still in a pipe when the loop gives up on it (the drain time after the exit ran
 * out, or a process that inherited the pipe keeps it open). Without this, a monitor
 * scheduled late on a loaded machine lost output the container wrote before it exited.
 * Bounded: a process still writing must not keep the monitor here. */
static void drain(int logfd, struct stream *s)
{
  for (int rounds = 0; rounds < 64; rounds++) {
    ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; /* EAGAIN: empty for now; EOF; or an error */
    tap(s, n);
    s->len += n;
    flush_lines(logfd, s, false);
  }
}

static void record_exit(struct br_container *c, int status)
{
  struct json_object *o = json_object_new_object();
  char now[40];
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  br_error_t e = NULL;
  br_now(now);
  json_object_object_add(o, "finished", json_object_new_string(now));
  json_object_object_add(o, "exitCode", json_object_new_int(code));
  if (WIFSIGNALED(status))
    json_object_object_add(o, "signal", json_object_new_int(WTERMSIG(status)));
  json_object_object_add(
      o, "oomKilled",
      json_object_new_boolean(c->cgroup && br_cgroup_oom_killed(c->cgroup, &e) == 1));
  br_error_release(&e);
  if (br_state_write(c->state_dir, "exit.json", o, &e) < 0)
    br_log_warning("%s", e->msg);
  br_error_release(&e);
  json_object_put(o);
}

/* Returns 1 when the restart policy runs the container again, 0 when it is done. */
static int monitor_loop(struct br_container *c, int report_fd, struct br_restart *rs)
{
  struct stream out = {.name = "stdout", .fd = c->stdio[1]};
  struct stream err = {.name = "stderr", .fd = c->stdio[2]};
  struct stream *ss[2] = {&out, &err};
  cleanup_close int logfd = -1, sfd = -1;
  sigset_t set;
  int status = 0;
  bool exited = false, again;
  struct timespec exit_time = {0};
  struct br_health *health = br_health_load(c);

  if (c->log_path) {
    logfd = open(c->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (logfd < 0)
      logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    fcntl(out.fd, F_SETFL, O_NONBLOCK);
    fcntl(err.fd, F_SETFL, O_NONBLOCK);
  }
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

  for (;;) {
    struct pollfd p[4 + BR_ATTACH_MAX_FDS] = {{.fd = exited ? -1 : sfd, .events = POLLIN},
                                              {.fd = out.fd, .events = POLLIN},
                                              {.fd = err.fd, .events = POLLIN},
                                              {.fd = br_health_fd(health), .events = POLLIN}};
    size_t na = attach ? br_attach_poll_fill(attach, p + 4) : 0;
    int timeout = br_health_timeout(health), i, r;
    pid_t w;
    if (attach && br_attach_output_blocked(attach))
      p[1].fd = p[2].fd = -1;
    for (i = 0; i < 2; i++)
      if (ss[i]->fd >= 0 && ss[i]->len > 0) {
        long left = LOG_PARTIAL_MS - ms_since(&ss[i]->since);
        if (left < 0)
          left = 0;
        if (timeout < 0 || left < timeout)
          timeout = left;
      }
    if (exited) {
      long left = DRAIN_IDLE_MS - ms_since(&exit_time);
      if ((out.fd < 0 && err.fd < 0) || left <= 0)
        break;
      if (timeout < 0 || left < timeout)
        timeout = left;
    }
    r = poll(p, 4 + na, timeout);
    if (r < 0 && errno != EINTR)
      break;
    if (attach && r > 0)
      br_attach_poll_handle(attach, p + 4, na);
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si))
        ;
    }
    /* The subreaper reaps the orphans too; only the container's own exit counts. */
    while ((w = waitpid(-1, &r, WNOHANG)) > 0)
      if (w == c->pid) {
        status = r;
        exited = true;
        clock_gettime(CLOCK_MONOTONIC, &exit_time);
      } else {
        br_health_reaped(health, w, r);
      }
    if (exited) {
      br_health_finish(health);
      health = NULL;
    }
    br_health_step(health);
    for (i = 0; i < 2; i++) {
      if (ss[i]->fd < 0)
        continue;
      if (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
        read_stream(logfd, ss[i]);
        if (exited)
          clock_gettime(CLOCK_MONOTONIC, &exit_time);
      }
      if (ss[i]->fd >= 0 && ss[i]->len > 0 && ms_since(&ss[i]->since) >= LOG_PARTIAL_MS)
        flush_lines(logfd, ss[i], true);
    }
    if (!exited && out.fd < 0 && err.fd < 0 && c->log_path == NULL && r == 0)
      continue;
  }
  for (int i = 0; i < 2; i++)
    if (ss[i]->fd >= 0) {
      drain(logfd, ss[i]);
      flush_lines(logfd, ss[i], true);
      close(ss[i]->fd);
    }
  rs->last_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  /* Marked restarting before the exit is recorded: no reader ever sees a "stopped" container
   * whose monitor is about to run it again. */
  again = br_restart_wanted(rs, c->state_dir, status);
  if (again)
    br_restart_record(rs, c->state_dir, true);
  record_exit(c, status);
  /* Attached clients see every run end, as with Docker's attach; the next run opens the
   * endpoint again. */
  if (attach) {
    br_attach_close(attach, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    attach = NULL;
  }
  if (again)
    return 1;
  if (rs->policy != BR_RESTART_NO)
    br_restart_record(rs, c->state_dir, false);
  if (report_fd >= 0) {
    char buf[32];
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int n = snprintf(buf, sizeof(buf), "X %d\n", code);
    br_write_all(report_fd, buf, n);
  }
  return 0;
}

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
  va_list ap;
  char buf[4096];
  int n;
  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof(buf) - 2)
    n = sizeof(buf) - 2;
  /* One line per message: the caller reads up to '\n'. */
  for (int i = 0; i < n; i++)
    if (buf[i] == '\n')
      buf[i] = ' ';
  buf[n++] = '\n';
  br_write_all(fd, buf, n);
}

/* Starts a created container as `run` does: the exec fifo, poststart hooks, then the
 * process's word that it exec'd. -1: the start failed; -2: the process failed before its
 * exec (it is reaped). */
static int start_created(const struct br_global *g, struct br_container *c, br_error_t *err)
{
  if (br_container_do_start(c->state_dir, c->pid, err) < 0)
    return -1;
  if (br_hooks_count(c->spec, "poststart")) {
    cleanup_state struct br_state *st = NULL;
    br_error_t he = NULL;
    if (br_state_load(g->root, c->id, &st, &he) == 0) {
      struct json_object *hs = br_state_document(st);
      if (br_hooks_run(c->spec, "poststart", hs, &he) < 0)
        br_log_warning("%s", he->msg);
      json_object_put(hs);
    }
    br_error_release(&he);
  }
  if (br_sync_recv(c->sync_fd, NULL, err) == BR_SYNC_ERROR) {
    int status;
    waitpid(c->pid, &status, 0);
    c->pid = 0;
    return -2;
  }
  br_error_release(err);
  return 0;
}

/* The exit stays recorded when a restart fails: the engine reaps it as any exit. */
static void record_failed_restart(const char *state_dir, const char *id, br_error_t e)
{
  struct json_object *o = json_object_new_object();
  char now[40];
  br_error_t we = NULL;
  /* Docker's exit codes for a command that cannot run (as a first `run`, see
   * br_monitor_create), else the one for a container its runtime could not start. */
  bool exec = e && e->msg && strstr(e->msg, "exec: ");
  int code = exec && e->status == ENOENT ? 127 : exec && e->status == EACCES ? 126 : 128;
  br_log_warning("restart container `%s`: %s", id, e && e->msg ? e->msg : "unknown error");
  br_now(now);
  json_object_object_add(o, "finished", json_object_new_string(now));
  json_object_object_add(o, "exitCode", json_object_new_int(code));
  json_object_object_add(o, "oomKilled", json_object_new_boolean(false));
  if (br_state_write(state_dir, "exit.json", o, &we) < 0)
    br_log_warning("%s", we->msg);
  br_error_release(&we);
  json_object_put(o);
}

/* Runs the exited container again, through the same create and start as its first run, once
 * the backoff has passed. False when it is not run again: a stop came, or the run failed. */
static bool restart(const struct br_global *g, struct br_create_opts *co, struct br_container *c,
                    struct br_restart *rs, const char *log_path)
{
  struct br_attach_io io = {.in_w = -1, .out_r = -1, .err_r = -1, .console = -1, .root_fd = -1};
  bool attaching = co->attach || co->open_stdin;
  static const char *const stale[] = {"exit.json", "started", "exec.fifo"};
  char dir[PATH_MAX], path[PATH_MAX + 32];
  br_error_t e = NULL;
  bool stopped = !br_restart_backoff(rs, c->state_dir);
  snprintf(dir, sizeof(dir), "%s", c->state_dir);
  /* Whatever the last run left in its cgroup (without a pid namespace its children outlive
   * it) goes with the cgroup; the next run makes it again. */
  if (c->cgroup) {
    br_cgroup_destroy(c->cgroup, true, &e);
    br_error_release(&e);
  }
  if (stopped) {
    br_restart_record(rs, dir, false);
    return false;
  }
  for (size_t i = 0; i < BR_ARRAY_SIZE(stale); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, stale[i]);
    unlink(path);
  }
  br_container_free(c);
  memset(c, 0, sizeof(*c));
  c->sync_fd = c->fifo_fd = -1;
  c->stdio[0] = c->stdio[1] = c->stdio[2] = -1;
  co->restarting = true;
  /* The same steps as the first run's in monitor_main: the attach endpoint's stdio, the
   * create, the endpoint, the start. */
  if ((attaching &&
       br_attach_prepare(g->root, co->bundle, co->open_stdin, &io, &co->console_socket, &e) < 0) ||
      br_container_create_child_side(g, co, c, &e) < 0 ||
      (attaching &&
       br_attach_finish(&io, c->state_dir, &c->stdio[1], &c->stdio[2], &attach, &e) < 0) ||
      start_created(g, c, &e) < 0) {
    br_attach_abandon(&io);
    if (attach) {
      br_attach_close(attach, 128);
      attach = NULL;
    }
    if (c->pid > 0) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, NULL, 0);
      c->pid = 0;
    }
    if (c->cgroup)
      br_cgroup_destroy(c->cgroup, true, NULL);
    record_failed_restart(dir, co->id, e);
    br_error_release(&e);
    br_restart_record(rs, dir, false);
    return false;
  }
  close(c->sync_fd);
  close(c->fifo_fd);
  c->sync_fd = c->fifo_fd = -1;
  if (attaching) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* The pipes br_attach_prepare put on 0-2 are the container's now. */
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      close(null);
    }
    c->log_path = log_path;
  }
  br_restart_started(rs);
  br_restart_record(rs, dir, false);
  /* A `kill` that came while this run was being made left it to us (it saw "restarting"). */
  if (br_restart_stop_requested(dir))
    kill(c->pid, SIGKILL);
  return true;
}

static __attribute__((noreturn)) void monitor_main(const struct br_global *g,
                                                   const struct br_create_opts *o, int rep)
{
  struct br_container c;
  struct br_create_opts co = *o;
  struct br_restart rs;
  struct br_attach_io io = {.in_w = -1, .out_r = -1, .err_r = -1, .console = -1, .root_fd = -1};
  bool attaching = o->attach || o->open_stdin || o->attach_wait;
  br_error_t e = NULL;
  int null;

  setsid();
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  if (attaching) {
    memset(&c, 0, sizeof(c));
    c.sync_fd = c.fifo_fd = -1;
    c.stdio[0] = c.stdio[1] = c.stdio[2] = -1;
    if (br_attach_prepare(g->root, o->bundle, o->open_stdin, &io, &co.console_socket, &e) < 0)
      goto fail;
    /* The monitor holds the container's stdio itself (attach.h) and writes the log from it. */
    co.log_path = NULL;
  }
  if (br_container_create_child_side(g, &co, &c, &e) < 0)
    goto fail;
  if (attaching) {
    if (br_attach_finish(&io, c.state_dir, &c.stdio[1], &c.stdio[2], &attach, &e) < 0)
      goto fail;
    c.log_path = o->log_path;
  }
  br_restart_load(&rs, c.spec);
  if (rs.policy != BR_RESTART_NO)
    br_restart_record(&rs, c.state_dir, false);
  if (o->run) {
    int r;
    if (o->attach_wait)
      br_attach_wait_client(attach, ATTACH_WAIT_MS);
    r = start_created(g, &c, &e);
    if (r == -1)
      goto fail;
    if (r == -2) {
      report(rep, "E %d %s container `%s`: %s", e->status, "run", o->id, e->msg);
      br_container_cleanup(&c);
      _exit(1);
    }
  }
  br_restart_started(&rs);
  close(c.sync_fd);
  close(c.fifo_fd);
  report(rep, "C %d", c.pid);
  /* From here on the caller's terminal and pipes are not ours to hold. */
  null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
  if (!(o->run && !o->detach)) {
    close(rep);
    rep = -1;
  }
  while (monitor_loop(&c, rep, &rs) == 1)
    if (!restart(g, &co, &c, &rs, o->log_path)) {
      /* Stopped between two runs, or the next run failed: a foreground `run` still gets
       * the last exit code. */
      if (rep >= 0) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "X %d\n", rs.last_exit);
        br_write_all(rep, buf, n);
      }
      break;
    }
  _exit(0);
fail:
  report(rep, "E %d %s container `%s`: %s", e ? e->status : 0, o->run ? "run" : "create", o->id,
         e && e->msg ? e->msg : "unknown error");
  br_attach_abandon(&io);
  br_container_cleanup(&c);
  _exit(1);
}

/* Reads one '\n'-terminated line (blocking). Returns its length, 0 on EOF. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (buf[n] == '\n')
      break;
    n++;
  }
  buf[n] = '\0';
  return n;
}

int br_monitor_create(const struct br_global *g, const struct br_create_opts *o, int *exit_code,
                      br_error_t *err)
{
  int rep[2];
  char line[4200];
  pid_t m, cpid;
  if (pipe2(rep, O_CLOEXEC) < 0)
    return br_error_make(err, errno, "pipe");
  m = fork();
  if (m < 0)
    return br_error_make(err, errno, "fork the monitor");
  if (m == 0) {
    close(rep[0]);
    monitor_main(g, o, rep[1]);
  }
  close(rep[1]);
  if (read_line(rep[0], line, sizeof(line)) <= 0) {
    waitpid(m, NULL, 0);
    return br_error_make(err, 0, "%s container `%s`: the monitor exited during setup",
                         o->run ? "run" : "create", o->id);
  }
  if (line[0] == 'E') {
    char *msg;
    int status = strtol(line + 2, &msg, 10);
    waitpid(m, NULL, 0);
    br_error_make(err, 0, "%s", msg + 1);
    (*err)->status = status;
    if (o->run && strstr(msg, ": exec: \""))
      *exit_code = status == ENOENT ? 127 : status == EACCES ? 126 : 1;
    return -1;
  }
  cpid = atoi(line + 2);
  if (!o->run || o->detach) {
    *exit_code = 0;
    return 0;
  }
  /* Foreground: forward our signals to the container until the monitor reports the exit. */
  {
    sigset_t all;
    cleanup_close int sfd = -1;
    sigfillset(&all);
    sfd = signalfd(-1, &all, SFD_CLOEXEC);
    for (;;) {
      struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = rep[0], .events = POLLIN}};
      if (poll(p, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        break;
      }
      if (p[0].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGCHLD &&
            si.ssi_signo != SIGPIPE)
          kill(cpid, si.ssi_signo);
      }
      if (p[1].revents & (POLLIN | POLLHUP)) {
        if (read_line(rep[0], line, sizeof(line)) > 0 && line[0] == 'X') {
          *exit_code = atoi(line + 2);
          break;
        }
        waitpid(m, NULL, 0);
        return br_error_make(err, 0, "run container `%s`: the monitor exited without the exit code",
                             o->id);
      }
    }
  }
  waitpid(m, NULL, 0);
  if (!o->keep) {
    br_error_t e = NULL;
    if (br_container_remove(g, o->id, true, &e) < 0)
      br_log_warning("%s", e->msg);
    br_error_release(&e);
  }
  return 0;
}
