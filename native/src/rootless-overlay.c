/* The container's root overlay, mounted by the runtime inside the container's user and
 * mount namespaces. An unprivileged user cannot mount on the host, but may mount overlayfs
 * in a user namespace it owns (Linux >= 5.11): the engine then hands the layers over in the
 * `org.berth.overlay` annotation instead of mounting them itself. When the kernel refuses
 * (older kernels, or a filesystem under the layers that overlayfs in a user namespace does
 * not accept) fuse-overlayfs, run in the same namespaces, takes its place. */
#include "rootless.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spec.h"
#include "utils.h"

/* The data of mount(2) is one page; longer option strings are cut by the kernel. */
#define OVERLAY_DATA_MAX 4000

/* fuse-overlayfs's options: the kernel's, less `index=off` (it has no index, and says so). */
static void fuse_options(const char *data, char *out, size_t size)
{
  const char *p = data;
  size_t n = 0;
  out[0] = '\0';
  while (*p) {
    size_t len = strcspn(p, ",");
    if (!(len == 9 && strncmp(p, "index=off", 9) == 0) && n + len + 2 < size) {
      if (n > 0)
        out[n++] = ',';
      memcpy(out + n, p, len);
      n += len;
      out[n] = '\0';
    }
    p += len;
    if (*p == ',')
      p++;
  }
}

/* The last line of what the helper wrote (for the error), from the start of `fd`. */
static void last_line(int fd, char *buf, size_t size)
{
  ssize_t n = pread(fd, buf, size - 1, 0);
  char *line;
  buf[n > 0 ? n : 0] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  line = strrchr(buf, '\n');
  if (line)
    memmove(buf, line + 1, strlen(line + 1) + 1);
}

/* fuse-overlayfs mounts and leaves a daemon behind. Its output goes to a memfd, not to the
 * container's stderr (it notes options it ignores even when it succeeds): a pipe would kill
 * the daemon with SIGPIPE at its first message after we close our end. */
static int run_fuse_overlayfs(const char *data, const char *target, br_error_t *err)
{
  char opts[OVERLAY_DATA_MAX + 1], said[512];
  cleanup_close int out = memfd_create("fuse-overlayfs", MFD_CLOEXEC);
  pid_t child;
  int status;
  if (out < 0)
    return br_error_make(err, errno, "memfd_create");
  fuse_options(data, opts, sizeof(opts));
  child = fork();
  if (child < 0)
    return br_error_make(err, errno, "fork fuse-overlayfs");
  if (child == 0) {
    if (dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
      _exit(126);
    execlp("fuse-overlayfs", "fuse-overlayfs", "-o", opts, target, (char *)NULL);
    _exit(127);
  }
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    last_line(out, said, sizeof(said));
    if (code == 127)
      return br_error_make(err, 0,
                           "fuse-overlayfs failed (exit 127): it is not installed "
                           "(Debian package fuse-overlayfs)");
    return br_error_make(err, 0, "fuse-overlayfs failed (exit %d)%s%s", code, said[0] ? ": " : "",
                         said);
  }
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
