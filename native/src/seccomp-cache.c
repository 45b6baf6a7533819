/* The on-disk cache of compiled seccomp programs.
 *
 * File `<dir>/<fnv64 of key>.bpf`: magic, key length, flags, instruction count, the key,
 * the instructions. Writes go to a temp file renamed into place, so concurrent runtimes
 * only ever see whole entries. The directory must belong to us and be closed to others:
 * whoever can write a cache entry chooses the filter of the next container.
 */
#include "seccomp-cache.h"
#include "utils.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "BRSC0001"
/* Profiles differ rarely (one per security setting); past this many entries the cache is
 * emptied rather than grown without bound. */
#define MAX_ENTRIES 64

struct header {
  char magic[8];
  uint32_t key_len;
  uint32_t flags;
  uint32_t count;
  uint32_t reserved;
};

static uint64_t fnv1a(const char *s, size_t len)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static int entry_path(const char *dir, const char *key, size_t key_len, char *buf, size_t size)
{
  int n = snprintf(buf, size, "%s/%016llx.bpf", dir, (unsigned long long)fnv1a(key, key_len));
  return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Ours alone: owned by this user and not writable by group or others. */
static int dir_is_private(const char *dir)
{
  struct stat st;
  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
    return 0;
  return st.st_uid == geteuid() && (st.st_mode & 022) == 0;
}

/* A short read is a truncated entry: a miss. */
static int read_full(int fd, void *buf, size_t len)
{
  return br_read_all(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

int br_seccomp_cache_get(const char *dir, const char *key, size_t key_len,
                         struct sock_filter **insns, unsigned short *len, unsigned *flags)
{
  char path[4096];
  struct header h;
  struct stat st;
  char *stored = NULL;
  struct sock_filter *prog = NULL;
  int fd, hit = 0;

  if (entry_path(dir, key, key_len, path, sizeof(path)) < 0 || !dir_is_private(dir))
    return 0;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return 0;
  if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || read_full(fd, &h, sizeof(h)) < 0 ||
      memcmp(h.magic, MAGIC, 8) != 0 || h.key_len != key_len || h.count == 0 ||
      h.count > BPF_MAXINSNS ||
      (uint64_t)st.st_size !=
          sizeof(h) + (uint64_t)h.key_len + h.count * sizeof(struct sock_filter))
    goto out;
  stored = malloc(key_len);
  prog = malloc(h.count * sizeof(struct sock_filter));
  if (stored == NULL || prog == NULL || read_full(fd, stored, key_len) < 0 ||
      memcmp(stored, key, key_len) != 0 ||
      read_full(fd, prog, h.count * sizeof(struct sock_filter)) < 0)
    goto out;
  *insns = prog;
  *len = (unsigned short)h.count;
  *flags = h.flags;
  prog = NULL;
  hit = 1;
out:
  free(stored);
  free(prog);
  close(fd);
  return hit;
}

static void prune(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;
  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL)
    n += strstr(e->d_name, ".bpf") != NULL;
  if (n >= MAX_ENTRIES) {
    rewinddir(d);
    while ((e = readdir(d)) != NULL) {
      size_t l = strlen(e->d_name);
      if (l > 4 && strcmp(e->d_name + l - 4, ".bpf") == 0)
        (void)unlinkat(dirfd(d), e->d_name, 0);
    }
  }
  closedir(d);
}

void br_seccomp_cache_put(const char *dir, const char *key, size_t key_len,
                          const struct sock_filter *insns, unsigned short len, unsigned flags)
{
  char path[4096], tmp[4200];
  struct header h;
  int fd;

  if (entry_path(dir, key, key_len, path, sizeof(path)) < 0)
    return;
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return;
  if (!dir_is_private(dir))
    return;
  prune(dir);
  snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return;
  memset(&h, 0, sizeof(h));
  memcpy(h.magic, MAGIC, 8);
  h.key_len = (uint32_t)key_len;
  h.flags = flags;
  h.count = len;
  /* No fsync: after a crash a torn entry fails the size check and is simply recompiled. */
  int ok = br_write_all(fd, &h, sizeof(h)) == 0 && br_write_all(fd, key, key_len) == 0 &&
           br_write_all(fd, insns, len * sizeof(struct sock_filter)) == 0;
  if (close(fd) < 0)
    ok = 0;
  if (!ok || rename(tmp, path) < 0)
    unlink(tmp);
}
