#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    return NULL;
  return s;
}

int br_error_make(br_error_t *err, int errno_, const char *fmt, ...)
{
  va_list ap;
  char *msg;
  if (err == NULL)
    return -1;
  va_start(ap, fmt);
  msg = vformat(fmt, ap);
  va_end(ap);
  br_error_release(err);
  *err = calloc(1, sizeof(**err));
  if (*err == NULL)
    return -1;
  (*err)->status = errno_;
  if (errno_ != 0 && msg != NULL) {
    char *full = NULL;
    if (asprintf(&full, "%s: %s", msg, strerror(errno_)) >= 0) {
      free(msg);
      msg = full;
    }
  }
  (*err)->msg = msg;
  return -1;
}

int br_error_wrap(br_error_t *err, const char *fmt, ...)
{
  va_list ap;
  char *ctx, *full = NULL;
  if (err == NULL || *err == NULL)
    return -1;
  va_start(ap, fmt);
  ctx = vformat(fmt, ap);
  va_end(ap);
  if (ctx == NULL)
    return -1;
  if (asprintf(&full, "%s: %s", ctx, (*err)->msg ? (*err)->msg : "unknown error") >= 0) {
    free((*err)->msg);
    (*err)->msg = full;
  }
  free(ctx);
  return -1;
}

void br_error_release(br_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}
