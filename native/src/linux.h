/* The kernel side of a container: namespaces, id mappings, the root filesystem (mounts,
 * devices, pivot_root, masked and read-only paths), hostname and sysctls. */
#ifndef BR_LINUX_H
#define BR_LINUX_H

#include "container.h"

/* Opens every `linux.namespaces[].path` and computes the clone flags. */
int br_linux_prepare_namespaces(struct br_container *c, br_error_t *err);
/* In the child: setns() into the namespaces given by path, the user namespace first. */
int br_linux_join_namespaces(struct br_container *c, br_error_t *err);
/* In the parent: writes uid_map/gid_map of `pid` (newuidmap/newgidmap when rootless). */
int br_linux_write_mappings(struct br_container *c, pid_t pid, br_error_t *err);

/* In the child, in its mount namespace: every mount, devices, then pivot_root (or
 * MS_MOVE + chroot), masked and read-only paths, read-only root. `before_pivot` runs
 * between the mounts and the pivot (the createContainer hooks, the sysctls). */
int br_linux_setup_rootfs(struct br_container *c,
                          int (*before_pivot)(struct br_container *, br_error_t *),
                          br_error_t *err);
int br_linux_finish_rootfs(struct br_container *c, br_error_t *err);

int br_linux_set_hostname(struct br_container *c, br_error_t *err);
int br_linux_sysctl(struct br_container *c, br_error_t *err);
/* In the child, in its network namespace: brings `lo` up when the runtime made that namespace
 * and the annotation `org.berth.loopback` is "up" (a berth extension; runc leaves it down). */
int br_linux_loopback(struct br_container *c, br_error_t *err);

#endif
