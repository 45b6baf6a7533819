/* `exec`: a new process inside a running container.
 *
 * It joins the container's namespaces by /proc/PID/ns (user first; pid before the
 * fork, since setns on a pid namespace only moves children; mount last), its cgroup, and
 * takes the container's capabilities, no_new_privs, seccomp and env from its config.json
 * unless the process JSON says otherwise.
 */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "process.h"
#include "seccomp.h"
#include "spec.h"
#include "state.h"
#include "sync.h"
#include "terminal.h"
#include "utils.h"

static const struct {
  const char *name;
  int type;
} ns_files[] = {
    {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},   {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID},
    {"mnt", CLONE_NEWNS},
};

struct exec_ctx {
  int fds[8];
  int types[8];
  int n;
  bool userns;
  struct json_object *process;
  struct br_seccomp *seccomp;
  int sync_fd;
  int preserve_fds;
  bool setgroups_ok;
  bool userns_joined; /* rootless: the parent entered the user namespace already */
  sigset_t mask;
};

static struct json_object *build_process(struct json_object *base, const struct br_exec_opts *o,
                                         br_error_t *err)
{
  /* json_object_deep_copy refuses a destination that is not NULL: an uninitialised one only
   * worked where the stack happened to be zero (a fresh CLI), not in the monitor's probes. */
  struct json_object *p = NULL;
  size_t i;
  if (o->process_file) {
    p = json_object_from_file(o->process_file);
    if (p == NULL) {
      br_error_make(err, 0, "--process `%s`: %s", o->process_file, json_util_get_last_err());
      return NULL;
    }
    if (br_json_len(p, "args") == 0) {
      json_object_put(p);
      br_error_make(err, 0, "--process `%s`: args: must not be empty", o->process_file);
      return NULL;
    }
    return p;
  }
  /* runc's way: the container's process, with args, env, cwd, user and tty from the command
   * line. */
  if (base) {
    if (json_object_deep_copy(base, &p, NULL) < 0 || p == NULL) {
      br_error_make(err, 0, "cannot copy the container's process: %s", json_util_get_last_err());
      return NULL;
    }
  } else
    p = json_object_new_object();
  {
    struct json_object *args = json_object_new_array();
    for (i = 0; i < o->argc; i++)
      json_object_array_add(args, json_object_new_string(o->argv[i]));
    json_object_object_add(p, "args", args);
  }
  json_object_object_add(p, "terminal", json_object_new_boolean(o->tty));
  if (o->cwd)
    json_object_object_add(p, "cwd", json_object_new_string(o->cwd));
  if (o->nenv) {
    struct json_object *env = br_json_get(p, "env");
    if (env == NULL) {
      env = json_object_new_array();
      json_object_object_add(p, "env", env);
    }
    for (i = 0; i < o->nenv; i++) {
      const char *eq = strchr(o->env[i], '=');
      size_t klen = eq ? (size_t)(eq - o->env[i]) : strlen(o->env[i]);
      size_t k, n = json_object_array_length(env);
      for (k = 0; k < n; k++) {
        const char *cur = json_object_get_string(json_object_array_get_idx(env, k));
        if (strncmp(cur, o->env[i], klen) == 0 && cur[klen] == '=') {
          json_object_array_del_idx(env, k, 1);
          break;
        }
      }
      json_object_array_add(env, json_object_new_string(o->env[i]));
    }
  }
  if (o->user || o->additional_gids) {
    struct json_object *user = json_object_new_object();
    if (o->user) {
      unsigned long uid, gid = 0;
      char *end;
      uid = strtoul(o->user, &end, 10);
      if (*end == ':')
        gid = strtoul(end + 1, &end, 10);
      if (*end != '\0' || end == o->user) {
        json_object_put(user);
        json_object_put(p);
        br_error_make(err, 0, "--user `%s`: expected UID[:GID]", o->user);
        return NULL;
      }
      json_object_object_add(user, "uid", json_object_new_int64(uid));
      json_object_object_add(user, "gid", json_object_new_int64(gid));
    } else if (br_json_get(p, "user")) {
      json_object_put(user);
      user = json_object_get(br_json_get(p, "user"));
    }
    if (o->additional_gids) {
      struct json_object *g = json_object_new_array();
      cleanup_free char *s = br_xstrdup(o->additional_gids);
      char *tok, *save = NULL;
      for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_object_array_add(g, json_object_new_int64(strtoul(tok, NULL, 10)));
      json_object_object_add(user, "additionalGids", g);
    }
    json_object_object_add(p, "user", user);
  }
  return p;
}

/* The last "ROWS COLS" line of what the control fd (see br_exec_opts) has, waiting at most
 * `timeout_ms`; false when none came. Lines are short and written whole; several queued
 * (a resize right after the start) come in one read, and only the latest size matters. */
static bool read_size(int fd, int timeout_ms, unsigned *rows, unsigned *cols)
{
  struct pollfd p = {.fd = fd, .events = POLLIN};
  char buf[4096], *line, *save = NULL;
  bool found = false;
  ssize_t n;
  if (poll(&p, 1, timeout_ms) <= 0)
    return false;
  n = read(fd, buf, sizeof(buf) - 1);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
    if (sscanf(line, "%u %u", rows, cols) == 2)
      found = true;
  return found;
}

static __attribute__((noreturn)) void exec_child(struct exec_ctx *x)
{
  br_error_t err = NULL;
  struct br_exec ex = {0};
  int i, t;
  t = br_sync_recv(x->sync_fd, NULL, &err);
  if (t != BR_SYNC_GO)
    _exit(1);
  for (i = 0; i < x->n; i++) {
    if (x->types[i] == CLONE_NEWPID || (x->types[i] == CLONE_NEWUSER && x->userns_joined))
      continue;
    if (setns(x->fds[i], x->types[i]) < 0) {
      br_error_make(&err, errno, "join the container's namespace (type %#x)", x->types[i]);
      goto fail;
    }
    if (x->types[i] == CLONE_NEWUSER && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
      br_error_make(&err, errno, "become root in the container's user namespace");
      goto fail;
    }
  }
  if (br_json_bool(x->process, "terminal")) {
    int master = br_terminal_setup(&err);
    struct json_object *size = br_json_get(x->process, "consoleSize");
    if (master < 0)
      goto fail;
    br_terminal_set_size(master, json_object_get_int(br_json_get(size, "height")),
                         json_object_get_int(br_json_get(size, "width")));
    if (br_send_fd(x->sync_fd, master, &(struct br_sync_msg){.type = BR_SYNC_PTY}, sizeof(int) * 2,
                   &err) < 0)
      goto fail;
    close(master);
  }
  if (br_process_rlimits(x->process, &err) < 0 || br_process_oom_score(x->process, &err) < 0 ||
      br_process_chdir(x->process, &err) < 0)
    goto fail;
  if (br_process_resolve(x->process, &ex, &err) < 0)
    goto fail;
  br_close_fds(x->preserve_fds);
  if (br_process_finalize(x->process, x->seccomp, x->setgroups_ok, &err) < 0)
    goto fail;
  sigprocmask(SIG_SETMASK, &x->mask, NULL);
  execve(ex.path, ex.argv, ex.envp);
  {
    int e = errno;
    br_error_make(&err, 0, "exec: \"%s\": %s", ex.argv[0], strerror(e));
    err->status = e == ENOENT ? ENOENT : EACCES;
  }
fail:
  br_sync_send(x->sync_fd, BR_SYNC_ERROR, err);
  _exit(err->status == ENOENT ? 127 : err->status == EACCES ? 126 : 1);
}

int br_cmd_exec(const struct br_global *g, const struct br_exec_opts *o, int *exit_code,
                br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  struct json_object *spec = NULL;
  struct br_cgroup *cg = NULL;
  struct exec_ctx x = {.n = 0, .sync_fd = -1, .preserve_fds = o->preserve_fds};
  const char *status, *bundle;
  int sv[2] = {-1, -1}, t, master = -1, r = -1;
  cleanup_close int own_pidns = -1;
  size_t i;
  pid_t pid = -1;
  bool in_v2 = false;
  sigset_t all;

  *exit_code = 1;
  if (br_state_load(g->root, o->id, &st, err) < 0)
    return -1;
  status = br_state_status(st);
  if (strcmp(status, "running") != 0 && strcmp(status, "created") != 0)
    return br_error_make(err, 0, "cannot exec in %s container `%s`", status, o->id);
  bundle = br_json_str(st->obj, "bundle");
  if (bundle && br_spec_load(bundle, &spec, err) < 0)
    return br_error_wrap(err, "exec in container `%s`", o->id);
  x.process = build_process(br_json_get(spec, "process"), o, err);
  if (x.process == NULL)
    goto out;
  if (o->tty && o->control_fd > 2 && !o->console_socket && !o->detach) {
    unsigned rows, cols;
    /* The first size is the process's own from its start (`stty size` at once sees it). */
    if (read_size(o->control_fd, 2000, &rows, &cols)) {
      struct json_object *size = json_object_new_object();
      json_object_object_add(size, "height", json_object_new_int(rows));
      json_object_object_add(size, "width", json_object_new_int(cols));
      json_object_object_add(x.process, "consoleSize", size);
    }
  }
  {
    static char cache[4096];
    snprintf(cache, sizeof(cache), "%s/.seccomp-cache", g->root);
    br_seccomp_set_cache_dir(cache);
  }
  if (br_seccomp_compile(br_json_get(br_json_get(spec, "linux"), "seccomp"), &x.seccomp, err) < 0)
    goto out;
  for (i = 0; i < BR_ARRAY_SIZE(ns_files); i++) {
    char path[64], self[64];
    struct stat a, b;
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", st->pid, ns_files[i].name);
    snprintf(self, sizeof(self), "/proc/self/ns/%s", ns_files[i].name);
    if (stat(path, &a) < 0) {
      br_error_make(err, errno, "exec in container `%s`: `%s`", o->id, path);
      goto out;
    }
    if (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
      continue;
    x.fds[x.n] = open(path, O_RDONLY | O_CLOEXEC);
    if (x.fds[x.n] < 0) {
      br_error_make(err, errno, "exec in container `%s`: open `%s`", o->id, path);
      goto out;
    }
    if (ns_files[i].type == CLONE_NEWUSER)
      x.userns = true;
    x.types[x.n++] = ns_files[i].type;
  }
  {
    /* The host's supplementary groups must not follow the process in: setgroups is called
     * unless the container's user namespace denies it (a rootless mapping). */
    char path[64], *v = NULL;
    br_error_t e = NULL;
    snprintf(path, sizeof(path), "/proc/%d/setgroups", st->pid);
    x.setgroups_ok = !(br_read_file(path, &v, NULL, &e) == 0 && strncmp(v, "deny", 4) == 0);
    free(v);
    br_error_release(&e);
  }
  if (st->obj && br_json_str(st->obj, "cgroup") &&
      br_cgroup_load(br_json_str(st->obj, "cgroup"), &cg, err) < 0)
    goto out;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    br_error_make(err, errno, "socketpair");
    goto out;
  }
  /* Rootless: joining a pid namespace needs CAP_SYS_ADMIN over it, which an unprivileged
   * caller has only inside the container's user namespace (its owner's): enter that first. */
  for (i = 0; i < (size_t)x.n && geteuid() != 0; i++)
    if (x.types[i] == CLONE_NEWUSER) {
      if (setns(x.fds[i], CLONE_NEWUSER) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
        br_error_make(err, errno, "join the container's user namespace");
        goto out;
      }
      x.userns_joined = true;
    }
  for (i = 0; i < (size_t)x.n; i++)
    if (x.types[i] == CLONE_NEWPID) {
      own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
      if (setns(x.fds[i], CLONE_NEWPID) < 0) {
        br_error_make(err, errno, "join the container's pid namespace");
        goto out;
      }
    }
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &x.mask);
  if (!o->detach)
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  /* Born in the container's cgroup2 directory, as `create` makes the init: no migration. */
  pid = br_cgroup_clone(cg, 0, &in_v2);
  if (pid < 0) {
    br_error_make(err, errno, "fork");
    goto out;
  }
  if (pid == 0) {
    close(sv[0]);
    x.sync_fd = sv[1];
    exec_child(&x);
  }
  close(sv[1]);
  sv[1] = -1;
  if (own_pidns >= 0)
    setns(own_pidns, CLONE_NEWPID);
  if (cg && br_cgroup_enter_v1(cg, pid, in_v2, err) < 0)
    goto out;
  br_sync_send(sv[0], BR_SYNC_GO, NULL);
  for (;;) {
    int fd = -1;
    t = br_sync_recv(sv[0], &fd, err);
    if (t == BR_SYNC_PTY) {
      if (o->console_socket) {
        if (br_terminal_send(o->console_socket, fd, err) < 0) {
          close(fd);
          goto out;
        }
        close(fd);
      } else {
        master = fd;
      }
      continue;
    }
    break;
  }
  if (t == BR_SYNC_ERROR) {
    int e = (*err)->status;
    *exit_code = e == ENOENT ? 127 : e == EACCES ? 126 : 1;
    waitpid(pid, NULL, 0);
    pid = -1;
    br_error_wrap(err, "exec in container `%s`", o->id);
    goto out;
  }
  if (t < 0)
    goto out;
  br_error_release(err);
  if (o->pid_file) {
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", pid);
    if (br_write_file_atomic(o->pid_file, buf, n, err) < 0)
      goto out;
  }
  if (o->detach) {
    pid = -1;
    *exit_code = 0;
    r = 0;
    goto out;
  }
  {
    cleanup_close int sfd = signalfd(-1, &all, SFD_CLOEXEC);
    bool in_open = master >= 0;
    if (master >= 0) {
      br_terminal_copy_size(master);
      br_terminal_raw();
    }
    int control = master >= 0 && o->control_fd > 2 ? o->control_fd : -1;
    for (;;) {
      struct pollfd p[4] = {{.fd = sfd, .events = POLLIN},
                            {.fd = master, .events = POLLIN},
                            {.fd = in_open ? 0 : -1, .events = POLLIN},
                            {.fd = control, .events = POLLIN}};
      char buf[8192];
      ssize_t n;
      int status;
      pid_t w;
      if (poll(p, master >= 0 ? 4 : 1, -1) < 0 && errno != EINTR)
        break;
      if (control >= 0 && (p[3].revents & (POLLIN | POLLHUP))) {
        unsigned rows, cols;
        if (read_size(control, 0, &rows, &cols))
          br_terminal_set_size(master, rows, cols);
        else if (p[3].revents & POLLHUP)
          control = -1;
      }
      if (p[0].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo == SIGCHLD ||
            si.ssi_signo == SIGPIPE)
          ;
        else if (si.ssi_signo == SIGWINCH && master >= 0)
          br_terminal_copy_size(master);
        else
          kill(pid, si.ssi_signo);
      }
      if (master >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
        n = read(master, buf, sizeof(buf));
        if (n > 0)
          br_write_all(1, buf, n);
        else if (n < 0 && errno != EINTR)
          master = -1;
      }
      if (in_open && (p[2].revents & (POLLIN | POLLHUP))) {
        n = read(0, buf, sizeof(buf));
        if (n > 0)
          br_write_all(master, buf, n);
        else
          in_open = false;
      }
      while ((w = waitpid(-1, &status, WNOHANG)) > 0)
        if (w == pid) {
          *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          pid = -1;
        }
      if (pid < 0)
        break;
    }
    /* What the process wrote just before it exited is still in the pty. */
    if (master >= 0) {
      char buf[8192];
      ssize_t n;
      fcntl(master, F_SETFL, O_NONBLOCK);
      while ((n = read(master, buf, sizeof(buf))) > 0)
        br_write_all(1, buf, n);
    }
    br_terminal_restore();
  }
  r = 0;
out:
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  if (sv[0] >= 0)
    close(sv[0]);
  if (sv[1] >= 0)
    close(sv[1]);
  for (i = 0; i < (size_t)x.n; i++)
    close(x.fds[i]);
  if (cg)
    br_cgroup_free(cg);
  if (x.seccomp)
    br_seccomp_free(x.seccomp);
  if (x.process)
    json_object_put(x.process);
  if (spec)
    json_object_put(spec);
  return r;
}
