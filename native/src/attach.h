/* The attach endpoint of a monitored container: a unix stream socket in the container's state
 * directory (`attach.sock`) through which any later process reaches the container's stdin,
 * output and terminal. Node cannot receive a pty master over a socket (no SCM_RIGHTS), so
 * the master stays in the monitor and bytes travel as frames instead, as conmon's attach
 * socket and containerd-shim's fifos do.
 *
 * Every frame is a 5-byte header, [type][length, 4 bytes big-endian], then the payload.
 * To the client: BR_ATTACH_STDOUT, BR_ATTACH_STDERR (a tty's output is all stdout), and
 * BR_ATTACH_EXIT (the exit code as 4 bytes big-endian) once the output is drained.
 * From the client: BR_ATTACH_STDIN (bytes for the container's stdin), BR_ATTACH_CLOSE_STDIN
 * (the client's input ended: closes a pipe stdin; a terminal's stays open, as Docker's),
 * BR_ATTACH_RESIZE (rows and columns, 2 bytes big-endian each: TIOCSWINSZ on the pty).
 * A client that disconnects without CLOSE_STDIN has detached: stdin stays open for the next.
 */
#ifndef BR_ATTACH_H
#define BR_ATTACH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

enum {
  BR_ATTACH_STDIN = 0,
  BR_ATTACH_STDOUT = 1,
  BR_ATTACH_STDERR = 2,
  BR_ATTACH_EXIT = 3,
  BR_ATTACH_CLOSE_STDIN = 4,
  BR_ATTACH_RESIZE = 5,
};

/* Clients at once; more are refused (closed at accept). */
#define BR_ATTACH_MAX_CLIENTS 16
/* The pollfds br_attach_poll_fill may add. */
#define BR_ATTACH_MAX_FDS (BR_ATTACH_MAX_CLIENTS + 2)

struct br_attach;

/* Listens on `<state_dir>/attach.sock`. `stdin_fd`: the write end of the container's stdin
 * (a pipe, or the pty master for a terminal), owned from now on; -1 when stdin is not open.
 * `pty`: the master when the container has a terminal (resizes go there), else -1; not owned. */
int br_attach_open(struct br_attach **out, const char *state_dir, int stdin_fd, int pty,
                   br_error_t *err);
/* Waits (at most `timeout_ms`) for the first client, so nothing the container writes at its
 * start is missed by a `run -a`. Returns whether one came. */
bool br_attach_wait_client(struct br_attach *a, int timeout_ms);
/* Adds the endpoint's fds to `p` (at most BR_ATTACH_MAX_FDS); returns how many. */
size_t br_attach_poll_fill(struct br_attach *a, struct pollfd *p);
/* Handles the events of the fds br_attach_poll_fill added. */
void br_attach_poll_handle(struct br_attach *a, const struct pollfd *p, size_t n);
/* Output the container wrote, copied to every client. */
void br_attach_output(struct br_attach *a, int stream, const char *data, size_t len);
/* Whether a slow client holds so much unsent output that the monitor should stop reading the
 * container's (the container then blocks on its writes, as under Docker's attach). */
bool br_attach_output_blocked(const struct br_attach *a);
/* The container exited: sends the exit frame, flushes what the clients have pending (bounded
 * in time), closes them and removes the socket. Frees `a`. */
void br_attach_close(struct br_attach *a, int exit_code);

/* The container's stdio as the monitor arranges it for attaching, from before the container
 * is made until the endpoint is open. */
struct br_attach_io {
  bool tty;
  bool open_stdin;
  int in_w, out_r, err_r; /* the monitor's pipe ends (no terminal) */
  int console;            /* listening for the pty master (a terminal) */
  char *console_path;     /* where it is */
  char *console_name;     /* what the runtime connects to (short enough for a sockaddr) */
  int root_fd;            /* the runtime root, when console_name goes through it */
};

/* Before the container is made (in the monitor): a terminal container gets a console socket
 * of ours (`*console_socket`), whose master the monitor then keeps; any other gets pipes as
 * fds 0-2, which its process inherits (the caller then passes no log path to the create:
 * the monitor writes the log from these pipes). Without `open_stdin` stdin is /dev/null. */
int br_attach_prepare(const char *root, const char *bundle, bool open_stdin,
                      struct br_attach_io *io, const char **console_socket, br_error_t *err);
/* After: opens the endpoint in `state_dir`; `*out_fd` and `*err_fd` become what the monitor
 * reads the output from (a terminal's is the master; no stderr). */
int br_attach_finish(struct br_attach_io *io, const char *state_dir, int *out_fd, int *err_fd,
                     struct br_attach **out, br_error_t *err);
/* A failed create: closes and removes what br_attach_prepare made. */
void br_attach_abandon(struct br_attach_io *io);

#endif
