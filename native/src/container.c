/* create, start and run: from a bundle to a process waiting on exec.fifo, and on.
 *
 * The runtime clones the container's first process with every new namespace at once. The
 * two talk over a SOCK_SEQPACKET socketpair (sync.h): the parent maps ids and creates the
 * cgroup, the child builds the root filesystem and reports READY, then blocks reading
 * exec.fifo (opened read-write before clone, so it never blocks on open and needs no path
 * inside the container) until `start` writes one byte into it.
 */
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdint.h>
#include <time.h>

#include "cgroup-internal.h"
#include "cgroup.h"
#include "hooks.h"
#include "init.h"
#include "linux.h"
#include "log.h"
#include "monitor.h"
#include "process.h"
#include "seccomp.h"
#include "spec.h"
#include "state.h"
#include "sync.h"
#include "terminal.h"
#include "utils.h"

static sigset_t saved_mask;

/* ---- the container's side ---- */

struct child_ctx {
  struct br_container *c;
  struct br_exec ex;
};

static int child_exec(void *arg)
{
  struct child_ctx *x = arg;
  sigprocmask(SIG_SETMASK, &saved_mask, NULL);
  int e;
  execve(x->ex.path, x->ex.argv, x->ex.envp);
  e = errno;
  dprintf(2, "exec: \"%s\": %s\n", x->ex.argv[0], strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}

/* Waits for message `want` from the parent; the cgroup message may come first. */
static int child_expect(struct br_container *c, int want, br_error_t *err)
{
  for (;;) {
    int t = br_sync_recv(c->sync_fd, NULL, err);
    if (t == BR_SYNC_CGROUP) {
      c->cgroup_ready = true;
      if (want == t)
        return 0;
      continue;
    }
    if (t == want)
      return 0;
    if (t < 0)
      return -1;
    return br_error_make(err, 0, "the runtime went away");
  }
}

static int child_cgroup_barrier(struct br_container *c, br_error_t *err)
{
  if (c->cgroup_ready)
    return 0;
  return child_expect(c, BR_SYNC_CGROUP, err);
}

static int child_hooks_and_sysctl(struct br_container *c, br_error_t *err)
{
  if (br_hooks_count(c->spec, "prestart") || br_hooks_count(c->spec, "createRuntime")) {
    if (br_sync_send(c->sync_fd, BR_SYNC_HOOKS, NULL) < 0)
      return br_error_make(err, errno, "sync with the runtime");
    if (child_expect(c, BR_SYNC_HOOKS_DONE, err) < 0)
      return -1;
  }
  if (br_hooks_count(c->spec, "createContainer")) {
    struct json_object *st = json_object_new_object();
    int r;
    json_object_object_add(st, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(st, "id", json_object_new_string(c->id));
    json_object_object_add(st, "status", json_object_new_string("creating"));
    json_object_object_add(st, "pid", json_object_new_int(c->pid));
    json_object_object_add(st, "bundle", json_object_new_string(c->bundle));
    r = br_hooks_run(c->spec, "createContainer", st, err);
    json_object_put(st);
    if (r < 0)
      return -1;
  }
  return br_linux_sysctl(c, err);
}

static __attribute__((noreturn)) void child_main(struct br_container *c)
{
  br_error_t err = NULL;
  struct child_ctx x = {.c = c};
  int t;
  char b;
  bool setgroups_ok;

  c->cgroup_barrier = child_cgroup_barrier;
  /* The runtime blocks signals to read them from a signalfd; the container's process takes
   * them as any process does, from the start (a `kill` of a created container works). */
  sigprocmask(SIG_SETMASK, &saved_mask, NULL);
  umask(0);
  /* A runtime killed during setup (a caller's timeout) takes its half-built container along. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (c->new_userns && child_expect(c, BR_SYNC_GO, &err) < 0)
    _exit(1);
  (void)t;
  {
    /* Our pid as the host sees it, for the hooks' state: /proc is still the host's. */
    char self[32];
    ssize_t n = readlink("/proc/self", self, sizeof(self) - 1);
    if (n > 0) {
      self[n] = '\0';
      c->pid = atoi(self);
    }
  }
  if (c->log_path) {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0)
      dup2(null, 0);
    dup2(c->stdio[1], 1);
    dup2(c->stdio[2], 2);
  }
  if (c->new_userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
    br_error_make(&err, errno, "become root in the user namespace");
    goto fail;
  }
  if (br_linux_join_namespaces(c, &err) < 0)
    goto fail;
  if (c->no_new_keyring == false) {
    /* A session keyring of its own, so keys are not shared with the host's session. */
    syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, c->id);
  }
  if (br_linux_set_hostname(c, &err) < 0 || br_linux_loopback(c, &err) < 0 ||
      br_process_oom_score(c->process, &err) < 0)
    goto fail;
  if (br_linux_setup_rootfs(c, child_hooks_and_sysctl, &err) < 0)
    goto fail;
  if (br_linux_finish_rootfs(c, &err) < 0)
    goto fail;
  if (br_json_bool(c->process, "terminal")) {
    int master = br_terminal_setup(&err);
    struct json_object *size = br_json_get(c->process, "consoleSize");
    if (master < 0)
      goto fail;
    br_terminal_set_size(master, json_object_get_int(br_json_get(size, "height")),
                         json_object_get_int(br_json_get(size, "width")));
    if (br_send_fd(c->sync_fd, master, &(struct br_sync_msg){.type = BR_SYNC_PTY}, sizeof(int) * 2,
                   &err) < 0)
      goto fail;
    close(master);
  }
  if (br_process_rlimits(c->process, &err) < 0 || br_process_chdir(c->process, &err) < 0)
    goto fail;
  if (br_process_resolve(c->process, &x.ex, &err) < 0)
    goto fail;
  if (child_cgroup_barrier(c, &err) < 0)
    goto fail;
  br_close_fds(c->preserve_fds);
  if (br_sync_send(c->sync_fd, BR_SYNC_READY, NULL) < 0)
    _exit(1);

  /* Blocks until `start`. EOF cannot happen: this process holds a writer itself. */
  while (read(c->fifo_fd, &b, 1) < 0 && errno == EINTR)
    ;
  close(c->fifo_fd);
  if (br_hooks_count(c->spec, "startContainer")) {
    struct json_object *st = json_object_new_object();
    json_object_object_add(st, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(st, "id", json_object_new_string(c->id));
    json_object_object_add(st, "status", json_object_new_string("created"));
    json_object_object_add(st, "pid", json_object_new_int(c->pid));
    json_object_object_add(st, "bundle", json_object_new_string(c->bundle));
    if (br_hooks_run(c->spec, "startContainer", st, &err) < 0)
      goto late_fail;
  }
  setgroups_ok = !c->in_userns || geteuid() == 0;
  if (c->rootless)
    setgroups_ok = false;
  if (br_process_finalize(c->process, c->seccomp, setgroups_ok, &err) < 0)
    goto late_fail;
  /* A foreground run's container dies with it, like runc's: a runtime killed at a caller's
   * timeout must not leave it running. Set last: a credential change clears it. A monitored
   * container outlives a crashed monitor: `delete --force` still finds it. */
  prctl(PR_SET_PDEATHSIG, c->monitor ? 0 : SIGKILL, 0, 0, 0);
  if (c->init) {
    close(c->sync_fd);
    br_init_run(child_exec, &x);
  }
  sigprocmask(SIG_SETMASK, &saved_mask, NULL);
  execve(x.ex.path, x.ex.argv, x.ex.envp);
  {
    int e = errno;
    br_error_make(&err, 0, "exec: \"%s\": %s", x.ex.argv[0], strerror(e));
    err->status = e == ENOENT ? ENOENT : EACCES;
  }
late_fail:
  /* Whoever started us may be gone: the container's stderr gets the message too. */
  dprintf(2, "%s\n", err->msg);
  br_sync_send(c->sync_fd, BR_SYNC_ERROR, err);
  _exit(err->status == ENOENT ? 127 : err->status == EACCES ? 126 : 1);
fail:
  br_sync_send(c->sync_fd, BR_SYNC_ERROR, err);
  _exit(1);
}

/* ---- the runtime's side ---- */

static struct json_object *hook_state(struct br_container *c, const char *status)
{
  struct json_object *st = json_object_new_object(), *a;
  json_object_object_add(st, "ociVersion", json_object_new_string("1.0.2"));
  json_object_object_add(st, "id", json_object_new_string(c->id));
  json_object_object_add(st, "status", json_object_new_string(status));
  json_object_object_add(st, "pid", json_object_new_int(c->pid));
  json_object_object_add(st, "bundle", json_object_new_string(c->bundle));
  if ((a = br_json_get(c->spec, "annotations")))
    json_object_object_add(st, "annotations", json_object_get(a));
  return st;
}

static int write_state(struct br_container *c, const char *status, const char *created,
                       br_error_t *err)
{
  struct json_object *st = json_object_new_object(), *v;
  int r;
  json_object_object_add(st, "ociVersion",
                         json_object_new_string(br_json_str(c->spec, "ociVersion")
                                                    ? br_json_str(c->spec, "ociVersion")
                                                    : "1.0.2"));
  json_object_object_add(st, "id", json_object_new_string(c->id));
  json_object_object_add(st, "status", json_object_new_string(status));
  json_object_object_add(st, "pid", json_object_new_int(c->pid));
  json_object_object_add(st, "pidStart", json_object_new_uint64(br_proc_start_time(c->pid)));
  json_object_object_add(st, "bundle", json_object_new_string(c->bundle));
  json_object_object_add(st, "rootfs", json_object_new_string(c->rootfs));
  json_object_object_add(st, "created", json_object_new_string(created));
  if ((v = br_json_get(c->spec, "annotations")))
    json_object_object_add(st, "annotations", json_object_get(v));
  if (c->cgroup) {
    char *s = br_cgroup_serialize(c->cgroup);
    if (s)
      json_object_object_add(st, "cgroup", json_object_new_string(s));
    free(s);
  }
  if (c->monitor) {
    json_object_object_add(st, "monitorPid", json_object_new_int(getpid()));
    json_object_object_add(st, "monitorStart",
                           json_object_new_uint64(br_proc_start_time(getpid())));
  }
  json_object_object_add(st, "init", json_object_new_boolean(c->init));
  json_object_object_add(st, "pidns",
                         json_object_new_boolean((c->clone_flags & CLONE_NEWPID) != 0));
  if ((v = br_json_get(br_json_get(c->spec, "hooks"), "poststop")))
    json_object_object_add(st, "poststop", json_object_get(v));
  r = br_state_write(c->state_dir, "state.json", st, err);
  json_object_put(st);
  return r;
}

static bool has_resources(struct json_object *linux_obj)
{
  struct json_object *r = br_json_get(linux_obj, "resources");
  if (r == NULL)
    return false;
  /* The default device rule is enforced by nothing else here and limits nothing. */
  json_object_object_foreach(r, k, v)
  {
    (void)v;
    if (strcmp(k, "devices") != 0)
      return true;
  }
  return false;
}

/* Whether the container mounts a cgroup filesystem: it must then see its own cgroup in
 * every hierarchy, joined or not (cgroup.c, v1_wanted). */
static bool mounts_cgroupfs(struct br_container *c)
{
  struct json_object *mounts = br_json_get(c->spec, "mounts");
  size_t n =
      mounts && json_object_is_type(mounts, json_type_array) ? json_object_array_length(mounts) : 0;
  for (size_t i = 0; i < n; i++) {
    const char *t = br_json_str(json_object_array_get_idx(mounts, i), "type");
    if (t && (strcmp(t, "cgroup") == 0 || strcmp(t, "cgroup2") == 0))
      return true;
  }
  return false;
}

/* Creates the cgroup before the clone, so the process can be born in it. */
static int create_cgroup(struct br_container *c, br_error_t *err)
{
  br_error_t e = NULL;
  /* BERTH_CGROUP_JOIN_ALL=1: every v1 hierarchy, as runc does, for v1 tools that need the
   * container's processes in all of them (and as the baseline in bench/runtime.bench.ts). */
  const char *all = getenv("BERTH_CGROUP_JOIN_ALL");
  int r = all && strcmp(all, "1") == 0
              ? br_cgroup_create(c->id, c->linux_obj, 0, c->rootless, &c->cgroup, &e)
              : br_cgroup_create_lean(c->id, c->linux_obj, c->rootless,
                                      (mounts_cgroupfs(c) ? BR_CGROUP_VIEW : 0) |
                                          BR_CGROUP_DEFER_DEVICES,
                                      &c->cgroup, &e);
  if (r == 0) {
    /* Rootless without delegation no directory could be made: no cgroup is recorded, so
     * `kill --all` signals the init (whose pid namespace dies with it) instead of an empty set. */
    if (c->rootless && c->cgroup && c->cgroup->n == 0) {
      br_cgroup_free(c->cgroup);
      c->cgroup = NULL;
    }
    return 0;
  }
  if (e == NULL)
    return br_error_make(err, 0, "config.json: linux.resources: cgroup creation failed");
  /* Until cgroup.c lands its stub answers ENOSYS: a container that asked for no limits runs
   * without a cgroup of its own; one that asked for limits must not silently lose them. */
  if (e && e->status == ENOSYS && !has_resources(c->linux_obj)) {
    br_log_warning("create container `%s`: %s", c->id, e->msg);
    br_error_release(&e);
    c->cgroup = NULL;
    return 0;
  }
  *err = e;
  return br_error_wrap(err, "config.json: linux.resources");
}

void br_container_cleanup(struct br_container *c)
{
  if (c->pid > 0) {
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
      ;
    c->pid = 0;
  }
  if (c->cgroup) {
    br_error_t e = NULL;
    br_cgroup_destroy(c->cgroup, true, &e);
    br_error_release(&e);
    br_cgroup_free(c->cgroup);
    c->cgroup = NULL;
  }
  if (c->state_dir) {
    br_error_t e = NULL;
    br_remove_dir(c->state_dir, &e);
    br_error_release(&e);
  }
}

static int prepare(const struct br_global *g, const struct br_create_opts *o,
                   struct br_container *c, br_error_t *err)
{
  const char *root_path, *ann;
  char buf[PATH_MAX];
  struct stat st;
  cleanup_free char *fifo = NULL;

  memset(c, 0, sizeof(*c));
  c->global = g;
  c->id = o->id;
  c->sync_fd = c->fifo_fd = -1;
  c->stdio[0] = c->stdio[1] = c->stdio[2] = -1;
  c->console_socket = o->console_socket;
  c->pid_file = o->pid_file;
  c->log_path = o->log_path;
  c->preserve_fds = o->preserve_fds;
  c->no_pivot = o->no_pivot;
  c->no_new_keyring = o->no_new_keyring;
  c->monitor = o->monitor || !o->run || o->detach;
  c->detach = o->detach;
  c->rootless = geteuid() != 0;

  if (realpath(o->bundle ? o->bundle : ".", buf) == NULL)
    return br_error_make(err, errno, "bundle `%s`", o->bundle ? o->bundle : ".");
  c->bundle = br_xstrdup(buf);
  if (br_state_dir(g->root, o->id, &c->state_dir, err) < 0)
    return -1;
  if (mkdir(g->root, 0700) < 0 && errno != EEXIST && br_mkdir_p(g->root, 0700, err) < 0)
    return -1;
  if (mkdir(c->state_dir, 0700) < 0 && !(errno == EEXIST && o->restarting)) {
    int e = errno;
    free(c->state_dir);
    c->state_dir = NULL; /* not ours to remove */
    if (e == EEXIST)
      return br_error_make(err, 0, "container `%s` already exists", o->id);
    return br_error_make(err, e, "create the state directory of `%s`", o->id);
  }
  if (br_spec_load(c->bundle, &c->spec, err) < 0)
    return -1;
  c->process = br_json_get(c->spec, "process");
  c->linux_obj = br_json_get(c->spec, "linux");
  root_path = br_json_str(br_json_get(c->spec, "root"), "path");
  if (root_path[0] == '/')
    snprintf(buf, sizeof(buf), "%s", root_path);
  else
    snprintf(buf, sizeof(buf), "%s/%s", c->bundle, root_path);
  if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
    return br_error_make(err, 0, "config.json: root.path: rootfs `%s` does not exist", buf);
  c->rootfs = realpath(buf, NULL);
  ann = br_json_str(br_json_get(c->spec, "annotations"), "org.berth.init");
  c->init = o->init || (ann && strcmp(ann, "true") == 0);
  if (br_linux_prepare_namespaces(c, err) < 0)
    return -1;
  if (br_json_get(c->linux_obj, "seccomp")) {
    /* Compiled filters are cached beside the containers: the next container with the same
     * profile skips libseccomp (~10 ms for Docker's default profile). */
    static char cache[PATH_MAX];
    snprintf(cache, sizeof(cache), "%s/.seccomp-cache", g->root);
    br_seccomp_set_cache_dir(cache);
  }
  if (br_seccomp_compile(br_json_get(c->linux_obj, "seccomp"), &c->seccomp, err) < 0)
    return -1;
  fifo = br_strdup_printf("%s/exec.fifo", c->state_dir);
  if (mkfifo(fifo, 0600) < 0)
    return br_error_make(err, errno, "mkfifo `%s`", fifo);
  c->fifo_fd = open(fifo, O_RDWR | O_CLOEXEC);
  if (c->fifo_fd < 0)
    return br_error_make(err, errno, "open `%s`", fifo);
  return 0;
}

/* Clones the container and drives it until it waits for `start`. */
static int spawn(struct br_container *c, char *created, br_error_t *err)
{
  int sv[2], t, fd;
  int out[2] = {-1, -1}, errp[2] = {-1, -1};
  cleanup_close int own_pidns = -1;
  bool in_v2 = false;
  int i;
  pid_t pid;

  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return br_error_make(err, errno, "socketpair");
  if (c->log_path) {
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
      return br_error_make(err, errno, "pipe");
    c->stdio[1] = out[1];
    c->stdio[2] = errp[1];
  }
  /* Rootless with a user namespace to join (the rootless network's): the namespaces cloned
   * below must be owned by it, and only root in it may make them, so the parent enters it
   * first; the child then has nothing left to join there (join_type 0). */
  for (i = 0; i < c->n_join && geteuid() != 0; i++)
    if (c->join_type[i] == CLONE_NEWUSER) {
      if (setns(c->join_fd[i], CLONE_NEWUSER) < 0 || setresgid(0, 0, 0) < 0 ||
          setresuid(0, 0, 0) < 0)
        return br_error_make(err, errno, "join the user namespace");
      c->join_type[i] = 0;
    }
  for (i = 0; i < c->n_join; i++)
    if (c->join_type[i] == CLONE_NEWPID) {
      own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
      if (setns(c->join_fd[i], CLONE_NEWPID) < 0)
        return br_error_make(err, errno, "join the pid namespace");
    }
  if (create_cgroup(c, err) < 0)
    return -1;
  br_now(created);
  pid = br_cgroup_clone(c->cgroup, (unsigned long)c->clone_flags, &in_v2);
  if (pid < 0) {
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    return br_error_make(err, e, "clone the container process");
  }
  if (pid == 0) {
    close(sv[0]);
    c->sync_fd = sv[1];
    if (out[0] >= 0) {
      close(out[0]);
      close(errp[0]);
    }
    child_main(c);
  }
  if (own_pidns >= 0)
    setns(own_pidns, CLONE_NEWPID);
  c->pid = pid;
  close(sv[1]);
  c->sync_fd = sv[0];
  if (out[0] >= 0) {
    close(out[1]);
    close(errp[1]);
    c->stdio[1] = out[0];
    c->stdio[2] = errp[0];
  }
  if (c->new_userns) {
    if (br_linux_write_mappings(c, pid, err) < 0)
      return -1;
    if (br_sync_send(c->sync_fd, BR_SYNC_GO, NULL) < 0)
      return br_error_make(err, errno, "sync with the container");
  }
  /* The child builds its root filesystem meanwhile: the device filter's load and v1
   * migrations are slow (cgroup.c). It waits for both before it reports ready. */
  if (c->cgroup && br_cgroup_attach_devices(c->cgroup, err) < 0)
    return br_error_wrap(err, "config.json: linux.resources");
  if (c->cgroup && br_cgroup_enter_v1(c->cgroup, pid, in_v2, err) < 0)
    return -1;
  if (write_state(c, "creating", created, err) < 0)
    return -1;
  /* A child that failed already has exited: its error is waiting in the socket and the
   * loop below reads it, so a failed send is not the error to report. */
  br_sync_send(c->sync_fd, BR_SYNC_CGROUP, NULL);
  for (;;) {
    fd = -1;
    t = br_sync_recv(c->sync_fd, &fd, err);
    if (t < 0)
      return -1;
    if (t == 0)
      return br_error_make(err, 0, "the container's process exited during setup");
    if (t == BR_SYNC_ERROR)
      return -1;
    if (t == BR_SYNC_READY)
      break;
    if (t == BR_SYNC_HOOKS) {
      struct json_object *st = hook_state(c, "creating");
      int r = br_hooks_run(c->spec, "prestart", st, err);
      if (r == 0)
        r = br_hooks_run(c->spec, "createRuntime", st, err);
      json_object_put(st);
      if (r < 0)
        return -1;
      br_sync_send(c->sync_fd, BR_SYNC_HOOKS_DONE, NULL);
    } else if (t == BR_SYNC_PTY) {
      int r = 0;
      if (c->console_socket)
        r = br_terminal_send(c->console_socket, fd, err);
      if (c->console_socket || c->detach || c->monitor)
        close(fd);
      else
        c->stdio[0] = fd; /* a foreground run proxies the pty itself */
      if (r < 0)
        return -1;
      if (!c->console_socket && (c->detach || c->monitor))
        return br_error_make(err, 0,
                             "config.json: process.terminal: a detached container with a "
                             "terminal needs --console-socket");
    }
  }
  if (write_state(c, "created", created, err) < 0)
    return -1;
  if (c->pid_file) {
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", c->pid);
    if (br_write_file_atomic(c->pid_file, buf, n, err) < 0)
      return br_error_wrap(err, "--pid-file");
  }
  return 0;
}

int br_container_do_start(const char *state_dir, int pid, br_error_t *err)
{
  char path[PATH_MAX], now[40];
  cleanup_close int fd = -1;
  snprintf(path, sizeof(path), "%s/exec.fifo", state_dir);
  fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENXIO || errno == ENOENT)
      return br_error_make(err, 0, "container is not in the created state");
    return br_error_make(err, errno, "open `%s`", path);
  }
  /* The fifo is gone once the process has exec'd: a second start finds no reader. */
  unlink(path);
  br_now(now);
  snprintf(path, sizeof(path), "%s/started", state_dir);
  if (br_write_file_atomic(path, now, strlen(now), err) < 0)
    return -1;
  if (write(fd, "0", 1) != 1)
    return br_error_make(err, errno, "start the container process");
  (void)pid;
  return 0;
}

int br_container_start(const struct br_global *g, const char *id, br_error_t *err)
{
  cleanup_state struct br_state *st = NULL;
  const char *status;
  struct json_object *spec = NULL;
  if (br_state_load(g->root, id, &st, err) < 0)
    return -1;
  status = br_state_status(st);
  if (strcmp(status, "created") != 0)
    return br_error_make(err, 0, "cannot start container `%s`: it is %s", id, status);
  if (br_container_do_start(st->dir, st->pid, err) < 0)
    return br_error_wrap(err, "start container `%s`", id);
  {
    br_error_t e = NULL;
    const char *bundle = br_json_str(st->obj, "bundle");
    if (bundle && br_spec_load(bundle, &spec, &e) == 0 && br_hooks_count(spec, "poststart")) {
      struct json_object *hs = br_state_document(st);
      json_object_object_add(hs, "status", json_object_new_string("running"));
      /* poststart failures are logged, not fatal: the process runs already (OCI). */
      if (br_hooks_run(spec, "poststart", hs, &e) < 0)
        br_log_warning("%s", e->msg);
      json_object_put(hs);
    }
    br_error_release(&e);
    if (spec)
      json_object_put(spec);
  }
  return 0;
}

/* ---- run in the foreground ---- */

static int wait_status_code(int status)
{
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return 1;
}

/* Forwards every signal to the container and reaps until its process exits; proxies the
 * pty when there is one. Returns the exit code (128+signal when killed). */
static int wait_foreground(struct br_container *c, br_error_t *err)
{
  sigset_t all;
  cleanup_close int sfd = -1;
  int code = -1;
  int master = c->stdio[0];
  bool in_open = master >= 0;
  sigfillset(&all);
  sfd = signalfd(-1, &all, SFD_CLOEXEC);
  if (sfd < 0)
    return br_error_make(err, errno, "signalfd");
  if (master >= 0) {
    br_terminal_copy_size(master);
    br_terminal_raw();
  }
  while (code < 0) {
    struct pollfd p[3] = {{.fd = sfd, .events = POLLIN},
                          {.fd = master, .events = POLLIN},
                          {.fd = in_open ? 0 : -1, .events = POLLIN}};
    char buf[8192];
    ssize_t n;
    if (poll(p, master >= 0 ? 3 : 1, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) != sizeof(si))
        continue;
      if (si.ssi_signo == SIGCHLD) {
        int status;
        pid_t r;
        while ((r = waitpid(-1, &status, WNOHANG)) > 0)
          if (r == c->pid)
            code = wait_status_code(status);
      } else if (si.ssi_signo == SIGWINCH && master >= 0) {
        br_terminal_copy_size(master);
      } else if (si.ssi_signo != SIGPIPE) {
        kill(c->pid, si.ssi_signo);
      }
    }
    if (master >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
      n = read(master, buf, sizeof(buf));
      if (n > 0)
        br_write_all(1, buf, n);
      else if (n < 0 && errno != EINTR && errno != EAGAIN)
        master = -1;
    }
    if (master >= 0 && in_open && (p[2].revents & (POLLIN | POLLHUP))) {
      n = read(0, buf, sizeof(buf));
      if (n > 0)
        br_write_all(master, buf, n);
      else
        in_open = false;
    }
  }
  if (c->stdio[0] >= 0) {
    char buf[8192];
    ssize_t n;
    fcntl(c->stdio[0], F_SETFL, O_NONBLOCK);
    while ((n = read(c->stdio[0], buf, sizeof(buf))) > 0)
      br_write_all(1, buf, n);
    br_terminal_restore();
  }
  c->pid = 0;
  return code < 0 ? 1 : code;
}

/* ---- entry points ---- */

static int create_in_process(const struct br_create_opts *o, struct br_container *c, int *exit_code,
                             br_error_t *err)
{
  char created[40];
  if (spawn(c, created, err) < 0)
    return -1;
  if (!o->run)
    return 0;
  if (br_container_do_start(c->state_dir, c->pid, err) < 0)
    return -1;
  if (br_hooks_count(c->spec, "poststart")) {
    struct json_object *hs = hook_state(c, "running");
    br_error_t e = NULL;
    if (br_hooks_run(c->spec, "poststart", hs, &e) < 0)
      br_log_warning("%s", e->msg);
    br_error_release(&e);
    json_object_put(hs);
  }
  if (o->detach)
    return 0;
  {
    /* An exec failure after start comes back on the sync socket; a successful exec closes it. */
    int t = br_sync_recv(c->sync_fd, NULL, err);
    if (t == BR_SYNC_ERROR) {
      *exit_code = (*err)->status == ENOENT ? 127 : (*err)->status == EACCES ? 126 : 1;
      waitpid(c->pid, NULL, 0);
      c->pid = 0;
      return -1;
    }
    br_error_release(err);
  }
  *exit_code = wait_foreground(c, err);
  if (o->keep) {
    /* The container stays for `state` and `delete`: it says how it ended. */
    struct json_object *ex = json_object_new_object();
    char now[40];
    br_error_t e = NULL;
    br_now(now);
    json_object_object_add(ex, "finished", json_object_new_string(now));
    json_object_object_add(ex, "exitCode", json_object_new_int(*exit_code));
    json_object_object_add(
        ex, "oomKilled",
        json_object_new_boolean(c->cgroup && br_cgroup_oom_killed(c->cgroup, &e) == 1));
    br_error_release(&e);
    if (br_state_write(c->state_dir, "exit.json", ex, &e) < 0)
      br_log_warning("%s", e->msg);
    br_error_release(&e);
    json_object_put(ex);
  }
  return 0;
}

void br_container_free(struct br_container *c)
{
  int i;
  if (c->spec)
    json_object_put(c->spec);
  for (i = 0; i < c->n_join; i++)
    close(c->join_fd[i]);
  if (c->seccomp)
    br_seccomp_free(c->seccomp);
  if (c->cgroup)
    br_cgroup_free(c->cgroup);
  free(c->bundle);
  free(c->state_dir);
  free(c->rootfs);
}

int br_container_remove(const struct br_global *g, const char *id, bool force, br_error_t *err);

int br_container_create(const struct br_global *g, const struct br_create_opts *o, int *exit_code,
                        br_error_t *err)
{
  struct br_container c;
  sigset_t all;
  int r;

  *exit_code = 1;
  /* Signals are taken through signalfd by the foreground run and the monitor; the container's
   * process gets the original mask back before it execs. */
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGABRT);
  sigprocmask(SIG_BLOCK, &all, &saved_mask);

  /* A detached container always gets a monitor: only its parent can learn its exit code,
   * and `wait` and `state` report it. A foreground run is its own parent already. */
  if (o->monitor || !o->run || o->detach)
    return br_monitor_create(g, o, exit_code, err);

  if (o->run && !o->detach)
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  r = prepare(g, o, &c, err);
  if (r == 0)
    r = create_in_process(o, &c, exit_code, err);
  if (r < 0) {
    int code = *exit_code;
    if ((*err)->status == ENOENT && strncmp((*err)->msg, "exec: ", 6) == 0)
      code = 127;
    else if ((*err)->status == EACCES && strncmp((*err)->msg, "exec: ", 6) == 0)
      code = 126;
    br_container_cleanup(&c);
    br_container_free(&c);
    *exit_code = o->run ? code : 1;
    return br_error_wrap(err, "%s container `%s`", o->run ? "run" : "create", o->id);
  }
  if (o->run && !o->detach && !o->keep) {
    br_error_t e = NULL;
    /* Like `runc run`: a foreground container is deleted once it has exited. */
    if (br_container_remove(g, o->id, true, &e) < 0)
      br_log_warning("%s", e->msg);
    br_error_release(&e);
  }
  br_container_free(&c);
  return 0;
}

/* Used by the monitor: everything of create but the fork. */
int br_container_create_child_side(const struct br_global *g, const struct br_create_opts *o,
                                   struct br_container *c, br_error_t *err)
{
  char created[40];
  if (prepare(g, o, c, err) < 0)
    return -1;
  if (spawn(c, created, err) < 0)
    return -1;
  return 0;
}

const sigset_t *br_container_saved_mask(void)
{
  return &saved_mask;
}
