/* berth-rootfs --pid PID --root PATH [--mkdir DIR] [--stat PATH]... [--realpath PATH]...
 *              [--read PATH]...
 *
 * The engine's small questions about a rootless container's root (the command check, the
 * user's /etc/passwd and /etc/group, the working directory, the volumes' sources), answered
 * from inside the user namespace of PID: a fuse-overlayfs root serves only processes in its
 * mounter's user namespace, and `/proc/<pid>/root` of a container whose init is not its root
 * needs privileges there (src/runtime/rootless/rootfs-view.ts). After joining it, ROOT (the
 * container's `/proc/<pid>/root`, or the engine's helper's mount) becomes this process's root
 * directory, so the kernel resolves every symlink inside it: an absolute target starts at
 * ROOT, `..` stops there. Nothing is run from the container: images without any tool work.
 *
 * Prints one JSON object: {"mkdir": {"created": bool} | {"error", "errno"}, "stat": [{"path",
 * "type", "mode"} | {"path", "error", "errno"}], "realpath": [{"path", "resolved", "type"} |
 * ...], "read": [{"path", "content"} | ...]}. A failure to reach the root prints one line on
 * stderr and exits 1; a bad command line exits 2. It is a separate binary, not a berth-runtime
 * command: it is small and starts in about a millisecond, which is what the command check of
 * every exec pays for it. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* /etc/passwd and /etc/group: a larger file is not one an engine should hold in memory. */
#define READ_MAX (4 << 20)

static void cleanup_closep(int *fd)
{
  if (*fd >= 0)
    close(*fd);
}
#define cleanup_close __attribute__((cleanup(cleanup_closep)))

static int usage(void)
{
  fputs("usage: berth-rootfs --pid PID --root PATH [--mkdir DIR] [--stat PATH]... "
        "[--realpath PATH]... [--read PATH]...\n",
        stderr);
  return 2;
}

static int fail(const char *what, const char *arg, int e)
{
  fprintf(stderr, "berth-rootfs: %s %s: %s\n", what, arg, strerror(e));
  return 1;
}

static const char *kind(mode_t mode)
{
  if (S_ISREG(mode))
    return "file";
  if (S_ISDIR(mode))
    return "dir";
  return "other";
}

static json_object *with_error(json_object *o, int e)
{
  json_object_object_add(o, "error", json_object_new_string(strerror(e)));
  json_object_object_add(o, "errno", json_object_new_int(e));
  return o;
}

static json_object *entry(const char *path)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "path", json_object_new_string(path));
  return o;
}

/* stat(2), symlinks followed (inside the root). */
static json_object *stat_path(const char *path)
{
  struct stat st;
  json_object *o = entry(path);
  if (stat(path, &st) < 0)
    return with_error(o, errno);
  json_object_object_add(o, "type", json_object_new_string(kind(st.st_mode)));
  json_object_object_add(o, "mode", json_object_new_int((int)(st.st_mode & 07777)));
  return o;
}

static json_object *realpath_of(const char *path)
{
  char resolved[PATH_MAX];
  struct stat st;
  json_object *o = entry(path);
  if (realpath(path, resolved) == NULL || stat(resolved, &st) < 0)
    return with_error(o, errno);
  json_object_object_add(o, "resolved", json_object_new_string(resolved));
  json_object_object_add(o, "type", json_object_new_string(kind(st.st_mode)));
  return o;
}

/* A regular file only: O_NONBLOCK so that a FIFO put there by the container cannot hang us. */
static json_object *read_file(const char *path)
{
  cleanup_close int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  char *buf;
  size_t n = 0;
  json_object *o = entry(path);
  if (fd < 0 || fstat(fd, &st) < 0)
    return with_error(o, errno);
  if (!S_ISREG(st.st_mode))
    return with_error(o, EINVAL);
  if (st.st_size > READ_MAX)
    return with_error(o, EFBIG);
  buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL)
    abort();
  for (;;) {
    ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      return with_error(o, e);
    }
    if (r == 0 || (n += (size_t)r) == (size_t)st.st_size)
      break;
  }
  json_object_object_add(o, "content", json_object_new_string_len(buf, (int)n));
  free(buf);
  return o;
}

/* mkdir -p, 0755 (Docker makes a missing working directory root-owned, 0755). */
static json_object *make_dirs(const char *path)
{
  char buf[PATH_MAX];
  int created = 0;
  size_t len = strlen(path);
  json_object *o = json_object_new_object();
  if (len == 0 || len >= sizeof(buf))
    return with_error(o, ENAMETOOLONG);
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char saved = *p;
      *p = '\0';
      if (mkdir(buf, 0755) == 0)
        created = 1;
      else if (errno != EEXIST)
        return with_error(o, errno);
      else
        created = 0;
      *p = saved;
      if (saved == '\0')
        break;
    }
  }
  {
    struct stat st;
    if (stat(buf, &st) < 0)
      return with_error(o, errno);
    if (!S_ISDIR(st.st_mode))
      return with_error(o, ENOTDIR);
  }
  json_object_object_add(o, "created", json_object_new_boolean(created));
  return o;
}

/* Joins the user namespace of `pid` unless it is ours already (setns refuses that). */
static int join_user_namespace(const char *pid)
{
  char path[64];
  struct stat own, target;
  cleanup_close int fd = -1;
  snprintf(path, sizeof(path), "/proc/%s/ns/user", pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail("open", path, errno);
  if (stat("/proc/self/ns/user", &own) == 0 && fstat(fd, &target) == 0 &&
      own.st_ino == target.st_ino && own.st_dev == target.st_dev)
    return 0;
  if (setns(fd, CLONE_NEWUSER) < 0)
    return fail("join the user namespace of process", pid, errno);
  return 0;
}

int main(int argc, char **argv)
{
  const char *pid = NULL, *root = NULL, *mkdir_path = NULL;
  json_object *out, *stats, *realpaths, *reads;
  int i;
  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--pid") == 0)
      pid = argv[i + 1];
    else if (strcmp(argv[i], "--root") == 0)
      root = argv[i + 1];
    else if (strcmp(argv[i], "--mkdir") == 0)
      mkdir_path = argv[i + 1];
    else if (strcmp(argv[i], "--stat") != 0 && strcmp(argv[i], "--realpath") != 0 &&
             strcmp(argv[i], "--read") != 0)
      return usage();
  }
  if (i != argc || pid == NULL || root == NULL || strspn(pid, "0123456789") != strlen(pid))
    return usage();
  if (join_user_namespace(pid) != 0)
    return 1;
  if (chroot(root) < 0)
    return fail("enter the root", root, errno);
  if (chdir("/") < 0)
    return fail("enter the root", root, errno);
  umask(022);
  out = json_object_new_object();
  stats = json_object_new_array();
  realpaths = json_object_new_array();
  reads = json_object_new_array();
  /* The working directory first: a later question may be about what it made. */
  if (mkdir_path)
    json_object_object_add(out, "mkdir", make_dirs(mkdir_path));
  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--stat") == 0)
      json_object_array_add(stats, stat_path(argv[i + 1]));
    else if (strcmp(argv[i], "--realpath") == 0)
      json_object_array_add(realpaths, realpath_of(argv[i + 1]));
    else if (strcmp(argv[i], "--read") == 0)
      json_object_array_add(reads, read_file(argv[i + 1]));
  }
  json_object_object_add(out, "stat", stats);
  json_object_object_add(out, "realpath", realpaths);
  json_object_object_add(out, "read", reads);
  puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
  json_object_put(out);
  return fflush(stdout) == 0 ? 0 : 1;
}
