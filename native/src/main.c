/* berth-runtime: an OCI runtime with runc's command line, plus berth's monitor mode.
 *
 * main() parses the global flags, picks the command and its flags, and turns the error
 * contract into runc's exit behaviour: one line on stderr (and in --log), exit 1, except
 * run and exec which exit with their process's code.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloned_binary.h"
#include "commands.h"
#include "container.h"
#include "error.h"
#include "log.h"
#include "net-commands.h"
#include "unpack.h"
#include "serve.h"
#include "utils.h"

#define BR_VERSION "0.1.0"

enum { OPT_FLAG, OPT_STR, OPT_LIST };

struct opt {
  const char *name;
  char short_name;
  int kind;
  void *ptr;
};

struct str_list {
  char **v;
  size_t n;
};

static const struct opt *find_opt(const struct opt *opts, const char *name, char short_name)
{
  for (; opts && opts->name; opts++)
    if ((name && strcmp(name, opts->name) == 0) || (short_name && short_name == opts->short_name))
      return opts;
  return NULL;
}

/* Flags may come anywhere, like `--name value`, `--name=value`, `-x value`; after the
 * first positional argument when `stop_at_pos` (exec: the rest is the command) and after
 * "--" everything is positional. */
static int parse_args(int argc, char **argv, const struct opt *opts, char ***pos, size_t *npos,
                      bool stop_at_pos, br_error_t *err)
{
  int i;
  *pos = calloc(argc + 1, sizeof(char *));
  *npos = 0;
  for (i = 0; i < argc; i++) {
    char *a = argv[i], *val = NULL;
    const struct opt *o;
    if (strcmp(a, "--") == 0) {
      for (i++; i < argc; i++)
        (*pos)[(*npos)++] = argv[i];
      break;
    }
    if (a[0] != '-' || a[1] == '\0') {
      (*pos)[(*npos)++] = a;
      if (stop_at_pos) {
        for (i++; i < argc; i++)
          (*pos)[(*npos)++] = argv[i];
        break;
      }
      continue;
    }
    if (a[1] == '-' || strlen(a) > 2) {
      char name[128];
      const char *n = a + (a[1] == '-' ? 2 : 1);
      const char *eq = strchr(n, '=');
      snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - n) : strlen(n)), n);
      if (eq)
        val = (char *)eq + 1;
      o = find_opt(opts, name, 0);
      if (o == NULL && a[1] != '-') {
        /* A cluster of one-letter flags: -dt. */
        const char *c;
        for (c = a + 1; *c; c++) {
          o = find_opt(opts, NULL, *c);
          if (o == NULL || o->kind != OPT_FLAG)
            return br_error_make(err, 0, "unknown flag `%s`", a);
          *(bool *)o->ptr = true;
        }
        continue;
      }
    } else {
      o = find_opt(opts, NULL, a[1]);
    }
    if (o == NULL)
      return br_error_make(err, 0, "unknown flag `%s`", a);
    if (o->kind == OPT_FLAG) {
      *(bool *)o->ptr = val == NULL || strcmp(val, "true") == 0;
      continue;
    }
    if (val == NULL) {
      if (i + 1 >= argc)
        return br_error_make(err, 0, "flag `%s` needs a value", a);
      val = argv[++i];
    }
    if (o->kind == OPT_STR) {
      *(const char **)o->ptr = val;
    } else {
      struct str_list *l = o->ptr;
      l->v = realloc(l->v, (l->n + 1) * sizeof(char *));
      l->v[l->n++] = val;
    }
  }
  return 0;
}

/* parse_args for a command about one container: its id, the first operand, is required. */
static int parse_id_args(int argc, char **argv, const struct opt *opts, char ***pos, size_t *npos,
                         bool stop_at_pos, const char *cmd, br_error_t *err)
{
  if (parse_args(argc, argv, opts, pos, npos, stop_at_pos, err) < 0)
    return -1;
  if (*npos < 1)
    return br_error_make(err, 0, "%s: a container id is required", cmd);
  return 0;
}

/* A `--timeout` in seconds, as runc takes it: a number with an optional `s`. */
static int parse_seconds(const char *cmd, const char *text, double *out, br_error_t *err)
{
  char *end;
  double t = strtod(text, &end);
  if (*end == 's')
    end++;
  if (end == text || *end != '\0' || t < 0)
    return br_error_make(err, 0, "%s: invalid --timeout `%s`", cmd, text);
  *out = t;
  return 0;
}

static void usage(FILE *f)
{
  fputs("usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND ...\n"
        "commands: spec create start run state kill delete list pause resume exec ps wait stop\n"
        "          netns-create netns-delete bridge-ensure bridge-delete veth-attach\n"
        "          veth-detach port-proxy nat-ensure nat-remove mount-overlay umount serve\n",
        f);
}

static const struct {
  const char *name;
  int (*fn)(int, char **);
} net_commands[] = {
    {"netns-create", br_cmd_netns_create},
    {"netns-delete", br_cmd_netns_delete},
    {"bridge-ensure", br_cmd_bridge_ensure},
    {"bridge-delete", br_cmd_bridge_delete},
    {"veth-attach", br_cmd_veth_attach},
    {"veth-detach", br_cmd_veth_detach},
    {"port-proxy", br_cmd_port_proxy},
    {"nat-ensure", br_cmd_nat_ensure},
    {"nat-remove", br_cmd_nat_remove},
    {"mount-overlay", br_cmd_mount_overlay},
    {"umount", br_cmd_umount},
    /* Not a network command, but the same argc/argv contract (src/image/native-unpacker.ts). */
    {"unpack", br_cmd_unpack},
};

static int run_command(struct br_global *g, const char *cmd, int argc, char **argv, int *code,
                       br_error_t *err)
{
  cleanup_free char **pos = NULL;
  size_t npos = 0;
  *code = 1;

  if (strcmp(cmd, "create") == 0 || strcmp(cmd, "run") == 0) {
    struct br_create_opts o = {.run = cmd[0] == 'r'};
    bool no_subreaper = false;
    const char *preserve = NULL;
    const struct opt opts[] = {{"bundle", 'b', OPT_STR, &o.bundle},
                               {"pid-file", 0, OPT_STR, &o.pid_file},
                               {"console-socket", 0, OPT_STR, &o.console_socket},
                               {"no-pivot", 0, OPT_FLAG, &o.no_pivot},
                               {"no-new-keyring", 0, OPT_FLAG, &o.no_new_keyring},
                               {"detach", 'd', OPT_FLAG, &o.detach},
                               {"monitor", 0, OPT_FLAG, &o.monitor},
                               {"log-path", 0, OPT_STR, &o.log_path},
                               {"init", 0, OPT_FLAG, &o.init},
                               {"no-subreaper", 0, OPT_FLAG, &no_subreaper},
                               {"keep", 0, OPT_FLAG, &o.keep},
                               {"attach", 0, OPT_FLAG, &o.attach},
                               {"stdin", 0, OPT_FLAG, &o.open_stdin},
                               {"attach-wait", 0, OPT_FLAG, &o.attach_wait},
                               {"preserve-fds", 0, OPT_STR, &preserve},
                               {NULL, 0, 0, NULL}};
    if (parse_id_args(argc, argv, opts, &pos, &npos, false, cmd, err) < 0)
      return -1;
    o.id = pos[0];
    if (preserve)
      o.preserve_fds = atoi(preserve);
    if (o.log_path && !o.monitor)
      return br_error_make(err, 0, "--log-path needs --monitor");
    if (br_container_create(g, &o, code, err) < 0)
      return -1;
    if (!o.run || o.detach)
      *code = 0;
    return 0;
  }
  if (strcmp(cmd, "exec") == 0) {
    struct br_exec_opts o = {.control_fd = -1};
    struct str_list env = {0};
    const char *preserve = NULL, *apparmor = NULL, *label = NULL, *process_label = NULL;
    const char *control = NULL;
    bool no_subreaper = false, ignore_paused = false;
    const struct opt opts[] = {{"process", 'p', OPT_STR, &o.process_file},
                               {"tty", 't', OPT_FLAG, &o.tty},
                               {"cwd", 0, OPT_STR, &o.cwd},
                               {"env", 'e', OPT_LIST, &env},
                               {"user", 'u', OPT_STR, &o.user},
                               {"additional-gids", 'g', OPT_STR, &o.additional_gids},
                               {"detach", 'd', OPT_FLAG, &o.detach},
                               {"pid-file", 0, OPT_STR, &o.pid_file},
                               {"console-socket", 0, OPT_STR, &o.console_socket},
                               {"preserve-fds", 0, OPT_STR, &preserve},
                               {"apparmor", 0, OPT_STR, &apparmor},
                               {"process-label", 0, OPT_STR, &process_label},
                               {"label", 0, OPT_STR, &label},
                               {"no-subreaper", 0, OPT_FLAG, &no_subreaper},
                               {"ignore-paused", 0, OPT_FLAG, &ignore_paused},
                               {"control-fd", 0, OPT_STR, &control},
                               {NULL, 0, 0, NULL}};
    int r;
    if (parse_id_args(argc, argv, opts, &pos, &npos, true, cmd, err) < 0)
      return -1;
    o.id = pos[0];
    if (preserve)
      o.preserve_fds = atoi(preserve);
    if (control)
      o.control_fd = atoi(control);
    o.argv = pos + 1;
    o.argc = npos - 1;
    o.env = env.v;
    o.nenv = env.n;
    if (o.process_file == NULL && o.argc == 0)
      return br_error_make(err, 0, "exec: a command or --process is required");
    r = br_cmd_exec(g, &o, code, err);
    free(env.v);
    return r;
  }

  if (strcmp(cmd, "spec") == 0) {
    const char *bundle = NULL;
    bool rootless = false;
    const struct opt opts[] = {{"bundle", 'b', OPT_STR, &bundle},
                               {"rootless", 0, OPT_FLAG, &rootless},
                               {NULL, 0, 0, NULL}};
    if (parse_args(argc, argv, opts, &pos, &npos, false, err) < 0)
      return -1;
    if (br_cmd_spec(bundle, rootless, err) < 0)
      return -1;
  } else if (strcmp(cmd, "start") == 0) {
    if (parse_id_args(argc, argv, NULL, &pos, &npos, false, cmd, err) < 0)
      return -1;
    if (br_container_start(g, pos[0], err) < 0)
      return -1;
  } else if (strcmp(cmd, "state") == 0) {
    if (parse_id_args(argc, argv, NULL, &pos, &npos, false, cmd, err) < 0)
      return -1;
    if (br_cmd_state(g, pos[0], err) < 0)
      return -1;
  } else if (strcmp(cmd, "kill") == 0) {
    bool all = false;
    const struct opt opts[] = {{"all", 'a', OPT_FLAG, &all}, {NULL, 0, 0, NULL}};
    if (parse_id_args(argc, argv, opts, &pos, &npos, false, cmd, err) < 0)
      return -1;
    if (br_cmd_kill(g, pos[0], npos > 1 ? pos[1] : NULL, all, err) < 0)
      return -1;
  } else if (strcmp(cmd, "delete") == 0) {
    bool force = false;
    const struct opt opts[] = {{"force", 'f', OPT_FLAG, &force}, {NULL, 0, 0, NULL}};
    size_t i;
    if (parse_id_args(argc, argv, opts, &pos, &npos, false, cmd, err) < 0)
      return -1;
    for (i = 0; i < npos; i++)
      if (br_container_remove(g, pos[i], force, err) < 0)
        return -1;
  } else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "ls") == 0) {
    const char *format = "table";
    bool quiet = false;
    const struct opt opts[] = {
        {"format", 'f', OPT_STR, &format}, {"quiet", 'q', OPT_FLAG, &quiet}, {NULL, 0, 0, NULL}};
    if (parse_args(argc, argv, opts, &pos, &npos, false, err) < 0)
      return -1;
    if (strcmp(format, "json") != 0 && strcmp(format, "table") != 0)
      return br_error_make(err, 0, "list: unknown format `%s`", format);
    if (br_cmd_list(g, strcmp(format, "json") == 0, quiet, err) < 0)
      return -1;
  } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
    if (parse_id_args(argc, argv, NULL, &pos, &npos, false, cmd, err) < 0)
      return -1;
    if (br_cmd_pause(g, pos[0], cmd[0] == 'p', err) < 0)
      return -1;
  } else if (strcmp(cmd, "ps") == 0) {
    const char *format = "table";
    const struct opt opts[] = {{"format", 'f', OPT_STR, &format}, {NULL, 0, 0, NULL}};
    if (parse_id_args(argc, argv, opts, &pos, &npos, false, cmd, err) < 0)
      return -1;
    if (br_cmd_ps(g, pos[0], strcmp(format, "json") == 0, err) < 0)
      return -1;
  } else if (strcmp(cmd, "wait") == 0) {
    const char *timeout = NULL;
    double t = 0;
    bool state = false;
    const struct opt opts[] = {
        {"timeout", 0, OPT_STR, &timeout}, {"state", 0, OPT_FLAG, &state}, {NULL, 0, 0, NULL}};
    if (parse_id_args(argc, argv, opts, &pos, &npos, false, cmd, err) < 0)
      return -1;
    if (timeout && parse_seconds(cmd, timeout, &t, err) < 0)
      return -1;
    if (br_cmd_wait(g, pos[0], t, state, err) < 0)
      return -1;
  } else if (strcmp(cmd, "stop") == 0) {
    const char *timeout = NULL, *signame = NULL;
    double t = 10;
    const struct opt opts[] = {{"timeout", 't', OPT_STR, &timeout},
                               {"signal", 's', OPT_STR, &signame},
                               {NULL, 0, 0, NULL}};
    if (parse_id_args(argc, argv, opts, &pos, &npos, false, cmd, err) < 0)
      return -1;
    if (timeout && parse_seconds(cmd, timeout, &t, err) < 0)
      return -1;
    if (br_cmd_stop(g, pos[0], signame, t, err) < 0)
      return -1;
  } else if (strcmp(cmd, "_probe-exe") == 0) {
    /* Test hook for the CVE-2019-5736 guard: can this process write its own binary? */
    if (br_cloned_binary_probe(err) < 0)
      return -1;
  } else {
    usage(stderr);
    return br_error_make(err, 0, "unknown command `%s`", cmd);
  }
  *code = 0;
  return 0;
}

int br_main(int argc, char **argv)
{
  struct br_global g = {.root = "/run/berth-runtime"};
  const char *log_format = "text";
  bool debug = false, version = false, help = false, root_given = false;
  br_error_t err = NULL;
  int i, code = 1;
  size_t k;
  const char *cmd;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    const char *val = NULL;
    char name[64];
    if (a[0] != '-')
      break;
    snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
    if (eq)
      val = eq + 1;
#define TAKE()                                                                                     \
  do {                                                                                             \
    if (!val) {                                                                                    \
      if (i + 1 >= argc) {                                                                         \
        fprintf(stderr, "flag `%s` needs a value\n", a);                                           \
        return 1;                                                                                  \
      }                                                                                            \
      val = argv[++i];                                                                             \
    }                                                                                              \
  } while (0)
    if (strcmp(name, "--root") == 0 || strcmp(name, "-root") == 0) {
      TAKE();
      g.root = val;
      root_given = true;
    } else if (strcmp(name, "--log") == 0 || strcmp(name, "-log") == 0) {
      TAKE();
      g.log = val;
    } else if (strcmp(name, "--log-format") == 0 || strcmp(name, "-log-format") == 0) {
      TAKE();
      log_format = val;
    } else if (strcmp(name, "--debug") == 0) {
      debug = true;
    } else if (strcmp(name, "--systemd-cgroup") == 0) {
      g.systemd_cgroup = true;
    } else if (strcmp(name, "--rootless") == 0 || strcmp(name, "--criu") == 0) {
      if (!eq && i + 1 < argc && argv[i + 1][0] != '-' && strcmp(name, "--criu") == 0)
        i++;
    } else if (strcmp(name, "--version") == 0 || strcmp(name, "-v") == 0) {
      version = true;
    } else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
      help = true;
    } else {
      fprintf(stderr, "unknown global flag `%s`\n", a);
      return 1;
    }
  }
  if (version) {
    printf("berth-runtime version %s\nspec: 1.0.2\n", BR_VERSION);
    return 0;
  }
  if (help || i >= argc) {
    usage(help ? stdout : stderr);
    return help ? 0 : 1;
  }
  if (!root_given && geteuid() != 0) {
    /* Like runc: a rootless runtime keeps its state in the user's runtime directory. */
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    static char buf[4096];
    if (xdg && *xdg)
      snprintf(buf, sizeof(buf), "%s/berth-runtime", xdg);
    else
      snprintf(buf, sizeof(buf), "/tmp/berth-runtime-%u", geteuid());
    g.root = buf;
  }
  g.log_json = strcmp(log_format, "json") == 0;
  br_log_init(g.log, g.log_json, debug);
  cmd = argv[i];

  for (k = 0; k < BR_ARRAY_SIZE(net_commands); k++)
    if (strcmp(cmd, net_commands[k].name) == 0)
      return net_commands[k].fn(argc - i, argv + i);

  /* Commands that put a process inside a container run from a sealed copy of this binary,
   * so the container can never write the file on disk through /proc/<pid>/exe. */
  if (strcmp(cmd, "create") == 0 || strcmp(cmd, "run") == 0 || strcmp(cmd, "exec") == 0 ||
      strcmp(cmd, "_probe-exe") == 0) {
    if (br_cloned_binary_ensure(argv, &err) < 0) {
      br_log_error(err->msg);
      br_error_release(&err);
      return 1;
    }
  }
  if (run_command(&g, cmd, argc - i - 1, argv + i + 1, &code, &err) < 0) {
    br_log_error(err && err->msg ? err->msg : "unknown error");
    br_error_release(&err);
    return code == 0 ? 1 : code;
  }
  fflush(stdout);
  return code;
}

int main(int argc, char **argv)
{
  /* serve takes no global flags: it forks children that run br_main with their own. */
  if (argc >= 2 && strcmp(argv[1], "serve") == 0)
    return br_cmd_serve(argc, argv);
  return br_main(argc, argv);
}
