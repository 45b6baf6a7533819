/* `berth-runtime unpack`: extracts one uncompressed image layer (a tar on stdin) into a
 * directory, confined to it. The TypeScript side (src/image/native-unpacker.ts) downloads,
 * verifies and decompresses; this command only creates the entries. See unpack.c. */
#ifndef BR_UNPACK_H
#define BR_UNPACK_H

/* Exit codes, which the caller maps to BerthError codes. */
#define BR_UNPACK_EXIT_IO 1      /* BERTH_IO */
#define BR_UNPACK_EXIT_INVALID 2 /* BERTH_LAYER_INVALID */
#define BR_UNPACK_EXIT_ESCAPE 3  /* BERTH_PATH_ESCAPE */
/* The tar ended inside an entry: BERTH_LAYER_INVALID, unless the writer knows why (a
 * download cut short), which it then reports instead. */
#define BR_UNPACK_EXIT_SHORT 4
#define BR_UNPACK_EXIT_USAGE 64

int br_cmd_unpack(int argc, char **argv);

#endif
