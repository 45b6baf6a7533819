import { BerthError } from "../../common/berth-error.js";
import type { OciDeviceCgroup, OciMount, OciNamespaceType, OciRlimit } from "../oci-spec.js";

/**
 * Docker's defaults for a Linux container, as the engine (moby `oci/defaults.go`,
 * `oci/caps/defaults.go`, `daemon/oci_linux.go`) hands them to runc. Everything here is data
 * or a pure function of its arguments so the spec builder and its tests share one source.
 */
export const dockerDefaults = {
  /** The 14 capabilities every non-privileged Docker container starts with. */
  capabilities: [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
  ] as readonly string[],

  /**
   * Every capability Linux defines, in kernel number order (CAP_CHOWN = 0 ...
   * CAP_CHECKPOINT_RESTORE = 40). `privileged` gets those the running kernel knows
   * ({@link allCapabilities} with its `cap_last_cap`).
   */
  knownCapabilities: [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
  ] as readonly string[],

  /**
   * Paths hidden from the container (a /dev/null bind for files, an empty read-only tmpfs
   * for directories). `/sys/devices/virtual/powercap` is masked since Docker 25 (the
   * Platypus power side channel).
   */
  maskedPaths: [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
  ] as readonly string[],

  /** Paths remounted read-only inside the container. */
  readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] as readonly string[],

  /** Namespaces Docker creates for a container whose modes are all private. */
  namespaces: ["mount", "network", "uts", "pid", "ipc"] as readonly OciNamespaceType[],

  /**
   * The device cgroup rules of every non-privileged container: deny all, allow the
   * character devices null, zero, full, urandom, tty, console... and explicitly deny fuse
   * (10:229), which Docker lists so that a later broad rule cannot let it in.
   */
  deviceCgroupRules: [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
    { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
    { allow: true, type: "c", major: 5, minor: 1, access: "rwm" },
    { allow: false, type: "c", major: 10, minor: 229, access: "rwm" },
  ] as readonly OciDeviceCgroup[],

  /**
   * The devices every OCI runtime creates in /dev whatever the spec says (runtime-spec
   * "Default Devices"), so Docker lists none; kept here for the runtime's tests and docs.
   */
  runtimeDefaultDevices: [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/console",
    "/dev/ptmx",
  ] as readonly string[],

  /** Docker's default `/dev/shm` size: 64 MiB. */
  shmSize: 64 * 1024 * 1024,

  /** The PATH Docker adds when neither the image nor the options set one. */
  path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",

  /**
   * The rlimits a container gets without `--ulimit`. moby itself sets none (the container
   * inherits containerd's), and a current Docker Engine on systemd gives 1024 soft / 524288
   * hard open files. berth states it rather than inheriting whatever the calling Node
   * process happens to have, so a container behaves the same under any test runner. The
   * spec builder caps it to the engine's own hard limit, which it cannot raise without
   * CAP_SYS_RESOURCE.
   */
  rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 524288 }] as readonly OciRlimit[],

  /** Docker's default stop signal. */
  stopSignal: "SIGTERM",

  /** Docker's default stop timeout, in seconds, before SIGKILL. */
  stopTimeout: 10,

  /** Where Docker bind-mounts its init (`--init`) inside the container. */
  initPath: "/sbin/docker-init",
} as const;

/**
 * The mounts every container starts with, in Docker's order: /proc, /dev, /dev/pts, /sys,
 * /sys/fs/cgroup, /dev/mqueue, /dev/shm (whose size the options set).
 */
export function defaultMounts(shmSize: number = dockerDefaults.shmSize): OciMount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["rw", "nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["rw", "nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["rw", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["ro", "nosuid", "noexec", "nodev"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["rw", "nosuid", "noexec", "nodev"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["rw", "nosuid", "noexec", "nodev", "mode=1777", `size=${shmSize}`] },
  ];
}

/**
 * Normalises a capability name as Docker accepts it: case-insensitive, with or without the
 * `CAP_` prefix; `ALL` stays `ALL`. Unknown names fail with `BERTH_INVALID_ARGUMENT` and
 * Docker's message (`unknown capability: "CAP_FOO"`).
 */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!dockerDefaults.knownCapabilities.includes(full)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `unknown capability: "${full}"`, { field: "capAdd/capDrop", capability: name });
  }
  return full;
}

/**
 * The capabilities the running kernel supports: those numbered up to `lastCap`
 * (`/proc/sys/kernel/cap_last_cap`), which is what Docker gives a privileged container.
 * @param lastCap the kernel's last capability number; @default every known capability
 */
export function allCapabilities(lastCap: number = dockerDefaults.knownCapabilities.length - 1): string[] {
  return dockerDefaults.knownCapabilities.slice(0, lastCap + 1);
}

/**
 * Applies `--cap-add`/`--cap-drop` to a base set as Docker does: `--cap-add ALL` gives every
 * capability but the dropped ones; `--cap-drop ALL` gives exactly the added ones; otherwise
 * drop from the base, then add. Duplicates are removed, the order is stable.
 */
export function tweakCapabilities(
  base: readonly string[],
  add: readonly string[] = [],
  drop: readonly string[] = [],
  lastCap?: number,
): string[] {
  const adds = add.map(normalizeCapability);
  const drops = drop.map(normalizeCapability);
  let caps: string[];
  if (adds.includes("ALL")) {
    caps = allCapabilities(lastCap).filter((c) => !drops.includes(c));
  } else if (drops.includes("ALL")) {
    caps = adds;
  } else {
    caps = [...base.filter((c) => !drops.includes(c)), ...adds];
  }
  return [...new Set(caps)];
}
