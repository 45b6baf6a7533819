#include "cloned_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "utils.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

extern char **environ;

static bool is_sealed(int fd)
{
  int seals = fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SEAL);
}

static bool on_readonly_mount(int fd)
{
  struct statvfs sv;
  return fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

/* The cheap way (no copy): a private, detached, read-only bind mount of the binary, which
 * lives only as long as something holds it. Needs CAP_SYS_ADMIN. */
static int exec_from_readonly_mount(char **argv)
{
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  int tree =
      syscall(SYS_open_tree, AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0)
    return -1;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
    close(tree);
    return -1;
  }
  syscall(SYS_execveat, tree, "", argv, environ, AT_EMPTY_PATH);
  close(tree);
  return -1;
}

/* The fallback (rootless, old kernels): a sealed memfd copy. */
static int exec_from_memfd(int self, char **argv, br_error_t *err)
{
  cleanup_close int mfd = -1;
  struct stat st;
  off_t off = 0;
  if (fstat(self, &st) < 0)
    return br_error_make(err, errno, "stat /proc/self/exe");
  mfd = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (mfd < 0 && errno == EINVAL) /* kernels before 6.3 know no MFD_EXEC */
    mfd = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return br_error_make(err, errno, "memfd_create");
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, self, &off, st.st_size - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return br_error_make(err, errno, "copy the runtime binary");
    }
    if (n == 0)
      break;
  }
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    return br_error_make(err, errno, "seal the runtime binary copy");
  syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
  return br_error_make(err, errno, "re-exec the sealed runtime binary");
}

int br_cloned_binary_ensure(char **argv, br_error_t *err)
{
  cleanup_close int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return br_error_make(err, errno, "open /proc/self/exe");
  if (is_sealed(self) || on_readonly_mount(self))
    return 0;
  if (getenv("BERTH_RUNTIME_EXE_MEMFD") == NULL)
    exec_from_readonly_mount(argv);
  return exec_from_memfd(self, argv, err);
}

int br_cloned_binary_probe(br_error_t *err)
{
  cleanup_close int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int w = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
  int e = errno;
  bool sealed = self >= 0 && is_sealed(self);
  bool ro = self >= 0 && on_readonly_mount(self);
  printf("{\"protection\":\"%s\",\"writable\":%s,\"error\":\"%s\"}\n",
         sealed ? "memfd"
         : ro   ? "readonly-mount"
                : "none",
         w >= 0 ? "true" : "false", w >= 0 ? "" : strerror(e));
  if (w >= 0) {
    close(w);
    return br_error_make(err, 0, "the runtime binary is writable through /proc/self/exe");
  }
  if (!sealed && !ro)
    return br_error_make(err, 0, "the runtime is not running from a protected copy");
  return 0;
}
