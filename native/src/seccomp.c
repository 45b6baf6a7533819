/* `linux.seccomp` compiled with libseccomp, then exported as a raw BPF program.
 *
 * Why export instead of seccomp_load(): compiling is the expensive part (libseccomp builds
 * its rule database, then generates BPF), and it needs nothing from the container, so it
 * happens early, where errors can still name the spec field. What is left for the
 * container's process right before execve() is a single seccomp(2) call on a ready
 * program. It also makes the program cacheable as bytes.
 *
 * Cost, measured on the CI host (test/test-seccomp.c prints it): a Docker-default-sized
 * profile (~360 names, x86_64 + x86 + x32, arg rules) takes ~10-20 ms in libseccomp, about
 * a third adding rules and two thirds generating BPF, and grows with each architecture
 * (~2 ms for x86_64 alone). That is most of a container start, hence the optional cache of
 * exported programs (seccomp-cache.c, br_seccomp_set_cache_dir()).
 *
 * Note on the header name: this file includes ours as "seccomp.h" (quotes search this
 * directory first) and libseccomp's as <seccomp.h> (angle brackets never search it).
 */
#include "seccomp.h"

#include <seccomp.h>

#include <json_util.h>

#include <ctype.h>
#include <errno.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp-cache.h"
#include "utils.h"

#ifndef SECCOMP_SET_MODE_FILTER
#define SECCOMP_SET_MODE_FILTER 1
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG (1UL << 1)
#endif
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

static char *cache_dir;

void br_seccomp_set_cache_dir(const char *dir)
{
  free(cache_dir);
  cache_dir = dir ? strdup(dir) : NULL;
}

/* What a compiled program depends on: the profile's text, libseccomp's version (its
 * syscall tables and code generator) and the architecture it runs on. */
static char *cache_key(struct json_object *seccomp, size_t *len)
{
  const struct scmp_version *v = seccomp_version();
  const char *text = json_object_to_json_string_ext(seccomp, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
  char *key = NULL;
  int n = asprintf(&key, "libseccomp %u.%u.%u arch %u tree\n%s", v->major, v->minor, v->micro,
                   seccomp_arch_native(), text);
  if (n < 0)
    return NULL;
  *len = (size_t)n;
  return key;
}

struct br_seccomp {
  struct sock_filter *insns;
  unsigned short len;
  unsigned int flags; /* SECCOMP_FILTER_FLAG_* given to seccomp(2) at load */
};

static void release_ctx(scmp_filter_ctx *ctx)
{
  if (*ctx)
    seccomp_release(*ctx);
}
#define cleanup_seccomp_ctx __attribute__((cleanup(release_ctx)))

static const char *json_type_word(struct json_object *o)
{
  return o == NULL ? "null" : json_type_to_name(json_object_get_type(o));
}

/* Optional member of `obj` with the expected type: 0 (absent or null, *out NULL), 1, or
 * an error naming the field. */
static int get_member(struct json_object *obj, const char *key, enum json_type type,
                      const char *field, struct json_object **out, br_error_t *err)
{
  struct json_object *v = NULL;
  *out = NULL;
  if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
    return 0;
  if (!json_object_is_type(v, type) &&
      !(type == json_type_double && json_object_is_type(v, json_type_int)))
    return br_error_make(err, 0, "%s.%s: expected %s, got %s", field, key, json_type_to_name(type),
                         json_type_word(v));
  *out = v;
  return 1;
}

/* An unsigned 64-bit value: syscall arguments are compared as raw register values, so a
 * negative JSON number stands for its two's complement (what Go's uint64 cast gives runc). */
static int get_u64(struct json_object *obj, const char *key, const char *field, uint64_t *out,
                   br_error_t *err)
{
  struct json_object *v;
  int ret = get_member(obj, key, json_type_int, field, &v, err);
  if (ret <= 0)
    return ret;
  if (json_object_get_int64(v) < 0)
    *out = (uint64_t)json_object_get_int64(v);
  else
    *out = json_object_get_uint64(v);
  return 1;
}

static int get_errno_ret(struct json_object *obj, const char *field, bool *given, uint32_t *out,
                         br_error_t *err)
{
  uint64_t v;
  int ret = get_u64(obj, "errnoRet", field, &v, err);
  *given = ret > 0;
  if (ret <= 0)
    return ret;
  /* SECCOMP_RET_DATA is 16 bits wide: a larger errno would silently wrap. */
  if (v > 0xffff)
    return br_error_make(err, 0, "%s.errnoRet: %llu is out of range (0-65535)", field,
                         (unsigned long long)v);
  *out = (uint32_t)v;
  return 1;
}

/* Maps an OCI action name to libseccomp's value. `errno_ret` applies to ERRNO and TRACE
 * (the kernel hands it to the tracer), EPERM when not given, as in runc and crun. */
static int parse_action(const char *name, bool errno_given, uint32_t errno_ret, const char *field,
                        uint32_t *out, br_error_t *err)
{
  uint32_t e = errno_given ? errno_ret : EPERM;
  bool takes_errno = false;
  if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
    *out = SCMP_ACT_ALLOW;
  else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
    *out = SCMP_ACT_ERRNO(e), takes_errno = true;
  else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
    *out = SCMP_ACT_TRACE(e), takes_errno = true;
  else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
    *out = SCMP_ACT_KILL_THREAD;
  else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
    *out = SCMP_ACT_KILL_PROCESS;
  else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
    *out = SCMP_ACT_TRAP;
  else if (strcmp(name, "SCMP_ACT_LOG") == 0)
    *out = SCMP_ACT_LOG;
  else if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
    return br_error_make(err, 0, "%s: action \"SCMP_ACT_NOTIFY\" is not supported", field);
  else
    return br_error_make(err, 0, "%s: unknown action \"%s\"", field, name);
  if (errno_given && !takes_errno)
    return br_error_make(
        err, 0, "%s: errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE", field);
  return 0;
}

static int parse_op(const char *name, enum scmp_compare *out)
{
  static const struct {
    const char *name;
    enum scmp_compare op;
  } ops[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE},
      {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE},
      {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
    if (strcmp(name, ops[i].name) == 0) {
      *out = ops[i].op;
      return 0;
    }
  }
  return -1;
}

static int add_architectures(scmp_filter_ctx ctx, struct json_object *seccomp, br_error_t *err)
{
  struct json_object *archs;
  int ret = get_member(seccomp, "architectures", json_type_array, "linux.seccomp", &archs, err);
  if (ret <= 0)
    return ret;
  for (size_t i = 0; i < json_object_array_length(archs); i++) {
    struct json_object *a = json_object_array_get_idx(archs, i);
    const char *name = json_object_get_string(a);
    char lower[32];
    size_t j;
    uint32_t token;
    if (!json_object_is_type(a, json_type_string))
      return br_error_make(err, 0, "linux.seccomp.architectures[%zu]: expected string, got %s", i,
                           json_type_word(a));
    /* The spec's names are libseccomp's constants; libseccomp resolves the lower-case
     * suffix ("SCMP_ARCH_X86_64" -> "x86_64"). */
    if (strncmp(name, "SCMP_ARCH_", 10) != 0 || strlen(name + 10) >= sizeof(lower))
      return br_error_make(err, 0, "linux.seccomp.architectures[%zu]: unknown architecture \"%s\"",
                           i, name);
    for (j = 0; name[10 + j]; j++)
      lower[j] = (char)tolower((unsigned char)name[10 + j]);
    lower[j] = 0;
    token = seccomp_arch_resolve_name(lower);
    if (token == 0)
      return br_error_make(err, 0, "linux.seccomp.architectures[%zu]: unknown architecture \"%s\"",
                           i, name);
    ret = seccomp_arch_add(ctx, token);
    if (ret < 0 && ret != -EEXIST)
      return br_error_make(err, -ret, "linux.seccomp.architectures[%zu]: add \"%s\"", i, name);
  }
  return 0;
}

static int parse_flags(struct json_object *seccomp, unsigned int *flags, br_error_t *err)
{
  struct json_object *list;
  int ret = get_member(seccomp, "flags", json_type_array, "linux.seccomp", &list, err);
  *flags = 0;
  if (ret <= 0)
    return ret;
  for (size_t i = 0; i < json_object_array_length(list); i++) {
    struct json_object *f = json_object_array_get_idx(list, i);
    const char *name = json_object_get_string(f);
    if (!json_object_is_type(f, json_type_string))
      return br_error_make(err, 0, "linux.seccomp.flags[%zu]: expected string, got %s", i,
                           json_type_word(f));
    if (strcmp(name, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
      *flags |= SECCOMP_FILTER_FLAG_TSYNC;
    else if (strcmp(name, "SECCOMP_FILTER_FLAG_LOG") == 0)
      *flags |= SECCOMP_FILTER_FLAG_LOG;
    else if (strcmp(name, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
      *flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else
      return br_error_make(err, 0, "linux.seccomp.flags[%zu]: unsupported flag \"%s\"", i, name);
  }
  return 0;
}

/* At most 6 syscall arguments, but a rule may list several conditions on one argument. */
#define MAX_CONDS 64

static int parse_args(struct json_object *rule, const char *field, struct scmp_arg_cmp *conds,
                      size_t *n, bool *or_semantics, br_error_t *err)
{
  struct json_object *args;
  unsigned int per_index[6] = {0};
  int ret = get_member(rule, "args", json_type_array, field, &args, err);
  *n = 0;
  *or_semantics = false;
  if (ret <= 0)
    return ret;
  if (json_object_array_length(args) > MAX_CONDS)
    return br_error_make(err, 0, "%s.args: more than %d conditions", field, MAX_CONDS);
  for (size_t i = 0; i < json_object_array_length(args); i++) {
    struct json_object *a = json_object_array_get_idx(args, i), *opv;
    char afield[128];
    uint64_t index = 0, value = 0, value2 = 0;
    enum scmp_compare op;
    snprintf(afield, sizeof(afield), "%s.args[%zu]", field, i);
    if (!json_object_is_type(a, json_type_object))
      return br_error_make(err, 0, "%s: expected object, got %s", afield, json_type_word(a));
    if (get_u64(a, "index", afield, &index, err) < 0 ||
        get_u64(a, "value", afield, &value, err) < 0 ||
        get_u64(a, "valueTwo", afield, &value2, err) < 0)
      return -1;
    if (index >= 6)
      return br_error_make(err, 0, "%s.index: %llu is out of range (0-5)", afield,
                           (unsigned long long)index);
    ret = get_member(a, "op", json_type_string, afield, &opv, err);
    if (ret < 0)
      return ret;
    if (ret == 0)
      return br_error_make(err, 0, "%s.op: missing", afield);
    if (parse_op(json_object_get_string(opv), &op) < 0)
      return br_error_make(err, 0, "%s.op: unknown operator \"%s\"", afield,
                           json_object_get_string(opv));
    /* For MASKED_EQ, libseccomp's first datum is the mask and the second the value, which
     * is the order of the spec's value/valueTwo. */
    conds[*n] = (struct scmp_arg_cmp){(unsigned int)index, op, value, value2};
    (*n)++;
    if (++per_index[index] > 1)
      *or_semantics = true;
  }
  return 0;
}

static int add_syscall_rules(scmp_filter_ctx ctx, uint32_t default_act, struct json_object *rule,
                             size_t idx, br_error_t *err)
{
  char field[64];
  struct json_object *names, *name1, *actv;
  struct scmp_arg_cmp conds[MAX_CONDS];
  size_t nconds, count;
  bool or_semantics, errno_given;
  uint32_t errno_ret = EPERM, act;
  int ret;

  snprintf(field, sizeof(field), "linux.seccomp.syscalls[%zu]", idx);
  if (!json_object_is_type(rule, json_type_object))
    return br_error_make(err, 0, "%s: expected object, got %s", field, json_type_word(rule));
  if (get_member(rule, "action", json_type_string, field, &actv, err) < 0)
    return -1;
  if (actv == NULL)
    return br_error_make(err, 0, "%s.action: missing", field);
  if (get_errno_ret(rule, field, &errno_given, &errno_ret, err) < 0)
    return -1;
  {
    char afield[80];
    snprintf(afield, sizeof(afield), "%s.action", field);
    if (parse_action(json_object_get_string(actv), errno_given, errno_ret, afield, &act, err) < 0)
      return -1;
  }
  if (parse_args(rule, field, conds, &nconds, &or_semantics, err) < 0)
    return -1;
  if (get_member(rule, "names", json_type_array, field, &names, err) < 0)
    return -1;
  /* "name" (one string) is the pre-1.0 form of the spec; some profiles still carry it. */
  if (get_member(rule, "name", json_type_string, field, &name1, err) < 0)
    return -1;
  if (names == NULL && name1 == NULL)
    return br_error_make(err, 0, "%s.names: missing", field);
  /* libseccomp refuses a rule whose action is the default one, and it would be a no-op. */
  if (act == default_act)
    return 0;

  count = names ? json_object_array_length(names) : 1;
  for (size_t i = 0; i < count; i++) {
    struct json_object *n = names ? json_object_array_get_idx(names, i) : name1;
    const char *name = json_object_get_string(n);
    int nr;
    if (!json_object_is_type(n, json_type_string))
      return br_error_make(err, 0, "%s.names[%zu]: expected string, got %s", field, i,
                           json_type_word(n));
    nr = seccomp_syscall_resolve_name(name);
    /* Unknown to this libseccomp or kernel: skipped, so one profile serves several. */
    if (nr == __NR_SCMP_ERROR)
      continue;
    if (nconds == 0) {
      ret = seccomp_rule_add_array(ctx, act, nr, 0, NULL);
    } else if (!or_semantics) {
      ret = seccomp_rule_add_array(ctx, act, nr, (unsigned int)nconds, conds);
    } else {
      /* Two conditions on the same argument cannot both hold in one rule (libseccomp also
       * rejects them), so runc's reading is that they are alternatives: one rule per
       * condition. crun and Docker's profiles rely on the same meaning. */
      ret = 0;
      for (size_t c = 0; c < nconds && ret == 0; c++)
        ret = seccomp_rule_add_array(ctx, act, nr, 1, &conds[c]);
    }
    if (ret < 0)
      return br_error_make(err, -ret, "%s: add rule for syscall `%s`", field, name);
  }
  return 0;
}

/* libseccomp 2.5 can only export to a file descriptor: a memfd keeps it in memory. */
static int export_bpf(scmp_filter_ctx ctx, struct br_seccomp *f, br_error_t *err)
{
  cleanup_close int fd = memfd_create("berth-seccomp", MFD_CLOEXEC);
  struct stat st;
  ssize_t n;
  int ret;
  if (fd < 0)
    return br_error_make(err, errno, "linux.seccomp: memfd_create");
  ret = seccomp_export_bpf(ctx, fd);
  if (ret < 0)
    return br_error_make(err, -ret, "linux.seccomp: generate BPF");
  if (fstat(fd, &st) < 0)
    return br_error_make(err, errno, "linux.seccomp: stat BPF");
  if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
      st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
    return br_error_make(err, 0,
                         "linux.seccomp: the filter compiles to %lld bytes of BPF, more "
                         "than the kernel's %d instructions",
                         (long long)st.st_size, BPF_MAXINSNS);
  f->insns = malloc(st.st_size);
  if (f->insns == NULL)
    return br_error_make(err, ENOMEM, "linux.seccomp");
  n = pread(fd, f->insns, st.st_size, 0);
  if (n != st.st_size)
    return br_error_make(err, n < 0 ? errno : EIO, "linux.seccomp: read BPF");
  f->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
  return 0;
}

int br_seccomp_compile(struct json_object *seccomp, struct br_seccomp **out, br_error_t *err)
{
  cleanup_seccomp_ctx scmp_filter_ctx ctx = NULL;
  cleanup_free char *key = NULL;
  size_t key_len = 0;
  struct json_object *defv, *syscalls;
  struct br_seccomp *f = NULL;
  bool errno_given;
  uint32_t errno_ret = EPERM, default_act;
  int ret;

  *out = NULL;
  if (seccomp == NULL)
    return 0;
  if (!json_object_is_type(seccomp, json_type_object))
    return br_error_make(err, 0, "linux.seccomp: expected object, got %s", json_type_word(seccomp));
  if (cache_dir != NULL) {
    key = cache_key(seccomp, &key_len);
    f = key ? calloc(1, sizeof(*f)) : NULL;
    if (f && br_seccomp_cache_get(cache_dir, key, key_len, &f->insns, &f->len, &f->flags)) {
      *out = f;
      return 0;
    }
    free(f);
    f = NULL;
  }
  if (get_member(seccomp, "defaultAction", json_type_string, "linux.seccomp", &defv, err) < 0)
    return -1;
  if (defv == NULL)
    return br_error_make(err, 0, "linux.seccomp.defaultAction: missing");
  if (get_member(seccomp, "listenerPath", json_type_string, "linux.seccomp", &syscalls, err) < 0)
    return -1;
  if (syscalls != NULL && json_object_get_string_len(syscalls) > 0)
    return br_error_make(err, 0, "linux.seccomp.listenerPath: seccomp notify is not supported");
  {
    struct json_object *v;
    if (get_member(seccomp, "defaultErrnoRet", json_type_int, "linux.seccomp", &v, err) < 0)
      return -1;
    errno_given = v != NULL;
    if (v != NULL) {
      int64_t e = json_object_get_int64(v);
      if (e < 0 || e > 0xffff)
        return br_error_make(
            err, 0, "linux.seccomp.defaultErrnoRet: %lld is out of range (0-65535)", (long long)e);
      errno_ret = (uint32_t)e;
    }
  }
  if (parse_action(json_object_get_string(defv), errno_given, errno_ret,
                   "linux.seccomp.defaultAction", &default_act, err) < 0)
    return -1;

  ctx = seccomp_init(default_act);
  if (ctx == NULL)
    return br_error_make(err, EINVAL, "linux.seccomp: initialise the filter");
  /* no_new_privs is the caller's decision (process.noNewPrivileges): libseccomp must not
   * set it behind the spec's back. */
  ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  /* A binary tree over the syscall numbers rather than libseccomp's default list: a
   * profile of ~360 names as a list makes the kernel's load of the filter (which runs it
   * for every syscall number of every architecture to find those always allowed) cost
   * ~1 ms per container, and each syscall outside that cache walk the list. */
  if (ret == 0)
    ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (ret < 0)
    return br_error_make(err, -ret, "linux.seccomp: set filter attributes");
  if (add_architectures(ctx, seccomp, err) < 0)
    return -1;

  f = calloc(1, sizeof(*f));
  if (f == NULL)
    return br_error_make(err, ENOMEM, "linux.seccomp");
  if (parse_flags(seccomp, &f->flags, err) < 0)
    goto fail;
  if (get_member(seccomp, "syscalls", json_type_array, "linux.seccomp", &syscalls, err) < 0)
    goto fail;
  for (size_t i = 0; syscalls && i < json_object_array_length(syscalls); i++) {
    if (add_syscall_rules(ctx, default_act, json_object_array_get_idx(syscalls, i), i, err) < 0)
      goto fail;
  }
  if (export_bpf(ctx, f, err) < 0)
    goto fail;
  if (key != NULL)
    br_seccomp_cache_put(cache_dir, key, key_len, f->insns, f->len, f->flags);
  *out = f;
  return 0;

fail:
  br_seccomp_free(f);
  return -1;
}

int br_seccomp_load(struct br_seccomp *filter, br_error_t *err)
{
  struct sock_fprog prog;
  long ret;
  if (filter == NULL)
    return 0;
  prog.len = filter->len;
  prog.filter = filter->insns;
  ret = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filter->flags, &prog);
  /* Kernels before 3.17 only have the prctl() form, which takes no flags. */
  if (ret < 0 && errno == ENOSYS && filter->flags == 0)
    ret = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  if (ret > 0)
    return br_error_make(err, 0,
                         "load seccomp filter: thread %ld could not be synchronised (TSYNC)", ret);
  if (ret < 0 && errno == EACCES)
    return br_error_make(err, errno,
                         "load seccomp filter: without no_new_privs it needs CAP_SYS_ADMIN (load "
                         "it before capabilities are dropped, or set noNewPrivileges)");
  if (ret < 0)
    return br_error_make(err, errno, "load seccomp filter");
  return 0;
}

void br_seccomp_free(struct br_seccomp *filter)
{
  if (filter == NULL)
    return;
  free(filter->insns);
  free(filter);
}
