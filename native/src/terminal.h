/* The container's terminal: a pty made inside the container's own devpts, its master sent
 * over `--console-socket` like runc, or proxied to our stdio for a foreground run. */
#ifndef BR_TERMINAL_H
#define BR_TERMINAL_H

#include <sys/types.h>

#include "error.h"

/* In the container, after pivot: opens /dev/ptmx, makes the pty slave the controlling
 * terminal and stdio. Returns the master fd. */
int br_terminal_setup(br_error_t *err);
/* Sends the master to the unix socket at `path` (SCM_RIGHTS). */
int br_terminal_send(const char *path, int master, br_error_t *err);

/* Copies our stdin's window size to the pty (a foreground run or exec; again on SIGWINCH). */
void br_terminal_copy_size(int master);
/* process.consoleSize {height, width}, when given. */
void br_terminal_set_size(int master, unsigned rows, unsigned cols);

/* Raw mode on our stdin when it is a tty; restored by br_terminal_restore. */
void br_terminal_raw(void);
void br_terminal_restore(void);

#endif
