/* Compiled seccomp programs kept on disk, keyed by the profile (private to seccomp.c). */
#ifndef BR_SECCOMP_CACHE_H
#define BR_SECCOMP_CACHE_H

#include <linux/filter.h>
#include <stddef.h>

/* 1 and a malloc'ed program on a hit whose stored key equals `key` byte for byte (the hash
 * only names the file, so a collision is a miss, never a wrong filter); 0 otherwise. */
int br_seccomp_cache_get(const char *dir, const char *key, size_t key_len,
                         struct sock_filter **insns, unsigned short *len, unsigned *flags);
/* Best effort: a cache that cannot be written is only a slower next start. */
void br_seccomp_cache_put(const char *dir, const char *key, size_t key_len,
                          const struct sock_filter *insns, unsigned short len, unsigned flags);

#endif
