/* Restart policies (Docker's `--restart`), applied by the monitor (monitor.c).
 *
 * berth has no daemon, so the process that restarts a container is the one that outlives it
 * anyway: its monitor. The policy comes from the bundle's annotation
 * `org.berth.restart-policy` (`always`, `unless-stopped`, `on-failure[:N]`). Two files in the
 * state directory carry the rest:
 *   restart.json  written by the monitor: {"count":N,"restarting":bool};
 *   no-restart    written by `kill` and `delete` before they signal anything: an explicit
 *                 stop through the runtime is never followed by a restart.
 */
#ifndef BR_RESTART_H
#define BR_RESTART_H

#include <stdbool.h>
#include <time.h>
#include <json.h>

#include "state.h"

enum br_restart_policy {
  BR_RESTART_NO,
  BR_RESTART_ALWAYS,
  BR_RESTART_ON_FAILURE,
  BR_RESTART_UNLESS_STOPPED
};

struct br_restart {
  enum br_restart_policy policy;
  int max_retries; /* on-failure: 0 is no limit */
  int count;
  int last_exit; /* the exit code of the last run, for a foreground `run` */
  long delay_ms;
  struct timespec started; /* of the current run, for the backoff's reset */
};

/* Reads the policy from the spec's annotations; BR_RESTART_NO when absent or unknown. */
void br_restart_load(struct br_restart *r, struct json_object *spec);
/* Marks the start of a run (the backoff resets after a run of 10 s). */
void br_restart_started(struct br_restart *r);
/* Whether the policy restarts after this wait status; counts the restart when it does. */
bool br_restart_wanted(struct br_restart *r, const char *state_dir, int status);
/* Records the count and whether a restart is under way (restart.json). */
void br_restart_record(const struct br_restart *r, const char *state_dir, bool restarting);
/* Sleeps the backoff (Docker's: 100 ms doubling up to 1 min). False when a stop came. */
bool br_restart_backoff(struct br_restart *r, const char *state_dir);
bool br_restart_stop_requested(const char *state_dir);
/* For `kill`, `stop` and `delete`: marks the container as stopped on purpose and wakes its
 * monitor, before any signal reaches the container, so a stop never races a restart. True
 * when the container has a policy: its status must then be read again, after the mark (a
 * run the monitor made before it saw the mark is the caller's to signal). */
bool br_restart_request_stop(const struct br_state *st);

#endif
