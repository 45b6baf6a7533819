/* br_cgroup_* on the real host (root needed). On the hybrid CI host this covers the v1
 * controllers and the v2 tree together; the checks read back what the kernel shows. */
#include "../src/cgroup.h"
#include "../src/cgroup-internal.h"
#include "../src/utils.h"
#include "test.h"

#include <errno.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <json_tokener.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int counter;
static char idbuf[64];

static const char *new_id(void)
{
  snprintf(idbuf, sizeof(idbuf), "brtest-%d-%d", (int)getpid(), counter++);
  return idbuf;
}

static struct json_object *parse(const char *json)
{
  struct json_object *o = json_tokener_parse(json);
  if (o == NULL) {
    fprintf(stderr, "bad test JSON: %s\n", json);
    exit(2);
  }
  return o;
}

static bool exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

/* The directory of `cg` for `controller`, or "" (the v2 directory for ""). */
static const char *dir(struct br_cgroup *cg, const char *controller)
{
  const char *d = controller[0] ? br_cg_dir_for(cg, controller) : br_cg_v2_dir(cg);
  return d ? d : "";
}

static bool file_is(const char *d, const char *file, const char *want)
{
  char buf[4096];
  if (br_cg_read(d, file, buf, sizeof(buf), NULL) < 0)
    return false;
  buf[strcspn(buf, "\n")] = 0;
  if (strcmp(buf, want) != 0) {
    fprintf(stderr, "  %s/%s = \"%s\", want \"%s\"\n", d, file, buf, want);
    return false;
  }
  return true;
}

static pid_t spawn(void (*fn)(void))
{
  pid_t pid = fork();
  if (pid == 0) {
    fn();
    _exit(0);
  }
  return pid;
}

/* A child that runs `fn` only once it is in `cg`, so everything it forks is in there too. */
static pid_t spawn_in(struct br_cgroup *cg, void (*fn)(void))
{
  int go[2];
  br_error_t err = NULL;
  if (pipe(go) < 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    close(go[1]);
    if (read(go[0], &c, 1) != 1)
      _exit(4);
    fn();
    _exit(0);
  }
  close(go[0]);
  CHECK_OK(br_cgroup_enter(cg, pid, &err), err);
  br_error_release(&err);
  (void)write(go[1], "g", 1);
  close(go[1]);
  return pid;
}

static void parent_of_three(void);

/* Creates a cgroup from a `linux` object (NULL: none) for a fresh id; checked. */
static int create(const char *json, pid_t pid, struct br_cgroup **cg)
{
  br_error_t err = NULL;
  struct json_object *lin = json ? parse(json) : NULL;
  int ret = br_cgroup_create(new_id(), lin, pid, false, cg, &err);
  if (lin)
    json_object_put(lin);
  CHECK_OK(ret, err);
  br_error_release(&err);
  return ret;
}

/* Polls until the cgroup holds `want` processes (5 s at most); the most it saw. */
static size_t wait_pids(struct br_cgroup *cg, size_t want)
{
  size_t max = 0;
  for (int i = 0; i < 5000 && max < want; i++) {
    pid_t *pids = NULL;
    size_t n = 0;
    if (br_cgroup_pids(cg, &pids, &n, NULL) == 0) {
      if (n > max)
        max = n;
      free(pids);
    }
    usleep(1000);
  }
  return max;
}

/* Destroys the cgroup and checks that none of its directories is left. */
static void destroy_and_check_gone(struct br_cgroup *cg, bool force)
{
  br_error_t err = NULL;
  char *paths[16];
  size_t n = cg->n < 16 ? cg->n : 16;
  for (size_t i = 0; i < n; i++)
    paths[i] = strdup(cg->dirs[i].path);
  CHECK_OK(br_cgroup_destroy(cg, force, &err), err);
  br_error_release(&err);
  for (size_t i = 0; i < n; i++) {
    CHECK(!exists(paths[i]), "%s still exists", paths[i]);
    free(paths[i]);
  }
}

static void sleeper(void)
{
  for (;;)
    pause();
}

static int reap(pid_t pid)
{
  int st = -1;
  for (int i = 0; i < 5000; i++) {
    if (waitpid(pid, &st, WNOHANG) == pid)
      return st;
    usleep(1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

static bool in_cgroup(pid_t pid, const char *d)
{
  char path[512];
  snprintf(path, sizeof(path), "%s/cgroup.procs", d);
  FILE *f = fopen(path, "r");
  int p;
  bool found = false;
  if (f == NULL)
    return false;
  while (fscanf(f, "%d", &p) == 1)
    found |= p == pid;
  fclose(f);
  return found;
}

static void test_default_path_joins_every_hierarchy_and_destroy_removes_all(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  pid_t child = spawn(sleeper);
  int ret = create(NULL, child, &cg);
  if (ret < 0) {
    kill(child, SIGKILL);
    reap(child);
    return;
  }
  size_t n = cg->n;
  CHECK(cg->mode == BR_CG_HYBRID || cg->mode == BR_CG_V1 || cg->mode == BR_CG_V2, "mode");
  for (size_t i = 0; i < n; i++) {
    CHECK(in_cgroup(child, cg->dirs[i].path), "pid %d not in %s", child, cg->dirs[i].path);
    CHECK(strstr(cg->dirs[i].path, idbuf) != NULL, "%s", cg->dirs[i].path);
  }
  if (cg->mode == BR_CG_HYBRID) {
    static const char *const must[] = {"memory",  "cpu",     "cpuacct", "cpuset",      "pids",
                                       "freezer", "devices", "blkio",   "name=systemd"};
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
      char mnt[128];
      bool found = false;
      snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%s",
               strcmp(must[i], "name=systemd") == 0 ? "systemd" : must[i]);
      if (!exists(mnt))
        continue;
      for (size_t j = 0; j < n; j++) {
        const char *c = cg->dirs[j].ctrl;
        size_t l = strlen(must[i]);
        for (const char *p = c; (p = strstr(p, must[i])) != NULL; p++)
          found |= (p == c || p[-1] == ',') && (p[l] == 0 || p[l] == ',');
      }
      CHECK(found, "no %s hierarchy", must[i]);
    }
    CHECK(br_cg_v2_dir(cg) != NULL, "hybrid host but no v2 directory");
  }
  destroy_and_check_gone(cg, true);
  int st = reap(child);
  CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
  /* Idempotent: everything is gone already. */
  CHECK_OK(br_cgroup_destroy(cg, true, &err), err);
  br_cgroup_free(cg);
}

static void test_limits_are_written_to_the_right_files(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  /* Controller, file, the value the spec below puts there. */
  static const struct {
    const char *ctrl, *file, *want;
  } v1[] =
      {
          {"memory", "memory.limit_in_bytes", "67108864"},
          {"memory", "memory.soft_limit_in_bytes", "33554432"},
          {"cpu", "cpu.shares", "512"},
          {"cpu", "cpu.cfs_quota_us", "50000"},
          {"cpu", "cpu.cfs_period_us", "100000"},
          {"devices", "devices.list", "c 10:200 rw"},
      },
    v2[] =
        {
            {"memory", "memory.max", "67108864"},
            {"cpu", "cpu.max", "50000 100000"},
        },
    both[] = {
        {"cpuset", "cpuset.cpus", "0"},
        {"cpuset", "cpuset.mems", "0"},
        {"pids", "pids.max", "32"},
    };
  int ret = create(
      "{\"resources\":{\"memory\":{\"limit\":67108864,\"reservation\":33554432,\"swap\":67108864},"
      "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0\",\"mems\":\"0\"},"
      "\"pids\":{\"limit\":32},\"blockIO\":{\"weight\":300},"
      "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\","
      "\"major\":10,\"minor\":200,\"access\":\"rw\"}]}}",
      0, &cg);
  if (ret < 0)
    return;
  const char *mem = dir(cg, "memory");
  bool is_v2 = mem == br_cg_v2_dir(cg);
  for (size_t i = 0; !is_v2 && i < sizeof(v1) / sizeof(v1[0]); i++)
    CHECK(file_is(dir(cg, v1[i].ctrl), v1[i].file, v1[i].want), "%s", v1[i].file);
  for (size_t i = 0; is_v2 && i < sizeof(v2) / sizeof(v2[0]); i++)
    CHECK(file_is(dir(cg, v2[i].ctrl), v2[i].file, v2[i].want), "%s", v2[i].file);
  for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++)
    CHECK(file_is(dir(cg, both[i].ctrl), both[i].file, both[i].want), "%s", both[i].file);
  if (!is_v2) {
    if (br_cg_has_file(mem, "memory.memsw.limit_in_bytes"))
      CHECK(file_is(mem, "memory.memsw.limit_in_bytes", "67108864"), "swap");
    char list[4096];
    br_cg_read(dir(cg, "devices"), "devices.list", list, sizeof(list), NULL);
    CHECK(strstr(list, "c 1:3 rwm") && strstr(list, "c 136:* rwm") && !strstr(list, "a *:*"),
          "devices.list:\n%s", list);
    const char *blk = dir(cg, "blkio");
    if (br_cg_has_file(blk, "blkio.weight"))
      CHECK(file_is(blk, "blkio.weight", "300"), "blkio weight");
    else if (br_cg_has_file(blk, "blkio.bfq.weight"))
      CHECK(file_is(blk, "blkio.bfq.weight", "300"), "blkio bfq weight");
  }
  CHECK_OK(br_cgroup_destroy(cg, false, &err), err);
  br_cgroup_free(cg);
}

static void test_serialize_load_round_trip(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL, *back = NULL;
  const char *id = new_id();
  int ret = br_cgroup_create(id, NULL, 0, false, &cg, &err);
  CHECK_OK(ret, err);
  if (ret < 0)
    return;
  char *s = br_cgroup_serialize(cg);
  ret = br_cgroup_load(s, &back, &err);
  CHECK_OK(ret, err);
  if (ret == 0) {
    CHECK(back->n == cg->n && back->mode == cg->mode, "%s", s);
    for (size_t i = 0; i < cg->n && i < back->n; i++) {
      CHECK(strcmp(back->dirs[i].path, cg->dirs[i].path) == 0, "path %zu", i);
      CHECK(strcmp(back->dirs[i].ctrl, cg->dirs[i].ctrl) == 0, "ctrl %zu", i);
      CHECK((back->dirs[i].owned == NULL) == (cg->dirs[i].owned == NULL), "owned %zu", i);
    }
    CHECK_OK(br_cgroup_destroy(back, false, &err), err);
    for (size_t i = 0; i < cg->n; i++)
      CHECK(!exists(cg->dirs[i].path), "%s left", cg->dirs[i].path);
  }
  free(s);
  br_cgroup_free(back);
  br_cgroup_free(cg);
  CHECK(br_cgroup_load("{\"mode\":\"v1\",\"dirs\":[{\"ctrl\":\"memory\",\"path\":\"../etc\"}]}",
                       &back, &err) < 0 &&
            strstr(err->msg, "malformed cgroup record"),
        "relative path accepted");
  br_error_release(&err);
  CHECK(br_cgroup_load("nope", &back, &err) < 0, "garbage accepted");
  br_error_release(&err);
}

static void test_relative_and_absolute_cgroups_path(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  char own[512] = "", json[256];
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[512];
  while (f && fgets(line, sizeof(line), f)) {
    char *p = strstr(line, ":memory:");
    if (p) {
      snprintf(own, sizeof(own), "%s", p + 8);
      own[strcspn(own, "\n")] = 0;
    }
  }
  if (f)
    fclose(f);

  snprintf(json, sizeof(json), "{\"cgroupsPath\":\"brtest-rel-%d//x/./y\"}", (int)getpid());
  struct json_object *lin = parse(json);
  int ret = br_cgroup_create("unused", lin, 0, false, &cg, &err);
  json_object_put(lin);
  CHECK_OK(ret, err);
  if (ret == 0) {
    char want[1024];
    snprintf(want, sizeof(want), "/sys/fs/cgroup/memory%s/brtest-rel-%d/x/y",
             strcmp(own, "/") == 0 ? "" : own, (int)getpid());
    CHECK(strcmp(dir(cg, "memory"), want) == 0, "memory dir %s, want %s", dir(cg, "memory"), want);
    char *leaves[16];
    size_t nd = cg->n < 16 ? cg->n : 16;
    for (size_t i = 0; i < nd; i++)
      leaves[i] = strdup(cg->dirs[i].path);
    CHECK_OK(br_cgroup_destroy(cg, false, &err), err);
    /* Parents named by the spec are the user's: they stay (and are removed here). */
    for (size_t i = 0; i < nd; i++) {
      leaves[i][strlen(leaves[i]) - 2] = 0;
      CHECK(exists(leaves[i]), "%s was removed", leaves[i]);
      rmdir(leaves[i]);
      leaves[i][strlen(leaves[i]) - 2] = 0;
      rmdir(leaves[i]);
      CHECK(!exists(leaves[i]), "test cleanup: %s", leaves[i]);
      free(leaves[i]);
    }
    br_cgroup_free(cg);
  }

  snprintf(json, sizeof(json), "{\"cgroupsPath\":\"/brtest-abs-%d\"}", (int)getpid());
  lin = parse(json);
  ret = br_cgroup_create("unused", lin, 0, false, &cg, &err);
  json_object_put(lin);
  CHECK_OK(ret, err);
  if (ret == 0) {
    char want[256];
    snprintf(want, sizeof(want), "/sys/fs/cgroup/memory/brtest-abs-%d", (int)getpid());
    CHECK(strcmp(dir(cg, "memory"), want) == 0, "memory dir %s, want %s", dir(cg, "memory"), want);
    CHECK_OK(br_cgroup_destroy(cg, false, &err), err);
    CHECK(!exists(want), "%s left", want);
    br_cgroup_free(cg);
  }
}

static void expect_create_error(const char *json, const char *message)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  struct json_object *lin = parse(json);
  const char *id = new_id();
  char path[256];
  int ret = br_cgroup_create(id, lin, 0, false, &cg, &err);
  json_object_put(lin);
  CHECK(ret < 0 && err && strstr(err->msg, message), "got \"%s\", want \"%s\"",
        err ? err->msg : "(success)", message);
  br_error_release(&err);
  if (ret == 0) {
    br_cgroup_destroy(cg, true, NULL);
    br_cgroup_free(cg);
  }
  /* Nothing may be left behind by a failed create. */
  snprintf(path, sizeof(path), "/sys/fs/cgroup/cpuset/berth/%s", id);
  CHECK(!exists(path), "%s left behind", path);
  snprintf(path, sizeof(path), "/sys/fs/cgroup/unified/berth/%s", id);
  CHECK(!exists(path), "%s left behind", path);
}

static void test_errors_name_the_field_and_leave_nothing(void)
{
  expect_create_error("{\"cgroupsPath\":\"a/../../b\"}", "linux.cgroupsPath: `..` is not allowed");
  expect_create_error("{\"cgroupsPath\":42}", "linux.cgroupsPath: expected string");
  expect_create_error("{\"resources\":{\"memory\":{\"limit\":\"1g\"}}}",
                      "linux.resources.memory.limit: expected int, got string");
  expect_create_error("{\"resources\":{\"cpu\":{\"cpus\":\"0-999\"}}}",
                      "linux.resources.cpu.cpus: write");
  expect_create_error("{\"resources\":{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}}",
                      "linux.resources.devices[0].type: unknown device type \"x\"");
  expect_create_error("{\"resources\":{\"memory\":{\"limit\":67108864,\"swap\":1024}}}",
                      "linux.resources.memory.swap");
}

/* Touches 256 MiB page by page: far above the limit. */
static void hog(void)
{
  size_t len = 256 << 20;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    _exit(3);
  for (size_t i = 0; i < len; i += 4096)
    p[i] = 1;
  _exit(0);
}

static void test_memory_limit_oom_kills_and_is_reported(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  if (create("{\"resources\":{\"memory\":{\"limit\":33554432,\"swap\":33554432}}}", 0, &cg) < 0)
    return;
  CHECK(br_cgroup_oom_killed(cg, &err) == 0, "OOM before anything ran");
  /* The child joins before it allocates. */
  pid_t child = spawn_in(cg, hog);
  int st = reap(child);
  CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
  CHECK(br_cgroup_oom_killed(cg, &err) == 1, "OOM kill not reported");
  CHECK_OK(br_cgroup_destroy(cg, false, &err), err);
  br_cgroup_free(cg);
}

static void fork_bomb(void)
{
  for (;;) {
    if (fork() < 0)
      usleep(100);
  }
}

static void test_pids_limit_contains_a_fork_bomb_and_destroy_kills_it(void)
{
  struct br_cgroup *cg = NULL;
  if (create("{\"resources\":{\"pids\":{\"limit\":24}}}", 0, &cg) < 0)
    return;
  pid_t child = spawn_in(cg, fork_bomb);
  /* Wait until the bomb has hit the ceiling. */
  size_t max = wait_pids(cg, 24);
  CHECK(max == 24, "the bomb reached %zu processes, limit 24", max);
  destroy_and_check_gone(cg, true);
  int st = reap(child);
  CHECK(st != -1 && WIFSIGNALED(st), "bomb status %#x", st);
  br_cgroup_free(cg);
}

static void parent_of_three(void)
{
  for (int i = 0; i < 3; i++)
    if (fork() == 0)
      sleeper();
  sleeper();
}

static void test_kill_signals_every_process_and_freeze_thaws(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  if (create(NULL, 0, &cg) < 0)
    return;
  pid_t child = spawn_in(cg, parent_of_three);
  pid_t *pids = NULL;
  size_t n = wait_pids(cg, 4);
  CHECK(n == 4, "%zu processes, want 4", n);

  CHECK_OK(br_cgroup_freeze(cg, true, &err), err);
  const char *fz = dir(cg, "freezer");
  if (fz[0])
    CHECK(file_is(fz, "freezer.state", "FROZEN"), "frozen");
  CHECK_OK(br_cgroup_freeze(cg, false, &err), err);
  if (fz[0])
    CHECK(file_is(fz, "freezer.state", "THAWED"), "thawed");

  CHECK_OK(br_cgroup_kill(cg, SIGTERM, &err), err);
  int st = reap(child);
  CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "child status %#x", st);
  /* The grandchildren were re-parented to the host's init, which reaps them. */
  for (int i = 0; i < 5000; i++) {
    br_cgroup_pids(cg, &pids, &n, &err);
    free(pids);
    if (n == 0)
      break;
    usleep(1000);
  }
  CHECK(n == 0, "%zu processes survived SIGTERM", n);
  CHECK_OK(br_cgroup_destroy(cg, false, &err), err);
  br_cgroup_free(cg);
}

static void test_destroy_without_force_refuses_a_live_cgroup(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  pid_t child = spawn(sleeper);
  int ret = br_cgroup_create(new_id(), NULL, child, false, &cg, &err);
  CHECK_OK(ret, err);
  if (ret < 0) {
    kill(child, SIGKILL);
    reap(child);
    return;
  }
  ret = br_cgroup_destroy(cg, false, &err);
  CHECK(ret < 0 && err && strstr(err->msg, "processes are still in it"), "%s",
        err ? err->msg : "(success)");
  br_error_release(&err);
  CHECK_OK(br_cgroup_destroy(cg, true, &err), err);
  reap(child);
  br_cgroup_free(cg);
}

/* ---- a pure v2 host, seen from a mount namespace without the v1 hierarchies ---- */

static void v2_lifecycle(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  int ret = br_cgroup_create(new_id(), NULL, 0, false, &cg, &err);
  CHECK_OK(ret, err);
  if (ret < 0)
    return;
  pid_t child = spawn_in(cg, parent_of_three);
  pid_t *pids = NULL;
  size_t n = 0;
  for (int i = 0; i < 5000 && n < 4; i++) {
    free(pids);
    pids = NULL;
    br_cgroup_pids(cg, &pids, &n, &err);
    usleep(1000);
  }
  free(pids);
  CHECK(n == 4, "%zu processes, want 4", n);
  CHECK(cg->mode == BR_CG_V2 && cg->n == 1, "mode %d with %zu dirs", cg->mode, cg->n);
  const char *d = cg->dirs[0].path;
  char leaf[512];
  snprintf(leaf, sizeof(leaf), "%s", d);
  CHECK(in_cgroup(child, d), "child not in %s", d);
  CHECK_OK(br_cgroup_freeze(cg, true, &err), err);
  char ev[256] = "";
  br_cg_read(d, "cgroup.events", ev, sizeof(ev), NULL);
  CHECK(strstr(ev, "frozen 1") != NULL, "cgroup.events: %s", ev);
  CHECK_OK(br_cgroup_freeze(cg, false, &err), err);
  br_cg_read(d, "cgroup.events", ev, sizeof(ev), NULL);
  CHECK(strstr(ev, "frozen 0") != NULL, "cgroup.events: %s", ev);
  CHECK(br_cgroup_oom_killed(cg, &err) == 0, "oom without a memory controller");
  /* cgroup.kill, then rmdir once the kernel has emptied it. */
  CHECK_OK(br_cgroup_destroy(cg, true, &err), err);
  CHECK(!exists(leaf), "%s left", leaf);
  int st = reap(child);
  CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
  br_cgroup_free(cg);
}

static void v2_missing_controller_is_an_error_naming_the_field(void)
{
  expect_create_error("{\"resources\":{\"memory\":{\"limit\":67108864}}}",
                      "linux.resources.memory: the `memory` cgroup controller is not available");
}

static void v2_hugetlb_and_unified_limits(void)
{
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  char root_before[256] = "", json[320];
  const char *mnt = "/sys/fs/cgroup/unified";
  br_cg_read(mnt, "cgroup.subtree_control", root_before, sizeof(root_before), NULL);
  /* Directly below the root, not in the shared "berth" parent: other containers there
   * would keep hugetlb enabled in it, and the root's could not be switched back. */
  snprintf(json, sizeof(json),
           "{\"cgroupsPath\":\"/brtest-v2-%d\",\"resources\":{\"hugepageLimits\":[{"
           "\"pageSize\":\"2MB\",\"limit\":4194304}],\"unified\":{\"cgroup.max.descendants\":"
           "\"5\"}}}",
           (int)getpid());
  struct json_object *lin = parse(json);
  int ret = br_cgroup_create("unused", lin, 0, false, &cg, &err);
  json_object_put(lin);
  CHECK_OK(ret, err);
  if (ret == 0) {
    if (br_cg_has_file(cg->dirs[0].path, "hugetlb.2MB.max"))
      CHECK(file_is(cg->dirs[0].path, "hugetlb.2MB.max", "4194304"), "hugetlb");
    CHECK(file_is(cg->dirs[0].path, "cgroup.max.descendants", "5"), "unified");
    CHECK_OK(br_cgroup_destroy(cg, false, &err), err);
    br_cgroup_free(cg);
  }
  /* The host's root had no hugetlb in its subtree: put it back as it was. */
  if (!strstr(root_before, "hugetlb"))
    CHECK(br_cg_write(mnt, "cgroup.subtree_control", "-hugetlb", &err) == 0, "restore: %s",
          err ? err->msg : "");
  br_error_release(&err);
}

/* Runs `body` in a child with a mount namespace of its own in which the hierarchies
 * `unmount` names (under /sys/fs/cgroup, NULL-terminated) are gone: the hybrid host seen as a
 * pure v1 or pure v2 one. */
static void in_view(const char *what, const char *const *unmount, void (*body)(void))
{
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    br_test_failures = br_test_passes = 0;
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
      _exit(99);
    for (; *unmount; unmount++) {
      char path[128];
      snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", *unmount);
      (void)umount2(path, MNT_DETACH);
    }
    body();
    fflush(stdout);
    _exit(br_test_failures > 98 ? 98 : br_test_failures);
  }
  int st = reap(pid);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s view: status %#x", what, st);
}

static int mknod_after_go(int go);

/* Forks a child that tries mknod once released, puts it in cg (only its v1 hierarchies when
 * v1_only, as the runtime does after a lean create), checks it sits in `in_dir` when given, and
 * expects the kernel to refuse the block device: the rules must bind before the child runs. */
static void expect_mknod_denied(struct br_cgroup *cg, bool v1_only, const char *in_dir,
                                const char *what)
{
  br_error_t err = NULL;
  int go[2], st;
  pid_t child;
  if (pipe(go) < 0)
    abort();
  child = fork();
  if (child == 0) {
    close(go[1]);
    _exit(mknod_after_go(go[0]));
  }
  close(go[0]);
  CHECK_OK(v1_only ? br_cgroup_enter_v1(cg, child, false, &err) : br_cgroup_enter(cg, child, &err),
           err);
  br_error_release(&err);
  if (in_dir != NULL)
    CHECK(in_cgroup(child, in_dir), "%s: child not in `%s`", what, in_dir);
  if (write(go[1], "g", 1) != 1)
    abort();
  close(go[1]);
  st = reap(child);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == EPERM, "%s: mknod b 8:0: exit %d (want EPERM %d)", what,
        WIFEXITED(st) ? WEXITSTATUS(st) : -1, EPERM);
}

/* A pure v2 host has no devices controller: the rules are an eBPF filter on the container's
 * directory, attached by the create (or by br_cgroup_attach_devices() when deferred), and
 * enforced: mknod of a denied device fails. */
static void v2_device_rules_are_enforced(void)
{
  struct json_object *lin =
      parse("{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}");
  for (int deferred = 0; deferred < 2; deferred++) {
    br_error_t err = NULL;
    struct br_cgroup *cg = NULL;
    int ret;
    ret = deferred ? br_cgroup_create_lean(new_id(), lin, false, BR_CGROUP_DEFER_DEVICES, &cg, &err)
                   : br_cgroup_create(new_id(), lin, 0, false, &cg, &err);
    CHECK_OK(ret, err);
    if (ret < 0)
      break;
    CHECK(cg->mode == BR_CG_V2, "mode %d", cg->mode);
    CHECK_OK(br_cgroup_attach_devices(cg, &err), err);
    expect_mknod_denied(cg, false, NULL, deferred ? "deferred" : "at create");
    destroy_and_check_gone(cg, true);
    br_cgroup_free(cg);
  }
  json_object_put(lin);
}

static void v2_view(void)
{
  RUN(v2_lifecycle);
  RUN(v2_device_rules_are_enforced);
  RUN(v2_missing_controller_is_an_error_naming_the_field);
  RUN(v2_hugetlb_and_unified_limits);
}

static void test_pure_v2_host(void)
{
  static const char *const v1[] = {
      "cpu",   "cpuacct", "cpuset",   "memory",           "devices",    "freezer",
      "blkio", "pids",    "systemd",  "net_cls",          "perf_event", "hugetlb",
      "rdma",  "misc",    "net_prio", "net_cls,net_prio", NULL};
  if (!exists("/sys/fs/cgroup/unified/cgroup.procs") || !exists("/sys/fs/cgroup/memory")) {
    printf("skipped (not a hybrid host, so no v2-only view can be made)\n");
    return;
  }
  in_view("v2", v1, v2_view);
}

static void v1_mode_and_kill_without_cgroup_kill(void)
{
  struct br_cgroup *cg = NULL;
  if (create(NULL, 0, &cg) < 0)
    return;
  CHECK(cg->mode == BR_CG_V1 && br_cg_v2_dir(cg) == NULL, "mode %d", cg->mode);
  br_cgroup_destroy(cg, false, NULL);
  br_cgroup_free(cg);
  /* No cgroup.kill: destroy(force) freezes, kills every pid, thaws. */
  test_pids_limit_contains_a_fork_bomb_and_destroy_kills_it();
}

static void v1_view(void)
{
  RUN(v1_mode_and_kill_without_cgroup_kill);
}

static void test_pure_v1_host(void)
{
  static const char *const v2[] = {"unified", NULL};
  if (!exists("/sys/fs/cgroup/unified/cgroup.procs") || !exists("/sys/fs/cgroup/freezer")) {
    printf("skipped (not a hybrid host, so no v1-only view can be made)\n");
    return;
  }
  in_view("v1", v2, v1_view);
}

static void test_rootless_without_delegation(void)
{
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    br_error_t err = NULL;
    struct br_cgroup *cg = NULL;
    int fails = 0;
    if (setgid(65534) < 0 || setuid(65534) < 0)
      _exit(99);
    /* No limit asked: the container simply stays in the caller's cgroups. */
    if (br_cgroup_create("rootless-a", NULL, 0, true, &cg, &err) < 0) {
      fprintf(stderr, "  no limits: %s\n", err->msg);
      fails++;
    } else {
      fails += cg->n != 0;
      fails += br_cgroup_destroy(cg, true, &err) < 0;
      br_cgroup_free(cg);
    }
    struct json_object *lin = parse("{\"resources\":{\"pids\":{\"limit\":10}}}");
    if (br_cgroup_create("rootless-b", lin, 0, true, &cg, &err) == 0 ||
        !strstr(err->msg, "not delegated")) {
      fprintf(stderr, "  with limits: %s\n", err ? err->msg : "(success)");
      fails++;
    }
    _exit(fails);
  }
  int st = reap(pid);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "rootless: status %#x", st);
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Printed for the report, never asserted (no timed tests). */
static void test_figures_create_destroy(void)
{
  struct json_object *lin = parse(
      "{\"resources\":{\"memory\":{\"limit\":67108864,\"swap\":67108864},\"cpu\":{\"shares\":512,"
      "\"quota\":50000,\"period\":100000},\"pids\":{\"limit\":64},\"devices\":[{\"allow\":false,"
      "\"access\":\"rwm\"}]}}");
  double c[40], d[40];
  br_error_t err = NULL;
  for (int i = 0; i < 40; i++) {
    struct br_cgroup *cg = NULL;
    pid_t child = spawn(sleeper);
    double t0 = now_ms();
    int ret = br_cgroup_create(new_id(), lin, child, false, &cg, &err);
    double t1 = now_ms();
    CHECK_OK(ret, err);
    if (ret < 0) {
      kill(child, SIGKILL);
      reap(child);
      break;
    }
    kill(child, SIGKILL);
    reap(child);
    double t2 = now_ms();
    ret = br_cgroup_destroy(cg, false, &err);
    d[i] = now_ms() - t2;
    c[i] = t1 - t0;
    CHECK_OK(ret, err);
    br_cgroup_free(cg);
  }
  qsort(c, 40, sizeof(double), cmp_double);
  qsort(d, 40, sizeof(double), cmp_double);
  printf("figure: cgroup create with limits + add pid: median %.2f ms (min %.2f)\n", c[20], c[0]);
  printf("figure: cgroup destroy after the process exited: median %.2f ms (min %.2f)\n", d[20],
         d[0]);
  /* The same with br_cgroup_create_lean (hybrid: v2 + memory, cpu, pids; devices as eBPF). */
  for (int i = 0; i < 40; i++) {
    struct br_cgroup *cg = NULL;
    pid_t child = spawn(sleeper);
    double t0 = now_ms();
    int ret = br_cgroup_create_lean(new_id(), lin, false, 0, &cg, &err);
    if (ret == 0)
      ret = br_cgroup_enter_v1(cg, child, false, &err);
    c[i] = now_ms() - t0;
    CHECK_OK(ret, err);
    kill(child, SIGKILL);
    reap(child);
    if (cg) {
      (void)br_cgroup_destroy(cg, true, NULL);
      br_cgroup_free(cg);
    }
    if (ret < 0)
      break;
  }
  qsort(c, 40, sizeof(double), cmp_double);
  printf("figure: lean cgroup create with limits + add pid: median %.2f ms (min %.2f)\n", c[20],
         c[0]);
  json_object_put(lin);
}

/* A hybrid host, lean mode: the v2 directory, v1 only for what the limits need, and the
 * device rules as an eBPF filter (mknod of a denied device fails, of an allowed one works). */
static int mknod_after_go(int go)
{
  char b;
  int r;
  if (read(go, &b, 1) != 1)
    return 100;
  unlink("/dev/shm/brtest-blk");
  r = mknod("/dev/shm/brtest-blk", S_IFBLK | 0600, makedev(8, 0)) == 0 ? 0 : errno;
  unlink("/dev/shm/brtest-blk");
  if (r == 0)
    return 0;
  unlink("/dev/shm/brtest-null");
  r = mknod("/dev/shm/brtest-null", S_IFCHR | 0600, makedev(1, 3)) == 0 ? r : 200 + errno;
  unlink("/dev/shm/brtest-null");
  return r;
}

/* Whether the host is hybrid (cgroup2 at unified/) with the v1 `ctrl` hierarchy mounted; says
 * the test is skipped when not. */
static bool hybrid_with(const char *ctrl)
{
  char p[128];
  snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/cgroup.procs", ctrl);
  if (exists("/sys/fs/cgroup/unified/cgroup.controllers") && exists(p))
    return true;
  printf("skipped: not a hybrid v1/v2 host\n");
  return false;
}

static void test_lean_hybrid_joins_only_limited_v1_and_filters_devices(void)
{
  struct json_object *lin = parse("{\"resources\":{\"memory\":{\"limit\":67108864},"
                                  "\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}");
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  int ret;
  if (!hybrid_with("memory")) {
    json_object_put(lin);
    return;
  }
  ret = br_cgroup_create_lean(new_id(), lin, false, 0, &cg, &err);
  CHECK_OK(ret, err);
  if (ret < 0) {
    json_object_put(lin);
    return;
  }
  CHECK(br_cg_v2_dir(cg) != NULL, "no v2 directory");
  CHECK(strstr(dir(cg, "memory"), idbuf) != NULL, "memory: `%s`", dir(cg, "memory"));
  for (size_t i = 0; i < cg->n; i++)
    CHECK(strstr(cg->dirs[i].ctrl, "freezer") == NULL &&
              strstr(cg->dirs[i].ctrl, "devices") == NULL &&
              strstr(cg->dirs[i].ctrl, "systemd") == NULL,
          "joined `%s` without a limit on it", cg->dirs[i].ctrl);
  expect_mknod_denied(cg, true, br_cg_v2_dir(cg), "lean hybrid");
  CHECK_OK(br_cgroup_destroy(cg, true, &err), err);
  br_cgroup_free(cg);
  json_object_put(lin);
}

/* A hybrid host, lean mode with a view (the spec mounts a cgroup filesystem): every v1
 * hierarchy gets the container's directory, but only the limited ones are joined; the bare
 * ones survive a state-file round trip, take no process (neither the init nor an exec'd
 * one), are what the cgroup mount binds, and destroy removes them. */
static void test_lean_view_makes_bare_dirs_that_nothing_joins(void)
{
  struct json_object *lin = parse("{\"resources\":{\"memory\":{\"limit\":67108864}}}");
  static const char *const bare_mnts[] = {"freezer", "devices", "blkio",   "pids",
                                          "systemd", "cpu",     "cpuacct", "cpuset"};
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL, *loaded = NULL;
  char *ser;
  int ret, nbare = 0;
  pid_t child;
  if (!hybrid_with("memory")) {
    json_object_put(lin);
    return;
  }
  ret = br_cgroup_create_lean(new_id(), lin, false, BR_CGROUP_VIEW, &cg, &err);
  CHECK_OK(ret, err);
  if (ret < 0) {
    json_object_put(lin);
    return;
  }
  for (size_t i = 0; i < BR_ARRAY_SIZE(bare_mnts); i++) {
    char mnt[128], opts[128];
    const char *d;
    snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%s", bare_mnts[i]);
    if (!exists(mnt))
      continue;
    snprintf(opts, sizeof(opts), "rw,%s",
             strcmp(bare_mnts[i], "systemd") == 0 ? "name=systemd" : bare_mnts[i]);
    d = br_cgroup_mount_dir(cg, "cgroup", opts);
    CHECK(d != NULL && strstr(d, idbuf) != NULL && exists(d), "%s: mount dir `%s`", bare_mnts[i],
          d ? d : "(none)");
    nbare++;
  }
  CHECK(nbare > 0, "no v1 hierarchy to check");
  CHECK(br_cgroup_mount_dir(cg, "cgroup2", "rw") == br_cg_v2_dir(cg), "v2 mount dir");
  CHECK(strstr(dir(cg, "memory"), idbuf) != NULL, "memory: `%s`", dir(cg, "memory"));
  /* Controllers only a bare directory has are not the container's. */
  CHECK(br_cg_dir_for(cg, "freezer") == NULL, "freezer dir `%s`", dir(cg, "freezer"));
  CHECK(br_cg_dir_for(cg, "pids") == NULL, "pids dir `%s`", dir(cg, "pids"));

  ser = br_cgroup_serialize(cg);
  CHECK_OK(br_cgroup_load(ser, &loaded, &err), err);
  free(ser);
  if (loaded != NULL) {
    size_t b1 = 0, b2 = 0;
    CHECK(loaded->n == cg->n, "%zu dirs loaded, %zu made", loaded->n, cg->n);
    for (size_t i = 0; i < cg->n; i++)
      b1 += cg->dirs[i].bare;
    for (size_t i = 0; i < loaded->n; i++)
      b2 += loaded->dirs[i].bare;
    CHECK(b1 == b2 && b1 == (size_t)nbare, "bare: %zu made, %zu loaded, %d expected", b1, b2,
          nbare);
  }

  /* An exec'd process joins the memory and v2 directories, and no bare one. */
  child = spawn(sleeper);
  CHECK_OK(br_cgroup_enter(loaded ? loaded : cg, child, &err), err);
  CHECK(in_cgroup(child, br_cg_v2_dir(cg)), "not in the v2 directory");
  CHECK(in_cgroup(child, dir(cg, "memory")), "not in the memory directory");
  for (size_t i = 0; i < cg->n; i++)
    if (cg->dirs[i].bare)
      CHECK(!in_cgroup(child, cg->dirs[i].path), "joined bare `%s`", cg->dirs[i].path);
  /* Freezing works on the v2 directory, where the process is. */
  CHECK_OK(br_cgroup_freeze(cg, true, &err), err);
  CHECK_OK(br_cgroup_freeze(cg, false, &err), err);
  kill(child, SIGKILL);
  reap(child);
  if (loaded)
    br_cgroup_free(loaded);
  destroy_and_check_gone(cg, true);
  br_cgroup_free(cg);
  json_object_put(lin);
}

/* A lean create with a view that fails once every directory is made (the kernel refuses a
 * swap limit below the memory limit) leaves none of them, bare ones included. */
static void test_lean_view_failure_leaves_nothing(void)
{
  static const char *const mnts[] = {"unified", "memory",  "freezer", "devices", "blkio",
                                     "pids",    "systemd", "cpu",     "cpuacct", "cpuset"};
  struct json_object *lin =
      parse("{\"resources\":{\"memory\":{\"limit\":67108864,\"swap\":1024}}}");
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  const char *id = new_id();
  int ret = br_cgroup_create_lean(id, lin, false, BR_CGROUP_VIEW, &cg, &err);
  json_object_put(lin);
  CHECK(ret < 0 && err && strstr(err->msg, "linux.resources.memory.swap"), "got \"%s\"",
        err ? err->msg : "(success)");
  br_error_release(&err);
  if (ret == 0) {
    br_cgroup_destroy(cg, true, NULL);
    br_cgroup_free(cg);
  }
  for (size_t i = 0; i < BR_ARRAY_SIZE(mnts); i++) {
    char path[256];
    snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/berth/%s", mnts[i], id);
    CHECK(!exists(path), "%s left behind", path);
  }
}

/* BR_CGROUP_DEFER_DEVICES: the create leaves the device filter for br_cgroup_attach_devices()
 * (run after the clone), keeps the v1 devices hierarchy bare, and the filter then denies
 * what the rules deny. A malformed rule fails in br_cgroup_attach_devices(). */
static void test_deferred_device_filter(void)
{
  struct json_object *lin =
      parse("{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}");
  struct json_object *bad =
      parse("{\"resources\":{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}}");
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  int ret;
  if (!hybrid_with("devices")) {
    json_object_put(lin);
    json_object_put(bad);
    return;
  }
  ret = br_cgroup_create_lean(new_id(), lin, false, BR_CGROUP_DEFER_DEVICES, &cg, &err);
  CHECK_OK(ret, err);
  if (ret < 0)
    goto out;
  CHECK(cg->pending_devices != NULL, "no rules held");
  CHECK(br_cgroup_mount_dir(cg, "cgroup", "rw,devices") != NULL, "no devices directory");
  CHECK(br_cg_dir_for(cg, "devices") == NULL, "devices joined before the attach");
  CHECK_OK(br_cgroup_attach_devices(cg, &err), err);
  CHECK(cg->pending_devices == NULL, "rules still held");
  CHECK(br_cg_dir_for(cg, "devices") == NULL, "devices joined although the filter attached");
  expect_mknod_denied(cg, true, NULL, "deferred filter");
  destroy_and_check_gone(cg, true);
  br_cgroup_free(cg);
  cg = NULL;

  ret = br_cgroup_create_lean(new_id(), bad, false, BR_CGROUP_VIEW | BR_CGROUP_DEFER_DEVICES, &cg,
                              &err);
  CHECK_OK(ret, err);
  if (ret == 0) {
    ret = br_cgroup_attach_devices(cg, &err);
    CHECK(ret < 0 && err && strstr(err->msg, "linux.resources.devices[0].type"), "got \"%s\"",
          err ? err->msg : "(success)");
    br_error_release(&err);
    destroy_and_check_gone(cg, true);
    br_cgroup_free(cg);
  }
out:
  json_object_put(lin);
  json_object_put(bad);
}

/* Where the kernel refuses the filter (here: an ancestor holds a device program attached
 * without BPF_F_ALLOW_MULTI), br_cgroup_attach_devices() turns the bare v1 devices directory
 * into a joined one with the rules written, and the process is confined there. */
static void test_deferred_device_filter_falls_back_to_v1(void)
{
  struct json_object *allow = parse("{\"devices\":[{\"allow\":true,\"access\":\"rwm\"}]}");
  struct json_object *lin;
  char parent[128], json[512], list[4096];
  br_error_t err = NULL;
  struct br_cgroup *cg = NULL;
  int ret, prog, pfd;
  union bpf_attr attr;
  static const char *const mnts[] = {"unified", "memory",  "freezer", "devices", "blkio",
                                     "pids",    "systemd", "cpu",     "cpuacct", "cpuset"};
  if (!hybrid_with("devices")) {
    json_object_put(allow);
    return;
  }
  snprintf(parent, sizeof(parent), "brtest-nomulti-%d", (int)getpid());
  snprintf(json, sizeof(json),
           "{\"cgroupsPath\":\"/%s/c\",\"resources\":{\"devices\":[{\"allow\":false,"
           "\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,"
           "\"access\":\"rwm\"}]}}",
           parent);
  lin = parse(json);
  {
    char p[256];
    snprintf(p, sizeof(p), "/sys/fs/cgroup/unified/%s", parent);
    CHECK(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
    prog = br_cg_devices_prog(allow, &err);
    CHECK_OK(prog, err);
    pfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)pfd;
    attr.attach_bpf_fd = (uint32_t)prog;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = 0; /* exclusive: descendants may attach nothing */
    ret = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
    CHECK(ret == 0, "attach the exclusive program: %s", strerror(errno));
    close(pfd);
    if (prog >= 0)
      close(prog);
  }
  ret = br_cgroup_create_lean(new_id(), lin, false, BR_CGROUP_VIEW | BR_CGROUP_DEFER_DEVICES, &cg,
                              &err);
  CHECK_OK(ret, err);
  if (ret == 0) {
    CHECK_OK(br_cgroup_attach_devices(cg, &err), err);
    CHECK(br_cg_dir_for(cg, "devices") != NULL, "the v1 devices directory is still bare");
    if (br_cg_dir_for(cg, "devices") != NULL &&
        br_cg_read(br_cg_dir_for(cg, "devices"), "devices.list", list, sizeof(list), NULL) >= 0)
      CHECK(strstr(list, "a *:* rwm") == NULL && strstr(list, "c 1:3 rwm") != NULL,
            "devices.list: %s", list);
    expect_mknod_denied(cg, true, br_cg_dir_for(cg, "devices"), "v1 fallback");
    destroy_and_check_gone(cg, true);
    br_cgroup_free(cg);
  }
  for (size_t i = 0; i < BR_ARRAY_SIZE(mnts); i++) {
    char p[256];
    snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", mnts[i], parent);
    rmdir(p);
    CHECK(!exists(p), "%s left behind", p);
  }
  json_object_put(lin);
  json_object_put(allow);
}

int main(void)
{
  if (geteuid() != 0) {
    printf("skipped: test-cgroup needs root\n");
    return 0;
  }
  RUN(test_default_path_joins_every_hierarchy_and_destroy_removes_all);
  RUN(test_limits_are_written_to_the_right_files);
  RUN(test_serialize_load_round_trip);
  RUN(test_relative_and_absolute_cgroups_path);
  RUN(test_errors_name_the_field_and_leave_nothing);
  RUN(test_memory_limit_oom_kills_and_is_reported);
  RUN(test_pids_limit_contains_a_fork_bomb_and_destroy_kills_it);
  RUN(test_kill_signals_every_process_and_freeze_thaws);
  RUN(test_destroy_without_force_refuses_a_live_cgroup);
  RUN(test_pure_v2_host);
  RUN(test_pure_v1_host);
  RUN(test_rootless_without_delegation);
  RUN(test_lean_hybrid_joins_only_limited_v1_and_filters_devices);
  RUN(test_lean_view_makes_bare_dirs_that_nothing_joins);
  RUN(test_lean_view_failure_leaves_nothing);
  RUN(test_deferred_device_filter);
  RUN(test_deferred_device_filter_falls_back_to_v1);
  RUN(test_figures_create_destroy);
  TEST_EXIT();
}
