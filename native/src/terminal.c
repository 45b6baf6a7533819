#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "utils.h"

int br_terminal_setup(br_error_t *err)
{
  int master, slave, unlock = 0;
  master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return br_error_make(err, errno, "config.json: process.terminal: open /dev/ptmx");
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) {
    int e = errno;
    close(master);
    return br_error_make(err, e, "unlock the pty");
  }
  /* TIOCGPTPEER opens the slave through the master, never by a path the container controls. */
  slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) {
    int e = errno;
    close(master);
    return br_error_make(err, e, "open the pty slave");
  }
  if (setsid() < 0 && errno != EPERM) {
    int e = errno;
    close(master);
    close(slave);
    return br_error_make(err, e, "setsid");
  }
  if (ioctl(slave, TIOCSCTTY, 0) < 0) {
    int e = errno;
    close(master);
    close(slave);
    return br_error_make(err, e, "set the controlling terminal");
  }
  if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) {
    int e = errno;
    close(master);
    close(slave);
    return br_error_make(err, e, "dup the pty slave");
  }
  if (slave > 2)
    close(slave);
  return master;
}

int br_terminal_send(const char *path, int master, br_error_t *err)
{
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  cleanup_close int s = -1;
  char name[64] = "/dev/ptmx";
  if (strlen(path) >= sizeof(addr.sun_path))
    return br_error_make(err, 0, "console socket path `%s` is too long", path);
  strcpy(addr.sun_path, path);
  s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return br_error_make(err, errno, "socket");
  if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return br_error_make(err, errno, "connect to the console socket `%s`", path);
  if (br_send_fd(s, master, name, strlen(name), err) < 0)
    return br_error_wrap(err, "console socket `%s`", path);
  return 0;
}

void br_terminal_copy_size(int master)
{
  struct winsize ws;
  if (master >= 0 && ioctl(0, TIOCGWINSZ, &ws) == 0)
    ioctl(master, TIOCSWINSZ, &ws);
}

void br_terminal_set_size(int master, unsigned rows, unsigned cols)
{
  struct winsize ws = {.ws_row = rows, .ws_col = cols};
  if (rows && cols)
    ioctl(master, TIOCSWINSZ, &ws);
}

static struct termios saved;
static int saved_ok;

void br_terminal_raw(void)
{
  struct termios t;
  if (!isatty(0) || tcgetattr(0, &saved) < 0)
    return;
  saved_ok = 1;
  t = saved;
  cfmakeraw(&t);
  t.c_oflag |= OPOST;
  tcsetattr(0, TCSANOW, &t);
}

void br_terminal_restore(void)
{
  if (saved_ok)
    tcsetattr(0, TCSANOW, &saved);
}
