/* Messages between the runtime and the container's first process, over a SOCK_SEQPACKET
 * socketpair (one message per send, so no framing is needed). */
#ifndef BR_SYNC_H
#define BR_SYNC_H

#include "error.h"

enum {
  BR_SYNC_GO = 'G',         /* parent: ids mapped (user namespaces only): go on */
  BR_SYNC_CGROUP = 'C',     /* parent: the cgroup is joined (the child builds its root meanwhile) */
  BR_SYNC_HOOKS = 'H',      /* child: namespaces ready, run prestart/createRuntime */
  BR_SYNC_HOOKS_DONE = 'h', /* parent: done */
  BR_SYNC_PTY = 'T',        /* child: the pty master (SCM_RIGHTS) */
  BR_SYNC_READY = 'R',      /* child: waiting for `start` */
  BR_SYNC_ERROR = 'E',      /* child: failed; status and message follow */
};

struct br_sync_msg {
  int type;
  int status;
  char text[3800];
};

int br_sync_send(int fd, int type, br_error_t e);
/* Returns the message type, 0 on EOF, -1 on error. A BR_SYNC_ERROR fills *err. */
int br_sync_recv(int fd, int *fd_out, br_error_t *err);

#endif
