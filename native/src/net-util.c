#include "net-util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

size_t net_addr_len(int family)
{
  return family == AF_INET6 ? 16 : 4;
}

int net_parse_addr(const char *s, int need_prefix, struct net_addr *out, br_error_t *err)
{
  char buf[INET6_ADDRSTRLEN + 8];
  char *slash, *host = buf;
  size_t n;

  if (s == NULL || *s == '\0')
    return br_error_make(err, 0, "empty address");
  n = strlen(s);
  if (n >= sizeof(buf))
    return br_error_make(err, 0, "invalid address `%s`", s);
  memcpy(buf, s, n + 1);
  memset(out, 0, sizeof(*out));
  out->prefix = -1;

  slash = strchr(buf, '/');
  if (slash != NULL) {
    unsigned long p;
    char *end;
    *slash = '\0';
    errno = 0;
    p = strtoul(slash + 1, &end, 10);
    if (slash[1] == '\0' || *end != '\0' || errno != 0)
      return br_error_make(err, 0, "invalid prefix length in `%s`", s);
    out->prefix = (int)(p > 128 ? 129 : p);
  } else if (need_prefix) {
    return br_error_make(err, 0, "`%s` has no prefix length (expected ADDRESS/N)", s);
  }
  if (host[0] == '[') {
    char *close = strchr(host, ']');
    if (close == NULL || close[1] != '\0')
      return br_error_make(err, 0, "invalid address `%s`", s);
    *close = '\0';
    host++;
  }
  if (inet_pton(AF_INET, host, out->bytes) == 1)
    out->family = AF_INET;
  else if (inet_pton(AF_INET6, host, out->bytes) == 1)
    out->family = AF_INET6;
  else
    return br_error_make(err, 0, "invalid address `%s`", s);
  if (out->prefix > (out->family == AF_INET ? 32 : 128))
    return br_error_make(err, 0, "invalid prefix length in `%s`", s);
  return 0;
}

int net_parse_mac(const char *s, unsigned char mac[6], br_error_t *err)
{
  unsigned int b[6];
  char tail;
  if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    return br_error_make(err, 0, "invalid MAC address `%s` (expected xx:xx:xx:xx:xx:xx)", s);
  for (int i = 0; i < 6; i++)
    mac[i] = (unsigned char)b[i];
  if (mac[0] & 1)
    return br_error_make(err, 0, "invalid MAC address `%s`: it is a multicast address", s);
  return 0;
}

int net_parse_ulong(const char *s, unsigned long min, unsigned long max, const char *what,
                    unsigned long *out, br_error_t *err)
{
  char *end;
  unsigned long v;
  if (s == NULL || *s < '0' || *s > '9')
    return br_error_make(err, 0, "invalid %s `%s`", what, s ? s : "");
  errno = 0;
  v = strtoul(s, &end, 10);
  if (*end != '\0' || errno != 0 || v < min || v > max)
    return br_error_make(err, 0, "invalid %s `%s` (expected %lu..%lu)", what, s, min, max);
  *out = v;
  return 0;
}

int net_check_ifname(const char *name, const char *what, br_error_t *err)
{
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n >= IFNAMSIZ)
    return br_error_make(err, 0, "invalid %s `%s`: 1 to %d characters", what, name ? name : "",
                         IFNAMSIZ - 1);
  for (size_t i = 0; i < n; i++)
    if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] == 0x7f)
      return br_error_make(err, 0, "invalid %s `%s`: no '/', ':' or whitespace", what, name);
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return br_error_make(err, 0, "invalid %s `%s`", what, name);
  return 0;
}

void net_format_addr(const struct net_addr *a, char *buf, size_t len)
{
  if (inet_ntop(a->family, a->bytes, buf, (socklen_t)len) == NULL && len > 0)
    buf[0] = '\0';
}

void net_format_mac(const unsigned char mac[6], char *buf, size_t len)
{
  snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
           mac[5]);
}

void net_mac_from_ipv4(const unsigned char ip[4], unsigned char mac[6])
{
  mac[0] = 0x02;
  mac[1] = 0x42;
  memcpy(mac + 2, ip, 4);
}

int net_fail(br_error_t *err)
{
  fprintf(stderr, "berth-runtime: %s\n",
          err && *err && (*err)->msg ? (*err)->msg : "unknown error");
  br_error_release(err);
  return 1;
}

int net_open_netns(const char *path, br_error_t *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int type;
  if (fd < 0)
    return br_error_make(err, errno, "open network namespace `%s`", path);
  type = ioctl(fd, NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    close(fd);
    return br_error_make(err, 0, "`%s` is not a network namespace", path);
  }
  return fd;
}

int net_parse_opts(int argc, char **argv, struct net_opt *opts, size_t nopts, br_error_t *err)
{
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *eq, *value = NULL;
    size_t len;
    struct net_opt *o = NULL;
    int max;

    if (strncmp(arg, "--", 2) != 0)
      return br_error_make(err, 0, "%s: unexpected argument `%s`", argv[0], arg);
    arg += 2;
    eq = strchr(arg, '=');
    len = eq ? (size_t)(eq - arg) : strlen(arg);
    for (size_t k = 0; k < nopts; k++)
      if (strlen(opts[k].name) == len && strncmp(opts[k].name, arg, len) == 0)
        o = &opts[k];
    if (o == NULL)
      return br_error_make(err, 0, "%s: unknown option `--%.*s`", argv[0], (int)len, arg);
    if (o->flag) {
      if (eq)
        return br_error_make(err, 0, "%s: option `--%s` takes no value", argv[0], o->name);
    } else if (eq) {
      value = eq + 1;
    } else {
      if (i + 1 >= argc)
        return br_error_make(err, 0, "%s: option `--%s` needs a value", argv[0], o->name);
      value = argv[++i];
    }
    max = o->max > 0 ? o->max : 1;
    if (max > (int)(sizeof(o->val) / sizeof(o->val[0])))
      max = (int)(sizeof(o->val) / sizeof(o->val[0]));
    if (o->n >= max)
      return br_error_make(err, 0, "%s: option `--%s` given more than %d time%s", argv[0], o->name,
                           max, max == 1 ? "" : "s");
    o->val[o->n++] = value;
  }
  return 0;
}

void net_json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}
