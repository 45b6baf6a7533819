#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "spec.h"
#include "utils.h"

int br_hooks_count(struct json_object *spec, const char *kind)
{
  return br_json_len(br_json_get(spec, "hooks"), kind);
}

static char **strv(struct json_object *arr, const char *first)
{
  size_t i, n = arr ? json_object_array_length(arr) : 0;
  char **v = calloc(n + 2, sizeof(char *));
  if (n == 0 && first) {
    v[0] = (char *)first;
    return v;
  }
  for (i = 0; i < n; i++)
    v[i] = (char *)json_object_get_string(json_object_array_get_idx(arr, i));
  return v;
}

static int run_hook(struct json_object *hook, const char *field, const char *state, br_error_t *err)
{
  const char *path = br_json_str(hook, "path");
  struct json_object *t = br_json_get(hook, "timeout");
  int timeout_ms = t ? json_object_get_int(t) * 1000 : -1;
  cleanup_free char **argv = NULL, **envp = NULL;
  int in[2], status;
  pid_t pid;
  cleanup_close int pidfd = -1;
  if (path == NULL)
    return br_error_make(err, 0, "config.json: %s.path: missing", field);
  argv = strv(br_json_get(hook, "args"), path);
  envp = strv(br_json_get(hook, "env"), NULL);
  if (pipe2(in, O_CLOEXEC) < 0)
    return br_error_make(err, errno, "pipe");
  pid = fork();
  if (pid < 0)
    return br_error_make(err, errno, "fork");
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    dup2(in[0], 0);
    execve(path, argv, envp);
    dprintf(2, "%s: exec `%s`: %s\n", field, path, strerror(errno));
    _exit(127);
  }
  close(in[0]);
  /* A hook that does not read its stdin must not block us: the state is small enough for
   * the pipe buffer, and EPIPE is ignored. */
  signal(SIGPIPE, SIG_IGN);
  br_write_all(in[1], state, strlen(state));
  close(in[1]);
  pidfd = br_pidfd_open(pid);
  if (pidfd >= 0 && timeout_ms > 0) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r;
    do
      r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return br_error_make(err, 0, "%s: `%s` timed out after %d s", field, path, timeout_ms / 1000);
    }
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return br_error_make(err, errno, "%s: wait for `%s`", field, path);
  }
  if (WIFSIGNALED(status))
    return br_error_make(err, 0, "%s: `%s` killed by signal %d", field, path, WTERMSIG(status));
  if (WEXITSTATUS(status) != 0)
    return br_error_make(err, 0, "%s: `%s` exited with status %d", field, path,
                         WEXITSTATUS(status));
  return 0;
}

int br_hooks_run(struct json_object *spec, const char *kind, struct json_object *state,
                 br_error_t *err)
{
  struct json_object *arr = br_json_get(br_json_get(spec, "hooks"), kind);
  size_t i, n = arr ? json_object_array_length(arr) : 0;
  const char *s;
  if (n == 0)
    return 0;
  s = json_object_to_json_string_ext(state,
                                     JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  for (i = 0; i < n; i++) {
    char field[64];
    snprintf(field, sizeof(field), "hooks.%s[%zu]", kind, i);
    if (run_hook(json_object_array_get_idx(arr, i), field, s, err) < 0)
      return -1;
  }
  return 0;
}
