/* mount-overlay and umount: the engine's container rootfs mounts.
 *
 * The engine mounted each container's overlay with mount(8) and unmounted it with umount(8):
 * two spawns from Node (3+ ms each) for two syscalls. Through `berth-runtime serve` these
 * commands cost a fork. Both are idempotent, as the engine needs them: mounting an already
 * mounted target and unmounting a target that is not a mount point do nothing.
 *
 *   mount-overlay --lower DIR[:DIR...] --upper DIR --work DIR --target DIR [--volatile]
 *   umount --target DIR
 *
 * --volatile mounts without overlayfs's sync of the whole upper filesystem at unmount (and at
 * every syncfs): that sync flushes every dirty page of the host disk, not only the
 * container's, and cost 5-30 ms per container stop on a busy host. The kernel then leaves
 * `work/work/incompat/volatile` behind and refuses the next mount while it exists; since a
 * container's layer is remounted only by the engine, which knows it was unmounted, the marker
 * is removed before mounting. After a host crash a volatile layer may miss writes that were
 * never flushed, as a non-volatile one may miss those not yet synced: containers do not
 * survive a reboot either.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net-util.h"
#include "serve.h"
#include "utils.h"

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/* Whether path is the root of a mount; a missing path is not. */
static bool is_mount_root(const char *path)
{
  struct statx st;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0, &st) < 0)
    return false;
  return (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
         (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int ensure_dir(const char *path, br_error_t *err)
{
  if (mkdir(path, 0755) == 0 || errno == EEXIST)
    return 0;
  return br_mkdir_p(path, 0755, err);
}

/* Removes the marker a volatile mount left in workdir, so that it can be mounted again. */
static int clear_volatile_marker(const char *work, br_error_t *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/work/incompat/volatile", work);
  if (rmdir(path) < 0 && errno != ENOENT) {
    /* The kernel puts a `dirty` file in it. */
    char dirty[PATH_MAX + 8];
    snprintf(dirty, sizeof(dirty), "%s/dirty", path);
    if (unlink(dirty) < 0 && errno != ENOENT)
      return br_error_make(err, errno, "remove `%s`", dirty);
    if (rmdir(path) < 0 && errno != ENOENT)
      return br_error_make(err, errno, "remove `%s`", path);
  }
  return 0;
}

int br_cmd_mount_overlay(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "lower"},
                           {.name = "upper"},
                           {.name = "work"},
                           {.name = "target"},
                           {.name = "volatile", .flag = 1}};
  char data[4096];
  int n;
  size_t i;
  bool volatile_ = false;

  if (net_parse_opts(argc, argv, opts, BR_ARRAY_SIZE(opts), &err) < 0)
    return net_fail(&err);
  volatile_ = opts[4].n > 0;
  for (i = 0; i < 4; i++)
    if (opts[i].n == 0) {
      br_error_make(&err, 0, "%s: --%s is required", argv[0], opts[i].name);
      return net_fail(&err);
    }
  if (is_mount_root(opts[3].val[0]))
    return 0;
  for (i = 1; i < 4; i++)
    if (ensure_dir(opts[i].val[0], &err) < 0)
      return net_fail(&err);
  if (volatile_ && clear_volatile_marker(opts[2].val[0], &err) < 0)
    return net_fail(&err);
  /* index=off: the lower snapshots are shared by many containers and never change, and the
   * index would tie them to the first upper that used them. */
  n = snprintf(data, sizeof(data), "lowerdir=%s,upperdir=%s,workdir=%s,index=off%s", opts[0].val[0],
               opts[1].val[0], opts[2].val[0], volatile_ ? ",volatile" : "");
  if (n < 0 || (size_t)n >= sizeof(data)) {
    br_error_make(&err, 0, "mount overlay on `%s`: the options exceed one page (%d bytes)",
                  opts[3].val[0], n);
    return net_fail(&err);
  }
  if (mount("overlay", opts[3].val[0], "overlay", 0, data) < 0) {
    br_error_make(&err, errno, "mount overlay on `%s`", opts[3].val[0]);
    return net_fail(&err);
  }
  return 0;
}

int br_cmd_umount(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "target"}};
  const char *target;

  if (net_parse_opts(argc, argv, opts, BR_ARRAY_SIZE(opts), &err) < 0)
    return net_fail(&err);
  if (opts[0].n == 0) {
    br_error_make(&err, 0, "%s: --target is required", argv[0]);
    return net_fail(&err);
  }
  target = opts[0].val[0];
  if (!is_mount_root(target))
    return 0;
  /* A busy mount is detached lazily: nothing may keep a removed container's root alive. */
  if (umount2(target, UMOUNT_NOFOLLOW) < 0 && (errno != EBUSY || umount2(target, MNT_DETACH) < 0) &&
      errno != EINVAL) {
    br_error_make(&err, errno, "unmount `%s`", target);
    return net_fail(&err);
  }
  return 0;
}
