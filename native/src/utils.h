/* Small helpers shared by every file: cleanup attributes instead of goto ladders, and the
 * few file and process primitives every command needs. */
#ifndef BR_UTILS_H
#define BR_UTILS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"

static inline void br_cleanup_freep(void *p)
{
  free(*(void **)p);
}
static inline void br_cleanup_closep(int *fd)
{
  if (*fd >= 0)
    close(*fd);
}
static inline void br_cleanup_fclosep(FILE **f)
{
  if (*f)
    fclose(*f);
}
static inline void br_cleanup_closedirp(DIR **d)
{
  if (*d)
    closedir(*d);
}

#define cleanup_free __attribute__((cleanup(br_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(br_cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(br_cleanup_fclosep)))
#define cleanup_dir __attribute__((cleanup(br_cleanup_closedirp)))

#define BR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* asprintf that aborts on ENOMEM: an allocation failure this small is not recoverable. */
char *br_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *br_xstrdup(const char *s);

/* write(2)/read(2) that retry on EINTR and short counts. */
int br_write_all(int fd, const void *buf, size_t len);
ssize_t br_read_all(int fd, void *buf, size_t len);

/* Reads a whole file (NUL-terminated). */
int br_read_file(const char *path, char **out, size_t *len, br_error_t *err);
/* Writes a file in one go (no temp: for /proc and /sys files). */
int br_write_file(const char *path, const char *data, size_t len, br_error_t *err);
/* Temp file + rename, so readers never see a partial file. */
int br_write_file_atomic(const char *path, const char *data, size_t len, br_error_t *err);
int br_mkdir_p(const char *path, mode_t mode, br_error_t *err);
/* rm -rf of a directory that holds only files (the state directory). */
int br_remove_dir(const char *path, br_error_t *err);

/* RFC 3339 with nanoseconds in UTC, Docker's format: 2026-11-22T16:41:18.123456789Z. */
void br_format_time(char buf[40], const struct timespec *ts);
void br_now(char buf[40]);

/* The start time of a process (field 22 of /proc/PID/stat), so a recycled pid is told
 * apart from the container's. 0 when the process does not exist. */
unsigned long long br_proc_start_time(pid_t pid);
/* Alive and the same process as recorded (start time checked when `start_time` != 0). */
bool br_proc_alive(pid_t pid, unsigned long long start_time);

int br_pidfd_open(pid_t pid);

/* Sends `fd` over a unix socket with SCM_RIGHTS, and receives one. */
int br_send_fd(int sock, int fd, const void *data, size_t len, br_error_t *err);
int br_recv_fd(int sock, int *fd, void *data, size_t len, br_error_t *err);

int br_parse_signal(const char *s, int *sig, br_error_t *err);
const char *br_signal_name(int sig);

#endif
