/* The CVE-2019-5736 guard. A process in the container could open /proc/<pid>/exe of a
 * runtime process that entered its namespaces and, once the runtime exits, write through
 * that handle into the runtime's binary on the host. Commands that enter a container first
 * re-exec themselves from a detached read-only bind mount of the binary (writes through
 * it fail with EROFS; nothing is copied, so it costs one execve), or, where that is not
 * allowed (rootless), from a sealed memfd copy (F_SEAL_WRITE). */
#ifndef BR_CLONED_BINARY_H
#define BR_CLONED_BINARY_H

#include "error.h"

/* Returns 0 when already running from a sealed copy; otherwise re-execs and does not
 * return unless that failed. */
int br_cloned_binary_ensure(char **argv, br_error_t *err);

/* `berth-runtime _probe-exe` (a test hook): prints
 * {"protection":"readonly-mount|memfd|none","writable":bool,"error":"..."} about
 * /proc/self/exe, and exits 0 only when the binary cannot be written through it.
 * BERTH_RUNTIME_EXE_MEMFD=1 forces the memfd way, so both can be tested. */
int br_cloned_binary_probe(br_error_t *err);

#endif
