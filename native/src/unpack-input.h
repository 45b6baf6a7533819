/* The input of `berth-runtime unpack`: the layer blob as given (gzip, zstd or plain tar) read
 * from a file descriptor, decompressed, and hashed twice on the way (the blob digest of the
 * bytes as given, the diff_id of the tar), so the caller only moves bytes. See unpack-input.c. */
#ifndef BR_UNPACK_INPUT_H
#define BR_UNPACK_INPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sha256.h"

enum br_compression { BR_COMP_NONE, BR_COMP_GZIP, BR_COMP_ZSTD };

struct br_input {
  int fd;
  int blob_fd; /* where the bytes as given are also written, or -1 */
  enum br_compression comp;
  struct br_sha256 blob, tar;
  uint64_t blob_size, tar_size;
  /* Compressed bytes read but not yet decompressed. */
  unsigned char *cbuf;
  size_t cstart, cend;
  bool ceof;        /* the fd reached its end */
  bool done;        /* the decompressor reached the end of its stream; the rest is only hashed */
  bool in_frame;    /* inside a gzip member or zstd frame (input ending now is a truncation) */
  bool pending_out; /* the decompressor filled the output and may owe more without input */
  uint64_t frames;  /* gzip members or zstd frames completed */
  void *z;          /* z_stream * */
  void *zs;         /* ZSTD_DStream * */
  struct br_ring *ring; /* the decompression thread, once started */
  /* Why the last call failed: an exit code of unpack.h and a message. */
  int fail_kind;
  char fail_msg[256];
};

/* Reads `fd`, copying the bytes as given to `blob_fd` unless it is -1. Returns 0, or -1 when
 * the decompressor cannot be set up (out of memory). */
int br_input_open(struct br_input *in, int fd, enum br_compression comp, int blob_fd);
/* Moves reading, hashing and decompressing to a thread of their own, which fills a ring of
 * buffers ahead of the reader. Returns 0, or -1 (then the caller's thread does it all). */
int br_input_start_thread(struct br_input *in);
/* Up to `len` bytes of tar: > 0, 0 at the end of the stream, -1 on failure (see fail_*). */
ssize_t br_input_read(struct br_input *in, void *buf, size_t len);
/* Reads and hashes everything left (the tar's end-of-archive padding, trailing bytes).
 * Returns 0 or -1 (see fail_*). */
int br_input_drain(struct br_input *in, void *scratch, size_t len);
void br_input_close(struct br_input *in);

#endif
