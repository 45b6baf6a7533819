#include "sync.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "utils.h"

int br_sync_send(int fd, int type, br_error_t e)
{
  struct br_sync_msg m = {.type = type};
  size_t len = offsetof(struct br_sync_msg, text);
  if (e) {
    m.status = e->status;
    snprintf(m.text, sizeof(m.text), "%s", e->msg ? e->msg : "unknown error");
    len += strlen(m.text) + 1;
  }
  while (send(fd, &m, len, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      return -1;
  return 0;
}

int br_sync_recv(int fd, int *fd_out, br_error_t *err)
{
  struct br_sync_msg m;
  int got_fd = -1;
  int n;
  memset(&m, 0, sizeof(m));
  n = br_recv_fd(fd, &got_fd, &m, sizeof(m) - 1, err);
  /* A peer that exits with one of our messages unread (a container failing its setup before
   * it read CGROUP) makes the kernel report ECONNRESET once, ahead of what the peer sent before
   * it exited: that is still queued, and the next read returns it (then EOF). */
  if (n < 0 && *err && (*err)->status == ECONNRESET) {
    br_error_release(err);
    memset(&m, 0, sizeof(m));
    n = br_recv_fd(fd, &got_fd, &m, sizeof(m) - 1, err);
  }
  if (n < 0)
    return -1;
  if (n == 0)
    return 0;
  if (fd_out)
    *fd_out = got_fd;
  else if (got_fd >= 0)
    close(got_fd);
  if (m.type == BR_SYNC_ERROR) {
    br_error_make(err, 0, "%s", m.text);
    (*err)->status = m.status;
  }
  return m.type;
}
