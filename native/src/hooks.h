/* OCI hooks: each run with the state JSON on stdin, its own args and env, and a timeout. */
#ifndef BR_HOOKS_H
#define BR_HOOKS_H

#include <json.h>

#include "error.h"

/* Runs every hook of `spec.hooks.<kind>` in order; the first failure stops and is returned
 * ("hooks.prestart[0]: `/bin/x` exited with status 3"). */
int br_hooks_run(struct json_object *spec, const char *kind, struct json_object *state,
                 br_error_t *err);
int br_hooks_count(struct json_object *spec, const char *kind);

#endif
