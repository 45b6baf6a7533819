/**
 * Types of the OCI runtime-spec (v1.0.2+) `config.json` and state document: the parts berth
 * writes or reads. Field names are the spec's, so a spec built here serialises unchanged.
 *
 * @see https://github.com/opencontainers/runtime-spec/blob/main/config.md
 * @module
 */

/** The OCI runtime-spec version berth writes. */
export const OCI_VERSION = "1.0.2";

/** The whole `config.json` of a bundle. */
export interface OciSpec {
  /** The runtime-spec version the document follows. */
  ociVersion: string;
  /** The container's process. Required by `create`/`run`. */
  process?: OciProcess;
  /** The root filesystem. */
  root?: OciRoot;
  /** The container's hostname (needs a uts namespace). */
  hostname?: string;
  /** The container's NIS domain name (needs a uts namespace). */
  domainname?: string;
  /** Mounts made in order after the root filesystem, before pivot_root. */
  mounts?: OciMount[];
  /** Hooks run by the runtime at points of the lifecycle. */
  hooks?: OciHooks;
  /** Free-form metadata; berth's own keys start with `org.berth.`. */
  annotations?: Record<string, string>;
  /** Linux-specific configuration. */
  linux?: OciLinux;
}

/** The root filesystem of a container. */
export interface OciRoot {
  /** The rootfs directory, absolute or relative to the bundle. */
  path: string;
  /** Whether the root is mounted read-only. */
  readonly?: boolean;
}

/** One entry of `mounts`. */
export interface OciMount {
  /** Absolute path inside the container. */
  destination: string;
  /** Filesystem type (`proc`, `tmpfs`, `bind`, ...). */
  type?: string;
  /** A device, a host path for binds, or a filesystem-specific name. */
  source?: string;
  /** fstab-style options (`ro`, `nosuid`, `rbind`, `mode=755`, `rprivate`, ...). */
  options?: string[];
}

/** The process a container (or an exec) runs. */
export interface OciProcess {
  /** Whether the process gets a pseudo-terminal (needs `--console-socket`). */
  terminal?: boolean;
  /** The terminal's initial size. */
  consoleSize?: { height: number; width: number };
  /** The user the process runs as. */
  user: OciUser;
  /** argv; `args[0]` is looked up in the container's PATH. */
  args: string[];
  /** `NAME=value` pairs. */
  env?: string[];
  /** Absolute working directory inside the container. */
  cwd: string;
  /** The process's capability sets. */
  capabilities?: OciCapabilities;
  /** Resource limits set with setrlimit. */
  rlimits?: OciRlimit[];
  /** Sets PR_SET_NO_NEW_PRIVS. */
  noNewPrivileges?: boolean;
  /** AppArmor profile name. */
  apparmorProfile?: string;
  /** Value written to /proc/self/oom_score_adj. */
  oomScoreAdj?: number;
  /** SELinux label. */
  selinuxLabel?: string;
}

/** The user of a process, as numeric ids inside the container. */
export interface OciUser {
  /** User id. */
  uid: number;
  /** Group id. */
  gid: number;
  /** File mode creation mask. */
  umask?: number;
  /** Supplementary group ids. */
  additionalGids?: number[];
}

/** Capability names such as `CAP_CHOWN`, per set. */
export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** One setrlimit. */
export interface OciRlimit {
  /** `RLIMIT_NOFILE`, `RLIMIT_NPROC`, ... */
  type: string;
  hard: number;
  soft: number;
}

/** A hook command, run with the state document on stdin. */
export interface OciHook {
  /** Absolute path of the program, in the runtime's namespace. */
  path: string;
  /** argv, including argv[0]. */
  args?: string[];
  /** `NAME=value` pairs. */
  env?: string[];
  /** Seconds before the hook is killed and the operation fails. */
  timeout?: number;
}

/** Hooks per lifecycle point. */
export interface OciHooks {
  /** Deprecated by the spec but still run by runc: after namespaces, before pivot_root. */
  prestart?: OciHook[];
  createRuntime?: OciHook[];
  createContainer?: OciHook[];
  startContainer?: OciHook[];
  poststart?: OciHook[];
  poststop?: OciHook[];
}

/** A namespace type of `linux.namespaces`. */
export type OciNamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup" | "time";

/** A namespace to create, or to join when `path` is set. */
export interface OciNamespace {
  type: OciNamespaceType;
  /** A namespace file (`/proc/PID/ns/net`, a bind-mounted nsfs) to join instead of creating one. */
  path?: string;
}

/** One line of a uid or gid map. */
export interface OciIdMapping {
  /** First id inside the container. */
  containerID: number;
  /** First id on the host. */
  hostID: number;
  /** How many ids. */
  size: number;
}

/** A device node created in the container's /dev. */
export interface OciDevice {
  /** `c`, `b`, `u` or `p`. */
  type: string;
  /** Path inside the container. */
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** A device cgroup rule. */
export interface OciDeviceCgroup {
  allow: boolean;
  /** `a`, `c` or `b`. */
  type?: string;
  major?: number;
  minor?: number;
  /** Some of `rwm`. */
  access?: string;
}

/** Memory cgroup limits, in bytes (-1: unlimited). */
export interface OciMemory {
  limit?: number;
  reservation?: number;
  /** Memory plus swap. */
  swap?: number;
  kernel?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}

/** CPU cgroup limits. */
export interface OciCpu {
  shares?: number;
  quota?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  /** A cpuset list, `0-1`. */
  cpus?: string;
  mems?: string;
}

/** The resources of `linux.resources`. */
export interface OciResources {
  devices?: OciDeviceCgroup[];
  memory?: OciMemory;
  cpu?: OciCpu;
  pids?: { limit: number };
  blockIO?: { weight?: number };
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  /** cgroup v2 files written verbatim (`memory.high`: `"1G"`). */
  unified?: Record<string, string>;
}

/** A seccomp action. */
export type OciSeccompAction =
  | "SCMP_ACT_KILL"
  | "SCMP_ACT_KILL_PROCESS"
  | "SCMP_ACT_KILL_THREAD"
  | "SCMP_ACT_TRAP"
  | "SCMP_ACT_ERRNO"
  | "SCMP_ACT_TRACE"
  | "SCMP_ACT_ALLOW"
  | "SCMP_ACT_LOG"
  | "SCMP_ACT_NOTIFY";

/** A condition on one syscall argument. */
export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op:
    | "SCMP_CMP_NE"
    | "SCMP_CMP_LT"
    | "SCMP_CMP_LE"
    | "SCMP_CMP_EQ"
    | "SCMP_CMP_GE"
    | "SCMP_CMP_GT"
    | "SCMP_CMP_MASKED_EQ";
}

/** A rule of a seccomp filter. */
export interface OciSeccompSyscall {
  names: string[];
  action: OciSeccompAction;
  /** errno returned with `SCMP_ACT_ERRNO` (default EPERM). */
  errnoRet?: number;
  args?: OciSeccompArg[];
}

/** `linux.seccomp`. */
export interface OciSeccomp {
  defaultAction: OciSeccompAction;
  defaultErrnoRet?: number;
  /** `SCMP_ARCH_X86_64`, ... */
  architectures?: string[];
  flags?: string[];
  syscalls?: OciSeccompSyscall[];
}

/** `linux`. */
export interface OciLinux {
  namespaces?: OciNamespace[];
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
  devices?: OciDevice[];
  /** A cgroup path: absolute, relative to the runtime's parent cgroup, or systemd `slice:prefix:name`. */
  cgroupsPath?: string;
  resources?: OciResources;
  /** Kernel parameters written under /proc/sys. */
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  /** Propagation of the root mount: `private`, `rprivate`, `slave`, `rslave`, `shared`, `rshared`, `unbindable`. */
  rootfsPropagation?: string;
  /** Paths hidden from the container (/dev/null bound over files, an empty ro tmpfs over directories). */
  maskedPaths?: string[];
  /** Paths remounted read-only. */
  readonlyPaths?: string[];
  mountLabel?: string;
  personality?: { domain: string; flags?: string[] };
}

/** The status of a container in its state document. */
/** `restarting`: berth-runtime's, while the monitor waits to run the container again (restart policy). */
export type OciStatus = "creating" | "created" | "running" | "stopped" | "paused" | "restarting";

/**
 * The state document `state ID` prints. The last four fields are berth-runtime's extensions,
 * filled only when its monitor knows them.
 */
export interface OciState {
  ociVersion: string;
  id: string;
  status: OciStatus;
  /** The container's init pid in the runtime's pid namespace; 0 once stopped (runc). */
  pid: number;
  /** The bundle directory. */
  bundle: string;
  annotations?: Record<string, string>;
  /** runc's extra fields (`rootfs`, `created`, `owner`). */
  rootfs?: string;
  created?: string;
  owner?: string;
  /** berth-runtime: when the process was started (RFC 3339). */
  started?: string;
  /** berth-runtime: when the process exited (RFC 3339). */
  finished?: string;
  /** berth-runtime: the process's exit code (128+signal when killed). */
  exitCode?: number;
  /** berth-runtime: whether the cgroup's OOM killer killed a process of the container. */
  oomKilled?: boolean;
  /** berth-runtime: how many times the monitor restarted the container (restart policy). */
  restartCount?: number;
}
