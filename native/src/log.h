/* Where the runtime's own messages go: errors as one line on stderr, and with `--log FILE`
 * also to that file, as text or as `{"level":"error","msg":"...","time":"..."}` lines. */
#ifndef BR_LOG_H
#define BR_LOG_H

#include <stdbool.h>
#include <stddef.h>

void br_log_init(const char *path, bool json, bool debug);
void br_log_error(const char *msg);
/* Warnings go to the log file only (and stderr with --debug): stderr stays one line. */
void br_log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Appends `s` to `out` JSON-escaped (no quotes added). Invalid UTF-8 is kept as is. */
void br_json_escape(char *out, size_t *off, const char *s, size_t len);

#endif
