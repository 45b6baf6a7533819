#include "linux.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "net-netlink.h"
#include "rootless.h"
#include "spec.h"
#include "utils.h"

#ifndef MS_LAZYTIME
#define MS_LAZYTIME (1 << 25)
#endif

int br_linux_prepare_namespaces(struct br_container *c, br_error_t *err)
{
  struct json_object *nss = br_json_get(c->linux_obj, "namespaces");
  size_t i, n = nss ? json_object_array_length(nss) : 0;
  c->clone_flags = 0;
  c->unshare_after = 0;
  c->n_join = 0;
  /* The user namespace is joined first: the others are owned by it. */
  for (int pass = 0; pass < 2; pass++)
    for (i = 0; i < n; i++) {
      struct json_object *ns = json_object_array_get_idx(nss, i);
      const char *type = br_json_str(ns, "type"), *path = br_json_str(ns, "path");
      int flag = br_namespace_flag(type);
      if ((pass == 0) != (flag == CLONE_NEWUSER))
        continue;
      if (path == NULL) {
        if (flag == CLONE_NEWCGROUP)
          c->unshare_after |= flag;
        else
          c->clone_flags |= flag;
        if (flag == CLONE_NEWUSER)
          c->new_userns = c->in_userns = true;
        continue;
      }
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return br_error_make(err, errno, "config.json: linux.namespaces[%zu].path: open `%s`", i,
                             path);
      if (flag == CLONE_NEWUSER)
        c->in_userns = true;
      c->join_fd[c->n_join] = fd;
      c->join_type[c->n_join++] = flag;
    }
  return 0;
}

int br_linux_join_namespaces(struct br_container *c, br_error_t *err)
{
  int i;
  for (i = 0; i < c->n_join; i++) {
    /* The pid namespace is entered by the parent before clone (setns on it only affects
     * children). */
    if (c->join_type[i] == CLONE_NEWPID || c->join_type[i] == 0)
      continue;
    if (setns(c->join_fd[i], c->join_type[i]) < 0)
      return br_error_make(err, errno, "join namespace (type %#x)", c->join_type[i]);
    if (c->join_type[i] == CLONE_NEWUSER) {
      if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        return br_error_make(err, errno, "become root in the joined user namespace");
    }
  }
  return 0;
}

static int write_map(pid_t pid, const char *which, struct json_object *arr, br_error_t *err)
{
  char path[64], buf[4096];
  size_t i, off = 0, n = json_object_array_length(arr);
  for (i = 0; i < n; i++) {
    struct json_object *m = json_object_array_get_idx(arr, i);
    off += snprintf(buf + off, sizeof(buf) - off, "%lld %lld %lld\n",
                    (long long)json_object_get_int64(br_json_get(m, "containerID")),
                    (long long)json_object_get_int64(br_json_get(m, "hostID")),
                    (long long)json_object_get_int64(br_json_get(m, "size")));
    if (off >= sizeof(buf))
      return br_error_make(err, 0, "config.json: linux.%s: too many mappings", which);
  }
  snprintf(path, sizeof(path), "/proc/%d/%s", pid,
           strcmp(which, "uidMappings") == 0 ? "uid_map" : "gid_map");
  if (br_write_file(path, buf, off, err) < 0)
    return br_error_wrap(err, "config.json: linux.%s: invalid mapping", which);
  return 0;
}

static int run_idmap_helper(const char *helper, pid_t pid, struct json_object *arr, br_error_t *err)
{
  size_t i, n = json_object_array_length(arr), k = 0;
  char **argv = calloc(3 + 3 * n + 1, sizeof(char *));
  pid_t child;
  int status;
  argv[k++] = (char *)helper;
  argv[k++] = br_strdup_printf("%d", pid);
  for (i = 0; i < n; i++) {
    struct json_object *m = json_object_array_get_idx(arr, i);
    argv[k++] =
        br_strdup_printf("%lld", (long long)json_object_get_int64(br_json_get(m, "containerID")));
    argv[k++] =
        br_strdup_printf("%lld", (long long)json_object_get_int64(br_json_get(m, "hostID")));
    argv[k++] = br_strdup_printf("%lld", (long long)json_object_get_int64(br_json_get(m, "size")));
  }
  child = fork();
  if (child == 0) {
    execvp(helper, argv);
    _exit(127);
  }
  for (i = 1; i < k; i++)
    free(argv[i]);
  free(argv);
  if (child < 0)
    return br_error_make(err, errno, "fork `%s`", helper);
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return br_error_make(err, 0,
                         "`%s` failed (exit %d): are the ranges in /etc/subuid and /etc/subgid?",
                         helper, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 0;
}

int br_linux_write_mappings(struct br_container *c, pid_t pid, br_error_t *err)
{
  struct json_object *uids = br_json_get(c->linux_obj, "uidMappings");
  struct json_object *gids = br_json_get(c->linux_obj, "gidMappings");
  if (!c->new_userns)
    return 0;
  if (geteuid() != 0) {
    /* An unprivileged process may map only itself, and only with setgroups denied; wider
     * ranges go through the setuid helpers, which check /etc/subuid. */
    bool single =
        json_object_array_length(uids) == 1 && json_object_array_length(gids) == 1 &&
        json_object_get_int64(br_json_get(json_object_array_get_idx(uids, 0), "size")) == 1 &&
        json_object_get_int64(br_json_get(json_object_array_get_idx(gids, 0), "size")) == 1;
    if (!single) {
      if (run_idmap_helper("newuidmap", pid, uids, err) < 0 ||
          run_idmap_helper("newgidmap", pid, gids, err) < 0)
        return -1;
      return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
    if (br_write_file(path, "deny", 4, err) < 0)
      return -1;
  }
  if (write_map(pid, "uidMappings", uids, err) < 0 || write_map(pid, "gidMappings", gids, err) < 0)
    return -1;
  return 0;
}

/* ---- mounts ---- */

struct mount_opts {
  unsigned long flags;
  unsigned long prop;
  bool bind, rec;
  char data[1024];
};

static const struct {
  const char *name;
  bool clear;
  unsigned long flag;
} mount_flags[] = {
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},
    {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"lazytime", false, MS_LAZYTIME},
    {"nolazytime", true, MS_LAZYTIME},
    {"silent", false, MS_SILENT},
    {"loud", true, MS_SILENT},
};

static const struct {
  const char *name;
  unsigned long prop;
} mount_props[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static unsigned long parse_propagation(const char *s)
{
  size_t i;
  for (i = 0; s && i < BR_ARRAY_SIZE(mount_props); i++)
    if (strcmp(s, mount_props[i].name) == 0)
      return mount_props[i].prop;
  return 0;
}

static int parse_mount_options(struct json_object *opts, size_t idx, struct mount_opts *mo,
                               br_error_t *err)
{
  size_t i, j, n = opts ? json_object_array_length(opts) : 0, off = 0;
  memset(mo, 0, sizeof(*mo));
  for (i = 0; i < n; i++) {
    const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
    bool done = false;
    if (o == NULL)
      continue;
    if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0) {
      mo->bind = true;
      mo->rec = o[0] == 'r';
      continue;
    }
    for (j = 0; !done && j < BR_ARRAY_SIZE(mount_flags); j++)
      if (strcmp(o, mount_flags[j].name) == 0) {
        if (mount_flags[j].clear)
          mo->flags &= ~mount_flags[j].flag;
        else
          mo->flags |= mount_flags[j].flag;
        done = true;
      }
    for (j = 0; !done && j < BR_ARRAY_SIZE(mount_props); j++)
      if (strcmp(o, mount_props[j].name) == 0) {
        mo->prop = mount_props[j].prop;
        done = true;
      }
    /* runc extensions that carry no kernel meaning here. */
    if (!done && (strcmp(o, "tmpcopyup") == 0 || strcmp(o, "idmap") == 0 ||
                  strcmp(o, "ridmap") == 0 || strcmp(o, "rro") == 0))
      done = true;
    if (!done) {
      size_t l = strlen(o);
      if (off + l + 2 >= sizeof(mo->data))
        return br_error_make(err, 0, "config.json: mounts[%zu].options: too long", idx);
      if (off)
        mo->data[off++] = ',';
      memcpy(mo->data + off, o, l + 1);
      off += l;
    }
  }
  return 0;
}

static int sys_openat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
  struct open_how how = {.flags = flags, .resolve = resolve};
  int fd;
  do
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

/* Opens `path` inside the root `rootfd` with symlinks resolved as if rootfd were "/", so a
 * hostile rootfs cannot make a mount land outside it. Missing components are created:
 * directories, and the last one as a file when `file` is true. */
static int open_in_root(int rootfd, const char *path, bool create, bool file, br_error_t *err)
{
  char buf[PATH_MAX];
  char *p, *slash;
  int fd;
  while (*path == '/')
    path++;
  if (*path == '\0')
    return fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  fd = sys_openat2(rootfd, path, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0 || errno != ENOENT || !create) {
    if (fd < 0)
      return br_error_make(err, errno, "open `%s` in the container's root", path);
    return fd;
  }
  snprintf(buf, sizeof(buf), "%s", path);
  p = buf;
  {
    /* Walk down from the root: existing prefixes are resolved in the root (symlinks
     * included); once one component had to be created, the rest are created under it
     * directly, never following anything. */
    cleanup_close int parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    bool creating = false;
    for (;;) {
      const char *name = p;
      int r;
      slash = strchr(p, '/');
      if (slash)
        *slash = '\0';
      fd = -1;
      if (!creating) {
        fd = sys_openat2(rootfd, buf, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0 && errno != ENOENT)
          return br_error_make(err, errno, "open `/%s` in the container's root", buf);
      }
      if (fd < 0) {
        creating = true;
        if (slash == NULL && file) {
          r = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0755);
          if (r >= 0)
            close(r);
        } else {
          r = mkdirat(parent, name, 0755);
        }
        if (r < 0 && errno != EEXIST)
          return br_error_make(err, errno, "create `/%s` in the container's root", buf);
        fd = openat(parent, name,
                    O_PATH | O_NOFOLLOW | O_CLOEXEC | (slash || !file ? O_DIRECTORY : 0));
        if (fd < 0)
          return br_error_make(err, errno, "open `/%s` in the container's root", buf);
      }
      if (slash == NULL)
        return fd;
      close(parent);
      parent = fd;
      *slash = '/';
      p = slash + 1;
    }
  }
}

static void fd_path(char buf[64], int fd)
{
  snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

/* Applies flags that a bind mount ignores on creation, and the propagation. Reopens the
 * destination so the path names the new mount, not the directory under it. */
static int finish_mount(int rootfd, const char *dest, const struct mount_opts *mo, bool remount,
                        br_error_t *err)
{
  cleanup_close int fd = -1;
  char p[64];
  if (!remount && !mo->prop)
    return 0;
  fd = open_in_root(rootfd, dest, false, false, err);
  if (fd < 0)
    return -1;
  fd_path(p, fd);
  if (remount) {
    unsigned long flags = MS_BIND | MS_REMOUNT | (mo->flags & ~(MS_REMOUNT));
    if (mount(NULL, p, NULL, flags, NULL) < 0) {
      /* Flags locked by a user namespace (nosuid, nodev, noexec from the host) must be kept. */
      struct statvfs sv;
      if (errno != EPERM || statvfs(p, &sv) < 0 ||
          mount(NULL, p, NULL, flags | (sv.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC)), NULL) < 0)
        return br_error_make(err, errno, "remount `%s`", dest);
    }
  }
  if (mo->prop && mount(NULL, p, NULL, mo->prop, NULL) < 0)
    return br_error_make(err, errno, "set propagation of `%s`", dest);
  return 0;
}

static int do_bind(int rootfd, const char *src, const char *dest, const struct mount_opts *mo,
                   br_error_t *err)
{
  cleanup_close int fd = -1;
  struct stat st;
  char p[64];
  if (stat(src, &st) < 0)
    return br_error_make(err, errno, "bind source `%s`", src);
  fd = open_in_root(rootfd, dest, true, !S_ISDIR(st.st_mode), err);
  if (fd < 0)
    return -1;
  fd_path(p, fd);
  if (mount(src, p, NULL, MS_BIND | (mo->rec ? MS_REC : 0), NULL) < 0)
    return br_error_make(err, errno, "bind `%s` on `%s`", src, dest);
  return finish_mount(rootfd, dest, mo, (mo->flags & ~MS_REMOUNT) != 0, err);
}

/* Cgroup controllers as the container sees them: on v1 and hybrid hosts a tmpfs with one
 * bind of the container's own cgroup per hierarchy; on a v2 host a cgroup2 mount. The
 * container's directory comes from its cgroup handle: on a hybrid host that includes the
 * bare directories of the hierarchies it does not join (cgroup.c, v1_wanted), so it never
 * sees the runtime's cgroup there. A hierarchy the handle has no directory in (rootless
 * without delegation) shows where the process is: /proc/self/cgroup, read once the runtime
 * has placed it (*self_cgroup caches it; the cgroup namespace is unshared after). */
static const char *cgroup_path_of(struct br_container *c, const char *fstype, const char *super,
                                  char **self_cgroup, char *buf, size_t size, br_error_t *err)
{
  char *copy, *l, *sv2 = NULL;
  if (*self_cgroup == NULL) {
    if (c->cgroup_barrier && c->cgroup_barrier(c, err) < 0)
      return NULL;
    if (br_read_file("/proc/self/cgroup", self_cgroup, NULL, err) < 0)
      return NULL;
  }
  buf[0] = '\0';
  copy = br_xstrdup(*self_cgroup);
  for (l = strtok_r(copy, "\n", &sv2); l; l = strtok_r(NULL, "\n", &sv2)) {
    char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    bool match = false;
    if (!c2)
      continue;
    *c2 = '\0';
    if (strcmp(fstype, "cgroup2") == 0)
      match = c1[1] == '\0';
    else if (c1[1] != '\0') {
      /* Every controller of the line must appear in the super options. */
      char *cs = NULL, *ct;
      cleanup_free char *cc = br_xstrdup(c1 + 1);
      cleanup_free char *sup = br_strdup_printf(",%s,", super);
      match = true;
      for (ct = strtok_r(cc, ",", &cs); ct; ct = strtok_r(NULL, ",", &cs)) {
        char needle[128];
        snprintf(needle, sizeof(needle), ",%s,", ct);
        if (!strstr(sup, needle))
          match = false;
      }
    }
    if (match) {
      snprintf(buf, size, "%s", c2 + 1);
      break;
    }
  }
  free(copy);
  return buf;
}

/* mount_setattr(2) of the cgroup tmpfs and every bind below it: read-only when the spec
 * says so, and nosuid, nodev, noexec always. Only for plain flags (atime options take the
 * remount path). -1 with errno (ENOSYS before Linux 5.12). */
static int seal_cgroup_tree(int tfd, unsigned long flags)
{
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
  if (flags & ~(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND | MS_REC)) {
    errno = EINVAL;
    return -1;
  }
  if (flags & MS_RDONLY)
    attr.attr_set |= MOUNT_ATTR_RDONLY;
  return (int)syscall(SYS_mount_setattr, tfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                      sizeof(attr));
}

static int mount_cgroup(struct br_container *c, int rootfd, const char *dest, struct mount_opts *mo,
                        char **self_cgroup, br_error_t *err)
{
  cleanup_close int fd = -1;
  char p[64];
  struct statfs_dummy;
  struct stat st;
  bool unified = false;
  cleanup_free char *mi = NULL;
  cleanup_close int tfd = -1;
  char *line, *save = NULL;
  /* The hierarchies bound, for remounting them one by one when mount_setattr is missing;
   * the names point into `mi`. */
  cleanup_free const char **bound = NULL;
  size_t nbound = 0;

  if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0)
    unified = true;
  fd = open_in_root(rootfd, dest, true, false, err);
  if (fd < 0)
    return -1;
  fd_path(p, fd);
  if (unified) {
    if (mount("cgroup2", p, "cgroup2", mo->flags, NULL) < 0) {
      if (errno != EPERM && errno != EBUSY)
        return br_error_make(err, errno, "mount cgroup2 on `%s`", dest);
      if (mount("/sys/fs/cgroup", p, NULL, MS_BIND | MS_REC, NULL) < 0)
        return br_error_make(err, errno, "bind cgroup2 on `%s`", dest);
      return finish_mount(rootfd, dest, mo, true, err);
    }
    return 0;
  }
  if (mount("tmpfs", p, "tmpfs", (mo->flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "mode=755") < 0)
    return br_error_make(err, errno, "mount tmpfs on `%s`", dest);
  /* The fresh tmpfs is ours alone: its mount points are made and opened relative to it, and
   * the whole tree is made read-only (nosuid, nodev, noexec) at once at the end, instead of
   * a lookup from the container's root and a remount per hierarchy (~30 syscalls less). */
  tfd = open_in_root(rootfd, dest, false, false, err);
  if (tfd < 0)
    return -1;
  if (br_read_file("/proc/self/mountinfo", &mi, NULL, err) < 0)
    return -1;
  for (line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    /* id parent maj:min root mountpoint opts ... - fstype source superopts */
    char *f[6] = {0}, *dash, *fstype, *super, *s, *tok;
    int i;
    char ctrl_path[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], dp[64];
    const char *mp_name, *own;
    cleanup_close int dfd = -1;
    dash = strstr(line, " - ");
    if (dash == NULL)
      continue;
    *dash = '\0';
    fstype = dash + 3;
    s = strchr(fstype, ' ');
    if (!s)
      continue;
    *s = '\0';
    if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0)
      continue;
    super = strchr(s + 1, ' ');
    super = super ? super + 1 : (char *)"";
    for (i = 0, tok = line; i < 6 && tok; i++) {
      f[i] = tok;
      tok = strchr(tok, ' ');
      if (tok)
        *tok++ = '\0';
    }
    if (f[4] == NULL || strncmp(f[4], "/sys/fs/cgroup/", 15) != 0)
      continue;
    mp_name = f[4] + 15;
    own = c->cgroup ? br_cgroup_mount_dir(c->cgroup, fstype, super) : NULL;
    if (own != NULL) {
      snprintf(src, sizeof(src), "%s", own);
    } else {
      if (cgroup_path_of(c, fstype, super, self_cgroup, ctrl_path, sizeof(ctrl_path), err) == NULL)
        return -1;
      if (ctrl_path[0] == '\0')
        continue;
      snprintf(src, sizeof(src), "%s%s", f[4], ctrl_path);
      if (access(src, F_OK) < 0)
        snprintf(src, sizeof(src), "%s", f[4]);
    }
    snprintf(dst, sizeof(dst), "%s/%s", dest, mp_name);
    /* A host mount point one level below /sys/fs/cgroup (all of them, in practice) is made
     * in the tmpfs directly; anything deeper takes the general path. */
    if (mp_name[0] != '\0' && strchr(mp_name, '/') == NULL && strcmp(mp_name, "..") != 0 &&
        strcmp(mp_name, ".") != 0) {
      if (mkdirat(tfd, mp_name, 0755) < 0 && errno != EEXIST)
        return br_error_make(err, errno, "create `%s`", dst);
      dfd = openat(tfd, mp_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (dfd < 0)
        return br_error_make(err, errno, "open `%s`", dst);
    } else {
      dfd = open_in_root(rootfd, dst, true, false, err);
      if (dfd < 0)
        return -1;
    }
    fd_path(dp, dfd);
    if (mount(src, dp, NULL, MS_BIND | MS_REC, NULL) < 0)
      return br_error_make(err, errno, "bind cgroup `%s` on `%s`", src, dst);
    bound = realloc(bound, (nbound + 1) * sizeof(*bound));
    if (bound == NULL)
      abort();
    bound[nbound++] = mp_name;
  }
  if (seal_cgroup_tree(tfd, mo->flags) == 0)
    return 0;
  if (errno != ENOSYS && errno != EINVAL && errno != EPERM)
    return br_error_make(err, errno, "make `%s` read-only", dest);
  /* Before Linux 5.12 (no mount_setattr): a remount per bind, then the tmpfs. */
  for (size_t k = 0; k < nbound; k++) {
    struct mount_opts ro = *mo;
    char dst[PATH_MAX];
    ro.flags |= MS_NOSUID | MS_NODEV | MS_NOEXEC;
    ro.prop = 0;
    snprintf(dst, sizeof(dst), "%s/%s", dest, bound[k]);
    if (finish_mount(rootfd, dst, &ro, true, err) < 0)
      return -1;
  }
  if (mo->flags & MS_RDONLY) {
    struct mount_opts ro = {.flags = mo->flags | MS_NOSUID | MS_NODEV | MS_NOEXEC};
    if (finish_mount(rootfd, dest, &ro, true, err) < 0)
      return -1;
  }
  return 0;
}

static int do_mount(struct br_container *c, int rootfd, struct json_object *m, size_t idx,
                    char **self_cgroup, br_error_t *err)
{
  const char *dest = br_json_str(m, "destination");
  const char *type = br_json_str(m, "type");
  const char *src = br_json_str(m, "source");
  cleanup_free char *abs_src = NULL;
  struct mount_opts mo;
  cleanup_close int fd = -1;
  char p[64];

  if (parse_mount_options(br_json_get(m, "options"), idx, &mo, err) < 0)
    return -1;
  if (type == NULL || *type == '\0' || strcmp(type, "none") == 0)
    type = mo.bind ? "bind" : "none";
  if (strcmp(type, "bind") == 0)
    mo.bind = true;
  if (src && src[0] != '/' && (mo.bind))
    src = abs_src = br_strdup_printf("%s/%s", c->bundle, src);

  if (mo.bind) {
    if (src == NULL)
      return br_error_make(err, 0, "config.json: mounts[%zu].source: missing for a bind mount",
                           idx);
    if (do_bind(rootfd, src, dest, &mo, err) < 0)
      return br_error_wrap(err, "config.json: mounts[%zu]", idx);
    return 0;
  }
  if (strcmp(type, "cgroup") == 0) {
    if (mount_cgroup(c, rootfd, dest, &mo, self_cgroup, err) < 0)
      return br_error_wrap(err, "config.json: mounts[%zu]", idx);
    return 0;
  }
  fd = open_in_root(rootfd, dest, true, false, err);
  if (fd < 0)
    return br_error_wrap(err, "config.json: mounts[%zu]", idx);
  fd_path(p, fd);
  if (mount(src ? src : type, p, type, mo.flags & ~MS_REMOUNT, mo.data[0] ? mo.data : NULL) < 0) {
    int e = errno;
    /* Without their own namespace a user namespace may not mount sysfs or mqueue: runc
     * falls back to the host's, bound read-only. */
    if (e == EPERM && (strcmp(type, "sysfs") == 0 || strcmp(type, "mqueue") == 0)) {
      const char *host = strcmp(type, "sysfs") == 0 ? "/sys" : "/dev/mqueue";
      struct mount_opts b = mo;
      b.rec = true;
      b.flags |= MS_RDONLY;
      close(fd);
      fd = -1;
      if (do_bind(rootfd, host, dest, &b, err) < 0)
        return br_error_wrap(err, "config.json: mounts[%zu]", idx);
      return 0;
    }
    if (e == EINVAL && strcmp(type, "devpts") == 0 && strstr(mo.data, "gid=")) {
      /* gid=5 is not mapped in many user namespaces. */
      char *g = strstr(mo.data, "gid="), *end = strchr(g, ',');
      if (end)
        memmove(g, end + 1, strlen(end + 1) + 1);
      else
        *(g > mo.data ? g - 1 : g) = '\0';
      if (mount(src ? src : type, p, type, mo.flags & ~MS_REMOUNT, mo.data) == 0)
        goto mounted;
    }
    return br_error_make(err, e, "config.json: mounts[%zu]: mount `%s` (type %s) on `%s`", idx,
                         src ? src : type, type, dest);
  }
mounted:
  if (mo.prop && finish_mount(rootfd, dest, &mo, false, err) < 0)
    return br_error_wrap(err, "config.json: mounts[%zu]", idx);
  return 0;
}

static const struct {
  const char *name;
  unsigned major, minor;
} default_devices[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

/* A real (not O_PATH: mknodat needs one) fd of directory `dir` inside the root. */
static int open_dir_in_root(int rootfd, const char *dir, br_error_t *err)
{
  cleanup_close int pfd = open_in_root(rootfd, dir[0] ? dir : "/", true, false, err);
  char p[64];
  int real;
  if (pfd < 0)
    return -1;
  fd_path(p, pfd);
  real = open(p, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (real < 0)
    return br_error_make(err, errno, "open `%s`", dir);
  return real;
}

/* `devfd`: the container's /dev, opened once for all the devices that live there. */
static int make_device(struct br_container *c, int rootfd, int devfd, const char *path, mode_t type,
                       unsigned major, unsigned minor, mode_t mode, uid_t uid, gid_t gid,
                       br_error_t *err)
{
  cleanup_free char *dir = br_xstrdup(path);
  char *name = strrchr(dir, '/');
  cleanup_close int own = -1;
  int dfd;
  if (name == NULL)
    return br_error_make(err, 0, "invalid device path `%s`", path);
  *name++ = '\0';
  if (devfd >= 0 && strcmp(dir, "/dev") == 0) {
    dfd = devfd;
  } else {
    dfd = own = open_dir_in_root(rootfd, dir, err);
    if (dfd < 0)
      return -1;
  }
  if (!c->in_userns) {
    int r = mknodat(dfd, name, type | (mode & 07777), makedev(major, minor));
    if (r < 0 && errno == EEXIST && unlinkat(dfd, name, 0) == 0)
      r = mknodat(dfd, name, type | (mode & 07777), makedev(major, minor));
    if (r == 0) {
      if ((uid != 0 || gid != 0) && fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return br_error_make(err, errno, "chown device `%s`", path);
      return 0;
    }
  }
  if (!c->in_userns && errno != EPERM)
    return br_error_make(err, errno, "mknod `%s`", path);
  /* In a user namespace devices cannot be created: bind the host's. */
  {
    char host[PATH_MAX], p[64];
    int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return br_error_make(err, errno, "create `%s`", path);
    fd_path(p, fd);
    snprintf(host, sizeof(host), "/dev/%s", path + 5);
    if (strncmp(path, "/dev/", 5) != 0)
      snprintf(host, sizeof(host), "%s", path);
    if (mount(host, p, NULL, MS_BIND, NULL) < 0) {
      int e = errno;
      close(fd);
      return br_error_make(err, e, "bind device `%s`", host);
    }
    close(fd);
  }
  return 0;
}

static int setup_devices(struct br_container *c, int rootfd, bool default_devs, br_error_t *err)
{
  struct json_object *devs = br_json_get(c->linux_obj, "devices");
  size_t i, n = devs ? json_object_array_length(devs) : 0;
  bool ptmx_given = false;
  cleanup_close int devfd = -1;
  if (default_devs || n > 0) {
    devfd = open_dir_in_root(rootfd, "/dev", err);
    if (devfd < 0)
      return -1;
  }
  if (default_devs) {
    for (i = 0; i < BR_ARRAY_SIZE(default_devices); i++) {
      char path[64];
      snprintf(path, sizeof(path), "/dev/%s", default_devices[i].name);
      if (make_device(c, rootfd, devfd, path, S_IFCHR, default_devices[i].major,
                      default_devices[i].minor, 0666, 0, 0, err) < 0)
        return -1;
    }
  }
  for (i = 0; i < n; i++) {
    struct json_object *d = json_object_array_get_idx(devs, i), *v;
    const char *path = br_json_str(d, "path"), *type = br_json_str(d, "type");
    mode_t t;
    mode_t mode = 0666;
    if (path == NULL || type == NULL)
      return br_error_make(err, 0, "config.json: linux.devices[%zu]: path and type are required",
                           i);
    if (strcmp(path, "/dev/ptmx") == 0)
      ptmx_given = true;
    switch (type[0]) {
    case 'c':
    case 'u':
      t = S_IFCHR;
      break;
    case 'b':
      t = S_IFBLK;
      break;
    case 'p':
      t = S_IFIFO;
      break;
    default:
      return br_error_make(err, 0, "config.json: linux.devices[%zu].type: unknown type \"%s\"", i,
                           type);
    }
    if ((v = br_json_get(d, "fileMode")))
      mode = json_object_get_int(v);
    if (make_device(c, rootfd, devfd, path, t, json_object_get_int(br_json_get(d, "major")),
                    json_object_get_int(br_json_get(d, "minor")), mode,
                    json_object_get_int(br_json_get(d, "uid")),
                    json_object_get_int(br_json_get(d, "gid")), err) < 0)
      return br_error_wrap(err, "config.json: linux.devices[%zu]", i);
  }
  if (default_devs) {
    static const char *links[][2] = {{"/proc/self/fd", "fd"},
                                     {"/proc/self/fd/0", "stdin"},
                                     {"/proc/self/fd/1", "stdout"},
                                     {"/proc/self/fd/2", "stderr"}};
    for (i = 0; i < BR_ARRAY_SIZE(links); i++)
      if (symlinkat(links[i][0], devfd, links[i][1]) < 0 && errno != EEXIST)
        return br_error_make(err, errno, "symlink /dev/%s", links[i][1]);
    if (access("/proc/kcore", F_OK) == 0)
      symlinkat("/proc/kcore", devfd, "core");
    if (!ptmx_given && symlinkat("pts/ptmx", devfd, "ptmx") < 0) {
      /* A /dev from the image may hold a ptmx node: the pts one is the container's. */
      if (errno != EEXIST || unlinkat(devfd, "ptmx", 0) < 0 ||
          symlinkat("pts/ptmx", devfd, "ptmx") < 0)
        return br_error_make(err, errno, "symlink /dev/ptmx");
    }
  }
  return 0;
}

static int pivot(struct br_container *c, br_error_t *err)
{
  cleanup_close int oldroot = -1, newroot = -1;
  if (c->no_pivot)
    goto move;
  oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  newroot = open(c->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0 || newroot < 0)
    return br_error_make(err, errno, "open root directories");
  if (fchdir(newroot) < 0)
    return br_error_make(err, errno, "chdir to the rootfs");
  if (syscall(SYS_pivot_root, ".", ".") < 0) {
    /* initramfs cannot be pivoted away from. */
    if (errno == EINVAL)
      goto move;
    return br_error_make(err, errno, "pivot_root");
  }
  if (fchdir(oldroot) < 0)
    return br_error_make(err, errno, "chdir to the old root");
  /* The old root must not propagate its unmount to the host. */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    return br_error_make(err, errno, "make the old root rslave");
  if (umount2(".", MNT_DETACH) < 0)
    return br_error_make(err, errno, "unmount the old root");
  if (chdir("/") < 0)
    return br_error_make(err, errno, "chdir /");
  return 0;
move:
  if (chdir(c->rootfs) < 0)
    return br_error_make(err, errno, "chdir to `%s`", c->rootfs);
  if (mount(c->rootfs, "/", NULL, MS_MOVE, NULL) < 0)
    return br_error_make(err, errno, "move the rootfs to /");
  if (chroot(".") < 0)
    return br_error_make(err, errno, "chroot");
  if (chdir("/") < 0)
    return br_error_make(err, errno, "chdir /");
  return 0;
}

int br_linux_setup_rootfs(struct br_container *c,
                          int (*before_pivot)(struct br_container *, br_error_t *), br_error_t *err)
{
  struct json_object *mounts = br_json_get(c->spec, "mounts");
  size_t i, n = mounts ? json_object_array_length(mounts) : 0;
  unsigned long prop = MS_SLAVE | MS_REC;
  const char *rp = br_json_str(c->linux_obj, "rootfsPropagation");
  cleanup_close int rootfd = -1;
  cleanup_free char *self_cgroup = NULL;
  bool dev_setup = true, cgns_done = false;
  struct stat st;

  if (rp) {
    prop = parse_propagation(rp);
    if (prop == 0)
      return br_error_make(err, 0, "config.json: linux.rootfsPropagation: unknown value \"%s\"",
                           rp);
  }
  if (!(c->clone_flags & CLONE_NEWNS)) {
    /* Without a mount namespace, nothing may be mounted on the host. */
    if (n > 0)
      return br_error_make(err, 0, "config.json: mounts need a mount namespace");
    if (chroot(c->rootfs) < 0 || chdir("/") < 0)
      return br_error_make(err, errno, "chroot to `%s`", c->rootfs);
    return 0;
  }
  if (mount(NULL, "/", NULL, (prop & MS_SHARED) ? (MS_SLAVE | MS_REC) : prop, NULL) < 0)
    return br_error_make(err, errno, "set propagation of /");
  /* Rootless: the overlay can only be mounted here, inside the container's namespaces. */
  if (br_rootless_mount_overlay(c, err) < 0)
    return -1;
  if (stat(c->rootfs, &st) < 0)
    return br_error_make(err, errno, "config.json: root.path: `%s`", c->rootfs);
  if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    return br_error_make(err, errno, "bind the rootfs `%s`", c->rootfs);
  rootfd = open(c->rootfs, O_DIRECTORY | O_PATH | O_CLOEXEC);
  if (rootfd < 0)
    return br_error_make(err, errno, "open the rootfs `%s`", c->rootfs);
  for (i = 0; i < n; i++) {
    struct json_object *m = json_object_array_get_idx(mounts, i);
    const char *dest = br_json_str(m, "destination");
    const char *type = br_json_str(m, "type");
    struct mount_opts mo;
    /* A cgroup2 mount shows the cgroup namespace's root: the namespace must exist first.
     * The v1 binds name host paths and need no namespace; the namespace is unshared after
     * all mounts, so the child does not wait here for the runtime to place it in its v1
     * cgroups (a migration waits for an RCU grace period: cgroup.c). */
    if (type && strcmp(type, "cgroup") == 0 && !cgns_done && c->unshare_after &&
        stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
      if (c->cgroup_barrier && c->cgroup_barrier(c, err) < 0)
        return -1;
      if (unshare(c->unshare_after) < 0)
        return br_error_make(err, errno, "unshare the cgroup namespace");
      cgns_done = true;
    }
    if (do_mount(c, rootfd, m, i, &self_cgroup, err) < 0)
      return -1;
    if (strcmp(dest, "/dev") == 0 &&
        parse_mount_options(br_json_get(m, "options"), i, &mo, err) == 0 &&
        (mo.bind || (br_json_str(m, "type") && strcmp(br_json_str(m, "type"), "bind") == 0)))
      dev_setup = false;
  }
  if (!cgns_done && c->unshare_after) {
    /* Its root is the cgroup the process is in at this point: the container's. */
    if (c->cgroup_barrier && c->cgroup_barrier(c, err) < 0)
      return -1;
    if (unshare(c->unshare_after) < 0)
      return br_error_make(err, errno, "unshare the cgroup namespace");
  }
  if (setup_devices(c, rootfd, dev_setup, err) < 0)
    return -1;
  if (before_pivot && before_pivot(c, err) < 0)
    return -1;
  if (pivot(c, err) < 0)
    return -1;
  if (prop & MS_SHARED && mount(NULL, "/", NULL, prop, NULL) < 0)
    return br_error_make(err, errno, "set propagation of /");
  return 0;
}

int br_linux_finish_rootfs(struct br_container *c, br_error_t *err)
{
  struct json_object *masked = br_json_get(c->linux_obj, "maskedPaths");
  struct json_object *ro = br_json_get(c->linux_obj, "readonlyPaths");
  size_t i, n;
  struct stat st;
  if (!(c->clone_flags & CLONE_NEWNS))
    return 0;
  n = ro ? json_object_array_length(ro) : 0;
  for (i = 0; i < n; i++) {
    const char *p = json_object_get_string(json_object_array_get_idx(ro, i));
    if (p == NULL || stat(p, &st) < 0)
      continue;
    if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
      return br_error_make(err, errno, "config.json: linux.readonlyPaths[%zu]: bind `%s`", i, p);
    if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0)
      return br_error_make(err, errno, "config.json: linux.readonlyPaths[%zu]: remount `%s`", i, p);
  }
  n = masked ? json_object_array_length(masked) : 0;
  for (i = 0; i < n; i++) {
    const char *p = json_object_get_string(json_object_array_get_idx(masked, i));
    if (p == NULL || stat(p, &st) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k") < 0)
        return br_error_make(err, errno, "config.json: linux.maskedPaths[%zu]: mask `%s`", i, p);
    } else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
      return br_error_make(err, errno, "config.json: linux.maskedPaths[%zu]: mask `%s`", i, p);
    }
  }
  if (br_json_bool(br_json_get(c->spec, "root"), "readonly")) {
    struct statvfs sv;
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
    if (statvfs("/", &sv) == 0)
      flags |= (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (sv.f_flag & ST_NODEV ? MS_NODEV : 0) |
               (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
    if (mount(NULL, "/", NULL, flags, NULL) < 0)
      return br_error_make(err, errno, "config.json: root.readonly: remount / read-only");
  }
  return 0;
}

int br_linux_set_hostname(struct br_container *c, br_error_t *err)
{
  const char *h = br_json_str(c->spec, "hostname");
  const char *d = br_json_str(c->spec, "domainname");
  bool uts = (c->clone_flags & CLONE_NEWUTS) != 0;
  int i;
  for (i = 0; i < c->n_join; i++)
    uts |= c->join_type[i] == CLONE_NEWUTS;
  if ((h || d) && !uts)
    return br_error_make(err, 0, "config.json: hostname: needs a private UTS namespace");
  if (h && sethostname(h, strlen(h)) < 0)
    return br_error_make(err, errno, "config.json: hostname: sethostname `%s`", h);
  if (d && setdomainname(d, strlen(d)) < 0)
    return br_error_make(err, errno, "config.json: domainname: setdomainname `%s`", d);
  return 0;
}

static bool has_ns(struct br_container *c, int flag)
{
  int i;
  if (c->clone_flags & flag)
    return true;
  for (i = 0; i < c->n_join; i++)
    if (c->join_type[i] == flag)
      return true;
  return false;
}

/* Only sysctls that belong to a namespace the container has may be set: the others are the
 * host's (runc's rule). */
static int check_sysctl(struct br_container *c, const char *key, br_error_t *err)
{
  static const char *ipc[] = {"kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                              "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                              "kernel.shmmni", "kernel.shm_rmid_forced"};
  size_t i;
  for (i = 0; i < BR_ARRAY_SIZE(ipc); i++)
    if (strcmp(key, ipc[i]) == 0)
      goto ipc_ns;
  if (strncmp(key, "fs.mqueue.", 10) == 0)
    goto ipc_ns;
  if (strncmp(key, "net.", 4) == 0) {
    if (!has_ns(c, CLONE_NEWNET))
      return br_error_make(err, 0, "config.json: linux.sysctl: \"%s\" needs a network namespace",
                           key);
    return 0;
  }
  if (strcmp(key, "kernel.hostname") == 0 || strcmp(key, "kernel.domainname") == 0) {
    if (!has_ns(c, CLONE_NEWUTS))
      return br_error_make(err, 0, "config.json: linux.sysctl: \"%s\" needs a UTS namespace", key);
    return 0;
  }
  return br_error_make(err, 0, "config.json: linux.sysctl: \"%s\" is not namespaced", key);
ipc_ns:
  if (!has_ns(c, CLONE_NEWIPC))
    return br_error_make(err, 0, "config.json: linux.sysctl: \"%s\" needs an IPC namespace", key);
  return 0;
}

int br_linux_sysctl(struct br_container *c, br_error_t *err)
{
  struct json_object *sys = br_json_get(c->linux_obj, "sysctl");
  if (sys == NULL)
    return 0;
  json_object_object_foreach(sys, key, val)
  {
    char path[PATH_MAX];
    const char *v = json_object_get_string(val);
    size_t i, off = snprintf(path, sizeof(path), "/proc/sys/");
    if (strstr(key, "..") || strchr(key, '/'))
      return br_error_make(err, 0, "config.json: linux.sysctl: invalid key \"%s\"", key);
    if (check_sysctl(c, key, err) < 0)
      return -1;
    for (i = 0; key[i] && off < sizeof(path) - 1; i++)
      path[off++] = key[i] == '.' ? '/' : key[i];
    path[off] = '\0';
    if (br_write_file(path, v, strlen(v), err) < 0)
      return br_error_wrap(err, "config.json: linux.sysctl: \"%s\"", key);
  }
  return 0;
}

int br_linux_loopback(struct br_container *c, br_error_t *err)
{
  const char *v = br_json_str(br_json_get(c->spec, "annotations"), "org.berth.loopback");
  cleanup_close int fd = -1;
  int r;
  if (v == NULL || strcmp(v, "down") == 0)
    return 0;
  if (strcmp(v, "up") != 0)
    return br_error_make(err, 0,
                         "config.json: annotations: \"org.berth.loopback\" must be \"up\" or "
                         "\"down\", not \"%s\"",
                         v);
  /* A namespace the container joins belongs to whoever made it: its links are theirs to set. */
  if (!(c->clone_flags & CLONE_NEWNET))
    return 0;
  /* The same netlink request as netns-create's (net-netlink.c): one way to bring `lo` up. */
  fd = br_nl_open();
  if (fd < 0)
    return br_error_make(err, -fd, "bring `lo` up: open netlink socket");
  r = br_nl_link_up(fd, 1); /* lo is always ifindex 1 in a new namespace */
  if (r < 0)
    return br_error_make(err, -r, "bring `lo` up");
  return 0;
}
