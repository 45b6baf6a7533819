/* netns-create / netns-delete: network namespaces pinned by a bind mount, like `ip netns`,
 * without spawning anything. */
#include "net-commands.h"
#include "net-link.h"
#include "net-netlink.h"
#include "net-util.h"
#include "utils.h"

#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_p(const char *dir, br_error_t *err)
{
  char buf[PATH_MAX];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof(buf))
    return br_error_make(err, 0, "invalid directory `%s`", dir);
  memcpy(buf, dir, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
      return br_error_make(err, errno, "mkdir `%s`", buf);
    *p = '/';
  }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST)
    return br_error_make(err, errno, "mkdir `%s`", buf);
  return 0;
}

/* The directory holding the namespace files must be a shared mount point, as `ip netns`
 * makes /run/netns: a mount namespace created later (every container's) then receives our
 * unmount on delete instead of keeping a copy of the bind mount, which would keep the
 * namespace, and its veth, alive forever. The lock stops two racing processes from stacking
 * two bind mounts. */
static int ensure_shared_dir(const char *dir, br_error_t *err)
{
  cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return br_error_make(err, errno, "open `%s`", dir);
  if (flock(fd, LOCK_EX) < 0)
    return br_error_make(err, errno, "lock `%s`", dir);
  if (mount("", dir, NULL, MS_SHARED | MS_REC, NULL) == 0)
    return 0;
  if (errno != EINVAL)
    return br_error_make(err, errno, "make `%s` a shared mount", dir);
  if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
    return br_error_make(err, errno, "bind mount `%s` onto itself", dir);
  if (mount("", dir, NULL, MS_SHARED | MS_REC, NULL) < 0)
    return br_error_make(err, errno, "make `%s` a shared mount", dir);
  return 0;
}

/* Runs in this (single-threaded, short-lived) process: after unshare() the process itself is
 * in the new namespace, so /proc/self/ns/net is the file to pin. With v, the namespace is
 * also attached to a bridge, and the container's whole network setup costs one spawn. */
static int create_pinned_netns(const char *path, struct net_veth *v, br_error_t *err)
{
  cleanup_close int nl = -1;
  cleanup_close int nsfd = -1;
  int r;
  if (v && net_veth_prepare(v, err) < 0)
    return -1;
  if (unshare(CLONE_NEWNET) < 0)
    return br_error_make(err, errno, "unshare network namespace");
  if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
    return br_error_make(err, errno, "bind mount the namespace on `%s`", path);
  nl = br_nl_open();
  if (nl < 0) {
    br_error_make(err, -nl, "open netlink socket");
    goto undo;
  }
  r = br_nl_link_up(nl, 1); /* lo is always ifindex 1 in a new namespace */
  if (r < 0) {
    br_error_make(err, -r, "bring `lo` up");
    goto undo;
  }
  if (v) {
    nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      br_error_make(err, errno, "open the new namespace");
      goto undo;
    }
    if (net_veth_create(v, nsfd, err) < 0 || net_veth_configure(v, nl, err) < 0)
      goto undo;
  }
  return 0;
undo:
  if (v)
    net_veth_undo(v);
  umount2(path, MNT_DETACH);
  return -1;
}

int br_cmd_netns_create(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[2 + NET_VETH_NOPTS] = {{.name = "name"}, {.name = "dir"}, NET_VETH_OPTS};
  struct net_veth veth = {.hnl = -1}, *v = NULL;
  char path[PATH_MAX];
  const char *name, *dir;
  int fd, rc;

  if (net_parse_opts(argc, argv, opts, 2 + NET_VETH_NOPTS, &err) < 0)
    return net_fail(&err);
  for (int i = 2; i < 2 + NET_VETH_NOPTS; i++)
    if (opts[i].n)
      v = &veth;
  if (v && net_veth_parse(&opts[2], v, &err) < 0) {
    br_error_wrap(&err, "%s", argv[0]);
    return net_fail(&err);
  }
  if (opts[0].n == 0 || opts[1].n == 0) {
    br_error_make(&err, 0, "%s: --name and --dir are required", argv[0]);
    return net_fail(&err);
  }
  name = opts[0].val[0];
  dir = opts[1].val[0];
  if (*name == '\0' || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
      strlen(name) > NAME_MAX) {
    br_error_make(&err, 0, "%s: invalid namespace name `%s`", argv[0], name);
    return net_fail(&err);
  }
  if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
    br_error_make(&err, 0, "%s: path `%s/%s` is too long", argv[0], dir, name);
    return net_fail(&err);
  }
  if (mkdir_p(dir, &err) < 0 || ensure_shared_dir(dir, &err) < 0) {
    br_error_wrap(&err, "create network namespace `%s`", path);
    return net_fail(&err);
  }
  fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    if (errno == EEXIST)
      br_error_make(&err, 0, "create network namespace `%s`: it already exists", path);
    else
      br_error_make(&err, errno, "create network namespace `%s`: create the file", path);
    return net_fail(&err);
  }
  close(fd);
  rc = create_pinned_netns(path, v, &err);
  if (v)
    net_veth_release(v);
  if (rc < 0) {
    unlink(path);
    br_error_wrap(&err, "create network namespace `%s`", path);
    return net_fail(&err);
  }
  fputs("{\"path\":", stdout);
  net_json_str(stdout, path);
  if (v) {
    putchar(',');
    net_veth_print(v);
  }
  fputs("}\n", stdout);
  return 0;
}

/* Deletes the named links inside the namespace pinned at path, before the pin goes: the
 * kernel frees a dead namespace's links later, from a work queue, so without this a host-side
 * veth outlives the delete. One request instead of a veth-detach per link. */
static int delete_links_in(const char *path, const struct net_opt *ifnames, br_error_t *err)
{
  cleanup_close int nsfd = -1;
  cleanup_close int nl = -1;
  /* Idempotent: a namespace already deleted took its links with it. */
  if (access(path, F_OK) < 0 && errno == ENOENT)
    return 0;
  nsfd = net_open_netns(path, err);
  if (nsfd < 0) {
    /* A pin whose mount is gone (or never was: a crash between its file and its mount) holds
     * no namespace, so no link either. */
    br_error_release(err);
    return 0;
  }
  /* This process is single-threaded and exits next; the unmount below is in the mount
   * namespace, which setns(CLONE_NEWNET) leaves alone. */
  if (setns(nsfd, CLONE_NEWNET) < 0)
    return br_error_make(err, errno, "enter the namespace");
  nl = br_nl_open();
  if (nl < 0)
    return br_error_make(err, -nl, "open netlink socket in the namespace");
  for (int i = 0; i < ifnames->n; i++) {
    int r = net_delete_link(nl, ifnames->val[i]);
    if (r < 0 && r != -ENODEV)
      return br_error_make(err, -r, "delete `%s`", ifnames->val[i]);
  }
  return 0;
}

int br_cmd_netns_delete(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "path"}, {.name = "ifname", .max = 16}};
  const char *path;

  if (net_parse_opts(argc, argv, opts, 2, &err) < 0)
    return net_fail(&err);
  if (opts[0].n == 0) {
    br_error_make(&err, 0, "%s: --path is required", argv[0]);
    return net_fail(&err);
  }
  path = opts[0].val[0];
  for (int i = 0; i < opts[1].n; i++)
    if (net_check_ifname(opts[1].val[i], "--ifname", &err) < 0)
      return net_fail(&err);
  /* Not fatal: the links go with the namespace anyway, only later. The pin must go now. */
  if (opts[1].n && delete_links_in(path, &opts[1], &err) < 0) {
    fprintf(stderr, "berth-runtime: warning: delete network namespace `%s`: %s\n", path,
            err && err->msg ? err->msg : "delete its links");
    br_error_release(&err);
  }
  /* Idempotent: a file that is not (or no longer) mounted, or is gone, is already deleted. */
  if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
    br_error_make(&err, errno, "delete network namespace `%s`: unmount", path);
    return net_fail(&err);
  }
  if (unlink(path) < 0 && errno != ENOENT) {
    br_error_make(&err, errno, "delete network namespace `%s`: remove the file", path);
    return net_fail(&err);
  }
  return 0;
}
