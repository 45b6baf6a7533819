/* The one error contract of berth-runtime.
 *
 * A function that can fail takes `br_error_t *err` as its last argument and returns a
 * negative int (or NULL) on failure, having filled *err with br_error_make(). Callers add
 * context on the way up with br_error_wrap(), so the message the user finally sees reads
 * outermost-first: "create container `x`: mount `proc` on `/proc`: Operation not permitted".
 * main() prints it as one line (or one JSON object with --log-format json) and exits 1.
 */
#ifndef BR_ERROR_H
#define BR_ERROR_H

#include <errno.h>

struct br_error {
  int status; /* the errno that caused it, or 0 */
  char *msg;
};
typedef struct br_error *br_error_t;

/* Fills *err with the formatted message, and ": strerror(errno_)" when errno_ != 0.
 * Returns -1 always (so `return br_error_make (...)` reads naturally). */
int br_error_make(br_error_t *err, int errno_, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message in *err with the formatted context and ": ".
 * Returns -1 always. */
int br_error_wrap(br_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees *err and sets it to NULL. Safe on NULL. */
void br_error_release(br_error_t *err);

#endif
