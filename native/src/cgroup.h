/* Cgroups for one container, on cgroup v1, v2 and hybrid hosts (v1 controllers with a v2
 * tree mounted at /sys/fs/cgroup/unified: the host berth's CI runs on).
 *
 * The handle is created once by `create`, serialised into the container's state file, and
 * loaded again by later commands (`kill --all`, `delete`, `pause`) from that string.
 */
#ifndef BR_CGROUP_H
#define BR_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <json_object.h>

#include "error.h"

struct br_cgroup;

/* Creates the container's cgroup(s) and applies `linux.resources` (memory limit, reservation
 * and swap; cpu shares, quota/period, cpuset cpus/mems; pids limit), then moves `pid` in.
 * `linux_obj` is the spec's "linux" object (may be NULL: no limits, default path); its
 * `cgroupsPath` is honoured (absolute, or relative to the runtime's own cgroup; the
 * systemd "slice:prefix:name" form is taken as a plain path). Without it the path is
 * "berth/<id>". `rootless`: failure to create or write is not fatal when no limits were
 * asked for; with limits it is an error that names the missing delegation. */
int br_cgroup_create(const char *id, struct json_object *linux_obj, pid_t pid, bool rootless,
                     struct br_cgroup **out, br_error_t *err);

/* br_cgroup_create_lean() flags. VIEW (the spec mounts a cgroup filesystem): the v1
 * hierarchies the container does not join get a bare directory too, which no process joins:
 * the container's cgroup mount shows it (br_cgroup_mount_dir()). DEFER_DEVICES: on a hybrid
 * host the eBPF device filter is loaded and attached by br_cgroup_attach_devices(), which
 * the caller runs after the clone, while the child builds its root filesystem. */
enum { BR_CGROUP_VIEW = 1 << 0, BR_CGROUP_DEFER_DEVICES = 1 << 1 };

/* Like br_cgroup_create() with no pid, for a process about to be cloned into the v2
 * directory (CLONE_INTO_CGROUP, br_cgroup_v2_path()): on a hybrid host only the v1
 * hierarchies whose controllers `linux.resources` limits are joined (see cgroup.c). */
int br_cgroup_create_lean(const char *id, struct json_object *linux_obj, bool rootless,
                          unsigned flags, struct br_cgroup **out, br_error_t *err);

/* The device rules held back by BR_CGROUP_DEFER_DEVICES: an eBPF filter on the v2
 * directory, or where the kernel refuses it, the v1 devices cgroup (its bare directory made
 * by the create becomes a joined one, so br_cgroup_enter_v1() moves the process in). Must
 * run before the process runs anything of the container's. A malformed rule fails here.
 * Nothing to do (0) without held rules. */
int br_cgroup_attach_devices(struct br_cgroup *cg, br_error_t *err);

/* The handle's directory (joined or bare) in the hierarchy of a cgroup mount, given the
 * mount's file system type ("cgroup", "cgroup2") and super options ("rw,memory"); NULL when
 * the handle has none there. */
const char *br_cgroup_mount_dir(const struct br_cgroup *cg, const char *fstype,
                                const char *superopts);

/* The cgroup2 directory of the handle, or NULL (pure v1 host). */
const char *br_cgroup_v2_path(const struct br_cgroup *cg);

/* Moves `pid` into the handle's directories; the v1 ones only with `v1_only` (a process
 * cloned into the v2 one already). */
int br_cgroup_enter_v1(struct br_cgroup *cg, pid_t pid, bool v1_only, br_error_t *err);

/* A string that br_cgroup_load() turns back into the same handle (stored in state.json). */
char *br_cgroup_serialize(const struct br_cgroup *cg);
int br_cgroup_load(const char *serialized, struct br_cgroup **out, br_error_t *err);

/* Moves `pid` into the container's cgroups (used by `exec`). */
int br_cgroup_enter(struct br_cgroup *cg, pid_t pid, br_error_t *err);

/* fork() (with `flags`, clone(2)'s namespace flags) straight into the handle's cgroup2
 * directory (clone3 with CLONE_INTO_CGROUP, Linux 5.7): being born there costs nothing, where
 * moving the process in afterwards is a migration that waits for an RCU grace period. Falls
 * back to a plain clone on older kernels, with no handle or no v2 directory, or when the
 * directory cannot take the process; *in_v2 says which happened (the caller then moves the
 * process with br_cgroup_enter_v1(cg, pid, *in_v2, ...)). Returns 0 in the child, the pid
 * in the parent, -1 with errno on failure. */
pid_t br_cgroup_clone(const struct br_cgroup *cg, unsigned long flags, bool *in_v2);

/* The pids currently in the cgroup (for `kill --all`, `delete --force`, `ps`). Caller frees. */
int br_cgroup_pids(struct br_cgroup *cg, pid_t **pids, size_t *n, br_error_t *err);

/* Sends `sig` to every process in the cgroup (repeating until no new pid appears, so forks
 * racing the kill are caught). */
int br_cgroup_kill(struct br_cgroup *cg, int sig, br_error_t *err);

/* Freezes (pause) or thaws (resume) every process: the v1 freezer, or v2 cgroup.freeze. */
int br_cgroup_freeze(struct br_cgroup *cg, bool frozen, br_error_t *err);

/* Whether the memory controller recorded an OOM kill (v2 memory.events oom_kill, v1
 * memory.oom_control oom_kill). Returns 1, 0, or negative on error. */
int br_cgroup_oom_killed(struct br_cgroup *cg, br_error_t *err);

/* Removes the cgroup directories. Kills what is left first when `force`. Idempotent: a
 * cgroup already gone is not an error. */
int br_cgroup_destroy(struct br_cgroup *cg, bool force, br_error_t *err);

void br_cgroup_free(struct br_cgroup *cg);

#endif
