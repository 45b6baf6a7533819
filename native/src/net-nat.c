/* nat-ensure / nat-remove: outbound NAT and forwarding rules of one bridge network.
 *
 * These run once per network, not per container, so spawning iptables is cheap enough and
 * keeps berth on whichever backend (nf_tables or legacy) the host's iptables uses, sharing
 * the tables with Docker or anything else there. Every rule carries the comment
 * "berth:<bridge>": nat-remove deletes by that tag, and a leak test can look for it. */
#include "net-commands.h"
#include "net-util.h"
#include "utils.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMD_TIMEOUT_MS 15000
#define LOCK_DIR "/run/berth"
#define LOCK_FILE LOCK_DIR "/nat.lock"

static void exec_tool(char *const argv[])
{
  char path[64];
  execvp(argv[0], argv);
  /* A caller's PATH (Node's, a test runner's) often lacks the sbin directories. */
  snprintf(path, sizeof(path), "/usr/sbin/%s", argv[0]);
  execv(path, argv);
  snprintf(path, sizeof(path), "/sbin/%s", argv[0]);
  execv(path, argv);
}

static long elapsed_ms(const struct timespec *t0)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Runs argv with stdout and stderr captured together into *out (malloc'd). Returns the exit
 * status, or -1 with *err set when it could not run or outlived CMD_TIMEOUT_MS. */
static int run_tool(char *const argv[], char **out, br_error_t *err)
{
  int p[2], status;
  pid_t pid;
  size_t len = 0;
  FILE *mem;
  struct timespec t0;

  *out = NULL;
  if (pipe2(p, O_CLOEXEC) < 0)
    return br_error_make(err, errno, "run %s: pipe", argv[0]);
  pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return br_error_make(err, errno, "run %s: fork", argv[0]);
  }
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    exec_tool(argv);
    fprintf(stderr, "%s: not found\n", argv[0]);
    _exit(127);
  }
  close(p[1]);
  mem = open_memstream(out, &len);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    char buf[4096];
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    long left = CMD_TIMEOUT_MS - elapsed_ms(&t0);
    ssize_t n;
    int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      close(p[0]);
      if (mem)
        fclose(mem);
      free(*out);
      *out = NULL;
      return br_error_make(err, 0, "%s did not finish within %d s", argv[0], CMD_TIMEOUT_MS / 1000);
    }
    n = read(p[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (mem)
      fwrite(buf, 1, (size_t)n, mem);
  }
  close(p[0]);
  if (mem)
    fclose(mem);
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return br_error_make(err, errno, "run %s: wait", argv[0]);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The first line of a tool's output, for an error message. */
static const char *first_line(char *s)
{
  char *nl;
  if (s == NULL)
    return "";
  nl = strchr(s, '\n');
  if (nl)
    *nl = '\0';
  return s;
}

struct rule {
  const char *table;
  const char *chain;
  const char *spec[16]; /* the match and target, NULL-terminated */
};

/* argv: TOOL -w 5 -t TABLE OP CHAIN [1] SPEC... -m comment --comment TAG */
static int rule_cmd(const char *tool, const char *op, const struct rule *r, const char *tag,
                    br_error_t *err)
{
  char *argv[40];
  char *out = NULL;
  int n = 0, rc;
  argv[n++] = (char *)tool;
  argv[n++] = "-w";
  argv[n++] = "5";
  argv[n++] = "-t";
  argv[n++] = (char *)r->table;
  argv[n++] = (char *)op;
  argv[n++] = (char *)r->chain;
  if (strcmp(op, "-I") == 0)
    argv[n++] = "1";
  for (int i = 0; r->spec[i]; i++)
    argv[n++] = (char *)r->spec[i];
  argv[n++] = "-m";
  argv[n++] = "comment";
  argv[n++] = "--comment";
  argv[n++] = (char *)tag;
  /* The target goes last, after the comment: -j must follow every match. */
  for (int i = 0; i < n; i++)
    if (strcmp(argv[i], "-j") == 0 && i + 1 < n) {
      char *j = argv[i], *target = argv[i + 1];
      memmove(&argv[i], &argv[i + 2], (size_t)(n - i - 2) * sizeof(argv[0]));
      argv[n - 2] = j;
      argv[n - 1] = target;
      break;
    }
  argv[n] = NULL;
  rc = run_tool(argv, &out, err);
  if (rc > 0 && strcmp(op, "-C") != 0)
    br_error_make(err, 0, "%s -t %s %s %s: %s", tool, r->table, op, r->chain, first_line(out));
  free(out);
  return rc;
}

/* Fills rules for one mode; returns how many. */
static int rules_for(const char *subnet, const char *br, int internal, struct rule *out)
{
  int n = 0;
  if (internal) {
    out[n++] = (struct rule){"filter", "FORWARD", {"-i", br, "!", "-o", br, "-j", "DROP"}};
    out[n++] = (struct rule){"filter", "FORWARD", {"-o", br, "!", "-i", br, "-j", "DROP"}};
  } else {
    out[n++] =
        (struct rule){"nat", "POSTROUTING", {"-s", subnet, "!", "-o", br, "-j", "MASQUERADE"}};
    out[n++] = (struct rule){"filter", "FORWARD", {"-i", br, "!", "-o", br, "-j", "ACCEPT"}};
    out[n++] = (struct rule){
        "filter",
        "FORWARD",
        {"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}};
  }
  out[n++] = (struct rule){"filter", "FORWARD", {"-i", br, "-o", br, "-j", "ACCEPT"}};
  return n;
}

static int lock_nat(br_error_t *err)
{
  int fd;
  mkdir(LOCK_DIR, 0755);
  fd = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return br_error_make(err, errno, "open lock `%s`", LOCK_FILE);
  /* Held for a handful of iptables runs; every run is itself bounded, so this wait is too. */
  if (flock(fd, LOCK_EX) < 0) {
    close(fd);
    return br_error_make(err, errno, "lock `%s`", LOCK_FILE);
  }
  return fd;
}

/* Read first: a value already set costs no write, and a read-only /proc/sys (berth run
 * inside a container whose host already forwards) is then no failure. */
static int write_sysctl(const char *path, const char *value, br_error_t *err)
{
  char cur[32] = {0};
  size_t n = strlen(value);
  cleanup_close int rfd = open(path, O_RDONLY | O_CLOEXEC);
  cleanup_close int fd = -1;
  if (n < sizeof(cur) - 1 && rfd >= 0 && read(rfd, cur, sizeof(cur) - 1) > 0 &&
      strncmp(cur, value, n) == 0 && (cur[n] == '\n' || cur[n] == '\0'))
    return 0;
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value, n) < 0)
    return br_error_make(err, errno, "write `%s` to %s", value, path);
  return 0;
}

/* Splits one line of `iptables -S` into words, undoing its double quotes. */
static int split_words(char *line, char **words, int max)
{
  int n = 0;
  char *p = line;
  while (*p && n < max - 1) {
    char *w;
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    w = p;
    words[n++] = w;
    if (*p == '"') {
      char *d = w;
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1])
          p++;
        *d++ = *p++;
      }
      if (*p == '"')
        p++;
      if (*p == ' ')
        p++;
      *d = '\0';
      continue;
    }
    while (*p && *p != ' ')
      p++;
    if (*p)
      *p++ = '\0';
  }
  words[n] = NULL;
  return n;
}

/* Deletes every rule tagged `tag` in table, whatever its shape: also those of an earlier
 * version of berth or of the other mode. Returns how many were deleted, or -1. */
static int sweep_table(const char *tool, const char *table, const char *tag, br_error_t *err)
{
  char *listing = NULL, *save = NULL, *line;
  char *argv[] = {(char *)tool, "-w", "5", "-t", (char *)table, "-S", NULL};
  int rc, deleted = 0;

  rc = run_tool(argv, &listing, err);
  if (rc != 0) {
    if (rc > 0)
      br_error_make(err, 0, "%s -t %s -S: %s", tool, table, first_line(listing));
    free(listing);
    return -1;
  }
  for (line = strtok_r(listing, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *w[64], *del[72], *out = NULL;
    int n, tagged = 0, k = 0;
    if (strncmp(line, "-A ", 3) != 0)
      continue;
    n = split_words(line, w, 64);
    for (int i = 0; i + 1 < n; i++)
      if (strcmp(w[i], "--comment") == 0 && strcmp(w[i + 1], tag) == 0)
        tagged = 1;
    if (!tagged)
      continue;
    del[k++] = (char *)tool;
    del[k++] = "-w";
    del[k++] = "5";
    del[k++] = "-t";
    del[k++] = (char *)table;
    del[k++] = "-D";
    for (int i = 1; i < n; i++)
      del[k++] = w[i];
    del[k] = NULL;
    rc = run_tool(del, &out, err);
    if (rc != 0) {
      if (rc > 0)
        br_error_make(err, 0, "%s -t %s -D %s: %s", tool, table, w[1], first_line(out));
      free(out);
      free(listing);
      return -1;
    }
    free(out);
    deleted++;
  }
  free(listing);
  return deleted;
}

static int parse_common(int argc, char **argv, struct net_opt *opts, size_t nopts, int need_subnet,
                        struct net_addr *subnet, char *tag, size_t taglen, br_error_t *err)
{
  if (net_parse_opts(argc, argv, opts, nopts, err) < 0)
    return -1;
  if (opts[1].n == 0 || (need_subnet && opts[0].n == 0))
    return br_error_make(err, 0, "%s: %s required", argv[0],
                         need_subnet ? "--subnet and --bridge are" : "--bridge is");
  if (net_check_ifname(opts[1].val[0], "bridge name", err) < 0)
    return -1;
  if (opts[0].n && net_parse_addr(opts[0].val[0], 1, subnet, err) < 0)
    return br_error_wrap(err, "--subnet");
  snprintf(tag, taglen, "berth:%s", opts[1].val[0]);
  return 0;
}

int br_cmd_nat_ensure(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "subnet"}, {.name = "bridge"}, {.name = "internal", .flag = 1}};
  struct net_addr subnet;
  struct rule want[8], stale[8];
  char tag[32];
  const char *tool, *br, *cidr;
  int nwant, nstale, internal, lock = -1;

  if (parse_common(argc, argv, opts, 3, 1, &subnet, tag, sizeof(tag), &err) < 0)
    return net_fail(&err);
  cidr = opts[0].val[0];
  br = opts[1].val[0];
  internal = opts[2].n > 0;
  tool = subnet.family == AF_INET6 ? "ip6tables" : "iptables";
  nwant = rules_for(cidr, br, internal, want);
  nstale = rules_for(cidr, br, !internal, stale);

  if (!internal && write_sysctl(subnet.family == AF_INET6 ? "/proc/sys/net/ipv6/conf/all/forwarding"
                                                          : "/proc/sys/net/ipv4/ip_forward",
                                "1", &err) < 0)
    goto fail;
  lock = lock_nat(&err);
  if (lock < 0)
    goto fail;
  /* A network switched between internal and not keeps no rule of its old mode. */
  for (int i = 0; i < nstale; i++) {
    int shared = 0;
    for (int k = 0; k < nwant; k++)
      if (memcmp(&stale[i], &want[k], sizeof(stale[i])) == 0)
        shared = 1;
    while (!shared) {
      int rc = rule_cmd(tool, "-C", &stale[i], tag, &err);
      if (rc < 0)
        goto fail;
      if (rc != 0)
        break;
      if (rule_cmd(tool, "-D", &stale[i], tag, &err) != 0)
        goto fail;
    }
  }
  /* Check before insert keeps it idempotent; inserting at the top keeps our accepts ahead
   * of a DROP that other tools (Docker's DOCKER-ISOLATION chains) append. */
  for (int i = 0; i < nwant; i++) {
    int rc = rule_cmd(tool, "-C", &want[i], tag, &err);
    if (rc < 0)
      goto fail;
    if (rc != 0 && rule_cmd(tool, "-I", &want[i], tag, &err) != 0)
      goto fail;
  }
  close(lock);
  return 0;
fail:
  if (lock >= 0)
    close(lock);
  br_error_wrap(&err, "ensure NAT for bridge `%s`", br);
  return net_fail(&err);
}

int br_cmd_nat_remove(int argc, char **argv)
{
  br_error_t err = NULL;
  struct net_opt opts[] = {{.name = "subnet"}, {.name = "bridge"}};
  struct net_addr subnet = {0};
  const char *tools[2] = {"iptables", "ip6tables"};
  char tag[32];
  int lock, ntools = 2;

  if (parse_common(argc, argv, opts, 2, 0, &subnet, tag, sizeof(tag), &err) < 0)
    return net_fail(&err);
  /* With a subnet only its family's tool is asked; without, both are swept. */
  if (opts[0].n) {
    tools[0] = subnet.family == AF_INET6 ? "ip6tables" : "iptables";
    ntools = 1;
  }
  lock = lock_nat(&err);
  if (lock < 0)
    goto fail;
  for (int t = 0; t < ntools; t++)
    for (int k = 0; k < 2; k++) {
      const char *table = k == 0 ? "nat" : "filter";
      if (sweep_table(tools[t], table, tag, &err) < 0) {
        /* A host without IPv6 netfilter has nothing of ours to remove there. */
        if (ntools == 2 && t == 1) {
          br_error_release(&err);
          continue;
        }
        close(lock);
        goto fail;
      }
    }
  close(lock);
  return 0;
fail:
  br_error_wrap(&err, "remove NAT for bridge `%s`", opts[1].val[0]);
  return net_fail(&err);
}
