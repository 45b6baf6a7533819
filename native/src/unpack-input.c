/* Decompression and hashing for `berth-runtime unpack` (see unpack-input.h). zlib and libzstd
 * are linked statically. Gzip: concatenated members are one stream, as Node's gunzip reads
 * them; bytes after the last member that do not start another one are hashed and ignored,
 * also as Node does. Zstd: any number of frames (skippable ones included). Input that ends
 * inside a member or frame fails with BR_UNPACK_EXIT_SHORT, so a writer whose download was
 * cut short reports that instead; a corrupt stream fails with BR_UNPACK_EXIT_INVALID. */
#include "unpack-input.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "unpack.h"
#include "utils.h"

#define CBUF_SIZE (1u << 20)

static ssize_t input_fail(struct br_input *in, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ssize_t input_fail(struct br_input *in, int kind, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(in->fail_msg, sizeof(in->fail_msg), fmt, ap);
  va_end(ap);
  in->fail_kind = kind;
  return -1;
}

int br_input_open(struct br_input *in, int fd, enum br_compression comp, int blob_fd)
{
  memset(in, 0, sizeof(*in));
  in->fd = fd;
  in->blob_fd = blob_fd;
  in->comp = comp;
  br_sha256_init(&in->blob);
  br_sha256_init(&in->tar);
  if (comp == BR_COMP_NONE)
    return 0;
  in->cbuf = malloc(CBUF_SIZE);
  if (!in->cbuf)
    return -1;
  if (comp == BR_COMP_GZIP) {
    z_stream *z = calloc(1, sizeof(*z));
    /* 16 + MAX_WBITS: a gzip header and trailer are required (the layer's media type says gzip). */
    if (!z || inflateInit2(z, 16 + MAX_WBITS) != Z_OK) {
      free(z);
      return -1;
    }
    in->z = z;
  } else {
    ZSTD_DStream *zs = ZSTD_createDStream();
    if (!zs || ZSTD_isError(ZSTD_initDStream(zs)))
      return -1;
    in->zs = zs;
  }
  return 0;
}

/* The bytes as given, copied to the blob file (when there is one) as they are read: the
 * writer then moves each byte once, into the pipe, and never hashes or stores it itself. */
static int keep_blob(struct br_input *in, const void *buf, size_t n)
{
  if (in->blob_fd >= 0 && n > 0 && br_write_all(in->blob_fd, buf, n) < 0)
    return (int)input_fail(in, BR_UNPACK_EXIT_IO, "write blob: %s", strerror(errno));
  return 0;
}

/* Reads more compressed input when none is left; hashes it as the blob. */
static int refill(struct br_input *in)
{
  if (in->cstart < in->cend || in->ceof)
    return 0;
  for (;;) {
    ssize_t n = read(in->fd, in->cbuf, CBUF_SIZE);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return (int)input_fail(in, BR_UNPACK_EXIT_IO, "read layer: %s", strerror(errno));
    in->cstart = 0;
    in->cend = (size_t)n;
    if (n == 0)
      in->ceof = true;
    br_sha256_update(&in->blob, in->cbuf, (size_t)n);
    in->blob_size += (uint64_t)n;
    return keep_blob(in, in->cbuf, (size_t)n);
  }
}

/* The diff_id's bytes. With the decompression thread, the extracting thread hashes them as it
 * takes them (consume): decompression is the longer half of the work, so the tar's hash is
 * better done on the other core. */
static void hash_tar(struct br_input *in, const void *buf, size_t n)
{
  if (!in->ring)
    br_sha256_update(&in->tar, buf, n);
}

static ssize_t read_plain(struct br_input *in, void *buf, size_t len)
{
  for (;;) {
    ssize_t n = read(in->fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return input_fail(in, BR_UNPACK_EXIT_IO, "read layer: %s", strerror(errno));
    /* One hash serves both: the blob is the tar. */
    hash_tar(in, buf, (size_t)n);
    in->blob_size += (uint64_t)n;
    return keep_blob(in, buf, (size_t)n) < 0 ? -1 : n;
  }
}

/* Makes compressed input available. Returns 1 when there is some, 0 at its end, -1 on
 * failure. */
static int want_input(struct br_input *in)
{
  if (in->cstart < in->cend)
    return 1;
  if (refill(in) < 0)
    return -1;
  return in->cstart < in->cend;
}

/* Before a decompression step that needs input: 1 to go on, 0 to return what was produced
 * (`produced`: some output is ready and no input is buffered, so the caller gets it without
 * waiting on the pipe; or the stream ended cleanly), -1 on failure (a read error, or input
 * that ends inside a member or frame: a truncated layer). */
static int next_step(struct br_input *in, bool produced, const char *format)
{
  int have;
  if (in->cstart == in->cend && produced)
    return 0;
  have = want_input(in);
  if (have < 0)
    return -1;
  if (have > 0)
    return 1;
  if (in->in_frame || in->frames == 0)
    return (int)input_fail(in, BR_UNPACK_EXIT_SHORT, "%s stream ends early (truncated layer)",
                           format);
  in->done = true;
  return 0;
}

static ssize_t read_gzip(struct br_input *in, void *buf, size_t len)
{
  z_stream *z = in->z;
  size_t produced;
  if (len > UINT32_MAX)
    len = UINT32_MAX;
  z->next_out = buf;
  z->avail_out = (uInt)len;
  while (z->avail_out > 0 && !in->done) {
    int rc;
    /* After a call that filled the output, zlib may still owe bytes of a match without
     * needing input: call it before asking for more. */
    if (!in->pending_out) {
      int step = next_step(in, z->avail_out < len, "gzip");
      if (step <= 0) {
        if (step < 0)
          return -1;
        break;
      }
      if (!in->in_frame) {
        /* Another member starts with the gzip magic; anything else after the first member is
         * trailing data, hashed and ignored as Node's gunzip ignores it. */
        if (in->frames > 0 && in->cbuf[in->cstart] != 0x1f) {
          in->done = true;
          break;
        }
        in->in_frame = true;
      }
    }
    z->next_in = in->cbuf + in->cstart;
    z->avail_in = (uInt)(in->cend - in->cstart);
    rc = inflate(z, Z_NO_FLUSH);
    in->cstart = in->cend - z->avail_in;
    in->pending_out = z->avail_out == 0;
    if (rc == Z_STREAM_END) {
      in->in_frame = false;
      in->pending_out = false;
      in->frames++;
      inflateReset(z);
    } else if (rc == Z_BUF_ERROR) {
      in->pending_out = false; /* nothing owed: it needs input */
    } else if (rc != Z_OK) {
      return input_fail(in, BR_UNPACK_EXIT_INVALID, "corrupt gzip stream in layer: %s",
                        z->msg ? z->msg : "inflate failed");
    }
  }
  produced = len - z->avail_out;
  hash_tar(in, buf, produced);
  in->tar_size += produced;
  return (ssize_t)produced;
}

static ssize_t read_zstd(struct br_input *in, void *buf, size_t len)
{
  ZSTD_outBuffer out = {buf, len, 0};
  while (out.pos < out.size && !in->done) {
    ZSTD_inBuffer src;
    size_t rc;
    if (!in->pending_out) {
      int step = next_step(in, out.pos > 0, "zstd");
      if (step <= 0) {
        if (step < 0)
          return -1;
        break;
      }
    }
    src.src = in->cbuf;
    src.size = in->cend;
    src.pos = in->cstart;
    rc = ZSTD_decompressStream(in->zs, &out, &src);
    if (ZSTD_isError(rc))
      return input_fail(in, BR_UNPACK_EXIT_INVALID, "corrupt zstd stream in layer: %s",
                        ZSTD_getErrorName(rc));
    in->cstart = src.pos;
    /* 0: a frame is complete and flushed. Otherwise, with the output full, it may owe more. */
    in->in_frame = rc != 0;
    in->pending_out = rc != 0 && out.pos == out.size;
    if (rc == 0)
      in->frames++;
  }
  hash_tar(in, buf, out.pos);
  in->tar_size += out.pos;
  return (ssize_t)out.pos;
}

/* Decompresses (or reads) up to `len` bytes of tar, on whichever thread owns the input. */
static ssize_t produce(struct br_input *in, void *buf, size_t len)
{
  switch (in->comp) {
  case BR_COMP_GZIP:
    return read_gzip(in, buf, len);
  case BR_COMP_ZSTD:
    return read_zstd(in, buf, len);
  default:
    return read_plain(in, buf, len);
  }
}

/* After the tar's end: bytes after the compressed stream still belong to the blob. */
static int hash_rest(struct br_input *in)
{
  while (in->comp != BR_COMP_NONE && !in->ceof) {
    in->cstart = in->cend;
    if (refill(in) < 0)
      return -1;
  }
  return 0;
}

/* ---- the decompression thread ----
 * One thread reads, hashes and decompresses into a ring of slots while the caller's thread
 * extracts: on two cores the layer then costs about max(decompress, extract) rather than
 * their sum. The slots are handed over under one mutex; the producer owns everything in
 * `struct br_input` but the ring until it publishes its last slot (the end, or a failure). */
#define SLOT_SIZE (1u << 20)
#define NSLOTS 4

struct slot {
  unsigned char *buf;
  ssize_t n; /* bytes, 0 at the end, -1 on failure */
};

struct br_ring {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  struct slot slots[NSLOTS];
  unsigned head, tail; /* filled slots are [tail, head) */
  size_t pos;          /* bytes of slots[tail] already taken */
  bool finished;       /* the producer published its last slot and returns */
};

static void *producer(void *arg)
{
  struct br_input *in = arg;
  struct br_ring *r = in->ring;
  for (;;) {
    struct slot *s;
    ssize_t n;
    pthread_mutex_lock(&r->mu);
    while (r->head - r->tail == NSLOTS)
      pthread_cond_wait(&r->cond, &r->mu);
    s = &r->slots[r->head % NSLOTS];
    pthread_mutex_unlock(&r->mu);
    n = produce(in, s->buf, SLOT_SIZE);
    if (n == 0 && hash_rest(in) < 0)
      n = -1;
    pthread_mutex_lock(&r->mu);
    s->n = n;
    r->head++;
    if (n <= 0)
      r->finished = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    if (n <= 0)
      return NULL;
  }
}

int br_input_start_thread(struct br_input *in)
{
  struct br_ring *r = calloc(1, sizeof(*r));
  unsigned i;
  if (!r)
    return -1;
  for (i = 0; i < NSLOTS; i++) {
    r->slots[i].buf = malloc(SLOT_SIZE);
    if (!r->slots[i].buf)
      return -1;
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cond, NULL);
  in->ring = r;
  if (pthread_create(&r->thread, NULL, producer, in) != 0) {
    in->ring = NULL;
    return -1;
  }
  return 0;
}

static ssize_t consume(struct br_input *in, void *buf, size_t len)
{
  struct br_ring *r = in->ring;
  struct slot *s;
  size_t n;
  pthread_mutex_lock(&r->mu);
  while (r->head == r->tail)
    pthread_cond_wait(&r->cond, &r->mu);
  s = &r->slots[r->tail % NSLOTS];
  pthread_mutex_unlock(&r->mu);
  if (s->n <= 0)
    return s->n; /* kept in the ring: every later call sees the end (or failure) too */
  n = (size_t)s->n - r->pos < len ? (size_t)s->n - r->pos : len;
  memcpy(buf, s->buf + r->pos, n);
  br_sha256_update(&in->tar, buf, n);
  r->pos += n;
  if (r->pos == (size_t)s->n) {
    pthread_mutex_lock(&r->mu);
    r->pos = 0;
    r->tail++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
  }
  return (ssize_t)n;
}

ssize_t br_input_read(struct br_input *in, void *buf, size_t len)
{
  if (len == 0)
    return 0;
  if (in->ring)
    return consume(in, buf, len);
  return produce(in, buf, len);
}

int br_input_drain(struct br_input *in, void *scratch, size_t len)
{
  for (;;) {
    ssize_t n = br_input_read(in, scratch, len);
    if (n < 0)
      return -1;
    if (n == 0)
      break;
  }
  /* With the thread, it already hashed the rest before publishing the end. */
  return in->ring ? 0 : hash_rest(in);
}

void br_input_close(struct br_input *in)
{
  if (in->ring) {
    struct br_ring *r = in->ring;
    bool finished;
    unsigned i;
    pthread_mutex_lock(&r->mu);
    finished = r->finished;
    pthread_mutex_unlock(&r->mu);
    /* A producer still running (the extraction failed first) may be blocked reading stdin;
     * the process exits next, so its buffers are left to it rather than freed under it. */
    if (!finished)
      return;
    pthread_join(r->thread, NULL);
    for (i = 0; i < NSLOTS; i++)
      free(r->slots[i].buf);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r);
    in->ring = NULL;
  }
  if (in->z) {
    inflateEnd(in->z);
    free(in->z);
  }
  if (in->zs)
    ZSTD_freeDStream(in->zs);
  free(in->cbuf);
  in->z = in->zs = in->cbuf = NULL;
}
