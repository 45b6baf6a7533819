/* One container being created (or a process being exec'd into one): everything the
 * runtime process and the container's first process share across clone(). */
#ifndef BR_CONTAINER_H
#define BR_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>
#include <json.h>

#include "error.h"

struct br_seccomp;
struct br_cgroup;

struct br_global {
  const char *root;
  const char *log;
  bool log_json;
  bool systemd_cgroup;
};

struct br_container {
  const struct br_global *global;
  const char *id;
  char *bundle; /* absolute */
  char *state_dir;
  char *rootfs; /* absolute */
  struct json_object *spec;
  struct json_object *process;
  struct json_object *linux_obj;

  const char *console_socket;
  const char *pid_file;
  const char *log_path;
  bool no_pivot;
  bool no_new_keyring;
  bool monitor;
  bool init;
  bool detach;

  int clone_flags;   /* namespaces created by clone() */
  int unshare_after; /* CLONE_NEWCGROUP: unshared once the cgroup is joined */
  int join_fd[8];    /* namespaces joined by path, user first */
  int join_type[8];
  int n_join;
  bool new_userns;
  bool in_userns; /* new or joined */
  bool rootless;

  struct br_seccomp *seccomp;
  struct br_cgroup *cgroup;
  int sync_fd; /* the child's end of the socketpair */
  int fifo_fd; /* exec.fifo, opened read-write before clone */
  int stdio[3];
  int preserve_fds;
  pid_t pid;
  /* In the child: waits until the parent has put it in its cgroup. Moving a process
   * between v1 cgroups waits for an RCU grace period, so the child builds its root
   * filesystem meanwhile and only waits where the cgroup matters (the cgroup mount, the
   * cgroup namespace, and before reporting ready). */
  int (*cgroup_barrier)(struct br_container *c, br_error_t *err);
  bool cgroup_ready;
};

/* `create`, `run`: the whole life of a container from a bundle. `start_now`: run. */
struct br_create_opts {
  const char *id;
  const char *bundle;
  const char *pid_file;
  const char *console_socket;
  const char *log_path;
  int preserve_fds;
  bool no_pivot;
  bool no_new_keyring;
  bool monitor;
  bool init;
  bool detach;
  bool run;
  bool keep; /* run: keep the container (stopped) instead of deleting it */
  /* The monitor's attach endpoint (attach.h): `attach` opens it, `open_stdin` gives the
   * container a stdin its clients write, `attach_wait` starts a `run` once one attached. */
  bool attach;
  bool open_stdin;
  bool attach_wait;
  /* The monitor re-running the container under its restart policy (restart.h): the state
   * directory is the container's already. */
  bool restarting;
};

int br_container_create(const struct br_global *g, const struct br_create_opts *o, int *exit_code,
                        br_error_t *err);
int br_container_start(const struct br_global *g, const char *id, br_error_t *err);

/* The pieces the monitor reuses. */
int br_container_create_child_side(const struct br_global *g, const struct br_create_opts *o,
                                   struct br_container *c, br_error_t *err);
int br_container_do_start(const char *state_dir, int pid, br_error_t *err);
/* Kills what was started, removes the cgroup and the state directory: a failed create
 * leaves nothing. */
void br_container_cleanup(struct br_container *c);
void br_container_free(struct br_container *c);

/* `delete`: kills (with `force`), runs poststop hooks, removes the cgroup, mounts and state. */
int br_container_remove(const struct br_global *g, const char *id, bool force, br_error_t *err);

#endif
