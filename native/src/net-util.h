/* Shared helpers of the net-* commands: argument and address parsing, the one-line error
 * print the dispatcher expects, and namespace files. */
#ifndef BR_NET_UTIL_H
#define BR_NET_UTIL_H

#include "error.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* An address with an optional prefix length; family is AF_INET or AF_INET6. */
struct net_addr {
  int family;
  unsigned char bytes[16];
  int prefix; /* -1 when none was given */
};

/* Parses "10.0.0.2", "fd00::2", "[fd00::2]", "10.0.0.2/24", "fd00::2/64". With
 * need_prefix the "/N" part is required. */
int net_parse_addr(const char *s, int need_prefix, struct net_addr *out, br_error_t *err);
int net_parse_mac(const char *s, unsigned char mac[6], br_error_t *err);
int net_parse_ulong(const char *s, unsigned long min, unsigned long max, const char *what,
                    unsigned long *out, br_error_t *err);
int net_check_ifname(const char *name, const char *what, br_error_t *err);
size_t net_addr_len(int family);
void net_format_addr(const struct net_addr *a, char *buf, size_t len);
void net_format_mac(const unsigned char mac[6], char *buf, size_t len);

/* Docker derives a container's MAC from its IPv4 address (02:42:a:b:c:d) so the same address
 * always has the same MAC and stale ARP entries on the bridge stay right. */
void net_mac_from_ipv4(const unsigned char ip[4], unsigned char mac[6]);

/* One command-line option: "--name VALUE" or "--name=VALUE", or a bare "--name" flag. */
struct net_opt {
  const char *name;
  int flag;            /* takes no value */
  int max;             /* how many times it may be given; 0 means once */
  int n;               /* how many times it was given */
  const char *val[16]; /* the values, in order */
};

/* Fills opts from argv[1..]; unknown options, positional arguments, missing values and
 * repeats beyond max are errors naming the option. */
int net_parse_opts(int argc, char **argv, struct net_opt *opts, size_t nopts, br_error_t *err);

/* Writes s as a JSON string literal (quotes included). */
void net_json_str(FILE *f, const char *s);

/* Prints "berth-runtime: <message>" as one line on stderr, releases *err, returns 1. */
int net_fail(br_error_t *err);

/* Opens a namespace file (a bind mount of /proc/…/ns/net) and checks it is one. */
int net_open_netns(const char *path, br_error_t *err);

#endif
