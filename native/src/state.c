#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "spec.h"
#include "utils.h"

int br_state_dir(const char *root, const char *id, char **out, br_error_t *err)
{
  if (id == NULL || *id == '\0')
    return br_error_make(err, 0, "container id must not be empty");
  /* A leading dot is reserved for the runtime's own entries (.seccomp-cache). */
  if (strchr(id, '/') || id[0] == '.' || strlen(id) > 1024)
    return br_error_make(err, 0, "invalid container id `%s`", id);
  *out = br_strdup_printf("%s/%s", root, id);
  return 0;
}

static struct json_object *load_json(const char *dir, const char *name)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return json_object_from_file(path);
}

int br_state_load(const char *root, const char *id, struct br_state **out, br_error_t *err)
{
  struct br_state *st;
  struct stat sb;
  char path[PATH_MAX];
  char *dir;
  if (br_state_dir(root, id, &dir, err) < 0)
    return -1;
  if (stat(dir, &sb) < 0) {
    free(dir);
    return br_error_make(err, 0, "container `%s` does not exist", id);
  }
  st = calloc(1, sizeof(*st));
  st->dir = dir;
  st->id = br_xstrdup(id);
  st->obj = load_json(dir, "state.json");
  st->exit = load_json(dir, "exit.json");
  if (st->obj) {
    struct json_object *v;
    if ((v = br_json_get(st->obj, "pid")))
      st->pid = json_object_get_int(v);
    if ((v = br_json_get(st->obj, "pidStart")))
      st->pid_start = json_object_get_uint64(v);
    if ((v = br_json_get(st->obj, "monitorPid")))
      st->monitor_pid = json_object_get_int(v);
    if ((v = br_json_get(st->obj, "monitorStart")))
      st->monitor_start = json_object_get_uint64(v);
  }
  snprintf(path, sizeof(path), "%s/started", dir);
  {
    char *s = NULL;
    br_error_t e = NULL;
    if (br_read_file(path, &s, NULL, &e) == 0) {
      s[strcspn(s, "\n")] = '\0';
      st->started = s;
    }
    br_error_release(&e);
  }
  snprintf(path, sizeof(path), "%s/paused", dir);
  st->paused = access(path, F_OK) == 0;
  {
    struct json_object *r = load_json(dir, "restart.json");
    if (r) {
      st->restart_count = json_object_get_int(br_json_get(r, "count"));
      st->restarting = json_object_get_boolean(br_json_get(r, "restarting"));
      json_object_put(r);
    }
  }
  *out = st;
  return 0;
}

void br_state_free(struct br_state *st)
{
  if (st == NULL)
    return;
  free(st->dir);
  free(st->id);
  free(st->started);
  if (st->obj)
    json_object_put(st->obj);
  if (st->exit)
    json_object_put(st->exit);
  free(st);
}

const char *br_state_status(struct br_state *st)
{
  const char *stored;
  /* Between two runs only the monitor lives; a monitor that died restarts nothing. */
  if (st->restarting && br_proc_alive(st->monitor_pid, st->monitor_start))
    return "restarting";
  if (st->obj == NULL)
    return "stopped";
  if (st->exit != NULL || !br_proc_alive(st->pid, st->pid_start))
    return "stopped";
  stored = br_json_str(st->obj, "status");
  if (stored && strcmp(stored, "creating") == 0)
    return "creating";
  if (st->paused)
    return "paused";
  return st->started ? "running" : "created";
}

struct json_object *br_state_document(struct br_state *st)
{
  struct json_object *doc = json_object_new_object();
  struct json_object *o = st->obj, *v;
  const char *status = br_state_status(st);
  json_object_object_add(doc, "ociVersion",
                         json_object_new_string(o && br_json_str(o, "ociVersion")
                                                    ? br_json_str(o, "ociVersion")
                                                    : "1.0.2"));
  json_object_object_add(doc, "id", json_object_new_string(st->id));
  json_object_object_add(doc, "status", json_object_new_string(status));
  json_object_object_add(
      doc, "pid",
      json_object_new_int(
          strcmp(status, "stopped") == 0 || strcmp(status, "restarting") == 0 ? 0 : st->pid));
  json_object_object_add(
      doc, "bundle",
      json_object_new_string(o && br_json_str(o, "bundle") ? br_json_str(o, "bundle") : ""));
  json_object_object_add(
      doc, "rootfs",
      json_object_new_string(o && br_json_str(o, "rootfs") ? br_json_str(o, "rootfs") : ""));
  if (o && (v = br_json_get(o, "created")))
    json_object_object_add(doc, "created", json_object_get(v));
  if (o && (v = br_json_get(o, "annotations")))
    json_object_object_add(doc, "annotations", json_object_get(v));
  else
    json_object_object_add(doc, "annotations", json_object_new_object());
  json_object_object_add(doc, "owner", json_object_new_string(""));
  json_object_object_add(doc, "restartCount", json_object_new_int(st->restart_count));
  if (st->started)
    json_object_object_add(doc, "started", json_object_new_string(st->started));
  if (st->exit) {
    const char *keys[] = {"finished", "exitCode", "signal", "oomKilled"};
    size_t i;
    for (i = 0; i < BR_ARRAY_SIZE(keys); i++)
      if ((v = br_json_get(st->exit, keys[i])))
        json_object_object_add(doc, keys[i], json_object_get(v));
  }
  return doc;
}

int br_state_write(const char *dir, const char *name, struct json_object *obj, br_error_t *err)
{
  char path[PATH_MAX];
  size_t len;
  const char *s = json_object_to_json_string_length(
      obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return br_write_file_atomic(path, s, len, err);
}
