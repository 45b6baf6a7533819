/* SHA-256 as FIPS 180-4 defines it: a portable compression function, and one with the x86 SHA
 * extensions (SHA256RNDS2 does two rounds, SHA256MSG1/2 the message schedule) chosen once at
 * run time by CPUID. Tested against sha256sum by test/unit/image/native-sha256.test.ts. */
#include "sha256.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define BR_SHA_X86 1
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
  return (x >> n) | (x << (32 - n));
}

static void blocks_portable(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
  while (nblocks--) {
    uint32_t w[64], a, b, c, d, e, f, g, hh;
    int t;
    for (t = 0; t < 16; t++)
      w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 |
             p[4 * t + 3];
    for (t = 16; t < 64; t++) {
      uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
      uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (t = 0; t < 64; t++) {
      uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
      uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
    p += 64;
  }
}

#ifdef BR_SHA_X86
/* SHA256RNDS2 keeps the state as two vectors, ABEF and CDGH (highest lane first), and takes
 * the round inputs W+K two at a time in the low lanes. Each of the 16 steps below does four
 * rounds; from the fifth on, the four message words come from the previous sixteen. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
blocks_shani(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);    /* D C B A */
  __m128i state1 = _mm_loadu_si128((const __m128i *)&h[4]); /* H G F E */
  __m128i state0;
  tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* C D A B */
  state1 = _mm_shuffle_epi32(state1, 0x1B);    /* E F G H */
  state0 = _mm_alignr_epi8(tmp, state1, 8);    /* A B E F */
  state1 = _mm_blend_epi16(state1, tmp, 0xF0); /* C D G H */

  while (nblocks--) {
    __m128i save0 = state0, save1 = state1, msg[4];
    int i;
    for (i = 0; i < 16; i++) {
      __m128i m, t;
      if (i < 4) {
        m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
      } else {
        m = _mm_sha256msg1_epu32(msg[i & 3], msg[(i + 1) & 3]);
        m = _mm_add_epi32(m, _mm_alignr_epi8(msg[(i + 3) & 3], msg[(i + 2) & 3], 4));
        m = _mm_sha256msg2_epu32(m, msg[(i + 3) & 3]);
      }
      msg[i & 3] = m;
      t = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K[4 * i]));
      state1 = _mm_sha256rnds2_epu32(state1, state0, t);
      t = _mm_shuffle_epi32(t, 0x0E);
      state0 = _mm_sha256rnds2_epu32(state0, state1, t);
    }
    state0 = _mm_add_epi32(state0, save0);
    state1 = _mm_add_epi32(state1, save1);
    p += 64;
  }

  tmp = _mm_shuffle_epi32(state0, 0x1B);       /* F E B A */
  state1 = _mm_shuffle_epi32(state1, 0xB1);    /* D C H G */
  state0 = _mm_blend_epi16(tmp, state1, 0xF0); /* D C B A */
  state1 = _mm_alignr_epi8(state1, tmp, 8);    /* H G F E */
  _mm_storeu_si128((__m128i *)&h[0], state0);
  _mm_storeu_si128((__m128i *)&h[4], state1);
}

static bool have_shani(void)
{
  static int known = -1;
  if (known < 0) {
    unsigned a, b, c, d;
    bool sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
    bool sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19)) && (c & (1u << 9));
    /* BR_SHA256_PORTABLE lets the test compare both implementations on one machine. */
    known = sha && sse41 && !getenv("BR_SHA256_PORTABLE");
  }
  return known;
}
#endif

static void blocks(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
#ifdef BR_SHA_X86
  if (have_shani()) {
    blocks_shani(h, p, nblocks);
    return;
  }
#endif
  blocks_portable(h, p, nblocks);
}

void br_sha256_init(struct br_sha256 *s)
{
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof(iv));
  s->length = 0;
  s->used = 0;
}

void br_sha256_update(struct br_sha256 *s, const void *data, size_t len)
{
  const unsigned char *p = data;
  s->length += len;
  if (s->used > 0) {
    size_t take = 64 - s->used < len ? 64 - s->used : len;
    memcpy(s->block + s->used, p, take);
    s->used += take;
    p += take;
    len -= take;
    if (s->used < 64)
      return;
    blocks(s->h, s->block, 1);
    s->used = 0;
  }
  if (len >= 64) {
    blocks(s->h, p, len / 64);
    p += len - len % 64;
    len %= 64;
  }
  memcpy(s->block, p, len);
  s->used = len;
}

void br_sha256_final(struct br_sha256 *s, unsigned char out[32])
{
  uint64_t bits = s->length * 8;
  int i;
  s->block[s->used++] = 0x80;
  if (s->used > 56) {
    memset(s->block + s->used, 0, 64 - s->used);
    blocks(s->h, s->block, 1);
    s->used = 0;
  }
  memset(s->block + s->used, 0, 56 - s->used);
  for (i = 0; i < 8; i++)
    s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
  blocks(s->h, s->block, 1);
  for (i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(s->h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
    out[4 * i + 3] = (unsigned char)s->h[i];
  }
}

void br_sha256_final_hex(struct br_sha256 *s, char out[72])
{
  static const char hex[] = "0123456789abcdef";
  unsigned char d[32];
  int i;
  br_sha256_final(s, d);
  memcpy(out, "sha256:", 7);
  for (i = 0; i < 32; i++) {
    out[7 + 2 * i] = hex[d[i] >> 4];
    out[8 + 2 * i] = hex[d[i] & 15];
  }
  out[71] = '\0';
}
