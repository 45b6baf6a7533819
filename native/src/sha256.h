/* SHA-256 (FIPS 180-4), streaming. The x86 SHA extensions are used when the CPU has them
 * (about 6x the portable code): `berth-runtime unpack` hashes every layer twice (the blob and
 * its tar), so the hash is a large part of a pull's CPU time. */
#ifndef BR_SHA256_H
#define BR_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct br_sha256 {
  uint32_t h[8];
  uint64_t length; /* bytes hashed so far */
  unsigned char block[64];
  size_t used; /* bytes in `block` */
};

void br_sha256_init(struct br_sha256 *s);
void br_sha256_update(struct br_sha256 *s, const void *data, size_t len);
void br_sha256_final(struct br_sha256 *s, unsigned char out[32]);
/* `out` receives "sha256:" and 64 lowercase hex digits. */
void br_sha256_final_hex(struct br_sha256 *s, char out[72]);

#endif
