/* The container's root overlay, mounted by the runtime inside the container's user and
 * mount namespaces. An unprivileged user cannot mount on the host, but may mount overlayfs
 * in a user namespace it owns (Linux >= 5.11): the engine then hands the layers over in the
 * `org.berth.overlay` annotation instead of mounting them itself. When the kernel refuses
 * (older kernels, or a filesystem under the layers that overlayfs in a user namespace does
 * not accept) fuse-overlayfs, run in the same namespaces, takes its place. */
#include "rootless.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spec.h"
#include "utils.h"

/* The data of mount(2) is one page; longer option strings are cut by the kernel. */
#define OVERLAY_DATA_MAX 4000

static int run_fuse_overlayfs(const char *data, const char *target, br_error_t *err)
{
  pid_t child = fork();
  int status;
  if (child < 0)
    return br_error_make(err, errno, "fork fuse-overlayfs");
  if (child == 0) {
    execlp("fuse-overlayfs", "fuse-overlayfs", "-o", data, target, (char *)NULL);
    _exit(127);
  }
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return br_error_make(err, 0, "fuse-overlayfs failed (exit %d)%s",
                         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                         WIFEXITED(status) && WEXITSTATUS(status) == 127
                             ? ": it is not installed (Debian package fuse-overlayfs)"
                             : "");
  return 0;
}

int br_rootless_mount_overlay(struct br_container *c, br_error_t *err)
{
  const char *data = br_json_str(br_json_get(c->spec, "annotations"), "org.berth.overlay");
  const char *mode = br_json_str(br_json_get(c->spec, "annotations"), "org.berth.overlay.driver");
  int e;
  if (data == NULL)
    return 0;
  if (strlen(data) > OVERLAY_DATA_MAX)
    return br_error_make(err, E2BIG,
                         "config.json: annotations: \"org.berth.overlay\" is longer than %d bytes "
                         "(too many layers for one overlay mount)",
                         OVERLAY_DATA_MAX);
  if (mode && strcmp(mode, "fuse-overlayfs") == 0)
    return run_fuse_overlayfs(data, c->rootfs, err);
  if (mode && strcmp(mode, "overlay") != 0 && strcmp(mode, "auto") != 0)
    return br_error_make(err, 0,
                         "config.json: annotations: \"org.berth.overlay.driver\" must be "
                         "\"overlay\", \"fuse-overlayfs\" or \"auto\", not \"%s\"",
                         mode);
  if (mount("overlay", c->rootfs, "overlay", 0, data) == 0)
    return 0;
  e = errno;
  /* EPERM/EINVAL: a kernel that refuses overlayfs in a user namespace. */
  if (mode && strcmp(mode, "auto") == 0 && (e == EPERM || e == EINVAL)) {
    if (run_fuse_overlayfs(data, c->rootfs, err) == 0)
      return 0;
    return br_error_wrap(err, "mount the rootfs overlay (the kernel refused: %s)", strerror(e));
  }
  return br_error_make(err, e, "mount the rootfs overlay on `%s`", c->rootfs);
}
