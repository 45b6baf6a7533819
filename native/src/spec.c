#include "spec.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utils.h"

struct json_object *br_json_get(struct json_object *o, const char *key)
{
  struct json_object *v = NULL;
  if (o == NULL || !json_object_is_type(o, json_type_object))
    return NULL;
  if (!json_object_object_get_ex(o, key, &v))
    return NULL;
  if (v == NULL || json_object_is_type(v, json_type_null))
    return NULL;
  return v;
}

const char *br_json_str(struct json_object *o, const char *key)
{
  struct json_object *v = br_json_get(o, key);
  if (v == NULL || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

bool br_json_bool(struct json_object *o, const char *key)
{
  struct json_object *v = br_json_get(o, key);
  return v != NULL && json_object_get_boolean(v);
}

size_t br_json_len(struct json_object *o, const char *key)
{
  struct json_object *v = br_json_get(o, key);
  if (v == NULL || !json_object_is_type(v, json_type_array))
    return 0;
  return json_object_array_length(v);
}

static const struct {
  const char *name;
  int flag;
} namespaces[] = {
    {"pid", CLONE_NEWPID},       {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
    {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},     {"user", CLONE_NEWUSER},
    {"cgroup", CLONE_NEWCGROUP},
#ifdef CLONE_NEWTIME
    {"time", CLONE_NEWTIME},
#endif
};

int br_namespace_flag(const char *type)
{
  size_t i;
  for (i = 0; type && i < BR_ARRAY_SIZE(namespaces); i++)
    if (strcmp(type, namespaces[i].name) == 0)
      return namespaces[i].flag;
  return 0;
}

static int check_type(struct json_object *o, enum json_type t, const char *field, br_error_t *err)
{
  static const char *names[] = {"null", "boolean", "number", "number", "object", "array", "string"};
  if (o != NULL && !json_object_is_type(o, t))
    return br_error_make(err, 0, "config.json: %s: expected %s, got %s", field, names[t],
                         names[json_object_get_type(o)]);
  return 0;
}

static int validate_mappings(struct json_object *linux_obj, const char *key, br_error_t *err)
{
  struct json_object *arr = br_json_get(linux_obj, key);
  size_t i, n;
  char field[64];
  snprintf(field, sizeof(field), "linux.%s", key);
  if (check_type(arr, json_type_array, field, err) < 0)
    return -1;
  n = arr ? json_object_array_length(arr) : 0;
  for (i = 0; i < n; i++) {
    struct json_object *m = json_object_array_get_idx(arr, i);
    const char *k[] = {"containerID", "hostID", "size"};
    long long v[3];
    size_t j;
    for (j = 0; j < 3; j++) {
      struct json_object *f = br_json_get(m, k[j]);
      if (f == NULL || !json_object_is_type(f, json_type_int))
        return br_error_make(err, 0, "config.json: linux.%s[%zu].%s: missing or not a number", key,
                             i, k[j]);
      v[j] = json_object_get_int64(f);
      if (v[j] < 0 || v[j] > UINT_MAX)
        return br_error_make(err, 0, "config.json: linux.%s[%zu].%s: %lld is out of range", key, i,
                             k[j], v[j]);
    }
    if (v[2] == 0)
      return br_error_make(err, 0, "config.json: linux.%s[%zu].size: must be greater than 0", key,
                           i);
    if (v[0] + v[2] > (long long)UINT_MAX + 1 || v[1] + v[2] > (long long)UINT_MAX + 1)
      return br_error_make(err, 0, "config.json: linux.%s[%zu]: range overflows 32 bits", key, i);
  }
  return 0;
}

int br_spec_validate(struct json_object *spec, br_error_t *err)
{
  struct json_object *root, *process, *args, *linux_obj, *nss, *mounts;
  const char *cwd;
  size_t i, n;
  bool newuser = false;

  if (!json_object_is_type(spec, json_type_object))
    return br_error_make(err, 0, "config.json: expected a JSON object");
  root = br_json_get(spec, "root");
  if (check_type(root, json_type_object, "root", err) < 0)
    return -1;
  if (br_json_str(root, "path") == NULL || *br_json_str(root, "path") == '\0')
    return br_error_make(err, 0, "config.json: root.path: missing");

  process = br_json_get(spec, "process");
  if (process == NULL)
    return br_error_make(err, 0, "config.json: process: missing");
  if (check_type(process, json_type_object, "process", err) < 0)
    return -1;
  args = br_json_get(process, "args");
  if (check_type(args, json_type_array, "process.args", err) < 0)
    return -1;
  if (args == NULL || json_object_array_length(args) == 0)
    return br_error_make(err, 0, "config.json: process.args: must not be empty");
  for (i = 0; i < json_object_array_length(args); i++)
    if (!json_object_is_type(json_object_array_get_idx(args, i), json_type_string))
      return br_error_make(err, 0, "config.json: process.args[%zu]: expected string", i);
  cwd = br_json_str(process, "cwd");
  if (cwd != NULL && cwd[0] != '/')
    return br_error_make(err, 0, "config.json: process.cwd: `%s` is not an absolute path", cwd);
  if (check_type(br_json_get(process, "env"), json_type_array, "process.env", err) < 0)
    return -1;

  mounts = br_json_get(spec, "mounts");
  if (check_type(mounts, json_type_array, "mounts", err) < 0)
    return -1;
  n = mounts ? json_object_array_length(mounts) : 0;
  for (i = 0; i < n; i++) {
    struct json_object *m = json_object_array_get_idx(mounts, i);
    const char *dest = br_json_str(m, "destination");
    if (dest == NULL || dest[0] == '\0')
      return br_error_make(err, 0, "config.json: mounts[%zu].destination: missing", i);
    if (dest[0] != '/')
      return br_error_make(
          err, 0, "config.json: mounts[%zu].destination: `%s` is not an absolute path", i, dest);
  }

  linux_obj = br_json_get(spec, "linux");
  if (check_type(linux_obj, json_type_object, "linux", err) < 0)
    return -1;
  nss = br_json_get(linux_obj, "namespaces");
  if (check_type(nss, json_type_array, "linux.namespaces", err) < 0)
    return -1;
  n = nss ? json_object_array_length(nss) : 0;
  for (i = 0; i < n; i++) {
    struct json_object *ns = json_object_array_get_idx(nss, i);
    const char *type = br_json_str(ns, "type");
    size_t j;
    if (type == NULL)
      return br_error_make(err, 0, "config.json: linux.namespaces[%zu].type: missing", i);
    if (br_namespace_flag(type) == 0)
      return br_error_make(err, 0,
                           "config.json: linux.namespaces[%zu].type: unknown namespace type "
                           "\"%s\"",
                           i, type);
    for (j = 0; j < i; j++)
      if (strcmp(type, br_json_str(json_object_array_get_idx(nss, j), "type")) == 0)
        return br_error_make(
            err, 0, "config.json: linux.namespaces[%zu].type: duplicate namespace \"%s\"", i, type);
    if (br_json_str(ns, "path")) {
      struct stat st;
      if (stat(br_json_str(ns, "path"), &st) < 0)
        return br_error_make(err, errno, "config.json: linux.namespaces[%zu].path: `%s`", i,
                             br_json_str(ns, "path"));
    } else if (strcmp(type, "user") == 0) {
      newuser = true;
    }
  }
  if (validate_mappings(linux_obj, "uidMappings", err) < 0 ||
      validate_mappings(linux_obj, "gidMappings", err) < 0)
    return -1;
  if (newuser &&
      (br_json_len(linux_obj, "uidMappings") == 0 || br_json_len(linux_obj, "gidMappings") == 0))
    return br_error_make(err, 0,
                         "config.json: linux.uidMappings: a new user namespace needs uid and "
                         "gid mappings");
  if (!newuser && (br_json_len(linux_obj, "uidMappings") || br_json_len(linux_obj, "gidMappings")))
    return br_error_make(err, 0,
                         "config.json: linux.uidMappings: mappings given without a new user "
                         "namespace");
  return 0;
}

int br_spec_load(const char *bundle, struct json_object **out, br_error_t *err)
{
  cleanup_free char *path = br_strdup_printf("%s/config.json", bundle);
  cleanup_free char *data = NULL;
  struct json_tokener *tok;
  struct json_object *spec;
  size_t len;

  if (br_read_file(path, &data, &len, err) < 0) {
    if ((*err)->status == ENOENT) {
      br_error_release(err);
      return br_error_make(err, 0, "config.json: not found in bundle `%s`", bundle);
    }
    return -1;
  }
  tok = json_tokener_new();
  spec = json_tokener_parse_ex(tok, data, len);
  if (spec == NULL || json_tokener_get_parse_end(tok) < len) {
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    size_t line = 1, k;
    for (k = 0; k < off && k < len; k++)
      if (data[k] == '\n')
        line++;
    json_tokener_free(tok);
    if (spec)
      json_object_put(spec);
    return br_error_make(err, 0, "config.json: invalid JSON at line %zu: %s", line,
                         jerr == json_tokener_success ? "trailing data"
                                                      : json_tokener_error_desc(jerr));
  }
  json_tokener_free(tok);
  if (br_spec_validate(spec, err) < 0) {
    json_object_put(spec);
    return -1;
  }
  *out = spec;
  return 0;
}

static const char default_spec[] =
    "{\"ociVersion\":\"1.0.2\","
    "\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],"
    "\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
    "\"TERM=xterm\"],\"cwd\":\"/\","
    "\"capabilities\":{"
    "\"bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
    "\"effective\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
    "\"permitted\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
    "\"ambient\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"]},"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],"
    "\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
    "\"hostname\":\"berth\","
    "\"mounts\":["
    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
    "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\","
    "\"gid=5\"]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
    "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
    "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}],"
    "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
    "{\"type\":\"uts\"},{\"type\":\"mount\"},{\"type\":\"cgroup\"}],"
    "\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\","
    "\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/sched_debug\","
    "\"/sys/firmware\",\"/proc/scsi\"],"
    "\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
    "\"/proc/sysrq-trigger\"]}}";

struct json_object *br_spec_default(bool rootless)
{
  struct json_object *spec = json_tokener_parse(default_spec);
  struct json_object *linux_obj, *nss, *mounts;
  size_t i;
  if (!rootless)
    return spec;
  /* Like `runc spec --rootless`: a user namespace mapping the caller to root, no network
   * namespace (nothing to configure it with), sysfs bound from the host, no cgroup mount. */
  linux_obj = br_json_get(spec, "linux");
  json_object_object_del(linux_obj, "resources");
  nss = json_object_new_array();
  {
    const char *types[] = {"pid", "ipc", "uts", "user", "mount", "cgroup"};
    for (i = 0; i < BR_ARRAY_SIZE(types); i++) {
      struct json_object *ns = json_object_new_object();
      json_object_object_add(ns, "type", json_object_new_string(types[i]));
      json_object_array_add(nss, ns);
    }
  }
  json_object_object_add(linux_obj, "namespaces", nss);
  {
    const char *keys[] = {"uidMappings", "gidMappings"};
    unsigned ids[] = {getuid(), getgid()};
    for (i = 0; i < 2; i++) {
      struct json_object *arr = json_object_new_array(), *m = json_object_new_object();
      json_object_object_add(m, "containerID", json_object_new_int(0));
      json_object_object_add(m, "hostID", json_object_new_int64(ids[i]));
      json_object_object_add(m, "size", json_object_new_int(1));
      json_object_array_add(arr, m);
      json_object_object_add(linux_obj, keys[i], arr);
    }
  }
  mounts = br_json_get(spec, "mounts");
  for (i = json_object_array_length(mounts); i-- > 0;) {
    struct json_object *m = json_object_array_get_idx(mounts, i);
    const char *type = br_json_str(m, "type");
    if (strcmp(type, "cgroup") == 0) {
      json_object_array_del_idx(mounts, i, 1);
    } else if (strcmp(type, "sysfs") == 0) {
      struct json_object *opts = json_object_new_array();
      const char *o[] = {"rbind", "nosuid", "noexec", "nodev", "ro"};
      size_t k;
      for (k = 0; k < BR_ARRAY_SIZE(o); k++)
        json_object_array_add(opts, json_object_new_string(o[k]));
      json_object_object_add(m, "type", json_object_new_string("none"));
      json_object_object_add(m, "source", json_object_new_string("/sys"));
      json_object_object_add(m, "options", opts);
    } else if (strcmp(type, "devpts") == 0) {
      struct json_object *opts = br_json_get(m, "options");
      json_object_array_del_idx(opts, json_object_array_length(opts) - 1, 1);
    }
  }
  return spec;
}
