/* config.json: loading with field-naming validation, json-c accessors, and the default spec
 * written by `spec`. */
#ifndef BR_SPEC_H
#define BR_SPEC_H

#include <stdbool.h>
#include <json.h>

#include "error.h"

/* Parses and validates `<bundle>/config.json`. Errors name the field:
 * "config.json: linux.namespaces[2].type: unknown namespace type \"foo\"". */
int br_spec_load(const char *bundle, struct json_object **out, br_error_t *err);
int br_spec_validate(struct json_object *spec, br_error_t *err);

/* runc's default spec (busybox `sh`, pid/net/ipc/uts/mount namespaces, the default mounts,
 * masked and read-only paths); `rootless` adds a user namespace mapping the caller. */
struct json_object *br_spec_default(bool rootless);

/* The CLONE_NEW* flag of an OCI namespace type, or 0 when unknown. */
int br_namespace_flag(const char *type);

/* NULL when absent or JSON null. */
struct json_object *br_json_get(struct json_object *o, const char *key);
const char *br_json_str(struct json_object *o, const char *key);
bool br_json_bool(struct json_object *o, const char *key);
/* Length of the array at `key`, 0 when absent. */
size_t br_json_len(struct json_object *o, const char *key);

#endif
