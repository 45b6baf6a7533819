#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "utils.h"

static const char *log_path;
static bool log_json;
static bool log_debug;

void br_log_init(const char *path, bool json, bool debug)
{
  log_path = path;
  log_json = json;
  log_debug = debug;
}

void br_json_escape(char *out, size_t *off, const char *s, size_t len)
{
  size_t i, o = *off;
  for (i = 0; i < len; i++) {
    unsigned char ch = s[i];
    switch (ch) {
    case '"':
      out[o++] = '\\';
      out[o++] = '"';
      break;
    case '\\':
      out[o++] = '\\';
      out[o++] = '\\';
      break;
    case '\n':
      out[o++] = '\\';
      out[o++] = 'n';
      break;
    case '\r':
      out[o++] = '\\';
      out[o++] = 'r';
      break;
    case '\t':
      out[o++] = '\\';
      out[o++] = 't';
      break;
    default:
      if (ch < 0x20 || ch == 0x7f)
        o += sprintf(out + o, "\\u%04x", ch);
      else
        out[o++] = ch;
    }
  }
  *off = o;
}

static void write_log(const char *level, const char *msg)
{
  int fd;
  size_t len = strlen(msg), off = 0;
  char now[40];
  char *buf;
  if (log_path == NULL)
    return;
  fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  br_now(now);
  buf = malloc(len * 6 + 128);
  if (log_json) {
    off += sprintf(buf, "{\"level\":\"%s\",\"msg\":\"", level);
    br_json_escape(buf, &off, msg, len);
    off += sprintf(buf + off, "\",\"time\":\"%s\"}\n", now);
  } else {
    off += sprintf(buf, "time=\"%s\" level=%s msg=\"", now, level);
    br_json_escape(buf, &off, msg, len);
    off += sprintf(buf + off, "\"\n");
  }
  br_write_all(fd, buf, off);
  free(buf);
  close(fd);
}

void br_log_error(const char *msg)
{
  /* stderr carries the same record as the log file, so a caller can parse either. */
  if (log_json) {
    char now[40];
    size_t off = 0, len = strlen(msg);
    char *buf = malloc(len * 6 + 128);
    br_now(now);
    off += sprintf(buf, "{\"level\":\"error\",\"msg\":\"");
    br_json_escape(buf, &off, msg, len);
    off += sprintf(buf + off, "\",\"time\":\"%s\"}\n", now);
    br_write_all(2, buf, off);
    free(buf);
  } else {
    dprintf(2, "berth-runtime: %s\n", msg);
  }
  write_log("error", msg);
}

void br_log_warning(const char *fmt, ...)
{
  va_list ap;
  char *msg;
  if (log_path == NULL && !log_debug)
    return;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  if (msg == NULL)
    return;
  if (log_debug)
    dprintf(2, "warning: %s\n", msg);
  write_log("warning", msg);
  free(msg);
}
