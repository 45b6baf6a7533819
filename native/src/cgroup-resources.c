/* `linux.resources` written to cgroup files, for v1 and v2 directories alike.
 *
 * Every error names the spec field ("linux.resources.memory.limit: write `...`"), since the
 * user wrote the field, not the file.
 */
#include "cgroup-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <inttypes.h>
#include <json_util.h>
#include <linkhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utils.h"

#ifndef BR_ARRAY_SIZE
#define BR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

const char *const br_cg_need_names[6] = {"cpu", "cpuset", "memory", "pids", "io", "hugetlb"};

static const char *type_word(struct json_object *o)
{
  return o == NULL ? "null" : json_type_to_name(json_object_get_type(o));
}

/* Optional member of the given type: 1 present, 0 absent/null, -1 wrong type (err set). */
static int member(struct json_object *obj, const char *key, enum json_type type, const char *field,
                  struct json_object **out, br_error_t *err)
{
  struct json_object *v = NULL;
  *out = NULL;
  if (obj == NULL || !json_object_object_get_ex(obj, key, &v) || v == NULL)
    return 0;
  if (!json_object_is_type(v, type))
    return br_error_make(err, 0, "%s.%s: expected %s, got %s", field, key, json_type_to_name(type),
                         type_word(v));
  *out = v;
  return 1;
}

struct num {
  bool set;
  int64_t v;
};

static int get_num(struct json_object *obj, const char *key, const char *field, struct num *n,
                   br_error_t *err)
{
  struct json_object *v;
  int ret = member(obj, key, json_type_int, field, &v, err);
  n->set = ret > 0;
  n->v = ret > 0 ? json_object_get_int64(v) : 0;
  return ret < 0 ? -1 : 0;
}

static int write_field(const char *dir, const char *file, const char *value, const char *field,
                       br_error_t *err)
{
  if (br_cg_write(dir, file, value, err) < 0)
    return br_error_wrap(err, "%s", field);
  return 0;
}

static int write_i64(const char *dir, const char *file, int64_t v, const char *field,
                     br_error_t *err)
{
  char buf[32];
  snprintf(buf, sizeof(buf), "%" PRId64, v);
  return write_field(dir, file, buf, field, err);
}

/* v2 spells "no limit" as "max" where v1 takes -1. */
static int write_v2_limit(const char *dir, const char *file, int64_t v, const char *field,
                          br_error_t *err)
{
  if (v < 0)
    return write_field(dir, file, "max", field, err);
  return write_i64(dir, file, v, field, err);
}

static int no_controller(const char *field, const char *ctrl, br_error_t *err)
{
  return br_error_make(err, 0, "%s: the `%s` cgroup controller is not available on this host",
                       field, ctrl);
}

/* When a spec number is a setting rather than "leave the kernel's default". */
enum when { POSITIVE, NONZERO, PERCENT };

/* One spec number written as it is to one cgroup file. */
struct num_file {
  const char *key; /* the member of the controller's object */
  const char *file;
  enum when when;
};

static bool wanted(const struct num *n, enum when when)
{
  if (!n->set)
    return false;
  switch (when) {
  case POSITIVE:
    return n->v > 0;
  case PERCENT:
    return n->v >= 0 && n->v <= 100;
  default:
    return n->v != 0;
  }
}

/* Writes each member of `obj` that `files` lists and is set, in the table's order (the order
 * the kernel needs: a v1 period before its quota, a memory limit before memsw). On v2 a
 * negative value is written as "max". */
static int write_nums(const char *dir, struct json_object *obj, const char *F,
                      const struct num_file *files, size_t n, bool v2, br_error_t *err)
{
  for (size_t i = 0; i < n; i++) {
    struct num v;
    char field[96];
    if (get_num(obj, files[i].key, F, &v, err) < 0)
      return -1;
    if (!wanted(&v, files[i].when))
      continue;
    snprintf(field, sizeof(field), "%s.%s", F, files[i].key);
    if ((v2 ? write_v2_limit : write_i64)(dir, files[i].file, v.v, field, err) < 0)
      return -1;
  }
  return 0;
}

/* The spec's swap is the limit of memory + swap (v1's memsw), never below the memory limit. */
static int check_swap(const char *field, const struct num *swap, const struct num *limit,
                      br_error_t *err)
{
  if (limit->set && limit->v > 0 && swap->v > 0 && swap->v < limit->v)
    return br_error_make(err, 0,
                         "%s: %" PRId64 " is below memory.limit %" PRId64
                         " (swap is the limit of memory + swap)",
                         field, swap->v, limit->v);
  return 0;
}

static const struct num_file memory_v1_limit[] = {{"limit", "memory.limit_in_bytes", NONZERO}};
static const struct num_file memory_v1_rest[] = {
    {"reservation", "memory.soft_limit_in_bytes", NONZERO},
    {"swappiness", "memory.swappiness", PERCENT},
};
static const struct num_file memory_v2_limit[] = {{"limit", "memory.max", NONZERO}};
static const struct num_file memory_v2_rest[] = {{"reservation", "memory.low", NONZERO}};
static const struct num_file cpu_v1[] = {
    {"shares", "cpu.shares", POSITIVE},
    {"period", "cpu.cfs_period_us", POSITIVE},
    {"quota", "cpu.cfs_quota_us", NONZERO},
    {"realtimePeriod", "cpu.rt_period_us", POSITIVE},
    {"realtimeRuntime", "cpu.rt_runtime_us", NONZERO},
};

static int apply_memory(struct br_cgroup *cg, struct json_object *mem, br_error_t *err)
{
  const char *F = "linux.resources.memory";
  struct num limit, reservation, swap, swappiness;
  struct json_object *oomv;
  const char *dir;
  char field[96];
  bool v2;

  if (get_num(mem, "limit", F, &limit, err) < 0 ||
      get_num(mem, "reservation", F, &reservation, err) < 0 ||
      get_num(mem, "swap", F, &swap, err) < 0 ||
      get_num(mem, "swappiness", F, &swappiness, err) < 0 ||
      member(mem, "disableOOMKiller", json_type_boolean, F, &oomv, err) < 0)
    return -1;
  if (!limit.set && !reservation.set && !swap.set && !swappiness.set && oomv == NULL)
    return 0;
  dir = br_cg_dir_for(cg, "memory");
  if (dir == NULL)
    return no_controller(F, "memory", err);
  v2 = dir == br_cg_v2_dir(cg);

  /* A fresh cgroup has no limit and an unlimited memsw, so the limit goes first: the kernel
   * refuses a memsw below the memory limit. */
  if (write_nums(dir, mem, F, v2 ? memory_v2_limit : memory_v1_limit, 1, v2, err) < 0)
    return -1;
  snprintf(field, sizeof(field), "%s.swap", F);
  if (!v2) {
    /* Without swap accounting (swapaccount=0, or no swap) memsw files do not exist and
     * there is no swap to limit: Docker drops the setting with a warning, as does this. */
    if (swap.set && swap.v != 0 && br_cg_has_file(dir, "memory.memsw.limit_in_bytes") &&
        (check_swap(field, &swap, &limit, err) < 0 ||
         write_i64(dir, "memory.memsw.limit_in_bytes", swap.v, field, err) < 0))
      return -1;
    if (write_nums(dir, mem, F, memory_v1_rest, BR_ARRAY_SIZE(memory_v1_rest), false, err) < 0)
      return -1;
    snprintf(field, sizeof(field), "%s.disableOOMKiller", F);
    if (oomv != NULL && json_object_get_boolean(oomv) &&
        write_field(dir, "memory.oom_control", "1", field, err) < 0)
      return -1;
    return 0;
  }

  /* v2 has no swappiness and no switch for the OOM killer: ignored, as runc does. */
  if (swap.set && swap.v != 0 && br_cg_has_file(dir, "memory.swap.max")) {
    int64_t v2swap = -1;
    /* v2 limits swap alone. */
    if (swap.v > 0) {
      if (!limit.set || limit.v <= 0)
        return br_error_make(err, 0, "%s: a swap limit needs memory.limit on cgroup v2", field);
      if (check_swap(field, &swap, &limit, err) < 0)
        return -1;
      v2swap = swap.v - limit.v;
    }
    if (write_v2_limit(dir, "memory.swap.max", v2swap, field, err) < 0)
      return -1;
  }
  return write_nums(dir, mem, F, memory_v2_rest, BR_ARRAY_SIZE(memory_v2_rest), true, err);
}

static int apply_cpu(struct br_cgroup *cg, struct json_object *cpu, br_error_t *err)
{
  const char *F = "linux.resources.cpu";
  struct num shares, quota, period, rt_runtime, rt_period, idle;
  struct json_object *cpus, *mems;
  const char *dir, *sdir;
  char field[96], buf[64];

  if (get_num(cpu, "shares", F, &shares, err) < 0 || get_num(cpu, "quota", F, &quota, err) < 0 ||
      get_num(cpu, "period", F, &period, err) < 0 ||
      get_num(cpu, "realtimeRuntime", F, &rt_runtime, err) < 0 ||
      get_num(cpu, "realtimePeriod", F, &rt_period, err) < 0 ||
      get_num(cpu, "idle", F, &idle, err) < 0 ||
      member(cpu, "cpus", json_type_string, F, &cpus, err) < 0 ||
      member(cpu, "mems", json_type_string, F, &mems, err) < 0)
    return -1;

  if ((shares.set && shares.v > 0) || (quota.set && quota.v != 0) || (period.set && period.v > 0) ||
      (rt_runtime.set && rt_runtime.v != 0) || (rt_period.set && rt_period.v > 0) || idle.set) {
    dir = br_cg_dir_for(cg, "cpu");
    if (dir == NULL)
      return no_controller(F, "cpu", err);
    if (dir != br_cg_v2_dir(cg)) {
      /* Period before quota (the table's order): the kernel checks the quota against the
       * current period. */
      if (write_nums(dir, cpu, F, cpu_v1, BR_ARRAY_SIZE(cpu_v1), false, err) < 0)
        return -1;
    } else {
      if (shares.set && shares.v > 0) {
        /* The conversion every runtime uses: shares 2..262144 onto weight 1..10000. */
        int64_t s = shares.v < 2 ? 2 : shares.v > 262144 ? 262144 : shares.v;
        snprintf(field, sizeof(field), "%s.shares", F);
        if (write_i64(dir, "cpu.weight", 1 + ((s - 2) * 9999) / 262142, field, err) < 0)
          return -1;
      }
      if ((quota.set && quota.v != 0) || (period.set && period.v > 0)) {
        int64_t p = period.set && period.v > 0 ? period.v : 100000;
        if (quota.set && quota.v > 0)
          snprintf(buf, sizeof(buf), "%" PRId64 " %" PRId64, quota.v, p);
        else
          snprintf(buf, sizeof(buf), "max %" PRId64, p);
        snprintf(field, sizeof(field), "%s.quota", F);
        if (write_field(dir, "cpu.max", buf, field, err) < 0)
          return -1;
      }
      if (rt_runtime.set || rt_period.set)
        return br_error_make(err, 0, "%s.realtimeRuntime: not supported on cgroup v2", F);
    }
    if (idle.set) {
      snprintf(field, sizeof(field), "%s.idle", F);
      if (write_i64(dir, "cpu.idle", idle.v, field, err) < 0)
        return -1;
    }
  }

  if ((cpus && json_object_get_string_len(cpus) > 0) ||
      (mems && json_object_get_string_len(mems) > 0)) {
    struct json_object *set[2] = {cpus, mems};
    static const char *const key[2] = {"cpus", "mems"};
    sdir = br_cg_dir_for(cg, "cpuset");
    if (sdir == NULL)
      return no_controller(F, "cpuset", err);
    for (int i = 0; i < 2; i++) {
      char file[32];
      if (set[i] == NULL || json_object_get_string_len(set[i]) == 0)
        continue;
      snprintf(field, sizeof(field), "%s.%s", F, key[i]);
      snprintf(file, sizeof(file), "cpuset.%s", key[i]);
      if (write_field(sdir, file, json_object_get_string(set[i]), field, err) < 0)
        return -1;
    }
  }
  return 0;
}

static int apply_pids(struct br_cgroup *cg, struct json_object *pids, br_error_t *err)
{
  struct num limit;
  const char *dir;
  if (get_num(pids, "limit", "linux.resources.pids", &limit, err) < 0)
    return -1;
  /* 0 is "not set" in runc's reading of the spec; negative is unlimited. */
  if (!limit.set || limit.v == 0)
    return 0;
  dir = br_cg_dir_for(cg, "pids");
  if (dir == NULL)
    return no_controller("linux.resources.pids", "pids", err);
  return write_v2_limit(dir, "pids.max", limit.v, "linux.resources.pids.limit", err);
}

static int device_numbers(struct json_object *d, const char *field, int64_t *major, int64_t *minor,
                          br_error_t *err)
{
  struct num ma, mi;
  if (get_num(d, "major", field, &ma, err) < 0 || get_num(d, "minor", field, &mi, err) < 0)
    return -1;
  if (!ma.set || !mi.set || ma.v < 0 || mi.v < 0)
    return br_error_make(err, 0, "%s: major and minor are required", field);
  *major = ma.v;
  *minor = mi.v;
  return 0;
}

static int apply_throttle(struct json_object *bio, const char *key, const char *dir, bool v2,
                          const char *v1file, const char *v2key, br_error_t *err)
{
  struct json_object *list;
  char field[128], buf[96];
  if (member(bio, key, json_type_array, "linux.resources.blockIO", &list, err) < 0)
    return -1;
  for (size_t i = 0; list && i < json_object_array_length(list); i++) {
    struct json_object *d = json_object_array_get_idx(list, i);
    int64_t major, minor;
    struct num rate;
    snprintf(field, sizeof(field), "linux.resources.blockIO.%s[%zu]", key, i);
    if (device_numbers(d, field, &major, &minor, err) < 0 ||
        get_num(d, "rate", field, &rate, err) < 0)
      return -1;
    if (v2)
      snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %s=%" PRId64, major, minor, v2key,
               rate.v > 0 ? rate.v : 0);
    else
      snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRId64, major, minor, rate.v);
    if (v2 && rate.v <= 0)
      snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %s=max", major, minor, v2key);
    if (write_field(dir, v2 ? "io.max" : v1file, buf, field, err) < 0)
      return -1;
  }
  return 0;
}

/* blkio weights are 10..1000; v2's io.weight is 1..10000 (io.bfq.weight keeps 1..1000). */
static int64_t io_weight(int64_t w)
{
  if (w < 10)
    w = 10;
  if (w > 1000)
    w = 1000;
  return 1 + (w - 10) * 9999 / 990;
}

static int apply_blockio(struct br_cgroup *cg, struct json_object *bio, br_error_t *err)
{
  const char *F = "linux.resources.blockIO";
  struct num weight, leaf;
  struct json_object *wdev;
  const char *dir;
  char field[128], buf[96];
  bool v2;

  if (json_object_object_length(bio) == 0)
    return 0;
  dir = br_cg_dir_for(cg, "blkio");
  if (dir == NULL)
    dir = br_cg_dir_for(cg, "io");
  if (dir == NULL)
    return no_controller(F, "blkio", err);
  v2 = dir == br_cg_v2_dir(cg);
  if (get_num(bio, "weight", F, &weight, err) < 0 ||
      get_num(bio, "leafWeight", F, &leaf, err) < 0 ||
      member(bio, "weightDevice", json_type_array, F, &wdev, err) < 0)
    return -1;

  if (weight.set && weight.v > 0) {
    snprintf(field, sizeof(field), "%s.weight", F);
    if (!v2) {
      /* With the BFQ scheduler only the bfq file exists. */
      const char *file = br_cg_has_file(dir, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
      if (write_i64(dir, file, weight.v, field, err) < 0)
        return -1;
    } else if (br_cg_has_file(dir, "io.bfq.weight")) {
      if (write_i64(dir, "io.bfq.weight", weight.v, field, err) < 0)
        return -1;
    } else {
      snprintf(buf, sizeof(buf), "default %" PRId64, io_weight(weight.v));
      if (write_field(dir, "io.weight", buf, field, err) < 0)
        return -1;
    }
  }
  if (leaf.set && leaf.v > 0) {
    snprintf(field, sizeof(field), "%s.leafWeight", F);
    if (v2)
      return br_error_make(err, 0, "%s: not supported on cgroup v2", field);
    if (write_i64(dir, "blkio.leaf_weight", leaf.v, field, err) < 0)
      return -1;
  }
  for (size_t i = 0; wdev && i < json_object_array_length(wdev); i++) {
    struct json_object *d = json_object_array_get_idx(wdev, i);
    int64_t major, minor;
    struct num w;
    snprintf(field, sizeof(field), "%s.weightDevice[%zu]", F, i);
    if (device_numbers(d, field, &major, &minor, err) < 0 ||
        get_num(d, "weight", field, &w, err) < 0)
      return -1;
    if (!w.set)
      continue;
    if (!v2) {
      const char *file = br_cg_has_file(dir, "blkio.weight_device") ? "blkio.weight_device"
                                                                    : "blkio.bfq.weight_device";
      snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRId64, major, minor, w.v);
      if (write_field(dir, file, buf, field, err) < 0)
        return -1;
    } else {
      bool bfq = br_cg_has_file(dir, "io.bfq.weight");
      snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRId64, major, minor,
               bfq ? w.v : io_weight(w.v));
      if (write_field(dir, bfq ? "io.bfq.weight" : "io.weight", buf, field, err) < 0)
        return -1;
    }
  }
  if (apply_throttle(bio, "throttleReadBpsDevice", dir, v2, "blkio.throttle.read_bps_device",
                     "rbps", err) < 0 ||
      apply_throttle(bio, "throttleWriteBpsDevice", dir, v2, "blkio.throttle.write_bps_device",
                     "wbps", err) < 0 ||
      apply_throttle(bio, "throttleReadIOPSDevice", dir, v2, "blkio.throttle.read_iops_device",
                     "riops", err) < 0 ||
      apply_throttle(bio, "throttleWriteIOPSDevice", dir, v2, "blkio.throttle.write_iops_device",
                     "wiops", err) < 0)
    return -1;
  return 0;
}

static int apply_hugetlb(struct br_cgroup *cg, struct json_object *list, br_error_t *err)
{
  const char *dir;
  if (json_object_array_length(list) == 0)
    return 0;
  dir = br_cg_dir_for(cg, "hugetlb");
  if (dir == NULL)
    return no_controller("linux.resources.hugepageLimits", "hugetlb", err);
  for (size_t i = 0; i < json_object_array_length(list); i++) {
    struct json_object *h = json_object_array_get_idx(list, i), *size;
    char field[96], file[96];
    struct num limit;
    snprintf(field, sizeof(field), "linux.resources.hugepageLimits[%zu]", i);
    if (member(h, "pageSize", json_type_string, field, &size, err) < 0 ||
        get_num(h, "limit", field, &limit, err) < 0)
      return -1;
    if (size == NULL || strchr(json_object_get_string(size), '/') != NULL ||
        json_object_get_string_len(size) > 32)
      return br_error_make(err, 0, "%s.pageSize: expected a size such as \"2MB\"", field);
    if (dir == br_cg_v2_dir(cg)) {
      snprintf(file, sizeof(file), "hugetlb.%s.max", json_object_get_string(size));
      if (write_v2_limit(dir, file, limit.v, field, err) < 0)
        return -1;
    } else {
      snprintf(file, sizeof(file), "hugetlb.%s.limit_in_bytes", json_object_get_string(size));
      if (write_i64(dir, file, limit.v, field, err) < 0)
        return -1;
    }
  }
  return 0;
}

static int apply_unified(struct br_cgroup *cg, struct json_object *unified, br_error_t *err)
{
  const char *dir;
  if (json_object_object_length(unified) == 0)
    return 0;
  dir = br_cg_v2_dir(cg);
  if (dir == NULL)
    return br_error_make(err, 0, "linux.resources.unified: this host has no cgroup v2 tree");
  json_object_object_foreach(unified, key, val)
  {
    char field[160];
    snprintf(field, sizeof(field), "linux.resources.unified.%s", key);
    if (!json_object_is_type(val, json_type_string))
      return br_error_make(err, 0, "%s: expected string, got %s", field, type_word(val));
    /* The keys are file names in the container's own directory, nothing else. */
    if (key[0] == '.' || key[0] == 0 || strchr(key, '/') != NULL)
      return br_error_make(err, 0, "%s: not a cgroup file name", field);
    if (write_field(dir, key, json_object_get_string(val), field, err) < 0)
      return -1;
  }
  return 0;
}

/* What the OCI spec says every container gets (null, zero, full, random, urandom, tty,
 * console, ptmx, and the pty slaves): allowed after the user's rules so that a "deny all"
 * first rule does not make /dev/null unusable, as runc and crun do. */
static const char *const default_devices[] = {
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",   "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
};

/* ---- devices as an eBPF program (BPF_CGROUP_DEVICE) ------------------------------------- */

struct dev_rule {
  bool allow;
  char type;     /* 'a', 'b', 'c' */
  unsigned acc;  /* BPF_DEVCG_ACC_* bits */
  int64_t major; /* -1: any */
  int64_t minor;
};

static int parse_rule(struct json_object *d, size_t i, struct dev_rule *r, br_error_t *err)
{
  struct json_object *allow, *typev, *accessv;
  struct num major, minor;
  char field[96];
  const char *type = "a", *access = "rwm";
  snprintf(field, sizeof(field), "linux.resources.devices[%zu]", i);
  if (!json_object_is_type(d, json_type_object))
    return br_error_make(err, 0, "%s: expected object, got %s", field, type_word(d));
  if (member(d, "allow", json_type_boolean, field, &allow, err) < 0 ||
      member(d, "type", json_type_string, field, &typev, err) < 0 ||
      member(d, "access", json_type_string, field, &accessv, err) < 0 ||
      get_num(d, "major", field, &major, err) < 0 || get_num(d, "minor", field, &minor, err) < 0)
    return -1;
  if (allow == NULL)
    return br_error_make(err, 0, "%s.allow: missing", field);
  if (typev)
    type = json_object_get_string(typev);
  if (accessv && json_object_get_string_len(accessv) > 0)
    access = json_object_get_string(accessv);
  if (strlen(type) != 1 || strchr("abc", type[0]) == NULL)
    return br_error_make(err, 0, "%s.type: unknown device type \"%s\" (a, b or c)", field, type);
  if (strspn(access, "rwm") != strlen(access))
    return br_error_make(err, 0, "%s.access: \"%s\" is not a subset of \"rwm\"", field, access);
  r->allow = json_object_get_boolean(allow);
  r->type = type[0];
  r->acc = (strchr(access, 'm') ? BPF_DEVCG_ACC_MKNOD : 0) |
           (strchr(access, 'r') ? BPF_DEVCG_ACC_READ : 0) |
           (strchr(access, 'w') ? BPF_DEVCG_ACC_WRITE : 0);
  r->major = major.set && major.v >= 0 ? major.v : -1;
  r->minor = minor.set && minor.v >= 0 ? minor.v : -1;
  return 0;
}

#define INSN(c, d, s_, o, i)                                                                       \
  ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s_), .off = (o), .imm = (i)})

/* One rule: skip to the next unless type, access, major and minor match, else return its
 * verdict. `skip` is patched once the block's length is known. */
static size_t emit_rule(struct bpf_insn *p, const struct dev_rule *r)
{
  size_t n = 0, jumps[4], nj = 0;
  if (r->type != 'a') {
    jumps[nj++] = n;
    p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
                  r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
  }
  if (r->acc != 7) {
    /* An allow rule covers a request only if it grants every access asked for; a deny rule
     * refuses a request that asks for any access it names. */
    p[n++] = INSN(BPF_ALU | BPF_MOV | BPF_X, 6, 3, 0, 0);
    p[n++] = INSN(BPF_ALU | BPF_AND | BPF_K, 6, 0, 0, r->allow ? (int)(~r->acc & 7) : (int)r->acc);
    jumps[nj++] = n;
    p[n++] = INSN(BPF_JMP | (r->allow ? BPF_JNE : BPF_JEQ) | BPF_K, 6, 0, 0, 0);
  }
  if (r->major >= 0) {
    jumps[nj++] = n;
    p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)r->major);
  }
  if (r->minor >= 0) {
    jumps[nj++] = n;
    p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)r->minor);
  }
  p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r->allow ? 1 : 0);
  p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  for (size_t j = 0; j < nj; j++)
    p[jumps[j]].off = (int16_t)(n - jumps[j] - 1);
  return n;
}

int br_cg_devices_prog(struct json_object *res, br_error_t *err)
{
  struct json_object *list;
  struct dev_rule *rules;
  struct bpf_insn *prog;
  size_t nr = 0, n = 0, len;
  bool catch_all = false;
  union bpf_attr attr;
  int fd;
  if (res == NULL || !json_object_object_get_ex(res, "devices", &list) ||
      !json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
    return br_error_make(err, ENOENT, "linux.resources.devices: no rules");
  len = json_object_array_length(list);
  rules = calloc(len + BR_ARRAY_SIZE(default_devices), sizeof(*rules));
  prog = calloc(8 + 8 * (len + BR_ARRAY_SIZE(default_devices)), sizeof(*prog));
  if (rules == NULL || prog == NULL)
    abort();
  for (size_t i = 0; i < len; i++)
    if (parse_rule(json_object_array_get_idx(list, i), i, &rules[nr++], err) < 0) {
      free(rules);
      free(prog);
      return -1;
    }
  /* The runtime's own devices come after the spec's, as on v1. */
  for (size_t i = 0; i < BR_ARRAY_SIZE(default_devices); i++) {
    unsigned maj, min;
    char t, star;
    struct dev_rule *r = &rules[nr++];
    r->allow = true;
    r->acc = 7;
    r->type = default_devices[i][0];
    if (sscanf(default_devices[i], "%c %u:%u", &t, &maj, &min) == 3) {
      r->major = maj;
      r->minor = min;
    } else if (sscanf(default_devices[i], "%c %u:%c", &t, &maj, &star) == 3) {
      r->major = maj;
      r->minor = -1;
    } else {
      r->major = r->minor = -1;
    }
  }
  /* r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx). */
  prog[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0);
  prog[n++] = INSN(BPF_ALU | BPF_MOV | BPF_X, 3, 2, 0, 0);
  prog[n++] = INSN(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
  prog[n++] = INSN(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16);
  prog[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0);
  prog[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0);
  /* The last matching rule wins, as when v1 applies them in order: test them backwards. */
  for (size_t i = nr; i-- > 0 && !catch_all;) {
    size_t len = emit_rule(prog + n, &rules[i]);
    n += len;
    /* A rule without condition ("a *:* rwm") decides everything left: the verifier refuses
     * the unreachable code after it. */
    catch_all = len == 2;
  }
  /* No rule matched: allowed, like a v1 devices cgroup with no rule. */
  if (!catch_all) {
    prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    prog[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  }
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)prog;
  attr.insn_cnt = (uint32_t)n;
  attr.license = (uint64_t)(uintptr_t) "Apache-2.0";
  fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  free(rules);
  free(prog);
  if (fd < 0)
    return br_error_make(err, errno, "linux.resources.devices: load the device filter");
  return fd;
}

int br_cg_devices_attach(const char *dir, int prog, br_error_t *err)
{
  union bpf_attr attr;
  int cfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r, e;
  if (cfd < 0)
    return br_error_make(err, errno, "linux.resources.devices: open `%s`", dir);
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t)cfd;
  attr.attach_bpf_fd = (uint32_t)prog;
  attr.attach_type = BPF_CGROUP_DEVICE;
  /* Programs of the host's on the parents keep running too: every one must allow. */
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  r = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
  e = errno;
  close(cfd);
  if (r < 0)
    return br_error_make(err, e, "linux.resources.devices: attach the device filter to `%s`", dir);
  return 0;
}

static int apply_devices(struct br_cgroup *cg, struct json_object *list, br_error_t *err)
{
  const char *dir;
  if (json_object_array_length(list) == 0)
    return 0;
  /* Without a v1 devices hierarchy, device access is an eBPF program on the v2 directory
   * (BPF_CGROUP_DEVICE), attached by br_cgroup_create (cgroup.c). */
  dir = br_cg_dir_for(cg, "devices");
  if (dir == NULL || dir == br_cg_v2_dir(cg))
    return 0;
  for (size_t i = 0; i < json_object_array_length(list); i++) {
    struct dev_rule r;
    char field[96], entry[96], maj[24] = "*", min[24] = "*", acc[4];
    size_t k = 0;
    if (parse_rule(json_object_array_get_idx(list, i), i, &r, err) < 0)
      return -1;
    snprintf(field, sizeof(field), "linux.resources.devices[%zu]", i);
    if (r.major >= 0)
      snprintf(maj, sizeof(maj), "%" PRId64, r.major);
    if (r.minor >= 0)
      snprintf(min, sizeof(min), "%" PRId64, r.minor);
    if (r.acc & BPF_DEVCG_ACC_READ)
      acc[k++] = 'r';
    if (r.acc & BPF_DEVCG_ACC_WRITE)
      acc[k++] = 'w';
    if (r.acc & BPF_DEVCG_ACC_MKNOD)
      acc[k++] = 'm';
    acc[k] = '\0';
    snprintf(entry, sizeof(entry), "%c %s:%s %s", r.type, maj, min, acc);
    if (write_field(dir, r.allow ? "devices.allow" : "devices.deny", entry, field, err) < 0)
      return -1;
  }
  for (size_t i = 0; i < BR_ARRAY_SIZE(default_devices); i++) {
    if (write_field(dir, "devices.allow", default_devices[i], "linux.resources.devices", err) < 0)
      return -1;
  }
  return 0;
}

static bool has_content(struct json_object *res, const char *key)
{
  struct json_object *v;
  if (!json_object_object_get_ex(res, key, &v) || v == NULL)
    return false;
  if (json_object_is_type(v, json_type_object))
    return json_object_object_length(v) > 0;
  if (json_object_is_type(v, json_type_array))
    return json_object_array_length(v) > 0;
  return true;
}

int br_cg_limits_requested(struct json_object *res, br_error_t *err)
{
  struct json_object *pids;
  if (res == NULL)
    return 0;
  if (!json_object_is_type(res, json_type_object))
    return br_error_make(err, 0, "linux.resources: expected object, got %s", type_word(res));
  if (member(res, "pids", json_type_object, "linux.resources", &pids, err) < 0)
    return -1;
  if (pids != NULL) {
    struct num limit;
    if (get_num(pids, "limit", "linux.resources.pids", &limit, err) < 0)
      return -1;
    if (limit.set && limit.v != 0)
      return 1;
  }
  return has_content(res, "memory") || has_content(res, "cpu") || has_content(res, "blockIO") ||
         has_content(res, "hugepageLimits") || has_content(res, "unified");
}

unsigned br_cg_v2_needs(struct json_object *res)
{
  unsigned needs = 0;
  struct json_object *cpu, *unified;
  if (res == NULL || !json_object_is_type(res, json_type_object))
    return 0;
  if (has_content(res, "memory"))
    needs |= BR_CG_NEED_MEMORY;
  if (has_content(res, "pids"))
    needs |= BR_CG_NEED_PIDS;
  if (has_content(res, "blockIO"))
    needs |= BR_CG_NEED_IO;
  if (has_content(res, "hugepageLimits"))
    needs |= BR_CG_NEED_HUGETLB;
  if (json_object_object_get_ex(res, "cpu", &cpu) && json_object_is_type(cpu, json_type_object)) {
    json_object_object_foreach(cpu, key, val)
    {
      (void)val;
      if (strcmp(key, "cpus") == 0 || strcmp(key, "mems") == 0)
        needs |= BR_CG_NEED_CPUSET;
      else
        needs |= BR_CG_NEED_CPU;
    }
  }
  if (json_object_object_get_ex(res, "unified", &unified) &&
      json_object_is_type(unified, json_type_object)) {
    json_object_object_foreach(unified, key, val)
    {
      (void)val;
      for (size_t i = 0; i < BR_ARRAY_SIZE(br_cg_need_names); i++) {
        size_t len = strlen(br_cg_need_names[i]);
        if (strncmp(key, br_cg_need_names[i], len) == 0 && key[len] == '.')
          needs |= 1u << i;
      }
    }
  }
  return needs;
}

int br_cg_apply_resources(struct br_cgroup *cg, struct json_object *res, bool devices,
                          br_error_t *err)
{
  struct json_object *v;
  if (res == NULL)
    return 0;
  if (!json_object_is_type(res, json_type_object))
    return br_error_make(err, 0, "linux.resources: expected object, got %s", type_word(res));
  if (member(res, "memory", json_type_object, "linux.resources", &v, err) < 0 ||
      (v && apply_memory(cg, v, err) < 0))
    return -1;
  if (member(res, "cpu", json_type_object, "linux.resources", &v, err) < 0 ||
      (v && apply_cpu(cg, v, err) < 0))
    return -1;
  if (member(res, "pids", json_type_object, "linux.resources", &v, err) < 0 ||
      (v && apply_pids(cg, v, err) < 0))
    return -1;
  if (member(res, "blockIO", json_type_object, "linux.resources", &v, err) < 0 ||
      (v && apply_blockio(cg, v, err) < 0))
    return -1;
  if (member(res, "hugepageLimits", json_type_array, "linux.resources", &v, err) < 0 ||
      (v && apply_hugetlb(cg, v, err) < 0))
    return -1;
  if (member(res, "unified", json_type_object, "linux.resources", &v, err) < 0 ||
      (v && apply_unified(cg, v, err) < 0))
    return -1;
  if (member(res, "devices", json_type_array, "linux.resources", &v, err) < 0 ||
      (v && devices && apply_devices(cg, v, err) < 0))
    return -1;
  return 0;
}
