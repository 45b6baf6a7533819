/* The container's cgroups on v1, v2 and hybrid hosts.
 *
 * Hierarchies are found from /proc/self/cgroup (where this process is, per hierarchy) and
 * /proc/self/mountinfo (where each hierarchy is mounted, and which part of it the mount
 * shows). On a hybrid host the container goes into every mounted v1 hierarchy (limits live
 * there) and into the v2 tree as well: that is what v2-only tools, cgroup namespaces and
 * cgroup.kill see. crun 1.8 refuses such hosts; they are common (systemd's "hybrid" mode,
 * and the CI machines berth runs on).
 *
 * The handle is a list of absolute directories, so later commands (delete, kill, pause)
 * never recompute paths from a cgroup they may no longer be in.
 */
#include "cgroup-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json_tokener.h>
#include <json_util.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "utils.h"

/* How long kill, freeze and destroy wait for the kernel before giving up: processes in
 * uninterruptible sleep (NFS, FUSE) can stall them, and nothing may hang forever. */
#define SETTLE_TIMEOUT_MS 5000
/* Without `force`, a cgroup that still has processes gets this long to empty: the
 * container's last processes may still be exiting when delete runs. */
#define DRAIN_TIMEOUT_MS 1000

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *s;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    abort();
  va_end(ap);
  return s;
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Short sleeps first (most state changes settle within microseconds), then up to 10 ms. */
static void backoff(unsigned *round)
{
  unsigned us = 100u << (*round < 7 ? *round : 7);
  if (us > 10000)
    us = 10000;
  (*round)++;
  usleep(us);
}

/* ---- files ------------------------------------------------------------------------------ */

int br_cg_write(const char *dir, const char *file, const char *value, br_error_t *err)
{
  char path[PATH_MAX];
  ssize_t n;
  int fd, saved;
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return br_error_make(err, errno, "write `%s` to `%s`", value, path);
  n = write(fd, value, strlen(value));
  saved = errno;
  close(fd);
  if (n < 0)
    return br_error_make(err, saved, "write `%s` to `%s`", value, path);
  return 0;
}

int br_cg_read(const char *dir, const char *file, char *buf, size_t size, br_error_t *err)
{
  char path[PATH_MAX];
  size_t len = 0;
  int fd;
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return br_error_make(err, errno, "read `%s`", path);
  while (len + 1 < size) {
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      close(fd);
      return br_error_make(err, saved, "read `%s`", path);
    }
    if (n == 0)
      break;
    len += n;
  }
  close(fd);
  buf[len] = 0;
  return (int)len;
}

bool br_cg_has_file(const char *dir, const char *file)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  return access(path, F_OK) == 0;
}

/* A whole file of unknown size (cgroup.procs of a fork bomb can be large). */
static char *read_all(const char *path, int *saved_errno)
{
  size_t cap = 4096, len = 0;
  char *buf;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *saved_errno = errno;
    return NULL;
  }
  buf = malloc(cap);
  for (;;) {
    ssize_t n;
    if (len + 1 >= cap)
      buf = realloc(buf, cap *= 2);
    if (buf == NULL)
      abort();
    n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *saved_errno = errno;
      close(fd);
      free(buf);
      return NULL;
    }
    if (n == 0)
      break;
    len += n;
  }
  close(fd);
  buf[len] = 0;
  return buf;
}

static bool has_token(const char *list, const char *token, char sep)
{
  size_t tl = strlen(token);
  const char *p = list;
  while (p && *p) {
    const char *end = strchr(p, sep);
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == tl && strncmp(p, token, tl) == 0)
      return true;
    p = end ? end + 1 : NULL;
  }
  return false;
}

/* ---- the handle's directories ----------------------------------------------------------- */

const char *br_cgroup_v2_path(const struct br_cgroup *cg)
{
  return cg ? br_cg_v2_dir(cg) : NULL;
}

const char *br_cg_v2_dir(const struct br_cgroup *cg)
{
  for (size_t i = 0; i < cg->n; i++)
    if (cg->dirs[i].ctrl[0] == 0)
      return cg->dirs[i].path;
  return NULL;
}

const char *br_cg_dir_for(const struct br_cgroup *cg, const char *controller)
{
  const char *v2;
  char buf[512];
  /* A bare directory holds no process: limits, OOM counts and the freezer mean nothing there. */
  for (size_t i = 0; i < cg->n; i++)
    if (cg->dirs[i].ctrl[0] != 0 && !cg->dirs[i].bare &&
        has_token(cg->dirs[i].ctrl, controller, ','))
      return cg->dirs[i].path;
  v2 = br_cg_v2_dir(cg);
  /* The leaf's cgroup.controllers lists what its parents enabled for it. */
  if (v2 != NULL && br_cg_read(v2, "cgroup.controllers", buf, sizeof(buf), NULL) >= 0) {
    buf[strcspn(buf, "\n")] = 0;
    if (has_token(buf, controller, ' '))
      return v2;
  }
  return NULL;
}

static bool v1_mount_matches(const char *superopts, const char *ctrl);

const char *br_cgroup_mount_dir(const struct br_cgroup *cg, const char *fstype,
                                const char *superopts)
{
  bool v2 = strcmp(fstype, "cgroup2") == 0;
  if (!v2 && strcmp(fstype, "cgroup") != 0)
    return NULL;
  for (size_t i = 0; i < cg->n; i++) {
    const struct br_cg_dir *d = &cg->dirs[i];
    if (v2 ? d->ctrl[0] == 0 : d->ctrl[0] != 0 && v1_mount_matches(superopts, d->ctrl))
      return d->path;
  }
  return NULL;
}

static void dirs_free(struct br_cgroup *cg)
{
  for (size_t i = 0; i < cg->n; i++) {
    free(cg->dirs[i].ctrl);
    free(cg->dirs[i].path);
    free(cg->dirs[i].owned);
  }
  free(cg->dirs);
  cg->dirs = NULL;
  cg->n = 0;
}

void br_cgroup_free(struct br_cgroup *cg)
{
  if (cg == NULL)
    return;
  if (cg->pending_devices)
    json_object_put(cg->pending_devices);
  dirs_free(cg);
  free(cg);
}

static void dirs_add(struct br_cgroup *cg, const char *ctrl, char *path, char *owned, bool bare)
{
  cg->dirs = realloc(cg->dirs, (cg->n + 1) * sizeof(*cg->dirs));
  if (cg->dirs == NULL)
    abort();
  cg->dirs[cg->n].ctrl = strdup(ctrl);
  cg->dirs[cg->n].path = path;
  cg->dirs[cg->n].owned = owned;
  cg->dirs[cg->n].bare = bare;
  if (cg->dirs[cg->n].ctrl == NULL)
    abort();
  cg->n++;
}

/* ---- discovery -------------------------------------------------------------------------- */

struct hier {
  char *ctrl;  /* as in /proc/self/cgroup; "" for v2 */
  char *own;   /* this process's cgroup in it */
  char *mnt;   /* where it is mounted */
  char *mroot; /* which cgroup that mount shows at `mnt` */
};

struct hosts {
  struct hier h[32];
  size_t n;
  enum br_cg_mode mode;
};

static void hosts_free(struct hosts *hs)
{
  for (size_t i = 0; i < hs->n; i++) {
    free(hs->h[i].ctrl);
    free(hs->h[i].own);
    free(hs->h[i].mnt);
    free(hs->h[i].mroot);
  }
  hs->n = 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
        r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
}

/* Whether a v1 mount's super options name exactly the hierarchy's controllers. */
static bool v1_mount_matches(const char *superopts, const char *ctrl)
{
  const char *p = ctrl;
  while (*p) {
    char tok[64];
    size_t len = strcspn(p, ",");
    if (len >= sizeof(tok))
      return false;
    memcpy(tok, p, len);
    tok[len] = 0;
    if (!has_token(superopts, tok, ','))
      return false;
    p += len;
    if (*p == ',')
      p++;
  }
  return true;
}

static int discover(struct hosts *hs, br_error_t *err)
{
  cleanup_fclose FILE *cg = fopen("/proc/self/cgroup", "re");
  cleanup_fclose FILE *mi = NULL;
  cleanup_free char *line = NULL;
  size_t cap = 0;
  bool has_v1 = false, has_v2 = false;

  hs->n = 0;
  if (cg == NULL)
    return br_error_make(err, errno, "cgroups: open `/proc/self/cgroup`");
  while (getline(&line, &cap, cg) > 0 && hs->n < sizeof(hs->h) / sizeof(hs->h[0])) {
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL)
      continue;
    *c2 = 0;
    c2[1 + strcspn(c2 + 1, "\n")] = 0;
    /* An empty controller list on a v1 line is a named hierarchy without name: skip. */
    if (c1[1] == 0 && strncmp(line, "0:", 2) != 0)
      continue;
    hs->h[hs->n].ctrl = strdup(c1 + 1);
    hs->h[hs->n].own = strdup(c2 + 1);
    hs->h[hs->n].mnt = hs->h[hs->n].mroot = NULL;
    hs->n++;
  }

  mi = fopen("/proc/self/mountinfo", "re");
  if (mi == NULL) {
    hosts_free(hs);
    return br_error_make(err, errno, "cgroups: open `/proc/self/mountinfo`");
  }
  while (getline(&line, &cap, mi) > 0) {
    char *fields[8], *sep, *fstype, *superopts, *save = NULL;
    int nf = 0;
    bool v2;
    line[strcspn(line, "\n")] = 0;
    sep = strstr(line, " - ");
    if (sep == NULL)
      continue;
    *sep = 0;
    fstype = strtok_r(sep + 3, " ", &save);
    (void)strtok_r(NULL, " ", &save);
    superopts = strtok_r(NULL, " ", &save);
    if (fstype == NULL || superopts == NULL)
      continue;
    v2 = strcmp(fstype, "cgroup2") == 0;
    if (!v2 && strcmp(fstype, "cgroup") != 0)
      continue;
    save = NULL;
    for (char *t = strtok_r(line, " ", &save); t && nf < 8; t = strtok_r(NULL, " ", &save))
      fields[nf++] = t;
    if (nf < 5)
      continue;
    unescape_octal(fields[3]);
    unescape_octal(fields[4]);
    for (size_t i = 0; i < hs->n; i++) {
      struct hier *h = &hs->h[i];
      bool want_v2 = h->ctrl[0] == 0;
      if (want_v2 != v2 || (!v2 && !v1_mount_matches(superopts, h->ctrl)))
        continue;
      /* The same hierarchy can be mounted more than once (bind mounts into rootfs trees):
       * the canonical place wins. */
      if (h->mnt != NULL && (strncmp(h->mnt, "/sys/fs/cgroup", 14) == 0 ||
                             strncmp(fields[4], "/sys/fs/cgroup", 14) != 0))
        continue;
      free(h->mnt);
      free(h->mroot);
      h->mnt = strdup(fields[4]);
      h->mroot = strdup(fields[3]);
    }
  }

  /* Keep only mounted hierarchies. */
  {
    size_t w = 0;
    for (size_t i = 0; i < hs->n; i++) {
      if (hs->h[i].mnt == NULL) {
        free(hs->h[i].ctrl);
        free(hs->h[i].own);
        free(hs->h[i].mroot);
        continue;
      }
      if (hs->h[i].ctrl[0] == 0)
        has_v2 = true;
      else
        has_v1 = true;
      hs->h[w++] = hs->h[i];
    }
    hs->n = w;
  }
  if (!has_v1 && !has_v2) {
    hosts_free(hs);
    return br_error_make(err, 0, "cgroups: no cgroup hierarchy is mounted");
  }
  hs->mode = has_v1 && has_v2 ? BR_CG_HYBRID : has_v1 ? BR_CG_V1 : BR_CG_V2;
  return 0;
}

/* ---- paths ------------------------------------------------------------------------------ */

/* The cgroup path (inside each hierarchy) asked for by the spec, normalised. */
static int spec_path(const char *id, struct json_object *linux_obj, char **out, bool *absolute,
                     bool *is_default, br_error_t *err)
{
  struct json_object *v = NULL;
  const char *p;
  char *norm, *w;

  *is_default = false;
  if (linux_obj != NULL && json_object_object_get_ex(linux_obj, "cgroupsPath", &v) && v != NULL &&
      !json_object_is_type(v, json_type_string))
    return br_error_make(err, 0, "linux.cgroupsPath: expected string, got %s",
                         json_type_to_name(json_object_get_type(v)));
  p = v ? json_object_get_string(v) : "";
  if (p[0] == 0) {
    if (id == NULL || id[0] == 0 || strchr(id, '/') != NULL || strcmp(id, "..") == 0 ||
        strcmp(id, ".") == 0)
      return br_error_make(err, 0, "cgroups: invalid container id `%s`", id ? id : "");
    *out = xasprintf("berth/%s", id);
    *absolute = false;
    *is_default = true;
    return 0;
  }
  *absolute = p[0] == '/';
  /* Collapse "//" and "/./", refuse "..": a spec must not place a container above the
   * hierarchy it names. The systemd "slice:prefix:name" form is a plain path here. */
  norm = malloc(strlen(p) + 1);
  if (norm == NULL)
    abort();
  w = norm;
  while (*p) {
    size_t len;
    while (*p == '/')
      p++;
    len = strcspn(p, "/");
    if (len == 0)
      break;
    if (len == 2 && strncmp(p, "..", 2) == 0) {
      free(norm);
      return br_error_make(err, 0, "linux.cgroupsPath: `..` is not allowed");
    }
    if (!(len == 1 && p[0] == '.')) {
      if (w != norm)
        *w++ = '/';
      memcpy(w, p, len);
      w += len;
    }
    p += len;
  }
  *w = 0;
  if (norm[0] == 0) {
    free(norm);
    return br_error_make(err, 0, "linux.cgroupsPath: names the root cgroup");
  }
  *out = norm;
  return 0;
}

/* The directory of cgroup `cgpath` in hierarchy `h`. */
static char *dir_of(const struct hier *h, const char *cgpath)
{
  const char *rest = cgpath;
  size_t rl = strlen(h->mroot);
  /* A mount may show only a subtree (inside a container without cgroup namespace): paths
   * in /proc/self/cgroup are then relative to the hierarchy, not the mount. */
  if (strcmp(h->mroot, "/") != 0 && strncmp(cgpath, h->mroot, rl) == 0 &&
      (cgpath[rl] == '/' || cgpath[rl] == 0))
    rest = cgpath + rl;
  while (*rest == '/')
    rest++;
  if (*rest == 0)
    return strdup(h->mnt);
  return xasprintf("%s/%s", h->mnt, rest);
}

static char *cg_path(const struct hier *h, const char *spec, bool absolute)
{
  if (absolute)
    return strdup(spec);
  return xasprintf("%s/%s", strcmp(h->own, "/") == 0 ? "" : h->own, spec);
}

/* ---- creation --------------------------------------------------------------------------- */

struct created {
  char **dirs;
  size_t n;
};

static void created_add(struct created *c, const char *dir)
{
  c->dirs = realloc(c->dirs, (c->n + 1) * sizeof(char *));
  if (c->dirs == NULL || (c->dirs[c->n] = strdup(dir)) == NULL)
    abort();
  c->n++;
}

static void created_rollback(struct created *c)
{
  while (c->n > 0) {
    c->n--;
    rmdir(c->dirs[c->n]);
    free(c->dirs[c->n]);
  }
  free(c->dirs);
  c->dirs = NULL;
}

static void created_forget(struct created *c)
{
  for (size_t i = 0; i < c->n; i++)
    free(c->dirs[i]);
  free(c->dirs);
  c->dirs = NULL;
  c->n = 0;
}

/* v1 cpuset: a new cgroup starts with empty cpus and mems, and no task can join it until
 * both are set. Copying the parent's is what the kernel does with clone_children, which
 * is not ours to switch on in a shared parent. */
static int cpuset_init(const char *dir, br_error_t *err)
{
  static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
  cleanup_free char *parent = strdup(dir);
  char *slash = parent ? strrchr(parent, '/') : NULL;
  if (slash == NULL)
    return 0;
  *slash = 0;
  for (size_t i = 0; i < 2; i++) {
    char buf[1024];
    if (br_cg_read(dir, files[i], buf, sizeof(buf), err) < 0)
      return -1;
    if (buf[0] != 0 && buf[0] != '\n')
      continue;
    if (br_cg_read(parent, files[i], buf, sizeof(buf), err) < 0)
      return -1;
    buf[strcspn(buf, "\n")] = 0;
    if (buf[0] == 0)
      return br_error_make(err, 0, "cgroups: `%s/%s` is empty", parent, files[i]);
    if (br_cg_write(dir, files[i], buf, err) < 0)
      return -1;
  }
  return 0;
}

/* v2: a controller works in a cgroup only when every ancestor lists it in
 * cgroup.subtree_control. */
static int v2_enable(const char *dir, unsigned needs, br_error_t *err)
{
  char have[512], avail[512];
  if (needs == 0)
    return 0;
  if (br_cg_read(dir, "cgroup.subtree_control", have, sizeof(have), err) < 0 ||
      br_cg_read(dir, "cgroup.controllers", avail, sizeof(avail), err) < 0)
    return -1;
  have[strcspn(have, "\n")] = 0;
  avail[strcspn(avail, "\n")] = 0;
  for (size_t i = 0; i < BR_ARRAY_SIZE(br_cg_need_names); i++) {
    char op[32];
    const char *name = br_cg_need_names[i];
    if (!(needs & (1u << i)) || has_token(have, name, ' '))
      continue;
    /* Not available (on a hybrid host: taken by a v1 hierarchy): the limit that needs it
     * reports the missing controller with its field. */
    if (!has_token(avail, name, ' '))
      continue;
    snprintf(op, sizeof(op), "+%s", name);
    if (br_cg_write(dir, "cgroup.subtree_control", op, err) < 0) {
      if ((*err)->status == EBUSY)
        br_error_wrap(err,
                      "cgroups: enable `%s` below `%s` (it has processes of its own: v2 allows "
                      "controllers only in cgroups without; give the container an absolute "
                      "linux.cgroupsPath)",
                      name, dir);
      return -1;
    }
  }
  return 0;
}

/* mkdir -p of `dir` below the hierarchy's mount point, preparing every level. */
static int make_dirs(const struct hier *h, const char *dir, const char *shared, unsigned v2needs,
                     struct created *c, br_error_t *err)
{
  bool v2 = h->ctrl[0] == 0, cpuset = !v2 && has_token(h->ctrl, "cpuset", ',');
  size_t base = strlen(h->mnt);

  cleanup_free char *path = strdup(dir);
  char *p;
  if (path == NULL)
    abort();
  if (strncmp(path, h->mnt, base) != 0)
    return br_error_make(err, 0, "cgroups: `%s` is outside `%s`", dir, h->mnt);
  if (v2 && v2_enable(h->mnt, v2needs, err) < 0)
    return -1;
  /* The shared "berth" parent is never removed (see br_cgroup_destroy), so no level can
   * vanish under us between its mkdir and its child's. */
  p = path + base;
  while (*p == '/')
    p++;
  while (*p) {
    char *slash = strchr(p, '/');
    bool leaf = slash == NULL;
    if (slash)
      *slash = 0;
    if (mkdir(path, 0755) == 0) {
      /* The shared parent stays even when we made it: a concurrent create may be about to
       * mkdir its own child in it. */
      if (shared == NULL || strcmp(path, shared) != 0)
        created_add(c, path);
    } else if (errno != EEXIST)
      return br_error_make(err, errno, "cgroups: create `%s`", path);
    if (cpuset && cpuset_init(path, err) < 0)
      return -1;
    if (v2 && !leaf && v2_enable(path, v2needs, err) < 0)
      return -1;
    if (leaf)
      break;
    *slash = '/';
    p = slash + 1;
  }
  return 0;
}

static bool is_permission_error(br_error_t err)
{
  return err && (err->status == EACCES || err->status == EPERM || err->status == EROFS);
}

static int write_pid(const char *dir, pid_t pid, br_error_t *err)
{
  char buf[24];
  snprintf(buf, sizeof(buf), "%d", (int)pid);
  return br_cg_write(dir, "cgroup.procs", buf, err);
}

/* Which v1 hierarchies a container joins on a hybrid host. Each v1 join is a migration
 * (a write to cgroup.procs), and a migration takes the global cgroup_threadgroup_rwsem for
 * writing, whose percpu_down_write() waits for an RCU grace period (rcu_sync_enter): 8-15 ms
 * for the first write on this 2-core CI host, while the next ones within the same grace
 * period cost ~10 us; mkdir of a v1 cgroup costs ~40 us. So on a hybrid host the container
 * is tracked in the v2 tree (created there with CLONE_INTO_CGROUP: no migration at all) and
 * joins only the v1 hierarchies whose controllers its spec limits (memory, which also gives
 * OOM detection; cpu, cpuset, pids, blkio, hugetlb; devices when no eBPF device filter can
 * be attached). kill --all (cgroup.kill), pause (cgroup.freeze), ps and delete work on the
 * v2 directory. Divergence from runc, which joins every v1 hierarchy: v1-only tools
 * (freezer, name=systemd, net_cls...) on the host see the container in the runtime's own
 * cgroup there.
 *
 * A spec that mounts a cgroup filesystem gets the same lean create ("view"): for every
 * hierarchy it does not join, the container's directory is made anyway, recorded as bare
 * (delete removes it; nothing joins it, no limit is written there), and the cgroup mount
 * binds that directory at /sys/fs/cgroup/<ctrl> (linux.c). So inside the container every
 * hierarchy shows the container's own cgroup, never the host's or a sibling's, and the
 * limit files of the limited hierarchies are the real ones (those are joined). Divergence
 * from runc: in an unjoined hierarchy the container sees an empty cgroup, so cgroup.procs,
 * tasks, memory.usage_in_bytes or cpuacct.usage read there list no process and count
 * nothing (memory.limit_in_bytes reads "unlimited", which is true: no limit was asked). */
static bool v1_wanted(const char *ctrl, unsigned v1ctrl)
{
  static const char *const names[] = {"cpu",   "cpuset",  "memory", "pids",
                                      "blkio", "hugetlb", "devices"};
  if (v1ctrl == ~0u)
    return true;
  for (size_t i = 0; i < BR_ARRAY_SIZE(names); i++)
    if ((v1ctrl & (1u << i)) && has_token(ctrl, names[i], ','))
      return true;
  return false;
}

/* The v1_wanted() bits of a spec: the BR_CG_NEED_* bits (same order, io = blkio), and
 * devices when device rules apply. */
static unsigned v1_controllers(struct json_object *res, bool rootless)
{
  struct json_object *v;
  unsigned bits = br_cg_v2_needs(res) & 0x3f;
  /* An empty list asks for nothing (a malformed value fails in br_cg_apply_resources). */
  if (!rootless && res != NULL && json_object_object_get_ex(res, "devices", &v) &&
      json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
    bits |= 1u << 6;
  return bits;
}

/* FULL joins every hierarchy; LEAN (hybrid hosts) only the limited ones; LEAN_VIEW also
 * makes bare directories in the others for the container's cgroup mount. DEFER (a bit on
 * top of LEAN or LEAN_VIEW): the device filter waits for br_cgroup_attach_devices(). */
enum create_mode { FULL = 0, LEAN = 1, LEAN_VIEW = 2, DEFER = 4 };

static int create(const char *id, struct json_object *linux_obj, pid_t pid, bool rootless, int how,
                  struct br_cgroup **out, br_error_t *err);

int br_cgroup_create(const char *id, struct json_object *linux_obj, pid_t pid, bool rootless,
                     struct br_cgroup **out, br_error_t *err)
{
  return create(id, linux_obj, pid, rootless, FULL, out, err);
}

int br_cgroup_create_lean(const char *id, struct json_object *linux_obj, bool rootless,
                          unsigned flags, struct br_cgroup **out, br_error_t *err)
{
  return create(id, linux_obj, 0, rootless,
                (flags & BR_CGROUP_VIEW ? LEAN_VIEW : LEAN) |
                    (flags & BR_CGROUP_DEFER_DEVICES ? DEFER : 0),
                out, err);
}

int br_cgroup_attach_devices(struct br_cgroup *cg, br_error_t *err)
{
  struct json_object *list = cg->pending_devices, *only;
  const char *v2 = br_cg_v2_dir(cg);
  br_error_t perr = NULL;
  struct br_cg_dir *devices = NULL;
  int prog, r;
  if (list == NULL)
    return 0;
  cg->pending_devices = NULL;
  only = json_object_new_object();
  json_object_object_add(only, "devices", list); /* `only` owns the reference now */
  prog = br_cg_devices_prog(only, &perr);
  if (prog < 0 && perr->status == 0) {
    *err = perr; /* a malformed rule */
    json_object_put(only);
    return -1;
  }
  if (prog >= 0) {
    r = v2 != NULL ? br_cg_devices_attach(v2, prog, &perr) : -1;
    close(prog);
    if (r == 0) {
      json_object_put(only);
      return 0;
    }
  }
  /* No eBPF device filter here (no CONFIG_CGROUP_BPF), or an ancestor's program attached
   * without BPF_F_ALLOW_MULTI refuses ours: the v1 devices cgroup, as without the filter. */
  br_error_release(&perr);
  for (size_t i = 0; i < cg->n; i++)
    if (cg->dirs[i].bare && has_token(cg->dirs[i].ctrl, "devices", ','))
      devices = &cg->dirs[i];
  if (devices == NULL) {
    json_object_put(only);
    return br_error_make(err, ENOTSUP,
                         "linux.resources.devices: neither an eBPF device filter nor a v1 "
                         "devices cgroup can enforce the rules");
  }
  devices->bare = false;
  r = br_cg_apply_resources(cg, only, true, err);
  json_object_put(only);
  return r;
}

static int create(const char *id, struct json_object *linux_obj, pid_t pid, bool rootless, int how,
                  struct br_cgroup **out, br_error_t *err)
{
  bool lean = how != FULL, defer = false;
  struct hosts hs;
  struct created made = {NULL, 0};
  struct json_object *res = NULL;
  struct br_cgroup *cg;
  cleanup_free char *spec = NULL;
  char **own_dirs = NULL, *failed_owned = NULL;
  bool absolute = false, is_default = false;
  unsigned needs, v1ctrl;
  int limits, devprog = -1;

  *out = NULL;
  if (linux_obj != NULL && json_object_object_get_ex(linux_obj, "resources", &res) && res != NULL &&
      !json_object_is_type(res, json_type_object))
    return br_error_make(err, 0, "linux.resources: expected object");
  limits = br_cg_limits_requested(res, err);
  if (limits < 0)
    return -1;
  needs = br_cg_v2_needs(res);
  v1ctrl = lean ? v1_controllers(res, rootless) : ~0u;
  if (spec_path(id, linux_obj, &spec, &absolute, &is_default, err) < 0)
    return -1;
  if (discover(&hs, err) < 0)
    return -1;
  /* Device rules on a hybrid host: an eBPF filter on the v2 directory instead of a v1
   * migration; a kernel without it (no CONFIG_CGROUP_BPF) gets the v1 devices cgroup. On a
   * pure v2 host the filter is the only way to enforce them: no fallback. */
  if ((hs.mode == BR_CG_V2 || (lean && hs.mode == BR_CG_HYBRID)) &&
      (v1_controllers(res, rootless) & (1u << 6))) {
    if (how & DEFER) {
      /* Loading the program (the verifier, ~0.5 ms) then overlaps the child's setup; on a
       * hybrid host the v1 devices hierarchy gets a bare directory for the fallback. */
      defer = true;
      v1ctrl &= ~(1u << 6);
    } else {
      br_error_t perr = NULL;
      devprog = br_cg_devices_prog(res, &perr);
      if (devprog >= 0) {
        v1ctrl &= ~(1u << 6);
      } else if (perr->status == 0 || hs.mode == BR_CG_V2) {
        *err = perr; /* a malformed rule, or nothing else can enforce them */
        hosts_free(&hs);
        return -1;
      } else {
        br_error_release(&perr);
      }
    }
  }

  cg = calloc(1, sizeof(*cg));
  own_dirs = calloc(hs.n, sizeof(char *));
  if (cg == NULL || own_dirs == NULL)
    abort();
  cg->mode = hs.mode;

  /* The v2 directory first (k == 0): whether the device filter attaches there decides
   * whether the v1 devices hierarchy is needed. */
  for (size_t k = 0; k < 2 * hs.n; k++) {
    size_t i = k % hs.n;
    struct hier *h = &hs.h[i];
    cleanup_free char *cgp = NULL;
    char *dir, *owned = NULL;
    if (k == hs.n && devprog >= 0) {
      br_error_t aerr = NULL;
      /* No v2 directory, or an ancestor's program attached without BPF_F_ALLOW_MULTI
       * refuses ours: the v1 devices cgroup, as without the filter. */
      if (br_cg_v2_dir(cg) == NULL || br_cg_devices_attach(br_cg_v2_dir(cg), devprog, &aerr) < 0) {
        if (hs.mode == BR_CG_V2) {
          if (aerr != NULL)
            *err = aerr;
          else
            br_error_make(err, 0, "linux.resources.devices: no cgroup2 directory");
          goto fail;
        }
        br_error_release(&aerr);
        v1ctrl |= 1u << 6;
      }
      close(devprog);
      devprog = -1;
    }
    if ((h->ctrl[0] == 0) != (k < hs.n))
      continue;
    cgp = cg_path(h, spec, absolute);
    dir = dir_of(h, cgp);
    /* On a hybrid host no controller is enabled in the v2 tree except those no v1
     * hierarchy took: enabling costs nothing for the others. */
    unsigned v2needs = h->ctrl[0] == 0 ? needs : 0;
    if (is_default) {
      cleanup_free char *p = cg_path(h, "berth", false);
      owned = dir_of(h, p);
    }
    bool bare = hs.mode == BR_CG_HYBRID && h->ctrl[0] != 0 && !v1_wanted(h->ctrl, v1ctrl);
    if (bare && !(how & LEAN_VIEW) && !(defer && has_token(h->ctrl, "devices", ','))) {
      free(owned);
      free(dir);
      continue;
    }
    if (make_dirs(h, dir, owned, v2needs, &made, err) < 0) {
      free(dir);
      /* A bare directory limits nothing: without it the mount shows the runtime's cgroup. */
      if (rootless && (!limits || bare) && is_permission_error(*err)) {
        /* Without delegation an unprivileged user cannot create cgroups; with no limit
         * asked the container runs in the caller's cgroups. */
        br_error_release(err);
        free(owned);
        continue;
      }
      if (rootless && is_permission_error(*err))
        br_error_wrap(err,
                      "rootless: the cgroup hierarchy `%s` is not delegated to uid %d, so "
                      "resource limits cannot be applied (run under a delegated cgroup, e.g. "
                      "`systemd-run --user --scope -p Delegate=yes`, or drop the limits)",
                      h->mnt, (int)getuid());
      failed_owned = owned;
      goto fail;
    }
    own_dirs[cg->n] = dir_of(h, h->own);
    dirs_add(cg, h->ctrl, dir, owned, bare);
  }

  if (cg->n > 0 && br_cg_apply_resources(cg, res, !rootless, err) < 0) {
    if (rootless && is_permission_error(*err))
      br_error_wrap(err, "rootless: the cgroup is not delegated to uid %d", (int)getuid());
    goto fail;
  }

  if (pid > 0) {
    for (size_t i = 0; i < cg->n; i++) {
      if (cg->dirs[i].bare)
        continue;
      if (write_pid(cg->dirs[i].path, pid, err) < 0) {
        br_error_wrap(err, "cgroups: add process %d", (int)pid);
        /* Leave the process where it came from, so the directories can go. */
        for (size_t j = 0; j < i; j++)
          (void)write_pid(own_dirs[j], pid, NULL);
        goto fail;
      }
    }
  }

  if (devprog >= 0)
    close(devprog);
  if (defer) {
    struct json_object *list;
    if (json_object_object_get_ex(res, "devices", &list))
      cg->pending_devices = json_object_get(list);
  }
  created_forget(&made);
  for (size_t i = 0; i < hs.n; i++)
    free(own_dirs[i]);
  free(own_dirs);
  hosts_free(&hs);
  *out = cg;
  return 0;

fail:
  if (devprog >= 0)
    close(devprog);
  created_rollback(&made);
  free(failed_owned);
  br_cgroup_free(cg);
  for (size_t i = 0; i < hs.n; i++)
    free(own_dirs[i]);
  free(own_dirs);
  hosts_free(&hs);
  return -1;
}

/* ---- serialisation ---------------------------------------------------------------------- */

static const char *mode_name(enum br_cg_mode m)
{
  return m == BR_CG_V1 ? "v1" : m == BR_CG_V2 ? "v2" : "hybrid";
}

char *br_cgroup_serialize(const struct br_cgroup *cg)
{
  struct json_object *o = json_object_new_object(), *dirs = json_object_new_array();
  char *s;
  json_object_object_add(o, "mode", json_object_new_string(mode_name(cg->mode)));
  for (size_t i = 0; i < cg->n; i++) {
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "ctrl", json_object_new_string(cg->dirs[i].ctrl));
    json_object_object_add(d, "path", json_object_new_string(cg->dirs[i].path));
    if (cg->dirs[i].owned)
      json_object_object_add(d, "owned", json_object_new_string(cg->dirs[i].owned));
    if (cg->dirs[i].bare)
      json_object_object_add(d, "bare", json_object_new_boolean(1));
    json_object_array_add(dirs, d);
  }
  json_object_object_add(o, "dirs", dirs);
  s = strdup(
      json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return s;
}

static const char *str_member(struct json_object *o, const char *key)
{
  struct json_object *v;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

int br_cgroup_load(const char *serialized, struct br_cgroup **out, br_error_t *err)
{
  struct json_object *o, *dirs;
  struct br_cgroup *cg;
  const char *mode;
  *out = NULL;
  o = serialized ? json_tokener_parse(serialized) : NULL;
  if (o == NULL || !json_object_is_type(o, json_type_object))
    goto bad;
  mode = str_member(o, "mode");
  if (mode == NULL || !json_object_object_get_ex(o, "dirs", &dirs) ||
      !json_object_is_type(dirs, json_type_array))
    goto bad;
  cg = calloc(1, sizeof(*cg));
  if (cg == NULL)
    abort();
  cg->mode = strcmp(mode, "v1") == 0 ? BR_CG_V1 : strcmp(mode, "v2") == 0 ? BR_CG_V2 : BR_CG_HYBRID;
  for (size_t i = 0; i < json_object_array_length(dirs); i++) {
    struct json_object *d = json_object_array_get_idx(dirs, i);
    const char *ctrl = str_member(d, "ctrl"), *path = str_member(d, "path");
    const char *owned = str_member(d, "owned");
    struct json_object *b;
    bool bare = json_object_object_get_ex(d, "bare", &b) && json_object_get_boolean(b);
    /* The state file is ours, but a damaged one must not make delete rmdir elsewhere. */
    if (ctrl == NULL || path == NULL || path[0] != '/' || strstr(path, "/..") != NULL) {
      br_cgroup_free(cg);
      goto bad;
    }
    dirs_add(cg, ctrl, strdup(path), owned ? strdup(owned) : NULL, bare);
  }
  json_object_put(o);
  *out = cg;
  return 0;
bad:
  if (o)
    json_object_put(o);
  return br_error_make(err, 0, "cgroups: malformed cgroup record `%s` in the state file",
                       serialized ? serialized : "(null)");
}

/* ---- processes -------------------------------------------------------------------------- */

int br_cgroup_enter(struct br_cgroup *cg, pid_t pid, br_error_t *err)
{
  return br_cgroup_enter_v1(cg, pid, false, err);
}

int br_cgroup_enter_v1(struct br_cgroup *cg, pid_t pid, bool v1_only, br_error_t *err)
{
  for (size_t i = 0; i < cg->n; i++) {
    /* An exec'd process joins what the container's init joined, and no bare directory. */
    if ((v1_only && cg->dirs[i].ctrl[0] == 0) || cg->dirs[i].bare)
      continue;
    if (write_pid(cg->dirs[i].path, pid, err) < 0)
      return br_error_wrap(err, "cgroups: add process %d", (int)pid);
  }
  return 0;
}

/* The directory whose cgroup.procs lists every process: the v2 one on hybrid hosts. */
static const char *procs_dir(const struct br_cgroup *cg)
{
  const char *d = br_cg_v2_dir(cg);
  if (d == NULL)
    d = br_cg_dir_for(cg, "pids");
  for (size_t i = 0; d == NULL && i < cg->n; i++)
    if (!cg->dirs[i].bare)
      d = cg->dirs[i].path;
  return d;
}

int br_cgroup_pids(struct br_cgroup *cg, pid_t **pids, size_t *n, br_error_t *err)
{
  const char *dir = procs_dir(cg);
  char path[PATH_MAX];
  char *buf, *p;
  size_t cap = 0;
  int saved = 0;

  *pids = NULL;
  *n = 0;
  if (dir == NULL)
    return 0;
  snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
  buf = read_all(path, &saved);
  if (buf == NULL) {
    if (saved == ENOENT)
      return 0;
    return br_error_make(err, saved, "cgroups: read `%s`", path);
  }
  for (p = buf; *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p)
      break;
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      *pids = realloc(*pids, cap * sizeof(pid_t));
      if (*pids == NULL)
        abort();
    }
    (*pids)[(*n)++] = (pid_t)v;
    p = end;
    while (*p == '\n')
      p++;
  }
  free(buf);
  return 0;
}

static bool pid_in(const pid_t *list, size_t n, pid_t pid)
{
  for (size_t i = 0; i < n; i++)
    if (list[i] == pid)
      return true;
  return false;
}

/* kill() of every listed process, again for processes forked meanwhile, until a pass finds
 * no new one. */
static int signal_loop(struct br_cgroup *cg, int sig, br_error_t *err)
{
  pid_t *seen = NULL;
  size_t nseen = 0, cap = 0;
  long long deadline = now_ms() + SETTLE_TIMEOUT_MS;
  int ret = 0;
  for (;;) {
    pid_t *pids;
    size_t n;
    bool fresh = false;
    if (br_cgroup_pids(cg, &pids, &n, err) < 0) {
      ret = -1;
      break;
    }
    for (size_t i = 0; i < n; i++) {
      if (pid_in(seen, nseen, pids[i]))
        continue;
      fresh = true;
      if (kill(pids[i], sig) < 0 && errno != ESRCH) {
        ret = br_error_make(err, errno, "cgroups: send signal %d to %d", sig, (int)pids[i]);
        break;
      }
      if (nseen == cap) {
        cap = cap ? cap * 2 : 64;
        seen = realloc(seen, cap * sizeof(pid_t));
        if (seen == NULL)
          abort();
      }
      seen[nseen++] = pids[i];
    }
    free(pids);
    if (ret < 0 || !fresh)
      break;
    if (now_ms() > deadline) {
      ret = br_error_make(err, 0, "cgroups: new processes kept appearing while sending signal %d",
                          sig);
      break;
    }
  }
  free(seen);
  return ret;
}

int br_cgroup_kill(struct br_cgroup *cg, int sig, br_error_t *err)
{
  const char *v2 = br_cg_v2_dir(cg), *freezer;
  int ret;
  if (cg->n == 0)
    return 0;
  /* cgroup.kill (5.14+) kills the whole cgroup at once, forks in flight included; on a
   * hybrid host the v2 tree has it too. It only sends SIGKILL. */
  if (sig == SIGKILL && v2 != NULL && br_cg_has_file(v2, "cgroup.kill")) {
    if (br_cg_write(v2, "cgroup.kill", "1", err) < 0) {
      if ((*err)->status == ENOENT) {
        br_error_release(err);
        return 0;
      }
      return br_error_wrap(err, "cgroups: kill");
    }
    return 0;
  }
  /* Elsewhere a fork bomb could outrun the loop: frozen processes cannot fork, and they
   * die as soon as they are thawed. */
  freezer = sig == SIGKILL ? br_cg_dir_for(cg, "freezer") : NULL;
  if (freezer != NULL && br_cgroup_freeze(cg, true, NULL) < 0)
    freezer = NULL;
  ret = signal_loop(cg, sig, err);
  if (freezer != NULL)
    (void)br_cgroup_freeze(cg, false, NULL);
  return ret;
}

/* ---- freezer ---------------------------------------------------------------------------- */

static int freeze_v1(const char *dir, bool frozen, br_error_t *err)
{
  const char *want = frozen ? "FROZEN" : "THAWED";
  long long deadline = now_ms() + SETTLE_TIMEOUT_MS;
  unsigned round = 0;
  for (;;) {
    char state[32];
    /* Writing again nudges tasks that were busy in the kernel at the first write. */
    if (br_cg_write(dir, "freezer.state", want, err) < 0 ||
        br_cg_read(dir, "freezer.state", state, sizeof(state), err) < 0)
      return br_error_wrap(err, "cgroups: %s", frozen ? "freeze" : "thaw");
    state[strcspn(state, "\n")] = 0;
    if (strcmp(state, want) == 0)
      return 0;
    if (now_ms() > deadline) {
      if (frozen)
        (void)br_cg_write(dir, "freezer.state", "THAWED", NULL);
      return br_error_make(err, 0,
                           "cgroups: `%s` still %s after %d ms (a process in "
                           "uninterruptible sleep?)",
                           dir, state, SETTLE_TIMEOUT_MS);
    }
    backoff(&round);
  }
}

static int freeze_v2(const char *dir, bool frozen, br_error_t *err)
{
  long long deadline = now_ms() + SETTLE_TIMEOUT_MS;
  unsigned round = 0;
  if (br_cg_write(dir, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
    return br_error_wrap(err, "cgroups: %s", frozen ? "freeze" : "thaw");
  for (;;) {
    char events[256], *f;
    if (br_cg_read(dir, "cgroup.events", events, sizeof(events), err) < 0)
      return br_error_wrap(err, "cgroups: %s", frozen ? "freeze" : "thaw");
    f = strstr(events, "frozen ");
    if (f == NULL || (f[7] == '1') == frozen)
      return 0;
    if (now_ms() > deadline) {
      if (frozen)
        (void)br_cg_write(dir, "cgroup.freeze", "0", NULL);
      return br_error_make(err, 0, "cgroups: `%s` did not %s within %d ms", dir,
                           frozen ? "freeze" : "thaw", SETTLE_TIMEOUT_MS);
    }
    backoff(&round);
  }
}

int br_cgroup_freeze(struct br_cgroup *cg, bool frozen, br_error_t *err)
{
  const char *v1 = NULL, *v2 = br_cg_v2_dir(cg);
  for (size_t i = 0; i < cg->n; i++)
    if (cg->dirs[i].ctrl[0] != 0 && !cg->dirs[i].bare &&
        has_token(cg->dirs[i].ctrl, "freezer", ','))
      v1 = cg->dirs[i].path;
  /* The v1 freezer is what v1 tools look at; the v2 one (core, no controller needed) is the
   * only one on a pure v2 host. */
  if (v1 != NULL)
    return freeze_v1(v1, frozen, err);
  if (v2 != NULL && br_cg_has_file(v2, "cgroup.freeze"))
    return freeze_v2(v2, frozen, err);
  return br_error_make(err, ENOTSUP, "cgroups: %s: no freezer", frozen ? "freeze" : "thaw");
}

static bool is_frozen(struct br_cgroup *cg)
{
  char buf[256];
  for (size_t i = 0; i < cg->n; i++) {
    const char *d = cg->dirs[i].path;
    if (cg->dirs[i].bare)
      continue;
    if (cg->dirs[i].ctrl[0] != 0 && has_token(cg->dirs[i].ctrl, "freezer", ',')) {
      if (br_cg_read(d, "freezer.state", buf, sizeof(buf), NULL) >= 0 &&
          strncmp(buf, "THAWED", 6) != 0)
        return true;
    } else if (cg->dirs[i].ctrl[0] == 0) {
      if (br_cg_read(d, "cgroup.freeze", buf, sizeof(buf), NULL) >= 0 && buf[0] == '1')
        return true;
    }
  }
  return false;
}

/* ---- OOM -------------------------------------------------------------------------------- */

int br_cgroup_oom_killed(struct br_cgroup *cg, br_error_t *err)
{
  const char *dir = br_cg_dir_for(cg, "memory");
  const char *file;
  char buf[1024], *f;
  if (dir == NULL)
    return 0;
  /* v1 gained the oom_kill counter in 4.13; v2 has it in memory.events. */
  file = dir == br_cg_v2_dir(cg) ? "memory.events" : "memory.oom_control";
  if (br_cg_read(dir, file, buf, sizeof(buf), err) < 0)
    return br_error_wrap(err, "cgroups: OOM status");
  for (f = buf; (f = strstr(f, "oom_kill ")) != NULL; f++) {
    if (f == buf || f[-1] == '\n')
      return strtoull(f + 9, NULL, 10) > 0 ? 1 : 0;
  }
  return 0;
}

/* ---- removal ---------------------------------------------------------------------------- */

/* rmdir of a cgroup and of any child cgroup the container made (with a cgroup namespace it
 * may). Cgroup directories hold only kernel files, which rmdir ignores. */
static int remove_tree(const char *dir, long long deadline, br_error_t *err)
{
  unsigned round = 0;
  for (;;) {
    DIR *d;
    struct dirent *e;
    if (rmdir(dir) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY && errno != ENOTEMPTY)
      return br_error_make(err, errno, "cgroups: remove `%s`", dir);
    d = opendir(dir);
    if (d != NULL) {
      bool had_child = false;
      while ((e = readdir(d)) != NULL) {
        char *child;
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        had_child = true;
        child = xasprintf("%s/%s", dir, e->d_name);
        if (remove_tree(child, deadline, err) < 0) {
          free(child);
          closedir(d);
          return -1;
        }
        free(child);
      }
      closedir(d);
      if (had_child)
        continue;
    }
    /* EBUSY with no child: processes are still in it (exiting, or alive without force). */
    if (now_ms() > deadline)
      return br_error_make(err, EBUSY, "cgroups: remove `%s`: processes are still in it", dir);
    backoff(&round);
  }
}

int br_cgroup_destroy(struct br_cgroup *cg, bool force, br_error_t *err)
{
  long long deadline;
  int ret = 0;
  if (cg == NULL || cg->n == 0)
    return 0;
  if (force) {
    br_error_t kerr = NULL;
    /* Best effort: a cgroup already gone has nothing to kill, and what cannot be killed
     * shows up below as EBUSY with the directory named. */
    (void)br_cgroup_kill(cg, SIGKILL, &kerr);
    br_error_release(&kerr);
    /* Killed processes die only once thawed on v1. */
    if (is_frozen(cg))
      (void)br_cgroup_freeze(cg, false, NULL);
  }
  deadline = now_ms() + (force ? SETTLE_TIMEOUT_MS : DRAIN_TIMEOUT_MS);
  for (size_t i = 0; i < cg->n; i++) {
    br_error_t derr = NULL;
    if (remove_tree(cg->dirs[i].path, deadline, &derr) < 0) {
      if (ret == 0) {
        br_error_release(err);
        if (err)
          *err = derr;
        else
          br_error_release(&derr);
        ret = -1;
      } else {
        br_error_release(&derr);
      }
      continue;
    }
    /* The shared "berth" parent (dirs[i].owned) is kept: removing it when empty raced a
     * concurrent create between its mkdir of the parent and of its own directory (ENOENT,
     * or ENODEV reading the parent's cpuset.cpus while it died). runc keeps its parents
     * too; an empty cgroup directory costs nothing. */
  }
  return ret;
}

/* clone3's argument, declared here: <linux/sched.h> clashes with glibc's <sched.h>. */
struct br_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

pid_t br_cgroup_clone(const struct br_cgroup *cg, unsigned long flags, bool *in_v2)
{
  const char *v2 = br_cgroup_v2_path(cg);
  *in_v2 = false;
  if (v2 != NULL) {
    int cfd = open(v2, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cfd >= 0) {
      struct br_clone_args a = {.flags = (uint64_t)flags | CLONE_INTO_CGROUP,
                                .exit_signal = SIGCHLD,
                                .cgroup = (uint64_t)cfd};
      pid_t pid = syscall(SYS_clone3, &a, sizeof(a));
      if (pid == 0)
        return 0; /* the child's copy of cfd is close-on-exec */
      close(cfd);
      if (pid > 0) {
        *in_v2 = true;
        return pid;
      }
    }
  }
  return syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}
