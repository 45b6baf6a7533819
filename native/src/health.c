/* Health checks, run by the container's monitor.
 *
 * The engine writes the check into the bundle (`berth-health.json`: the probe's argv with
 * the shell form already expanded, the durations in nanoseconds, and where the state goes).
 * The monitor outlives the process that started the container, so a check keeps running
 * after `berth run -d` has returned, as dockerd's does.
 *
 * A probe is an exec into the container through the same code path as `berth-runtime exec`
 * (br_cmd_exec), in a forked helper. It runs detached, so the helper exits once the probe
 * has started and the probe, an orphan, comes back to the monitor (a child subreaper): the
 * monitor reaps it and can kill it at its deadline, which a foreground exec's helper would
 * hide behind its own signal forwarding.
 *
 * Docker's rules (moby daemon/health.go): the first probe comes one interval after the
 * start (`startInterval` while starting within the start period); the next one an interval
 * after the previous one ended; exit 0 is healthy, anything else a failure; a probe past
 * its timeout fails with exit code -1; failures while still "starting" within the start
 * period do not count; `retries` consecutive failures make it unhealthy; the last five
 * results are kept, with at most 4096 bytes of output each; when the container stops the
 * status becomes "unhealthy".
 */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "commands.h"
#include "log.h"
#include "spec.h"
#include "utils.h"

#define HEALTH_CONFIG "berth-health.json"
#define HEALTH_LOG_MAX 5
#define HEALTH_OUTPUT_MAX 4096
#define STRAY_MAX 8

struct br_health {
  const struct br_global *g;
  const char *id;
  char *state_path;
  char *pid_path; /* the probe's pid, written by the detached exec */
  char **argv;
  size_t argc;
  long long interval_ms, timeout_ms, start_period_ms, start_interval_ms, timeout_ns;
  int retries;
  struct timespec started;
  struct timespec next; /* when the next probe is due (no probe running) */

  /* The probe in flight: the helper that execs it, then the probe itself. */
  bool running;
  pid_t helper;
  pid_t probe;
  int out_fd;
  char out[HEALTH_OUTPUT_MAX];
  size_t out_len;
  char start_time[40];
  long long start_ms;
  struct timespec deadline;

  /* Children reaped before the helper told which one is the probe. */
  pid_t stray[STRAY_MAX];
  int stray_status[STRAY_MAX];
  size_t n_stray;

  const char *status;
  int failing;
  struct json_object *log;
};

static long long now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long long ts_ms(const struct timespec *t)
{
  return (long long)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

static void set_ms(struct timespec *t, long long ms)
{
  t->tv_sec = ms / 1000;
  t->tv_nsec = (ms % 1000) * 1000000;
}

static long long ns_field(struct json_object *o, const char *key)
{
  struct json_object *v = br_json_get(o, key);
  return v ? json_object_get_int64(v) : 0;
}

static void write_state(struct br_health *h)
{
  struct json_object *o = json_object_new_object();
  const char *text;
  br_error_t e = NULL;
  json_object_object_add(o, "Status", json_object_new_string(h->status));
  json_object_object_add(o, "FailingStreak", json_object_new_int(h->failing));
  json_object_object_add(o, "Log", json_object_get(h->log));
  text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (br_write_file_atomic(h->state_path, text, strlen(text), &e) < 0)
    br_log_warning("health of container `%s`: %s", h->id, e->msg);
  br_error_release(&e);
  json_object_put(o);
}

/* The interval before the next probe: `startInterval` only while still starting within the
 * start period. */
static long long next_interval(const struct br_health *h)
{
  if (now_ms() - ts_ms(&h->started) < h->start_period_ms && strcmp(h->status, "starting") == 0)
    return h->start_interval_ms;
  return h->interval_ms;
}

static void free_health(struct br_health *h)
{
  size_t i;
  for (i = 0; i < h->argc; i++)
    free(h->argv[i]);
  free(h->argv);
  free(h->state_path);
  free(h->pid_path);
  json_object_put(h->log);
  free(h);
}

struct br_health *br_health_load(struct br_container *c)
{
  cleanup_free char *path = br_strdup_printf("%s/%s", c->bundle, HEALTH_CONFIG);
  struct json_object *cfg, *test;
  struct br_health *h;
  size_t i;
  if (access(path, F_OK) < 0)
    return NULL;
  cfg = json_object_from_file(path);
  test = br_json_get(cfg, "test");
  if (cfg == NULL || br_json_str(cfg, "state") == NULL || test == NULL ||
      !json_object_is_type(test, json_type_array) || json_object_array_length(test) == 0) {
    br_log_warning("health check of container `%s`: `%s` is not a valid health check", c->id, path);
    json_object_put(cfg);
    return NULL;
  }
  h = calloc(1, sizeof(*h));
  if (h == NULL)
    abort();
  h->g = c->global;
  h->id = c->id;
  h->state_path = br_xstrdup(br_json_str(cfg, "state"));
  h->pid_path = br_strdup_printf("%s/health-probe.pid", c->state_dir);
  h->argc = json_object_array_length(test);
  h->argv = calloc(h->argc + 1, sizeof(char *));
  if (h->argv == NULL)
    abort();
  for (i = 0; i < h->argc; i++)
    h->argv[i] = br_xstrdup(json_object_get_string(json_object_array_get_idx(test, i)));
  h->timeout_ns = ns_field(cfg, "timeout");
  h->interval_ms = ns_field(cfg, "interval") / 1000000;
  h->timeout_ms = h->timeout_ns / 1000000;
  h->start_period_ms = ns_field(cfg, "startPeriod") / 1000000;
  h->start_interval_ms = ns_field(cfg, "startInterval") / 1000000;
  h->retries = (int)ns_field(cfg, "retries");
  json_object_put(cfg);
  if (h->retries <= 0)
    h->retries = 3;
  if (h->interval_ms <= 0)
    h->interval_ms = 30000;
  if (h->timeout_ms <= 0)
    h->timeout_ms = 30000, h->timeout_ns = 30000000000LL;
  if (h->start_interval_ms <= 0)
    h->start_interval_ms = 5000;
  h->out_fd = -1;
  h->status = "starting";
  h->log = json_object_new_array();
  clock_gettime(CLOCK_MONOTONIC, &h->started);
  set_ms(&h->next, ts_ms(&h->started) + next_interval(h));
  write_state(h);
  return h;
}

int br_health_fd(const struct br_health *h)
{
  return h && h->running ? h->out_fd : -1;
}

int br_health_timeout(const struct br_health *h)
{
  long long left;
  if (h == NULL)
    return -1;
  left = (h->running ? ts_ms(&h->deadline) : ts_ms(&h->next)) - now_ms();
  return left < 0 ? 0 : left > 3600000 ? 3600000 : (int)left;
}

static void read_output(struct br_health *h)
{
  char scratch[4096];
  if (h->out_fd < 0)
    return;
  for (;;) {
    /* Past the limit the output is read and dropped, so a chatty probe never blocks. */
    char *dst = h->out_len < sizeof(h->out) ? h->out + h->out_len : scratch;
    size_t cap = h->out_len < sizeof(h->out) ? sizeof(h->out) - h->out_len : sizeof(scratch);
    ssize_t n = read(h->out_fd, dst, cap);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      close(h->out_fd);
      h->out_fd = -1;
      return;
    }
    if (n < 0)
      return;
    if (dst != scratch)
      h->out_len += n;
  }
}

/* One probe's result, by Docker's rules. */
static void record(struct br_health *h, int exit_code)
{
  struct json_object *entry = json_object_new_object();
  char end[40];
  br_now(end);
  read_output(h);
  if (h->out_fd >= 0)
    close(h->out_fd);
  h->out_fd = -1;
  if (h->probe > 0)
    kill(h->probe, SIGKILL); /* only the timeout gets here with it alive */
  json_object_object_add(entry, "Start", json_object_new_string(h->start_time));
  json_object_object_add(entry, "End", json_object_new_string(end));
  json_object_object_add(entry, "ExitCode", json_object_new_int(exit_code));
  json_object_object_add(entry, "Output", json_object_new_string_len(h->out, h->out_len));
  if (json_object_array_length(h->log) >= HEALTH_LOG_MAX)
    json_object_array_del_idx(h->log, 0, json_object_array_length(h->log) + 1 - HEALTH_LOG_MAX);
  json_object_array_add(h->log, entry);
  if (exit_code == 0) {
    h->failing = 0;
    h->status = "healthy";
  } else {
    /* The probe's start, not now: a slow probe that began in the start period is
     * still forgiven, as Docker compares result.Start with StartedAt. */
    bool forgiven =
        strcmp(h->status, "starting") == 0 && h->start_ms - ts_ms(&h->started) < h->start_period_ms;
    if (!forgiven && ++h->failing >= h->retries)
      h->status = "unhealthy";
  }
  h->running = false;
  h->helper = 0;
  h->probe = 0;
  h->out_len = 0;
  write_state(h);
  set_ms(&h->next, now_ms() + next_interval(h));
}

/* Docker prints the timeout as a Go duration: "30s", "300ms", "1m30s", "1.5s". */
static void go_duration(long long ns, char *buf, size_t cap)
{
  if (ns < 1000000000LL && ns % 1000000LL == 0)
    snprintf(buf, cap, "%lldms", ns / 1000000LL);
  else if (ns >= 60000000000LL)
    snprintf(buf, cap, "%lldm%gs", ns / 60000000000LL, (ns % 60000000000LL) / 1e9);
  else
    snprintf(buf, cap, "%gs", ns / 1e9);
}

static int code_of(int status)
{
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static __attribute__((noreturn)) void helper_main(struct br_health *h, int out)
{
  struct br_exec_opts o = {
      .id = h->id, .argv = h->argv, .argc = h->argc, .detach = true, .pid_file = h->pid_path};
  sigset_t none;
  br_error_t e = NULL;
  int code = 1, null = open("/dev/null", O_RDONLY);
  /* The monitor blocks every signal for its signalfd; the probe must not inherit that. */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (null >= 0)
    dup2(null, 0);
  dup2(out, 1);
  dup2(out, 2);
  if (br_cmd_exec(h->g, &o, &code, &e) < 0) {
    dprintf(2, "%s\n", e->msg);
    _exit(code == 0 ? 1 : code);
  }
  _exit(0);
}

static void start_probe(struct br_health *h)
{
  int p[2];
  pid_t pid;
  cleanup_free char *state_dir = NULL;
  /* A frozen container cannot run a probe; Docker's probe would fail, berth waits instead
   * of turning a paused container unhealthy. A container created but not started yet
   * (`create --monitor`, then `start`) has nothing to probe either. */
  state_dir = br_xstrdup(h->pid_path);
  *strrchr(state_dir, '/') = '\0';
  {
    cleanup_free char *paused = br_strdup_printf("%s/paused", state_dir);
    cleanup_free char *started = br_strdup_printf("%s/started", state_dir);
    if (access(paused, F_OK) == 0 || access(started, F_OK) < 0) {
      set_ms(&h->next, now_ms() + h->interval_ms);
      return;
    }
  }
  unlink(h->pid_path);
  if (pipe2(p, O_CLOEXEC) < 0) {
    br_log_warning("health check of container `%s`: pipe: %s", h->id, strerror(errno));
    set_ms(&h->next, now_ms() + h->interval_ms);
    return;
  }
  br_now(h->start_time);
  pid = fork();
  if (pid == 0) {
    close(p[0]);
    helper_main(h, p[1]);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    br_log_warning("health check of container `%s`: fork: %s", h->id, strerror(errno));
    set_ms(&h->next, now_ms() + h->interval_ms);
    return;
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  h->out_fd = p[0];
  h->out_len = 0;
  h->helper = pid;
  h->probe = 0;
  h->running = true;
  h->n_stray = 0;
  h->start_ms = now_ms();
  set_ms(&h->deadline, h->start_ms + h->timeout_ms);
}

void br_health_step(struct br_health *h)
{
  if (h == NULL)
    return;
  if (h->running) {
    read_output(h);
    if (now_ms() >= ts_ms(&h->deadline)) {
      char msg[128];
      if (h->helper > 0) {
        cleanup_free char *text = NULL;
        br_error_t e = NULL;
        kill(h->helper, SIGKILL);
        /* The helper may have started the probe and not yet exited. */
        if (br_read_file(h->pid_path, &text, NULL, &e) == 0 && atoi(text) > 0)
          h->probe = atoi(text);
        br_error_release(&e);
      }
      char d[48];
      go_duration(h->timeout_ns, d, sizeof(d));
      snprintf(msg, sizeof(msg), "Health check exceeded timeout (%s)", d);
      h->out_len = strlen(msg);
      memcpy(h->out, msg, h->out_len);
      if (h->out_fd >= 0)
        close(h->out_fd);
      h->out_fd = -1;
      record(h, -1);
    }
    return;
  }
  if (now_ms() >= ts_ms(&h->next))
    start_probe(h);
}

/* The helper has started the probe: its pid is in the pid file. */
static void helper_done(struct br_health *h, int status)
{
  cleanup_free char *text = NULL;
  br_error_t e = NULL;
  size_t i;
  h->helper = 0;
  if (code_of(status) != 0 || br_read_file(h->pid_path, &text, NULL, &e) < 0) {
    br_error_release(&e);
    /* It could not start the probe (no such command, the container going away); its
     * message is the output. Docker reports an exec that failed to start as -1. */
    record(h, -1);
    return;
  }
  h->probe = atoi(text);
  for (i = 0; i < h->n_stray; i++)
    if (h->stray[i] == h->probe) {
      h->probe = 0;
      record(h, code_of(h->stray_status[i]));
      return;
    }
}

bool br_health_reaped(struct br_health *h, pid_t pid, int status)
{
  if (h == NULL || !h->running)
    return false;
  if (pid == h->helper) {
    helper_done(h, status);
    return true;
  }
  if (pid == h->probe && h->probe > 0) {
    h->probe = 0;
    record(h, code_of(status));
    return true;
  }
  if (h->helper > 0 && h->n_stray < STRAY_MAX) {
    h->stray[h->n_stray] = pid;
    h->stray_status[h->n_stray++] = status;
  }
  return false;
}

void br_health_finish(struct br_health *h)
{
  if (h == NULL)
    return;
  if (h->helper > 0)
    kill(h->helper, SIGKILL);
  if (h->probe > 0)
    kill(h->probe, SIGKILL);
  if (h->out_fd >= 0)
    close(h->out_fd);
  unlink(h->pid_path);
  h->status = "unhealthy";
  write_state(h);
  free_health(h);
}
