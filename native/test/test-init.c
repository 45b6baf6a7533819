/* br_init_run() without a pid namespace: it still is the parent (and subreaper) of the
 * program, so signal forwarding, exit codes and reaping can be checked from outside. */
#include "../src/init.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pipe_fds[2];

static int child_exit7(void *arg)
{
  return 7;
}

static int child_exec_sleep(void *arg)
{
  char *argv[] = {"sleep", "60", NULL};
  execv("/bin/sleep", argv);
  return 127;
}

static void on_usr1(int sig)
{
  _exit(42);
}

static int child_wait_usr1(void *arg)
{
  signal(SIGUSR1, on_usr1);
  (void)write(pipe_fds[1], "r", 1);
  for (;;)
    pause();
  return 0;
}

/* Leaves an orphan that exits after its parent: it is re-parented to the init, which must
 * reap it while the program itself keeps running. */
static int child_orphan_maker(void *arg)
{
  pid_t mid = fork();
  if (mid == 0) {
    pid_t orphan = fork();
    if (orphan == 0) {
      usleep(300 * 1000);
      _exit(0);
    }
    (void)write(pipe_fds[1], &orphan, sizeof(orphan));
    _exit(0);
  }
  waitpid(mid, NULL, 0);
  char *argv[] = {"sleep", "60", NULL};
  execv("/bin/sleep", argv);
  return 127;
}

static pid_t spawn_init(int (*fn)(void *))
{
  pid_t pid = fork();
  if (pid == 0)
    br_init_run(fn, NULL);
  return pid;
}

static pid_t spawn_init_ignoring_sigchld(int (*fn)(void *))
{
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGCHLD, SIG_IGN);
    br_init_run(fn, NULL);
  }
  return pid;
}

/* Waits (at most `ms`) for the init to exit; returns its wait status or -1. */
static int wait_init(pid_t pid, int ms)
{
  int status;
  for (int i = 0; i < ms; i++) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    usleep(1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

static bool read_with_timeout(int fd, void *buf, size_t len, int ms)
{
  for (int i = 0; i < ms; i++) {
    ssize_t n = read(fd, buf, len);
    if (n == (ssize_t)len)
      return true;
    usleep(1000);
  }
  return false;
}

static void test_exit_code_is_the_programs(void)
{
  int st = wait_init(spawn_init(child_exit7), 5000);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
}

static void test_exit_code_survives_an_inherited_sigchld_ignore(void)
{
  int st = wait_init(spawn_init_ignoring_sigchld(child_exit7), 5000);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
}

static void test_sigterm_is_forwarded_and_exit_is_128_plus_signal(void)
{
  pid_t init = spawn_init(child_exec_sleep);
  /* Signals sent before the fork are queued and forwarded too, so no wait is needed. */
  usleep(20 * 1000);
  kill(init, SIGTERM);
  int st = wait_init(init, 5000);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM, "status %#x", st);
}

static void test_sigusr1_reaches_the_programs_handler(void)
{
  char c;
  pid_t init = spawn_init(child_wait_usr1);
  CHECK(read_with_timeout(pipe_fds[0], &c, 1, 5000), "child never became ready");
  kill(init, SIGUSR1);
  int st = wait_init(init, 5000);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 42, "status %#x", st);
}

static pid_t parent_of(pid_t pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  int ppid;
  char state;
  if (p == NULL || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
    return -1;
  return ppid;
}

static bool wait_parent_is(pid_t pid, pid_t parent)
{
  for (int i = 0; i < 5000; i++) {
    if (parent_of(pid) == parent)
      return true;
    usleep(1000);
  }
  return false;
}

static void test_orphaned_zombies_are_reaped(void)
{
  pid_t orphan = 0;
  char path[64];
  bool gone = false;
  pid_t init = spawn_init(child_orphan_maker);
  CHECK(read_with_timeout(pipe_fds[0], &orphan, sizeof(orphan), 5000), "no orphan pid");
  snprintf(path, sizeof(path), "/proc/%d", orphan);
  CHECK(wait_parent_is(orphan, init), "orphan %d was not re-parented to the init", orphan);
  /* A zombie keeps its /proc entry: it disappears only once the init has reaped it. */
  for (int i = 0; i < 5000 && !gone; i++) {
    struct stat st;
    gone = stat(path, &st) < 0 && errno == ENOENT;
    if (!gone)
      usleep(1000);
  }
  CHECK(gone, "orphan %d was not reaped", orphan);
  kill(init, SIGTERM);
  int st = wait_init(init, 5000);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM, "status %#x", st);
}

int main(void)
{
  if (pipe2(pipe_fds, O_NONBLOCK) < 0)
    return 2;
  RUN(test_exit_code_is_the_programs);
  RUN(test_exit_code_survives_an_inherited_sigchld_ignore);
  RUN(test_sigterm_is_forwarded_and_exit_is_128_plus_signal);
  RUN(test_sigusr1_reaches_the_programs_handler);
  RUN(test_orphaned_zombies_are_reaped);
  TEST_EXIT();
}
