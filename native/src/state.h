/* The container's state directory `<root>/<id>/`.
 *
 * Each file there has one writer, so no lock is needed and every write is a rename:
 *   state.json  written by create (pid, bundle, cgroup, monitor, annotations);
 *   exec.fifo   the fifo `start` writes one byte into to let the process exec;
 *   started     written by whoever starts the container (its start time);
 *   exit.json   written by the monitor when the container's process has exited;
 *   paused      present while the container is frozen;
 *   restart.json, no-restart  the restart policy's (restart.h).
 */
#ifndef BR_STATE_H
#define BR_STATE_H

#include <stdbool.h>
#include <sys/types.h>
#include <json.h>

#include "error.h"

struct br_state {
  char *dir;
  char *id;
  struct json_object *obj;  /* state.json */
  struct json_object *exit; /* exit.json, or NULL */
  char *started;            /* or NULL */
  bool paused;
  pid_t pid;
  unsigned long long pid_start;
  pid_t monitor_pid;
  unsigned long long monitor_start;
  /* restart.json: restarts so far, and whether the monitor is between two runs. */
  int restart_count;
  bool restarting;
};

/* Checks the id (no '/', no leading '.', at most 1024 bytes) and returns `<root>/<id>`. */
int br_state_dir(const char *root, const char *id, char **out, br_error_t *err);

/* "container `X` does not exist" when there is no such directory. A directory without a
 * state.json (a create that crashed half-way) loads with obj == NULL. */
int br_state_load(const char *root, const char *id, struct br_state **out, br_error_t *err);
void br_state_free(struct br_state *st);
static inline void br_state_freep(struct br_state **st)
{
  if (*st)
    br_state_free(*st);
}
#define cleanup_state __attribute__((cleanup(br_state_freep)))

/* creating | created | running | paused | stopped */
const char *br_state_status(struct br_state *st);

/* The OCI state document printed by `state` and `list --format json`. */
struct json_object *br_state_document(struct br_state *st);

int br_state_write(const char *dir, const char *name, struct json_object *obj, br_error_t *err);

#endif
