/* netns-create / netns-delete: network namespaces pinned by a bind mount, like `ip netns`,
 * without spawning anything. */
#include "net-commands.h"
#include "net-link.h"
#include "net-netlink.h"
#include "net-util.h"
#include "utils.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* The name a detached link deleter shows in ps: the command line it inherited names the
 * container (the namespace path), and that container is gone once the release returns. */
static void retitle(const char *title)
{
  char stat[1024], *p;
  unsigned long start = 0, end = 0;
  ssize_t n;
  cleanup_close int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  prctl(PR_SET_NAME, "berth-linkdel", 0, 0, 0);
  if (fd < 0 || (n = read(fd, stat, sizeof(stat) - 1)) <= 0)
    return;
  stat[n] = '\0';
  /* Fields 48 and 49 (arg_start, arg_end), counted after the ")" ending field 2. */
  p = strrchr(stat, ')');
  for (int field = 2; p && field < 48; field++)
    p = strchr(p + 1, ' ');
  if (p == NULL || sscanf(p + 1, "%lu %lu", &start, &end) != 2 || end <= start)
    return;
  memset((char *)start, 0, end - start);
  memcpy((char *)start, title, strnlen(title, end - start - 1));
}

/* Each link is deleted by a detached child, and this process waits only until the kernel has
 * taken it off every list (no link, no bridge port, no sysfs entry). Why: a RTM_DELLINK
 * returns only after netdev_run_todo's rcu_barrier(), a normal RCU grace period (20-30 ms
 * here, 90% of a release), spent after the link is already gone from view. Moving the host
 * end into the namespace instead (dev_change_net_namespace) was measured no faster: it calls
 * rcu_barrier() too, and under the RTNL lock. The child lives in the host's namespace; its
 * socket, opened in the container's, keeps that one alive until the kernel is done (the
 * kernel would destroy it later, from a work queue, anyway). */
struct link_delete {
  const char *name;
  int ifindex;
  int nl; /* in the namespace, one per link: concurrent deleters must not read each other's ACKs */
  int done;
};

static void delete_in_child(struct link_delete *l, int result_fd, int devnull)
{
  char name[IFNAMSIZ];
  int msg[2];
  int lo = l->nl < result_fd ? l->nl : result_fd, hi = l->nl < result_fd ? result_fd : l->nl;
  snprintf(name, sizeof(name), "%s", l->name);
  /* Node's execFile waits for its stdout and stderr pipes to close, not for the exit. */
  dup2(devnull, STDIN_FILENO);
  dup2(devnull, STDOUT_FILENO);
  dup2(devnull, STDERR_FILENO);
  /* The namespace file, the other links' sockets: only its own socket and result pipe. */
  syscall(SYS_close_range, 3, lo - 1, 0);
  syscall(SYS_close_range, lo + 1, hi - 1, 0);
  syscall(SYS_close_range, hi + 1, ~0U, 0);
  signal(SIGPIPE, SIG_IGN);
  retitle("berth-runtime: deleting a released link");
  msg[0] = l->ifindex;
  msg[1] = net_delete_link(l->nl, name);
  if (write(result_fd, msg, sizeof(msg)) < 0) {
    /* The waiter is gone (it gave up): nobody to tell. */
  }
  _exit(0);
}

/* Reads RTM_DELLINK notifications and marks the links they name; returns how many it marked.
 * *lost is set when some notifications were dropped (ENOBUFS): the children's own results are
 * then waited for. */
static int read_dellinks(int mon, struct link_delete *links, int n, int *lost)
{
  char buf[16384];
  int marked = 0;
  for (;;) {
    ssize_t len = recv(mon, buf, sizeof(buf), MSG_DONTWAIT);
    if (len < 0) {
      if (errno == ENOBUFS)
        *lost = 1;
      return marked;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
         h = NLMSG_NEXT(h, len)) {
      const struct ifinfomsg *ifi = NLMSG_DATA(h);
      if (h->nlmsg_type != RTM_DELLINK)
        continue;
      for (int i = 0; i < n; i++)
        if (!links[i].done && links[i].ifindex == ifi->ifi_index) {
          links[i].done = 1;
          marked++;
        }
    }
  }
}

/* Waits for every started deleter: a notification, or the child's result. One that fails
 * does not stop the wait for the others: the caller unpins the namespace either way. */
static int wait_unlisted(int mon, int results, struct link_delete *links, int n, int pending,
                         br_error_t *err)
{
  struct timespec start, now;
  int notify = mon >= 0, failed = -1, failed_errno = 0;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (pending > 0) {
    struct pollfd p[2] = {{.fd = results, .events = POLLIN},
                          {.fd = notify ? mon : -1, .events = POLLIN}};
    long left;
    int r;
    clock_gettime(CLOCK_MONOTONIC, &now);
    left = 5000 - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0)
      break;
    r = poll(p, 2, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return br_error_make(err, errno, "wait for the links' deletion");
    if (p[1].revents & POLLIN) {
      int lost = 0;
      pending -= read_dellinks(mon, links, n, &lost);
      if (lost)
        notify = 0;
    }
    if (p[0].revents & (POLLIN | POLLHUP)) {
      int msg[2];
      ssize_t len = read(results, msg, sizeof(msg));
      if (len == 0)
        break;
      if (len != (ssize_t)sizeof(msg))
        continue;
      for (int i = 0; i < n; i++) {
        if (links[i].ifindex != msg[0] || links[i].done)
          continue;
        if (msg[1] < 0 && msg[1] != -ENODEV && failed < 0) {
          failed = i;
          failed_errno = -msg[1];
        }
        links[i].done = 1;
        pending--;
      }
    }
  }
  if (failed >= 0)
    return br_error_make(err, failed_errno, "delete `%s`", links[failed].name);
  for (int i = 0; i < n; i++)
    if (links[i].ifindex && !links[i].done)
      return br_error_make(err, 0, "delete `%s`: the kernel did not remove it within 5 s",
                           links[i].name);
  return 0;
}

/* Deletes the named links inside the namespace pinned at path, before the pin goes: the
 * kernel frees a dead namespace's links later, from a work queue, so without this a host-side
 * veth outlives the delete. One request instead of a veth-detach per link. */
static int delete_links_in(const char *path, const struct net_opt *ifnames, int wait_freed,
                           br_error_t *err)
{
  struct link_delete links[16];
  cleanup_close int nsfd = -1;
  cleanup_close int hostns = -1;
  cleanup_close int mon = -1;
  cleanup_close int nl = -1;
  cleanup_close int devnull = -1;
  int results[2] = {-1, -1};
  int n = ifnames->n, pending = 0, rc = 0, unforked = -1, unforked_errno = 0;

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
  memset(links, 0, sizeof(links));
  hostns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (hostns < 0)
    return br_error_make(err, errno, "open this process's network namespace");
  /* This process is single-threaded; the unmount below is in the mount namespace, which
   * setns(CLONE_NEWNET) leaves alone. */
  if (setns(nsfd, CLONE_NEWNET) < 0)
    return br_error_make(err, errno, "enter the namespace");
  nl = br_nl_open();
  if (nl < 0) {
    rc = br_error_make(err, -nl, "open netlink socket in the namespace");
    goto out;
  }
  if (wait_freed) {
    /* The measured baseline: each delete waits for the kernel to free the link. */
    for (int i = 0; i < n; i++) {
      int r = net_delete_link(nl, ifnames->val[i]);
      if (r < 0 && r != -ENODEV) {
        rc = br_error_make(err, -r, "delete `%s`", ifnames->val[i]);
        goto out;
      }
    }
    goto out;
  }
  mon = br_nl_open_groups(RTMGRP_LINK); /* before any delete, so no notification is missed */
  for (int i = 0; i < n; i++) {
    links[i].name = ifnames->val[i];
    links[i].nl = -1;
    links[i].ifindex = (int)if_nametoindex(ifnames->val[i]);
    if (links[i].ifindex == 0)
      continue; /* gone already */
    links[i].nl = br_nl_open();
    if (links[i].nl < 0) {
      rc = br_error_make(err, -links[i].nl, "open netlink socket in the namespace");
      goto out;
    }
  }
  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0 || pipe2(results, O_CLOEXEC) < 0) {
    rc = br_error_make(err, errno, "prepare the links' deletion");
    goto out;
  }
  /* Back on the host before the fork: a deleter holds no reference to the namespace but its
   * socket's, and none to this process's pipes. */
  if (setns(hostns, CLONE_NEWNET) < 0) {
    rc = br_error_make(err, errno, "return to the host's network namespace");
    goto out;
  }
  for (int i = 0; i < n; i++) {
    pid_t pid;
    if (links[i].ifindex == 0)
      continue;
    pid = fork();
    if (pid == 0) {
      close(results[0]);
      delete_in_child(&links[i], results[1], devnull);
    }
    if (pid < 0) {
      /* No child: delete it here, waiting for the kernel like before. */
      int r = net_delete_link(links[i].nl, links[i].name);
      if (r < 0 && r != -ENODEV && unforked < 0) {
        unforked = i;
        unforked_errno = -r;
      }
      links[i].done = 1;
      continue;
    }
    pending++;
  }
  close(results[1]);
  results[1] = -1;
  rc = wait_unlisted(mon, results[0], links, n, pending, err);
  if (rc == 0 && unforked >= 0)
    rc = br_error_make(err, unforked_errno, "delete `%s`", links[unforked].name);
  if (pending > 0) {
    /* A link's notification is sent while the kernel is still unregistering the batch (the
     * veth's other end, its bridge port); any request that takes the RTNL lock returns after
     * that. Asking to change nothing on a link that is gone is such a request. */
    struct br_nl_msg m;
    struct ifinfomsg *ifi;
    br_nl_msg_init(&m, RTM_NEWLINK, 0);
    ifi = br_nl_msg_put_hdr(&m, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    br_nl_attr_put_str(&m, IFLA_IFNAME, links[0].name);
    br_nl_transact(nl, &m);
  }
out:
  for (int i = 0; i < n; i++)
    if (links[i].nl >= 0 && links[i].name)
      close(links[i].nl);
  if (results[0] >= 0)
    close(results[0]);
  if (results[1] >= 0)
    close(results[1]);
  return rc;
}

int br_cmd_netns_delete(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {
      {.name = "path"}, {.name = "ifname", .max = 16}, {.name = "wait-freed", .flag = 1}};
  const char *path;

  if (net_parse_opts(argc, argv, opts, 3, &err) < 0)
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
  if (opts[1].n && delete_links_in(path, &opts[1], opts[2].n > 0, &err) < 0) {
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
