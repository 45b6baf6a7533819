/* One function per command that works on an existing container (create, start and run are
 * in container.h). Each returns 0 or a negative int with *err filled. */
#ifndef BR_COMMANDS_H
#define BR_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "container.h"

struct br_exec_opts {
  const char *id;
  const char *process_file;
  const char *cwd;
  const char *user;
  const char *additional_gids;
  const char *pid_file;
  const char *console_socket;
  char **env;
  size_t nenv;
  char **argv;
  size_t argc;
  int preserve_fds;
  bool tty;
  bool detach;
  /* With tty and no terminal of ours: window sizes as "ROWS COLS\n" lines, the first one
   * before the process starts (a caller that cannot ioctl a pty, such as Node). Only an fd
   * above 2 is one: 0 and -1 mean none. */
  int control_fd;
};

int br_cmd_state(const struct br_global *g, const char *id, br_error_t *err);
int br_cmd_kill(const struct br_global *g, const char *id, const char *sig, bool all,
                br_error_t *err);
int br_cmd_list(const struct br_global *g, bool json, bool quiet, br_error_t *err);
int br_cmd_pause(const struct br_global *g, const char *id, bool pause, br_error_t *err);
int br_cmd_ps(const struct br_global *g, const char *id, bool json, br_error_t *err);
/* Prints the exit code, or with `state` the stopped container's state document. */
int br_cmd_wait(const struct br_global *g, const char *id, double timeout_s, bool state,
                br_error_t *err);
/* Stop signal, wait up to the timeout, SIGKILL, wait; prints the stopped state document. */
int br_cmd_stop(const struct br_global *g, const char *id, const char *sig, double timeout_s,
                br_error_t *err);
int br_cmd_spec(const char *bundle, bool rootless, br_error_t *err);
int br_cmd_exec(const struct br_global *g, const struct br_exec_opts *o, int *exit_code,
                br_error_t *err);

#endif
