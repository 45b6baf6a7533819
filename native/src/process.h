/* The container's process: the last steps before execve() (rlimits, user, capabilities,
 * no_new_privs, seccomp), PATH lookup with Docker's errors, and closing inherited fds. */
#ifndef BR_PROCESS_H
#define BR_PROCESS_H

#include <stdbool.h>
#include <json.h>

#include "error.h"

struct br_seccomp;

struct br_exec {
  char *path; /* resolved executable */
  char **argv;
  char **envp;
};

/* Resolves args[0] against PATH from process.env (inside the container's root). The error's
 * status is ENOENT (exit 127) or EACCES (exit 126), and the message Docker's:
 * `exec: "x": executable file not found in $PATH`. */
int br_process_resolve(struct json_object *process, struct br_exec *ex, br_error_t *err);
void br_exec_free(struct br_exec *ex);

int br_process_chdir(struct json_object *process, br_error_t *err);
int br_process_rlimits(struct json_object *process, br_error_t *err);
int br_process_oom_score(struct json_object *process, br_error_t *err);
/* user, capabilities, no_new_privs and (last) seccomp. `setgroups_ok`: false in a user
 * namespace where setgroups is denied. */
int br_process_finalize(struct json_object *process, struct br_seccomp *seccomp, bool setgroups_ok,
                        br_error_t *err);

/* Every fd above 2 but the LISTEN_FDS ones and the `preserve` after them (runc's
 * --preserve-fds) is closed at exec. */
void br_close_fds(int preserve);

int br_cap_from_name(const char *name);

#endif
