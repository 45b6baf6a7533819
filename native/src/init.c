/* The minimal init (`--init`): pid 1 that forwards signals and reaps zombies, like tini.
 *
 * Why it is needed: a process that is pid 1 of a pid namespace gets no default signal
 * actions (SIGTERM is ignored unless it installs a handler), and every orphan in the
 * namespace is re-parented to it, so a program that never calls wait() fills the process
 * table with zombies. This init stays pid 1, runs the real program as its only child, and
 * exits as that child did.
 */
#include "init.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Signals the kernel raises synchronously on a fault. Blocking them would turn a crash of
 * the init into a hang (a blocked synchronous signal kills the process anyway, but only
 * after the kernel forces it), so they keep their default action. */
static const int sync_signals[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS};

static void init_fail(const char *what)
{
  /* stderr is the container's: the user sees why the container exited 1. */
  dprintf(STDERR_FILENO, "berth-init: %s: %s\n", what, strerror(errno));
  _exit(1);
}

/* Gives the child the terminal, so that ^C and job control reach the program and not the
 * init. Two cases: when the init is the session leader owning the tty (the runtime made it
 * so), the child becomes the foreground process group of that session (tini's way: a new
 * session could not take a tty another session owns). Otherwise the child starts a session
 * and acquires the tty as its controlling terminal. */
static void child_take_terminal(void)
{
  if (!isatty(STDIN_FILENO))
    return;
  if (tcgetsid(STDIN_FILENO) == getsid(0)) {
    if (setpgid(0, 0) < 0)
      return;
    /* SIGTTOU is still blocked here, so a background group may take the foreground. */
    (void)tcsetpgrp(STDIN_FILENO, getpgrp());
    return;
  }
  if (setsid() >= 0)
    (void)ioctl(STDIN_FILENO, TIOCSCTTY, 0);
}

static void child_reset_signals(const sigset_t *orig)
{
  struct sigaction dfl;
  int sig;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  /* Ignored dispositions survive execve(): reset them so the program starts as it would
   * without an init. */
  for (sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP)
      continue;
    (void)sigaction(sig, &dfl, NULL);
  }
  child_take_terminal();
  sigprocmask(SIG_SETMASK, orig, NULL);
}

static int exit_code_of(int status)
{
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return 1;
}

/* Reaps every child that has exited. Returns 1 once the main child was reaped (its code in
 * *code). */
static int reap_all(pid_t main_child, int *code)
{
  int found = 0;
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      if (pid < 0 && errno == EINTR)
        continue;
      return found;
    }
    if (pid == main_child) {
      *code = exit_code_of(status);
      found = 1;
    }
  }
}

void br_init_run(int (*exec_child)(void *arg), void *arg)
{
  sigset_t all, orig;
  pid_t child;
  size_t i;
  int code = 1;

  sigfillset(&all);
  for (i = 0; i < sizeof(sync_signals) / sizeof(sync_signals[0]); i++)
    sigdelset(&all, sync_signals[i]);
  if (sigprocmask(SIG_SETMASK, &all, &orig) < 0)
    init_fail("block signals");

  /* An inherited SIG_IGN for SIGCHLD would make the kernel reap the children itself, and
   * the program's exit status would be lost. */
  {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    (void)sigaction(SIGCHLD, &dfl, NULL);
  }

  /* Without a pid namespace the init is not pid 1: orphans would go to the host's init
   * instead of being reaped here. */
  if (getpid() != 1)
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  child = fork();
  if (child < 0)
    init_fail("fork");
  if (child == 0) {
    int ret;
    child_reset_signals(&orig);
    ret = exec_child(arg);
    _exit(ret > 0 && ret < 256 ? ret : 127);
  }

  for (;;) {
    siginfo_t info;
    /* The timeout is a safety net: SIGCHLDs coalesce, so reaping also happens on every
     * wake-up rather than only on a SIGCHLD. */
    struct timespec timeout = {1, 0};
    int sig = sigtimedwait(&all, &info, &timeout);
    if (sig < 0) {
      if (errno != EAGAIN && errno != EINTR)
        init_fail("wait for signals");
    } else if (sig != SIGCHLD) {
      /* The child may be gone already (ESRCH): its SIGCHLD is next in the queue. */
      (void)kill(child, sig);
    }
    if (reap_all(child, &code)) {
      /* Zombies that exited together with the main child: reaped before leaving, so a
       * non-namespaced run leaves none behind either. */
      (void)reap_all(-1, &code);
      _exit(code);
    }
  }
}
