/* `linux.seccomp` of the OCI runtime spec compiled to a BPF filter (libseccomp, linked
 * statically): defaultAction, defaultErrnoRet, architectures, flags, and syscalls with
 * names, action, errnoRet and args (index, value, valueTwo, op). Unknown syscall names are
 * skipped, as runc and crun do, so one profile serves several kernels and architectures.
 */
#ifndef BR_SECCOMP_H
#define BR_SECCOMP_H

#include <json_object.h>

#include "error.h"

struct br_seccomp;

/* Compiles the filter. Done before the container's root is switched (it needs nothing from
 * the container), so errors are reported while they can still name the field. `seccomp`
 * may be NULL: *out is then NULL and loading is a no-op. */
int br_seccomp_compile(struct json_object *seccomp, struct br_seccomp **out, br_error_t *err);

/* Loads the filter into the calling process: the last step before execve(), after
 * capabilities and no_new_privs are set. */
int br_seccomp_load(struct br_seccomp *filter, br_error_t *err);

void br_seccomp_free(struct br_seccomp *filter);

/* Optional (an addition to the original contract; not calling it changes nothing): keeps
 * compiled filters in `dir`, created 0700 when missing, keyed by the profile's exact text
 * and the libseccomp version, so the next container with the same profile skips
 * libseccomp. Compiling Docker's default profile for its three x86 architectures takes
 * ~10 ms here, a hit ~0.2 ms. NULL (the default) turns the cache off. A cache directory
 * that is not ours alone, or that cannot be read or written, is ignored. */
void br_seccomp_set_cache_dir(const char *dir);

#endif
