/* The commands that work on an existing container: state, kill, delete, list, pause,
 * resume, ps, wait, stop; and spec. */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cgroup.h"
#include "hooks.h"
#include "log.h"
#include "restart.h"
#include "spec.h"
#include "state.h"
#include "utils.h"

static int load_cgroup(struct br_state *st, struct br_cgroup **cg, br_error_t *err)
{
  const char *s = st->obj ? br_json_str(st->obj, "cgroup") : NULL;
  *cg = NULL;
  if (s == NULL)
    return 0;
  if (br_cgroup_load(s, cg, err) < 0)
    return br_error_wrap(err, "container `%s`: load its cgroup", st->id);
  return 0;
}

/* Signals every process of `cg`, then frees it. */
static int kill_cgroup(struct br_cgroup *cg, int sig, const char *id, br_error_t *err)
{
  int r = br_cgroup_kill(cg, sig, err);
  br_cgroup_free(cg);
  return r < 0 ? br_error_wrap(err, "kill container `%s`", id) : 0;
}

/* Freezes or thaws every process of the container (its cgroup): 1 when done, 0 when it has
 * no cgroup, so nothing was done; -1 on an error, which names the container. */
static int freeze_cgroup(struct br_state *st, const char *id, bool freeze, br_error_t *err)
{
  struct br_cgroup *cg = NULL;
  int r;
  if (load_cgroup(st, &cg, err) < 0)
    return -1;
  if (cg == NULL)
    return 0;
  r = br_cgroup_freeze(cg, freeze, err);
  br_cgroup_free(cg);
  if (r < 0)
    return br_error_wrap(err, "%s container `%s`", freeze ? "pause" : "resume", id);
  return 1;
}

int br_cmd_state(const struct br_global *g, const char *id, br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  struct json_object *doc;
  if (br_state_load(g->root, id, &st, err) < 0)
    return -1;
  doc = br_state_document(st);
  printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(doc);
  return 0;
}

/*
 * The signal and state of a container about to be signalled (kill, stop). First of all, a
 * restart policy must not run the container again once it has stopped: the request is
 * recorded, and the state read again when the monitor was between two runs.
 */
static int load_to_stop(const struct br_global *g, const char *id, const char *signame, int *sig,
                        struct br_state **st, br_error_t *err)
{
  if (signame && br_parse_signal(signame, sig, err) < 0)
    return -1;
  if (br_state_load(g->root, id, st, err) < 0)
    return -1;
  if (br_restart_request_stop(*st)) {
    br_state_free(*st);
    *st = NULL;
    if (br_state_load(g->root, id, st, err) < 0)
      return -1;
  }
  return 0;
}

int br_cmd_kill(const struct br_global *g, const char *id, const char *signame, bool all,
                br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  struct br_cgroup *cg = NULL;
  int sig = SIGTERM;
  if (load_to_stop(g, id, signame, &sig, &st, err) < 0)
    return -1;
  if (strcmp(br_state_status(st), "stopped") == 0)
    return br_error_make(err, 0, "container `%s` is not running", id);
  /* Between two runs: the stop request alone ends it (the monitor kills a run it was
   * starting). */
  if (strcmp(br_state_status(st), "restarting") == 0)
    return 0;
  if (all && load_cgroup(st, &cg, err) < 0)
    return -1;
  if (cg)
    return kill_cgroup(cg, sig, id, err);
  if (kill(st->pid, sig) < 0)
    return br_error_make(err, errno, "kill container `%s`", id);
  return 0;
}

/* Waits for `pid` to exit (not to be reaped: it is not our child). */
static bool wait_exit(pid_t pid, unsigned long long start, int timeout_ms)
{
  int fd;
  struct pollfd p;
  bool done;
  if (!br_proc_alive(pid, start))
    return true;
  fd = br_pidfd_open(pid);
  if (fd < 0)
    return !br_proc_alive(pid, start);
  p.fd = fd;
  p.events = POLLIN;
  while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
    ;
  done = p.revents & POLLIN;
  close(fd);
  return done || !br_proc_alive(pid, start);
}

int br_container_remove(const struct br_global *g, const char *id, bool force, br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  struct br_cgroup *cg = NULL;
  const char *status;
  br_error_t e = NULL;

  if (br_state_load(g->root, id, &st, err) < 0) {
    /* Cleanup paths delete whatever may exist: nothing there is not an error. */
    if (force && strstr((*err)->msg, "does not exist")) {
      br_error_release(err);
      return 0;
    }
    return -1;
  }
  status = br_state_status(st);
  if (!force && (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0 ||
                 strcmp(status, "creating") == 0 || strcmp(status, "restarting") == 0))
    return br_error_make(err, 0, "cannot delete container `%s` that is not stopped: %s", id,
                         status);
  if (load_cgroup(st, &cg, &e) < 0) {
    br_log_warning("%s", e->msg);
    br_error_release(&e);
  }
  if (force)
    br_restart_request_stop(st);
  if (strcmp(status, "stopped") != 0) {
    if (cg && st->paused)
      br_cgroup_freeze(cg, false, &e);
    br_error_release(&e);
    if (br_proc_alive(st->pid, st->pid_start))
      kill(st->pid, SIGKILL);
    if (cg && br_cgroup_kill(cg, SIGKILL, &e) < 0)
      br_log_warning("%s", e->msg);
    br_error_release(&e);
    if (!wait_exit(st->pid, st->pid_start, 10000))
      return br_error_make(err, 0, "delete container `%s`: its process %d did not die", id,
                           st->pid);
  } else if (cg) {
    /* Without a pid namespace, children of the exited process may live on in the cgroup. */
    br_cgroup_kill(cg, SIGKILL, &e);
    br_error_release(&e);
  }
  /* The monitor writes exit.json into the directory about to go: let it finish. */
  if (st->monitor_pid > 0 && !wait_exit(st->monitor_pid, st->monitor_start, 5000)) {
    kill(st->monitor_pid, SIGKILL);
    wait_exit(st->monitor_pid, st->monitor_start, 2000);
  }
  if (st->obj && br_json_get(st->obj, "poststop")) {
    struct json_object *spec = json_object_new_object(), *hooks = json_object_new_object();
    struct json_object *doc = br_state_document(st);
    json_object_object_add(doc, "status", json_object_new_string("stopped"));
    json_object_object_add(hooks, "poststop", json_object_get(br_json_get(st->obj, "poststop")));
    json_object_object_add(spec, "hooks", hooks);
    /* poststop failures are logged: the container is gone either way (OCI). */
    if (br_hooks_run(spec, "poststop", doc, &e) < 0)
      br_log_warning("%s", e->msg);
    br_error_release(&e);
    json_object_put(doc);
    json_object_put(spec);
  }
  if (cg) {
    if (br_cgroup_destroy(cg, true, &e) < 0) {
      br_cgroup_free(cg);
      *err = e;
      return br_error_wrap(err, "delete container `%s`", id);
    }
    br_cgroup_free(cg);
  }
  if (br_remove_dir(st->dir, err) < 0)
    return br_error_wrap(err, "delete container `%s`", id);
  return 0;
}

int br_cmd_list(const struct br_global *g, bool json, bool quiet, br_error_t *err)
{
  cleanup_dir DIR *d = opendir(g->root);
  struct dirent *de;
  struct json_object *arr = json_object_new_array();
  size_t i, n;
  if (d == NULL && errno != ENOENT) {
    json_object_put(arr);
    return br_error_make(err, errno, "open `%s`", g->root);
  }
  while (d && (de = readdir(d)) != NULL) {
    struct br_state *st = NULL;
    br_error_t e = NULL;
    if (de->d_name[0] == '.')
      continue;
    if (br_state_load(g->root, de->d_name, &st, &e) < 0) {
      br_error_release(&e);
      continue;
    }
    json_object_array_add(arr, br_state_document(st));
    br_state_free(st);
  }
  n = json_object_array_length(arr);
  if (json) {
    printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
  } else {
    if (!quiet)
      printf("%-12s %-8s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
             "OWNER");
    for (i = 0; i < n; i++) {
      struct json_object *o = json_object_array_get_idx(arr, i);
      if (quiet) {
        printf("%s\n", br_json_str(o, "id"));
        continue;
      }
      printf("%-12s %-8d %-10s %-40s %-31s %s\n", br_json_str(o, "id"),
             json_object_get_int(br_json_get(o, "pid")), br_json_str(o, "status"),
             br_json_str(o, "bundle"), br_json_str(o, "created") ? br_json_str(o, "created") : "",
             "root");
    }
  }
  json_object_put(arr);
  return 0;
}

int br_cmd_pause(const struct br_global *g, const char *id, bool pause, br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  const char *status;
  char path[4096];
  int r;
  if (br_state_load(g->root, id, &st, err) < 0)
    return -1;
  status = br_state_status(st);
  if (pause && strcmp(status, "running") != 0 && strcmp(status, "created") != 0)
    return br_error_make(err, 0, "cannot pause container `%s`: it is %s", id, status);
  if (!pause && strcmp(status, "paused") != 0)
    return br_error_make(err, 0, "cannot resume container `%s`: it is not paused", id);
  r = freeze_cgroup(st, id, pause, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return br_error_make(err, 0, "cannot %s container `%s`: it has no cgroup",
                         pause ? "pause" : "resume", id);
  snprintf(path, sizeof(path), "%s/paused", st->dir);
  if (pause) {
    char now[40];
    br_now(now);
    return br_write_file_atomic(path, now, strlen(now), err);
  }
  unlink(path);
  return 0;
}

int br_cmd_ps(const struct br_global *g, const char *id, bool json, br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  struct br_cgroup *cg = NULL;
  pid_t *pids = NULL;
  size_t n = 0, i;
  if (br_state_load(g->root, id, &st, err) < 0)
    return -1;
  if (load_cgroup(st, &cg, err) < 0)
    return -1;
  if (cg) {
    int r = br_cgroup_pids(cg, &pids, &n, err);
    br_cgroup_free(cg);
    if (r < 0)
      return br_error_wrap(err, "ps container `%s`", id);
  } else if (strcmp(br_state_status(st), "stopped") != 0) {
    pids = malloc(sizeof(pid_t));
    pids[0] = st->pid;
    n = 1;
  }
  if (json) {
    printf("[");
    for (i = 0; i < n; i++)
      printf("%s%d", i ? "," : "", pids[i]);
    printf("]\n");
  } else {
    printf("%-8s %s\n", "PID", "CMD");
    for (i = 0; i < n; i++) {
      char path[64], *cmd = NULL;
      br_error_t e = NULL;
      size_t len = 0, k;
      snprintf(path, sizeof(path), "/proc/%d/cmdline", pids[i]);
      if (br_read_file(path, &cmd, &len, &e) == 0)
        for (k = 0; k + 1 < len; k++)
          if (cmd[k] == '\0')
            cmd[k] = ' ';
      br_error_release(&e);
      printf("%-8d %s\n", pids[i], cmd ? cmd : "");
      free(cmd);
    }
  }
  free(pids);
  return 0;
}

/* Prints the recorded end: with `state`, the whole state document (what `state` prints once
 * stopped; the engine records the end from it and saves a `state` command after the wait),
 * else the exit code. False when there is no end yet. */
static bool print_exit(const struct br_global *g, const char *id, const char *path, bool state)
{
  cleanup_state struct br_state *st = NULL;
  br_error_t err = NULL;
  if (access(path, F_OK) < 0)
    return false;
  if (br_state_load(g->root, id, &st, &err) < 0) {
    br_error_release(&err);
    return false;
  }
  /* An exit that appeared since the caller's own look may be a run that its monitor is about
   * to start again (restarting is recorded before the exit): not the end, which the caller
   * then waits for on the monitor. */
  if (strcmp(br_state_status(st), "restarting") == 0 || st->exit == NULL)
    return false;
  if (state) {
    struct json_object *doc = br_state_document(st);
    printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
  } else {
    printf("%d\n", json_object_get_int(br_json_get(st->exit, "exitCode")));
  }
  return true;
}

/* Blocks until the container's end is recorded: on a pidfd of the monitor, which writes
 * exit.json and then exits (no polling, and no inotify: closing an inotify instance waits for
 * an SRCU grace period, milliseconds); without a monitor (a foreground `run --keep`
 * elsewhere), on the container's own process. Returns 1 once ended, 0 at the timeout
 * (timeout_ms < 0: none). */
static int wait_end(struct br_state *st, const char *id, int timeout_ms, br_error_t *err)
{
  cleanup_close int fd = -1;
  struct pollfd p;
  int r;
  if (st->monitor_pid > 0 && br_proc_alive(st->monitor_pid, st->monitor_start))
    fd = br_pidfd_open(st->monitor_pid);
  else if (st->pid > 0 && br_proc_alive(st->pid, st->pid_start))
    fd = br_pidfd_open(st->pid);
  if (fd < 0)
    return 1;
  p.fd = fd;
  p.events = POLLIN;
  do
    r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return br_error_make(err, errno, "wait for container `%s`", id);
  return r > 0;
}

/* After the end was waited for: the exit (or state), else why there is none. */
static int print_end(const struct br_global *g, struct br_state *st, const char *id,
                     const char *path, bool state, br_error_t *err)
{
  if (print_exit(g, id, path, state))
    return 0;
  if (access(st->dir, F_OK) < 0)
    return br_error_make(err, 0, "container `%s` was deleted while waiting", id);
  return br_error_make(err, 0,
                       "container `%s` has stopped but its exit code was not recorded (its "
                       "monitor is gone)",
                       id);
}

static int timed_out(br_error_t *err, const char *what, const char *id, double timeout_s)
{
  br_error_make(err, 0, "%s container `%s`: timed out after %g s", what, id, timeout_s);
  (*err)->status = ETIMEDOUT;
  return -1;
}

int br_cmd_wait(const struct br_global *g, const char *id, double timeout_s, bool state,
                br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  char path[4096];
  int r;
  if (br_state_load(g->root, id, &st, err) < 0)
    return -1;
  snprintf(path, sizeof(path), "%s/exit.json", st->dir);
  /* Between two runs of a restart policy the last exit is not the end: its monitor's is. */
  if (strcmp(br_state_status(st), "restarting") != 0 && print_exit(g, id, path, state))
    return 0;
  r = wait_end(st, id, timeout_s > 0 ? (int)(timeout_s * 1000) : -1, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return timed_out(err, "wait for", id, timeout_s);
  return print_end(g, st, id, path, state, err);
}

/* Kills every process of the container (its cgroup), or its init when it has no cgroup. */
static int kill_all(struct br_state *st, const char *id, br_error_t *err)
{
  struct br_cgroup *cg = NULL;
  br_error_t e = NULL;
  bool grouped;
  if (load_cgroup(st, &cg, &e) < 0) {
    br_log_warning("%s", e->msg);
    br_error_release(&e);
  }
  grouped = cg != NULL;
  if (cg && kill_cgroup(cg, SIGKILL, id, err) < 0)
    return -1;
  if (kill(st->pid, SIGKILL) < 0 && errno != ESRCH && !grouped)
    return br_error_make(err, errno, "kill container `%s`", id);
  return 0;
}

/* `docker stop` in one command: thaw a paused container, send the stop signal, wait up to the
 * timeout for the end, then SIGKILL every process and wait again; prints the stopped state
 * (as `wait --state`), so the engine needs no `state`, `kill` or `wait` of its own. A stopped
 * container just gets its state printed. */
int br_cmd_stop(const struct br_global *g, const char *id, const char *signame, double timeout_s,
                br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  char path[4096];
  int sig = SIGTERM, r = 0;
  if (load_to_stop(g, id, signame, &sig, &st, err) < 0)
    return -1;
  snprintf(path, sizeof(path), "%s/exit.json", st->dir);
  if (strcmp(br_state_status(st), "restarting") != 0 && print_exit(g, id, path, true))
    return 0;
  if (strcmp(br_state_status(st), "stopped") != 0) {
    if (st->paused) {
      /* A frozen process cannot act on its stop signal; Docker also thaws before it waits. */
      char paused[4096];
      if (freeze_cgroup(st, id, false, err) < 0)
        return -1;
      snprintf(paused, sizeof(paused), "%s/paused", st->dir);
      unlink(paused);
    }
    r = 0;
    if (timeout_s > 0) {
      /* Between two runs there is no process: the stop request ends it (its monitor exits). */
      if (strcmp(br_state_status(st), "restarting") != 0 && kill(st->pid, sig) < 0 &&
          errno != ESRCH)
        return br_error_make(err, errno, "kill container `%s`", id);
      r = wait_end(st, id, (int)(timeout_s * 1000), err);
      if (r < 0)
        return -1;
    }
    if (r == 0) {
      if (kill_all(st, id, err) < 0)
        return -1;
      r = wait_end(st, id, 30000, err);
      if (r < 0)
        return -1;
      if (r == 0)
        return timed_out(err, "stop", id, 30);
    }
  } else if (wait_end(st, id, 10000, err) < 0) {
    /* Stopped, but its monitor may still be writing the exit. */
    return -1;
  }
  return print_end(g, st, id, path, true, err);
}

int br_cmd_spec(const char *bundle, bool rootless, br_error_t *err)
{
  cleanup_free char *path = br_strdup_printf("%s/config.json", bundle ? bundle : ".");
  struct json_object *spec;
  const char *s;
  size_t len;
  int fd, r = 0;
  spec = br_spec_default(rootless);
  s = json_object_to_json_string_length(
      spec, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    json_object_put(spec);
    if (errno == EEXIST)
      return br_error_make(err, 0, "`%s` exists: remove it first", path);
    return br_error_make(err, errno, "create `%s`", path);
  }
  if (br_write_all(fd, s, len) < 0 || br_write_all(fd, "\n", 1) < 0)
    r = br_error_make(err, errno, "write `%s`", path);
  close(fd);
  json_object_put(spec);
  return r;
}
