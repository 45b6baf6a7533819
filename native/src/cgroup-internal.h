/* Shared between cgroup.c (hierarchies, lifecycle) and cgroup-resources.c (limits). */
#ifndef BR_CGROUP_INTERNAL_H
#define BR_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <json_object.h>

#include "cgroup.h"

enum br_cg_mode { BR_CG_V1 = 1, BR_CG_V2 = 2, BR_CG_HYBRID = 3 };

struct br_cg_dir {
  char *ctrl;  /* v1: the hierarchy as /proc/self/cgroup names it ("memory", "cpu,cpuacct",
                  "name=systemd"); v2: "" */
  char *path;  /* the container's directory, absolute */
  char *owned; /* the "berth" parent made for the default path: removed when empty; or NULL */
  bool bare;   /* made only for the container's view of the hierarchy (cgroup.c, v1_wanted):
                  no process joins it and no limit is written there */
};

struct br_cgroup {
  enum br_cg_mode mode;
  size_t n;
  struct br_cg_dir *dirs;
  /* linux.resources.devices, held until br_cgroup_attach_devices() (BR_CGROUP_DEFER_DEVICES);
   * not serialised. */
  struct json_object *pending_devices;
};

/* v2 controllers a set of resources needs enabled in the parents' cgroup.subtree_control. */
enum {
  BR_CG_NEED_CPU = 1 << 0,
  BR_CG_NEED_CPUSET = 1 << 1,
  BR_CG_NEED_MEMORY = 1 << 2,
  BR_CG_NEED_PIDS = 1 << 3,
  BR_CG_NEED_IO = 1 << 4,
  BR_CG_NEED_HUGETLB = 1 << 5,
};
extern const char *const br_cg_need_names[6];

/* The directory that holds `controller` ("memory", "freezer", ...): a v1 hierarchy that has
 * it, else the v2 directory when the controller is available there (always on a pure v2
 * host; on a hybrid host only for controllers no v1 hierarchy took, like hugetlb here). */
const char *br_cg_dir_for(const struct br_cgroup *cg, const char *controller);
const char *br_cg_v2_dir(const struct br_cgroup *cg);

int br_cg_write(const char *dir, const char *file, const char *value, br_error_t *err);
/* Reads a small file into buf (NUL-terminated); returns its length. */
int br_cg_read(const char *dir, const char *file, char *buf, size_t size, br_error_t *err);
bool br_cg_has_file(const char *dir, const char *file);

/* Whether `resources` asks for any limit (devices rules excluded: they are the runtime's
 * default confinement, not the user's request). Negative on a malformed field. */
int br_cg_limits_requested(struct json_object *resources, br_error_t *err);
/* The BR_CG_NEED_* bits `resources` needs on v2. */
unsigned br_cg_v2_needs(struct json_object *resources);
/* Writes every limit of `resources`, and the device rules on v1 when `devices`. */
int br_cg_apply_resources(struct br_cgroup *cg, struct json_object *resources, bool devices,
                          br_error_t *err);

/* Compiles `resources.devices` (and the runtime's default devices) into a loaded
 * BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd. A malformed rule fails with its
 * field; a kernel that refuses the program fails with the errno of bpf(2). */
int br_cg_devices_prog(struct json_object *resources, br_error_t *err);
/* Attaches a device program to the cgroup2 directory `dir` (BPF_F_ALLOW_MULTI). */
int br_cg_devices_attach(const char *dir, int prog, br_error_t *err);

#endif
