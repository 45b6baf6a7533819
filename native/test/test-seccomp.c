/* br_seccomp_*: filters are compiled here and loaded in forked children (a filter cannot be
 * removed), whose exit code reports what the filtered syscalls returned. */
#include "../src/seccomp.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json_tokener.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct br_seccomp *compile_str(const char *json, br_error_t *err)
{
  struct json_object *o = json_tokener_parse(json);
  struct br_seccomp *f = NULL;
  if (o == NULL) {
    fprintf(stderr, "bad test JSON: %s\n", json);
    exit(2);
  }
  if (br_seccomp_compile(o, &f, err) < 0)
    f = NULL;
  json_object_put(o);
  return f;
}

/* Runs `fn` in a child under `filter` (with no_new_privs, as the runtime sets it for an
 * unprivileged process); returns its wait status. */
static int run_filtered(struct br_seccomp *filter, int (*fn)(void))
{
  int status;
  pid_t pid = fork();
  if (pid == 0) {
    br_error_t err = NULL;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (br_seccomp_load(filter, &err) < 0) {
      fprintf(stderr, "%s\n", err->msg);
      _exit(100);
    }
    _exit(fn());
  }
  waitpid(pid, &status, 0);
  return status;
}

#define EXPECT_EXIT(expr, code)                                                                    \
  do {                                                                                             \
    int st_ = (expr);                                                                              \
    CHECK(WIFEXITED(st_) && WEXITSTATUS(st_) == (code), "status %#x", st_);                        \
  } while (0)

static char tmpdir[] = "/tmp/berth-seccomp-test-XXXXXX";

static int probe_mkdir(void)
{
  char path[128];
  snprintf(path, sizeof(path), "%s/d", tmpdir);
  if (mkdir(path, 0700) == 0)
    return 1;
  if (errno != EPERM)
    return 2;
  if (syscall(SYS_getpid) != getpid() || getpid() <= 0)
    return 3;
  return 0;
}

static void test_denied_mkdir_fails_with_eperm_and_getpid_works(void)
{
  br_error_t err = NULL;
  struct br_seccomp *f = compile_str(
      "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\","
      "\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\","
      "\"no_such_syscall\"],\"action\":\"SCMP_ACT_ERRNO\"}]}",
      &err);
  CHECK(f != NULL, "%s", err ? err->msg : "");
  if (f == NULL)
    return;
  EXPECT_EXIT(run_filtered(f, probe_mkdir), 0);
  br_seccomp_free(f);
}

static int probe_errno_ret(void)
{
  return syscall(SYS_getppid) == -1 && errno == ENOSYS ? 0 : 1;
}

static void test_errno_ret_is_returned(void)
{
  br_error_t err = NULL;
  struct br_seccomp *f = compile_str("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{"
                                     "\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\","
                                     "\"errnoRet\":38}]}",
                                     &err);
  CHECK(f != NULL, "%s", err ? err->msg : "");
  if (f)
    EXPECT_EXIT(run_filtered(f, probe_errno_ret), 0);
  br_seccomp_free(f);
}

static int probe_default_errno(void)
{
  /* exit_group and write stay allowed; getppid falls to the default action. */
  return syscall(SYS_getppid) == -1 && errno == EACCES ? 0 : 1;
}

static void test_default_errno_ret(void)
{
  br_error_t err = NULL;
  struct br_seccomp *f = compile_str(
      "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":13,\"syscalls\":[{\"names\":["
      "\"exit_group\",\"exit\",\"write\",\"brk\",\"mmap\",\"munmap\"],\"action\":\"SCMP_ACT_"
      "ALLOW\"}]}",
      &err);
  CHECK(f != NULL, "%s", err ? err->msg : "");
  if (f)
    EXPECT_EXIT(run_filtered(f, probe_default_errno), 0);
  br_seccomp_free(f);
}

static int probe_args(void)
{
  /* Same index twice: alternatives. */
  if (syscall(SYS_umask, 077) != -1 || errno != EDOM)
    return 1;
  if (syscall(SYS_umask, 022) != -1 || errno != EDOM)
    return 2;
  if (syscall(SYS_umask, 07) == -1)
    return 3;
  /* Different indexes: all must hold. */
  errno = 0;
  if (syscall(SYS_getpriority, PRIO_PROCESS, 424242) != -1 || errno != E2BIG)
    return 4;
  if (syscall(SYS_getpriority, PRIO_PROCESS, 0) == -1)
    return 5;
  errno = 0;
  if (syscall(SYS_getpriority, PRIO_PGRP, 424242) != -1 || errno == E2BIG)
    return 6;
  /* MASKED_EQ: value is the mask, valueTwo the expected bits. */
  if (syscall(SYS_setpgid, 0x1234ff, 0) != -1 || errno != ENOTBLK)
    return 7;
  if (syscall(SYS_setpgid, 0, 0) == -1 && errno == ENOTBLK)
    return 8;
  return 0;
}

static void test_args_same_index_or_different_index_and_masked_eq(void)
{
  br_error_t err = NULL;
  struct br_seccomp *f = compile_str(
      "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
      "{\"names\":[\"umask\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":33,\"args\":["
      "{\"index\":0,\"value\":63,\"op\":\"SCMP_CMP_EQ\"},"
      "{\"index\":0,\"value\":18,\"op\":\"SCMP_CMP_EQ\"}]},"
      "{\"names\":[\"getpriority\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":7,\"args\":["
      "{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
      "{\"index\":1,\"value\":424242,\"op\":\"SCMP_CMP_EQ\"}]},"
      "{\"names\":[\"setpgid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":15,\"args\":["
      "{\"index\":0,\"value\":255,\"valueTwo\":255,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}",
      &err);
  CHECK(f != NULL, "%s", err ? err->msg : "");
  if (f)
    EXPECT_EXIT(run_filtered(f, probe_args), 0);
  br_seccomp_free(f);
}

static int probe_getppid(void)
{
  syscall(SYS_getppid);
  return 0;
}

static void test_kill_process_action_kills_with_sigsys(void)
{
  br_error_t err = NULL;
  struct br_seccomp *f = compile_str("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":["
                                     "\"SECCOMP_FILTER_FLAG_LOG\"],\"syscalls\":[{\"names\":["
                                     "\"getppid\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}",
                                     &err);
  CHECK(f != NULL, "%s", err ? err->msg : "");
  if (f) {
    int st = run_filtered(f, probe_getppid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status %#x", st);
  }
  br_seccomp_free(f);
}

static void expect_error(const char *json, const char *message)
{
  br_error_t err = NULL;
  struct br_seccomp *f = compile_str(json, &err);
  CHECK(f == NULL && err != NULL && strstr(err->msg, message) != NULL, "got \"%s\", want \"%s\"",
        err ? err->msg : "(success)", message);
  br_error_release(&err);
  br_seccomp_free(f);
}

static void test_errors_name_the_field(void)
{
  expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
               "\"action\":\"SCMP_ACT_ERRNO\"},{\"names\":[\"write\"],\"action\":\"X\"}]}",
               "linux.seccomp.syscalls[1].action: unknown action \"X\"");
  expect_error("{\"defaultAction\":\"SCMP_ACT_NOPE\"}",
               "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_NOPE\"");
  expect_error("{\"syscalls\":[]}", "linux.seccomp.defaultAction: missing");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
               "\"action\":\"SCMP_ACT_NOTIFY\"}]}",
               "linux.seccomp.syscalls[0].action: action \"SCMP_ACT_NOTIFY\" is not supported");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_VAX\"]}",
               "linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_VAX\"");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_X\"]}",
               "linux.seccomp.flags[0]: unsupported flag \"SECCOMP_FILTER_FLAG_X\"");
  expect_error(
      "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
      "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"EQ\"}]}]}",
      "linux.seccomp.syscalls[0].args[0].op: unknown operator \"EQ\"");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
               "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,\"op\":"
               "\"SCMP_CMP_EQ\"}]}]}",
               "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0-5)");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":\"read\","
               "\"action\":\"SCMP_ACT_ERRNO\"}]}",
               "linux.seccomp.syscalls[0].names: expected array, got string");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
               "\"action\":\"SCMP_ACT_ALLOW\",\"errnoRet\":1}]}",
               "linux.seccomp.syscalls[0].action: errnoRet is only valid");
}

static void test_null_profile_is_a_no_op(void)
{
  br_error_t err = NULL;
  struct br_seccomp *f = (struct br_seccomp *)1;
  CHECK(br_seccomp_compile(NULL, &f, &err) == 0 && f == NULL, "compile(NULL)");
  CHECK(br_seccomp_load(NULL, &err) == 0, "load(NULL)");
}

/* A profile the size of Docker's default: every syscall name libseccomp knows on x86_64
 * (~330), three architectures, and Docker's kinds of argument rules. */
static struct json_object *big_profile(size_t *nnames)
{
  struct json_object *p = json_object_new_object(), *calls = json_object_new_array();
  struct json_object *allow = json_object_new_object(), *names = json_object_new_array();
  struct json_object *archs = json_object_new_array();
  *nnames = 0;
  for (int nr = 0; nr < 460; nr++) {
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
    if (name == NULL)
      continue;
    if (strcmp(name, "personality") != 0 && strcmp(name, "clone") != 0 &&
        strcmp(name, "socket") != 0 && strcmp(name, "ptrace") != 0 && strcmp(name, "mount") != 0) {
      json_object_array_add(names, json_object_new_string(name));
      (*nnames)++;
    }
    free(name);
  }
  json_object_array_add(archs, json_object_new_string("SCMP_ARCH_X86_64"));
  json_object_array_add(archs, json_object_new_string("SCMP_ARCH_X86"));
  json_object_array_add(archs, json_object_new_string("SCMP_ARCH_X32"));
  json_object_object_add(p, "defaultAction", json_object_new_string("SCMP_ACT_ERRNO"));
  json_object_object_add(p, "defaultErrnoRet", json_object_new_int(1));
  json_object_object_add(p, "architectures", archs);
  json_object_object_add(allow, "names", names);
  json_object_object_add(allow, "action", json_object_new_string("SCMP_ACT_ALLOW"));
  json_object_array_add(calls, allow);
  const char *extra[] = {
      "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
      "\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]}",
      "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
      "\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]}",
      "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
      "\"value\":131072,\"op\":\"SCMP_CMP_EQ\"}]}",
      "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
      "\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]}",
      "{\"names\":[\"clone\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
      "\"value\":2114060288,\"valueTwo\":0,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}",
      "{\"names\":[\"socket\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
      "\"value\":40,\"op\":\"SCMP_CMP_NE\"}]}",
  };
  for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
    json_object_array_add(calls, json_tokener_parse(extra[i]));
  json_object_object_add(p, "syscalls", calls);
  return p;
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

static int probe_big(void)
{
  /* Allowed by name; mount was left out, so it gets the default EPERM. */
  if (getppid() <= 0)
    return 1;
  if (syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0, NULL) != -1 || errno != EPERM)
    return 2;
  return 0;
}

/* Not an assertion on speed (no timed tests): the figure is printed for the report. */
static void test_docker_sized_profile_compiles_and_loads(void)
{
  size_t nnames;
  struct json_object *p = big_profile(&nnames);
  double t[30];
  struct br_seccomp *f = NULL;
  br_error_t err = NULL;
  for (int i = 0; i < 30; i++) {
    double t0 = now_ms();
    int ret = br_seccomp_compile(p, &f, &err);
    t[i] = now_ms() - t0;
    CHECK_OK(ret, err);
    if (ret < 0)
      break;
    if (i < 29)
      br_seccomp_free(f);
  }
  qsort(t, 30, sizeof(t[0]), cmp_double);
  printf("figure: compile %zu-syscall profile (3 archs): median %.2f ms, min %.2f ms\n", nnames,
         t[15], t[0]);
  if (f)
    EXPECT_EXIT(run_filtered(f, probe_big), 0);
  br_seccomp_free(f);
  json_object_put(p);
}

static size_t count_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;
  while (d && (e = readdir(d)) != NULL)
    n += strstr(e->d_name, ".bpf") != NULL;
  if (d)
    closedir(d);
  return n;
}

static void remove_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      unlinkat(dirfd(d), e->d_name, 0);
  if (d)
    closedir(d);
  rmdir(dir);
}

static void test_cache_hit_skips_libseccomp_and_the_filter_still_works(void)
{
  char cache[160];
  size_t nnames;
  struct json_object *p = big_profile(&nnames);
  struct br_seccomp *f = NULL;
  br_error_t err = NULL;
  double t[30];
  snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
  br_seccomp_set_cache_dir(cache);
  CHECK_OK(br_seccomp_compile(p, &f, &err), err);
  br_seccomp_free(f);
  CHECK(count_entries(cache) == 1, "%zu entries after the first compile", count_entries(cache));
  for (int i = 0; i < 30; i++) {
    double t0 = now_ms();
    int ret = br_seccomp_compile(p, &f, &err);
    t[i] = now_ms() - t0;
    CHECK_OK(ret, err);
    if (i < 29)
      br_seccomp_free(f);
  }
  qsort(t, 30, sizeof(t[0]), cmp_double);
  printf("figure: cached %zu-syscall profile: median %.3f ms, min %.3f ms\n", nnames, t[15], t[0]);
  if (f)
    EXPECT_EXIT(run_filtered(f, probe_big), 0);
  br_seccomp_free(f);
  CHECK(count_entries(cache) == 1, "%zu entries after hits", count_entries(cache));

  /* A different profile is a different entry, never the first one's filter. */
  f = compile_str("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\","
                  "\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\"}]}",
                  &err);
  CHECK(f != NULL && count_entries(cache) == 2, "second profile");
  if (f)
    EXPECT_EXIT(run_filtered(f, probe_mkdir), 0);
  br_seccomp_free(f);

  /* A truncated entry is a miss, recompiled and rewritten. */
  {
    DIR *d = opendir(cache);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
      if (strstr(e->d_name, ".bpf")) {
        int fd = openat(dirfd(d), e->d_name, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
          CHECK(ftruncate(fd, 10) == 0, "truncate");
          close(fd);
        }
      }
    if (d)
      closedir(d);
  }
  CHECK_OK(br_seccomp_compile(p, &f, &err), err);
  if (f)
    EXPECT_EXIT(run_filtered(f, probe_big), 0);
  br_seccomp_free(f);

  /* A directory others can write to is not trusted. */
  remove_entries(cache);
  mkdir(cache, 0777);
  chmod(cache, 0777);
  CHECK_OK(br_seccomp_compile(p, &f, &err), err);
  br_seccomp_free(f);
  CHECK(count_entries(cache) == 0, "wrote into a world-writable cache");
  remove_entries(cache);
  br_seccomp_set_cache_dir(NULL);
  json_object_put(p);
}

int main(void)
{
  if (mkdtemp(tmpdir) == NULL)
    return 2;
  RUN(test_null_profile_is_a_no_op);
  RUN(test_denied_mkdir_fails_with_eperm_and_getpid_works);
  RUN(test_errno_ret_is_returned);
  RUN(test_default_errno_ret);
  RUN(test_args_same_index_or_different_index_and_masked_eq);
  RUN(test_kill_process_action_kills_with_sigsys);
  RUN(test_errors_name_the_field);
  RUN(test_docker_sized_profile_compiles_and_loads);
  RUN(test_cache_hit_skips_libseccomp_and_the_filter_still_works);
  {
    char path[128];
    snprintf(path, sizeof(path), "%s/d", tmpdir);
    rmdir(path);
    rmdir(tmpdir);
  }
  TEST_EXIT();
}
