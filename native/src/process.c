#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "seccomp.h"
#include "spec.h"
#include "utils.h"

/* Every capability, named once: its number comes from the kernel's header, so the table
 * cannot drift from it, and the one table answers name -> number and number -> name. */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif
#define CAP(n)                                                                                     \
  {                                                                                                \
    "CAP_" #n, CAP_##n                                                                             \
  }
static const struct {
  const char *name;
  int value;
} caps[] = {
    CAP(CHOWN),
    CAP(DAC_OVERRIDE),
    CAP(DAC_READ_SEARCH),
    CAP(FOWNER),
    CAP(FSETID),
    CAP(KILL),
    CAP(SETGID),
    CAP(SETUID),
    CAP(SETPCAP),
    CAP(LINUX_IMMUTABLE),
    CAP(NET_BIND_SERVICE),
    CAP(NET_BROADCAST),
    CAP(NET_ADMIN),
    CAP(NET_RAW),
    CAP(IPC_LOCK),
    CAP(IPC_OWNER),
    CAP(SYS_MODULE),
    CAP(SYS_RAWIO),
    CAP(SYS_CHROOT),
    CAP(SYS_PTRACE),
    CAP(SYS_PACCT),
    CAP(SYS_ADMIN),
    CAP(SYS_BOOT),
    CAP(SYS_NICE),
    CAP(SYS_RESOURCE),
    CAP(SYS_TIME),
    CAP(SYS_TTY_CONFIG),
    CAP(MKNOD),
    CAP(LEASE),
    CAP(AUDIT_WRITE),
    CAP(AUDIT_CONTROL),
    CAP(SETFCAP),
    CAP(MAC_OVERRIDE),
    CAP(MAC_ADMIN),
    CAP(SYSLOG),
    CAP(WAKE_ALARM),
    CAP(BLOCK_SUSPEND),
    CAP(AUDIT_READ),
    CAP(PERFMON),
    CAP(BPF),
    CAP(CHECKPOINT_RESTORE),
};
#undef CAP

static const char *cap_name(int c)
{
  for (size_t i = 0; i < BR_ARRAY_SIZE(caps); i++)
    if (caps[i].value == c)
      return caps[i].name;
  return "?";
}

int br_cap_from_name(const char *name)
{
  size_t i;
  for (i = 0; name && i < BR_ARRAY_SIZE(caps); i++)
    if (strcmp(name, caps[i].name) == 0)
      return caps[i].value;
  return -1;
}

static int last_cap(void)
{
  static int last = -1;
  char buf[16];
  int fd;
  ssize_t n;
  if (last >= 0)
    return last;
  fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0) {
      buf[n] = '\0';
      last = atoi(buf);
      return last;
    }
  }
  last = CAP_CHECKPOINT_RESTORE;
  return last;
}

/* Unknown names are skipped, as runc does, so one spec serves older and newer kernels. */
static int cap_set(struct json_object *caps, const char *key, unsigned long long *mask,
                   br_error_t *err)
{
  struct json_object *arr = br_json_get(caps, key);
  size_t i, n = arr ? json_object_array_length(arr) : 0;
  *mask = 0;
  for (i = 0; i < n; i++) {
    const char *name = json_object_get_string(json_object_array_get_idx(arr, i));
    int c = br_cap_from_name(name);
    if (c < 0) {
      if (name && strncmp(name, "CAP_", 4) != 0)
        return br_error_make(err, 0,
                             "config.json: process.capabilities.%s[%zu]: unknown capability \"%s\"",
                             key, i, name);
      continue;
    }
    if (c <= last_cap())
      *mask |= 1ULL << c;
  }
  return 0;
}

/* Needs CAP_SETPCAP, so it comes before the switch to the process's user. */
static int drop_bounding(struct json_object *process, br_error_t *err)
{
  unsigned long long bnd;
  int c, last = last_cap();
  if (br_json_get(process, "capabilities") == NULL)
    return 0;
  if (cap_set(br_json_get(process, "capabilities"), "bounding", &bnd, err) < 0)
    return -1;
  for (c = 0; c <= last; c++)
    if (!(bnd & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      return br_error_make(err, errno, "drop capability %s from the bounding set", cap_name(c));
  return 0;
}

static int apply_caps(struct json_object *process, br_error_t *err)
{
  struct json_object *caps = br_json_get(process, "capabilities");
  unsigned long long bnd, eff, inh, prm, amb;
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  int c, last = last_cap();
  if (cap_set(caps, "bounding", &bnd, err) < 0 || cap_set(caps, "effective", &eff, err) < 0 ||
      cap_set(caps, "inheritable", &inh, err) < 0 || cap_set(caps, "permitted", &prm, err) < 0 ||
      cap_set(caps, "ambient", &amb, err) < 0)
    return -1;
  (void)bnd;
  data[0].effective = eff;
  data[1].effective = eff >> 32;
  data[0].permitted = prm;
  data[1].permitted = prm >> 32;
  data[0].inheritable = inh;
  data[1].inheritable = inh >> 32;
  if (syscall(SYS_capset, &hdr, data) < 0)
    return br_error_make(err, errno, "config.json: process.capabilities: capset");
  for (c = 0; c <= last; c++)
    if ((amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) {
      /* An ambient capability must also be permitted and inheritable; runc ignores those
       * that are not. */
      if (errno != EPERM)
        return br_error_make(err, errno, "raise ambient capability %s", cap_name(c));
    }
  return 0;
}

static const struct {
  const char *name;
  int res;
} rlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

int br_process_rlimits(struct json_object *process, br_error_t *err)
{
  struct json_object *arr = br_json_get(process, "rlimits");
  size_t i, j, n = arr ? json_object_array_length(arr) : 0;
  for (i = 0; i < n; i++) {
    struct json_object *r = json_object_array_get_idx(arr, i);
    const char *type = br_json_str(r, "type");
    struct rlimit rl;
    for (j = 0; type && j < BR_ARRAY_SIZE(rlimits); j++)
      if (strcmp(type, rlimits[j].name) == 0)
        break;
    if (type == NULL || j == BR_ARRAY_SIZE(rlimits))
      return br_error_make(err, 0, "config.json: process.rlimits[%zu].type: unknown rlimit \"%s\"",
                           i, type ? type : "");
    rl.rlim_cur = json_object_get_uint64(br_json_get(r, "soft"));
    rl.rlim_max = json_object_get_uint64(br_json_get(r, "hard"));
    if (setrlimit(rlimits[j].res, &rl) < 0)
      return br_error_make(err, errno, "config.json: process.rlimits[%zu]: setrlimit %s", i, type);
  }
  return 0;
}

int br_process_oom_score(struct json_object *process, br_error_t *err)
{
  struct json_object *v = br_json_get(process, "oomScoreAdj");
  char buf[16];
  if (v == NULL)
    return 0;
  snprintf(buf, sizeof(buf), "%d", json_object_get_int(v));
  if (br_write_file("/proc/self/oom_score_adj", buf, strlen(buf), err) < 0)
    return br_error_wrap(err, "config.json: process.oomScoreAdj");
  return 0;
}

int br_process_chdir(struct json_object *process, br_error_t *err)
{
  const char *cwd = br_json_str(process, "cwd");
  if (cwd == NULL)
    cwd = "/";
  if (chdir(cwd) < 0)
    return br_error_make(err, errno, "config.json: process.cwd: `%s`", cwd);
  return 0;
}

static char **string_array(struct json_object *arr)
{
  size_t i, n = arr ? json_object_array_length(arr) : 0;
  char **v = calloc(n + 1, sizeof(char *));
  if (v == NULL)
    abort();
  for (i = 0; i < n; i++)
    v[i] = br_xstrdup(json_object_get_string(json_object_array_get_idx(arr, i)));
  return v;
}

static void free_strv(char **v)
{
  size_t i;
  for (i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

void br_exec_free(struct br_exec *ex)
{
  free(ex->path);
  free_strv(ex->argv);
  free_strv(ex->envp);
  memset(ex, 0, sizeof(*ex));
}

/* 0 when runnable; ENOENT, EACCES or EISDIR otherwise. */
static int check_exec(const char *path)
{
  struct stat st;
  if (stat(path, &st) < 0)
    return errno == ENOTDIR ? ENOENT : errno;
  if (S_ISDIR(st.st_mode))
    return EISDIR;
  if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
    return EACCES;
  return 0;
}

int br_process_resolve(struct json_object *process, struct br_exec *ex, br_error_t *err)
{
  const char *path_env = NULL, *arg0;
  size_t i;
  int e;
  ex->argv = string_array(br_json_get(process, "args"));
  ex->envp = string_array(br_json_get(process, "env"));
  arg0 = ex->argv[0];
  if (arg0 == NULL || *arg0 == '\0')
    return br_error_make(err, ENOENT, "exec: \"\": executable file not found in $PATH");
  for (i = 0; ex->envp[i]; i++)
    if (strncmp(ex->envp[i], "PATH=", 5) == 0)
      path_env = ex->envp[i] + 5;
  if (strchr(arg0, '/')) {
    e = check_exec(arg0);
    if (e != 0) {
      br_error_make(err, 0, "exec: \"%s\": %s", arg0,
                    e == EISDIR   ? "is a directory"
                    : e == ENOENT ? "no such file or directory"
                                  : "permission denied");
      (*err)->status = e == EISDIR ? EACCES : e;
      return -1;
    }
    ex->path = br_xstrdup(arg0);
    return 0;
  }
  if (path_env == NULL)
    path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  {
    const char *p = path_env;
    int first_err = ENOENT;
    while (*p) {
      const char *end = strchr(p, ':');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      char cand[PATH_MAX];
      snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, len ? p : ".", arg0);
      e = check_exec(cand);
      if (e == 0) {
        ex->path = br_xstrdup(cand);
        return 0;
      }
      if (e == EACCES && first_err == ENOENT)
        first_err = EACCES;
      p += len;
      if (*p == ':')
        p++;
    }
    if (first_err == EACCES) {
      br_error_make(err, 0, "exec: \"%s\": permission denied", arg0);
      (*err)->status = EACCES;
      return -1;
    }
  }
  br_error_make(err, 0, "exec: \"%s\": executable file not found in $PATH", arg0);
  (*err)->status = ENOENT;
  return -1;
}

int br_process_finalize(struct json_object *process, struct br_seccomp *seccomp, bool setgroups_ok,
                        br_error_t *err)
{
  struct json_object *user = br_json_get(process, "user"), *v;
  uid_t uid = 0;
  gid_t gid = 0;
  bool nnp = br_json_bool(process, "noNewPrivileges");
  if ((v = br_json_get(user, "uid")))
    uid = json_object_get_int64(v);
  if ((v = br_json_get(user, "gid")))
    gid = json_object_get_int64(v);
  /* The runtime works with umask 0 (device nodes must be 0666); the process gets its own,
   * or 022 like runc. */
  umask((v = br_json_get(user, "umask")) ? json_object_get_int(v) : 022);

  /* Without no_new_privs only a privileged process may load a filter: load it while the
   * capabilities are still there. */
  if (!nnp && seccomp && br_seccomp_load(seccomp, err) < 0)
    return br_error_wrap(err, "config.json: linux.seccomp");
  if (drop_bounding(process, err) < 0)
    return -1;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return br_error_make(err, errno, "prctl PR_SET_KEEPCAPS");
  if (setgroups_ok) {
    struct json_object *ag = br_json_get(user, "additionalGids");
    size_t i, n = ag ? json_object_array_length(ag) : 0;
    gid_t groups[256];
    if (n > BR_ARRAY_SIZE(groups))
      return br_error_make(err, 0, "config.json: process.user.additionalGids: too many groups");
    for (i = 0; i < n; i++)
      groups[i] = json_object_get_int64(json_object_array_get_idx(ag, i));
    /* A user namespace with setgroups denied keeps what it has; that is only an error when
     * groups were asked for. */
    if (setgroups(n, groups) < 0 && (errno != EPERM || n > 0))
      return br_error_make(err, errno, "config.json: process.user.additionalGids: setgroups");
  }
  if (setresgid(gid, gid, gid) < 0)
    return br_error_make(err, errno, "config.json: process.user.gid: setgid %u", gid);
  if (setresuid(uid, uid, uid) < 0)
    return br_error_make(err, errno, "config.json: process.user.uid: setuid %u", uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return br_error_make(err, errno, "prctl PR_SET_KEEPCAPS");
  /* No capabilities object: the process keeps what the user has (runc does the same). */
  if (br_json_get(process, "capabilities") && apply_caps(process, err) < 0)
    return -1;
  if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return br_error_make(err, errno, "config.json: process.noNewPrivileges: prctl");
  if (nnp && seccomp && br_seccomp_load(seccomp, err) < 0)
    return br_error_wrap(err, "config.json: linux.seccomp");
  return 0;
}

void br_close_fds(int preserve)
{
  unsigned first = 3 + (preserve > 0 ? preserve : 0);
  const char *lf = getenv("LISTEN_FDS");
  /* socket activation passes fds 3..3+LISTEN_FDS-1: they are the container's. Everything
   * else is marked close-on-exec rather than closed, so the fds still needed before the
   * exec (the sync socket, the fifo) keep working and vanish with it. */
  if (lf)
    first += atoi(lf);
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  for (int fd = first; fd < 65536; fd++)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}
