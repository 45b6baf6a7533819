/* `berth-runtime unpack`: extracts one image layer (a tar on stdin, gzip- or zstd-compressed
 * or plain) into a directory, confined to it, and verifies its blob digest and diff_id. The
 * TypeScript side (src/image/native-unpacker.ts) downloads and stores the blob. See unpack.c. */
#ifndef BR_UNPACK_H
#define BR_UNPACK_H

/* Exit codes, which the caller maps to BerthError codes. */
#define BR_UNPACK_EXIT_IO 1      /* BERTH_IO */
#define BR_UNPACK_EXIT_INVALID 2 /* BERTH_LAYER_INVALID */
#define BR_UNPACK_EXIT_ESCAPE 3  /* BERTH_PATH_ESCAPE */
/* The tar ended inside an entry: BERTH_LAYER_INVALID, unless the writer knows why (a
 * download cut short), which it then reports instead. */
#define BR_UNPACK_EXIT_SHORT 4
/* With --blob-digest / --diff-id: the bytes as given, or the tar, hash to something else.
 * BERTH_DIGEST_MISMATCH either way; the message names which. */
#define BR_UNPACK_EXIT_BLOB_DIGEST 5
#define BR_UNPACK_EXIT_DIFF_ID 6
#define BR_UNPACK_EXIT_USAGE 64

int br_cmd_unpack(int argc, char **argv);

#endif
