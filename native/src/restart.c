#include "restart.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spec.h"
#include "utils.h"

/* moby's restart manager: the delay starts at 100 ms, doubles, is capped at a minute, and
 * goes back to 100 ms once a run lasted 10 s. */
#define DELAY_MIN_MS 100
#define DELAY_MAX_MS 60000
#define RESET_AFTER_MS 10000

void br_restart_load(struct br_restart *r, struct json_object *spec)
{
  const char *v = br_json_str(br_json_get(spec, "annotations"), "org.berth.restart-policy");
  memset(r, 0, sizeof(*r));
  if (v == NULL)
    return;
  if (strcmp(v, "always") == 0)
    r->policy = BR_RESTART_ALWAYS;
  else if (strcmp(v, "unless-stopped") == 0)
    r->policy = BR_RESTART_UNLESS_STOPPED;
  else if (strncmp(v, "on-failure", 10) == 0 && (v[10] == '\0' || v[10] == ':')) {
    r->policy = BR_RESTART_ON_FAILURE;
    if (v[10] == ':')
      r->max_retries = atoi(v + 11);
  }
}

void br_restart_started(struct br_restart *r)
{
  clock_gettime(CLOCK_MONOTONIC, &r->started);
}

bool br_restart_stop_requested(const char *state_dir)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/no-restart", state_dir);
  return access(path, F_OK) == 0;
}

bool br_restart_wanted(struct br_restart *r, const char *state_dir, int status)
{
  struct timespec now;
  long ran_ms;
  bool again = false;
  if (r->policy == BR_RESTART_NO || br_restart_stop_requested(state_dir))
    return false;
  switch (r->policy) {
  case BR_RESTART_ALWAYS:
  case BR_RESTART_UNLESS_STOPPED:
    again = true;
    break;
  case BR_RESTART_ON_FAILURE:
    again = !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
            (r->max_retries <= 0 || r->count < r->max_retries);
    break;
  default:
    break;
  }
  if (!again)
    return false;
  clock_gettime(CLOCK_MONOTONIC, &now);
  ran_ms = (now.tv_sec - r->started.tv_sec) * 1000 + (now.tv_nsec - r->started.tv_nsec) / 1000000;
  if (ran_ms >= RESET_AFTER_MS || r->delay_ms == 0)
    r->delay_ms = DELAY_MIN_MS;
  else if (r->delay_ms < DELAY_MAX_MS)
    r->delay_ms *= 2;
  if (r->delay_ms > DELAY_MAX_MS)
    r->delay_ms = DELAY_MAX_MS;
  r->count++;
  return true;
}

void br_restart_record(const struct br_restart *r, const char *state_dir, bool restarting)
{
  struct json_object *o = json_object_new_object();
  br_error_t e = NULL;
  json_object_object_add(o, "count", json_object_new_int(r->count));
  json_object_object_add(o, "restarting", json_object_new_boolean(restarting));
  if (br_state_write(state_dir, "restart.json", o, &e) < 0)
    br_log_warning("%s", e->msg);
  br_error_release(&e);
  json_object_put(o);
}

bool br_restart_backoff(struct br_restart *r, const char *state_dir)
{
  struct timespec until, now;
  sigset_t set;
  cleanup_close int sfd = -1;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  /* The monitor runs with every signal blocked (container.c): SIGUSR1 from `kill` or
   * `delete` stays pending until read here, however early it came. */
  sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += r->delay_ms / 1000;
  until.tv_nsec += (r->delay_ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  for (;;) {
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    long left;
    if (br_restart_stop_requested(state_dir))
      return false;
    clock_gettime(CLOCK_MONOTONIC, &now);
    left = (until.tv_sec - now.tv_sec) * 1000 + (until.tv_nsec - now.tv_nsec) / 1000000;
    if (left <= 0)
      return true;
    if (poll(&p, 1, (int)left) > 0) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si))
        ;
    }
  }
}

bool br_restart_request_stop(const struct br_state *st)
{
  char path[PATH_MAX];
  int fd;
  snprintf(path, sizeof(path), "%s/restart.json", st->dir);
  if (access(path, F_OK) < 0)
    return false; /* no policy: nothing would restart it */
  snprintf(path, sizeof(path), "%s/no-restart", st->dir);
  fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0)
    close(fd);
  if (st->monitor_pid > 0 && br_proc_alive(st->monitor_pid, st->monitor_start))
    kill(st->monitor_pid, SIGUSR1);
  return true;
}
