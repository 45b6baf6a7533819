import { existsSync, readFileSync } from "node:fs";
import { cpus as hostCpus } from "node:os";
import { posix } from "node:path";
import { BerthError } from "../../common/berth-error.js";
import {
  OCI_VERSION,
  type OciCpu,
  type OciDevice,
  type OciDeviceCgroup,
  type OciMemory,
  type OciMount,
  type OciNamespace,
  type OciResources,
  type OciRlimit,
  type OciSeccomp,
  type OciSpec,
} from "../oci-spec.js";
import { defaultSeccompProfile } from "./default-seccomp-profile.js";
import { allCapabilities, defaultMounts, dockerDefaults, tweakCapabilities } from "./docker-defaults.js";
import { replaceOrAppendEnv, type ResolvedContainerConfig } from "./merge-config.js";
import type { ResolvedUser } from "./resolve-user.js";
import { parseUlimit, type Ulimit } from "./ulimit.js";
import { ramInBytes } from "../../common/units.js";

/**
 * How the container's network namespace is chosen. The network layer creates namespaces and
 * hands over their path; the spec builder only joins.
 */
export type NetworkMode =
  /** A fresh, empty namespace with only loopback. */
  | { mode: "none" }
  /** The host's namespace. */
  | { mode: "host" }
  /** An existing namespace, by its bind-mounted path (`/run/netns/x`, `/proc/<pid>/ns/net`). */
  | { mode: "path"; netnsPath: string };

/** Mount propagation of a bind mount. */
export type Propagation = "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";

/** A mount after volumes and binds are resolved to host paths (volumes are binds of their data dir). */
export type ContainerMount =
  | {
      type: "bind";
      /** Host path. */
      source: string;
      /** Absolute container path. */
      destination: string;
      /** @default false */
      readonly?: boolean;
      /** @default "rprivate" */
      propagation?: Propagation;
      /** Whether submounts come along (rbind). @default true */
      recursive?: boolean;
    }
  | {
      type: "tmpfs";
      destination: string;
      /** Extra tmpfs options (`size=64m` → pass as bytes `size=67108864`, `mode=1777`, `uid=1000`). @default [] */
      options?: readonly string[];
    };

/** Resource limits, with Docker's flag names and units. */
export interface ResourceLimits {
  /** `--memory`: bytes or a size (`512m`). @default unlimited */
  memory?: number | string;
  /** `--memory-reservation`, a soft limit. @default none */
  memoryReservation?: number | string;
  /** `--memory-swap`: memory + swap; -1 unlimited. @default twice `memory` when memory is set */
  memorySwap?: number | string;
  /** `--memory-swappiness`, 0–100. @default the host's */
  memorySwappiness?: number;
  /** `--oom-kill-disable`. @default false */
  oomKillDisable?: boolean;
  /** `--cpus`: number of CPUs, as a CFS quota over a 100 ms period. @default unlimited */
  cpus?: number | string;
  /** `--cpu-shares`, relative weight. @default 1024 (the kernel's) */
  cpuShares?: number;
  /** `--cpu-period` in µs. @default none */
  cpuPeriod?: number;
  /** `--cpu-quota` in µs. @default none */
  cpuQuota?: number;
  /** `--cpuset-cpus` (`0-1,3`). @default all */
  cpusetCpus?: string;
  /** `--cpuset-mems`. @default all */
  cpusetMems?: string;
  /** `--pids-limit`; 0 or negative is unlimited. @default unlimited */
  pidsLimit?: number;
  /**
   * Huge page limits per page size (`{ pageSize: "2MB", limit: "4m" }`: OCI's
   * `linux.resources.hugepageLimits`, the cgroup's `hugetlb.<pageSize>.max`). Docker has no
   * flag for it; the OCI runtime spec has. @default none
   */
  hugepageLimits?: readonly { pageSize: string; limit: number | string }[];
}

/** What the spec builder needs besides the resolved config. */
export interface OciSpecInput {
  /** The container id (names the cgroup). */
  id: string;
  /** The merged image config and options. */
  config: ResolvedContainerConfig;
  /** The process's user, resolved against the rootfs. */
  user: ResolvedUser;
  /** The rootfs on the host (the overlay's merged directory). */
  rootfs: string;
  /** @default { mode: "none" } */
  network?: NetworkMode;
  /** Host files bind-mounted over /etc/hosts, /etc/hostname, /etc/resolv.conf. @default none */
  etcFiles?: { hosts?: string; hostname?: string; resolvConf?: string };
  /** Volumes, binds and tmpfs mounts. @default [] */
  mounts?: readonly ContainerMount[];
  /** The cgroup parent; the container's cgroup is `<parent>/<id>`. @default "/berth" */
  cgroupParent?: string;
  /** @default {} */
  resources?: ResourceLimits;
  /** `--ulimit`s, over {@link dockerDefaults.rlimits}. @default [] */
  ulimits?: readonly (string | Ulimit)[];
  /** `/dev/shm` size in bytes or a size string. @default 64 MiB */
  shmSize?: number | string;
  /** @default false */
  readonlyRootfs?: boolean;
  /** @default false */
  privileged?: boolean;
  /** @default [] */
  capAdd?: readonly string[];
  /** @default [] */
  capDrop?: readonly string[];
  /**
   * A host path of an init (tini-like) to run as pid 1, bind-mounted at /sbin/docker-init
   * as Docker's `--init` does. @default no init
   */
  initPath?: string;
  /** `--sysctl`s. @default {} */
  sysctls?: Readonly<Record<string, string>>;
  /** `--device-cgroup-rule`s (`c 1:3 rwm`, `b *:* m`). @default [] */
  deviceCgroupRules?: readonly string[];
  /** Devices to create in the container (`--device`, already stat'ed by the engine). @default [] */
  devices?: readonly (OciDevice & { permissions?: string })[];
  /** The host's devices, given to a privileged container. @default [] */
  hostDevices?: readonly OciDevice[];
  /** A private cgroup namespace (Docker's default on cgroup v2 hosts) or the host's (v1/hybrid). @default "host" */
  cgroupns?: "private" | "host";
  /** `--ipc none` drops /dev/shm. @default "private" */
  ipcMode?: "private" | "none";
  /** `--oom-score-adj`. @default 0 */
  oomScoreAdj?: number;
  /** `--security-opt no-new-privileges`. @default false */
  noNewPrivileges?: boolean;
  /** `--security-opt seccomp=`: Docker's default, none, or a profile. @default "default" */
  seccomp?: "default" | "unconfined" | OciSeccomp;
  /** Override of the masked paths (`--security-opt systempaths=unconfined` is `[]`). @default Docker's */
  maskedPaths?: readonly string[];
  /** Override of the read-only paths. @default Docker's */
  readonlyPaths?: readonly string[];
  /** Annotations. @default {} */
  annotations?: Readonly<Record<string, string>>;
  /** Host facts the builder would otherwise read; tests set them. */
  host?: {
    /** `/proc/sys/kernel/cap_last_cap`. @default 40 */
    lastCap?: number;
    /** Node's `process.arch`. @default process.arch */
    arch?: string;
    /** `os.release()`. @default all kernel-gated rules apply */
    kernelVersion?: string;
    /** The number of CPUs, for `--cpus` validation. @default os.cpus().length */
    cpuCount?: number;
    /** Whether a sysctl exists on the host. @default checks /proc/sys */
    sysctlExists?: (name: string) => boolean;
    /**
     * The engine's own hard limit per rlimit type (`RLIMIT_NOFILE`). Default rlimits are
     * capped to it: raising a hard limit needs CAP_SYS_RESOURCE, which the engine may lack.
     * @default read from /proc/self/limits
     */
    hardLimits?: Readonly<Record<string, number>>;
    /**
     * The engine's own bounding set. "Every capability" (`privileged`, `--cap-add ALL`) means
     * every one the engine holds: a runtime cannot grant more, and capset would fail (this
     * machine's root lacks CAP_SYS_RESOURCE, for one).
     * @default read from /proc/self/status
     */
    boundingSet?: readonly string[];
  };
}

const pseudoMounts = new Set(["/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"]);

/**
 * Builds the OCI runtime-spec `config.json` Docker would hand runc for this container
 * (moby `daemon/oci_linux.go` `createSpec` over `oci.DefaultLinuxSpec`): namespaces, the
 * default mounts then the user's sorted by depth, masked and read-only paths, capabilities,
 * seccomp, rlimits, cgroup resources and devices, and `privileged` undoing the confinement.
 * Invalid options fail with `BERTH_INVALID_ARGUMENT` naming the field.
 */
export function buildOciSpec(input: OciSpecInput): OciSpec {
  const { config, user } = input;
  const network = input.network ?? { mode: "none" };
  const privileged = input.privileged ?? false;
  const host = input.host ?? {};
  const lastCap = host.lastCap ?? dockerDefaults.knownCapabilities.length - 1;

  const everything = allCapabilities(lastCap);
  const held = new Set(host.boundingSet ?? ownBoundingSet() ?? everything);
  const wantsAll = privileged || (input.capAdd ?? []).some((c) => c.trim().toUpperCase() === "ALL");
  let capabilities = privileged ? everything : tweakCapabilities(dockerDefaults.capabilities, input.capAdd, input.capDrop, lastCap);
  if (wantsAll) capabilities = capabilities.filter((c) => held.has(c));

  let args = [...config.args];
  const mounts = defaultMountsFor(input);
  if (input.initPath) {
    args = [dockerDefaults.initPath, "--", ...args];
    mounts.push({ destination: dockerDefaults.initPath, type: "bind", source: input.initPath, options: ["bind", "ro"] });
  }
  const userMounts = userMountsFor(input);
  const userDestinations = new Set(userMounts.map((m) => m.destination));
  const mountDev = userDestinations.has("/dev");
  const kept = mounts.filter((m) => !userDestinations.has(m.destination) && !(mountDev && m.destination.startsWith("/dev/")));
  if (input.readonlyRootfs) {
    for (const m of kept) if (!pseudoMounts.has(m.destination) && !m.options?.includes("ro")) m.options = [...(m.options ?? []), "ro"];
  }
  if (privileged) {
    for (const m of kept) if (m.destination === "/sys" || m.type === "cgroup") m.options = m.options?.filter((o) => o !== "ro");
  }

  const env = withHomeEnv(
    replaceOrAppendEnv(
      [`PATH=${dockerDefaults.path}`, `HOSTNAME=${config.hostname}`, ...(config.tty ? ["TERM=xterm"] : [])],
      config.env,
    ),
    user.home,
  );

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.tty,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length > 0 ? { additionalGids: [...user.additionalGids] } : {}) },
      args,
      env,
      cwd: config.workingDir,
      capabilities: { bounding: [...capabilities], effective: [...capabilities], permitted: [...capabilities] },
      rlimits: rlimitsFor(input.ulimits ?? [], host.hardLimits ?? ownHardLimits()),
      noNewPrivileges: input.noNewPrivileges ?? false,
      oomScoreAdj: input.oomScoreAdj ?? 0,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs ?? false },
    hostname: config.hostname,
    mounts: [...kept, ...userMounts],
    linux: {
      namespaces: namespacesFor(network, input.cgroupns ?? "host"),
      maskedPaths: privileged ? [] : [...(input.maskedPaths ?? dockerDefaults.maskedPaths)],
      readonlyPaths: privileged ? [] : [...(input.readonlyPaths ?? dockerDefaults.readonlyPaths)],
      cgroupsPath: posix.join(input.cgroupParent ?? "/berth", input.id),
      resources: resourcesFor(input, privileged),
      devices: privileged ? [...(input.hostDevices ?? [])] : (input.devices ?? []).map(({ permissions: _p, ...d }) => ({ ...d })),
      sysctl: sysctlsFor(input, network),
    },
  };
  if (config.domainname) spec.domainname = config.domainname;
  if (input.annotations && Object.keys(input.annotations).length > 0) spec.annotations = { ...input.annotations };
  const seccomp = input.seccomp ?? "default";
  if (!privileged && seccomp !== "unconfined") {
    spec.linux!.seccomp =
      seccomp === "default" ? defaultSeccompProfile({ capabilities, arch: host.arch, kernelVersion: host.kernelVersion }) : seccomp;
  }
  const propagation = rootPropagation(input.mounts ?? []);
  if (propagation) spec.linux!.rootfsPropagation = propagation;
  return spec;
}

function withHomeEnv(env: string[], home: string): string[] {
  return env.some((e) => e.startsWith("HOME=")) ? env : [...env, `HOME=${home}`];
}

function defaultMountsFor(input: OciSpecInput): OciMount[] {
  const shm = input.shmSize === undefined ? dockerDefaults.shmSize : ramInBytes(input.shmSize);
  if (shm <= 0) throw new BerthError("BERTH_INVALID_ARGUMENT", "SHM size can not be less than 0", { field: "shmSize" });
  return defaultMounts(shm).filter((m) => !(m.destination === "/dev/shm" && input.ipcMode === "none"));
}

function cleanPath(path: string): string {
  const clean = posix.normalize(path);
  return clean.length > 1 && clean.endsWith("/") ? clean.slice(0, -1) : clean;
}

/** Depth of a container path: Docker sorts user mounts by it so parents mount before children. */
function depth(path: string): number {
  return posix.normalize(path).split("/").length;
}

function userMountsFor(input: OciSpecInput): OciMount[] {
  const writable = !input.readonlyRootfs;
  const list: { destination: string; mount: OciMount }[] = [];
  // Docker orders its network files resolv.conf, hostname, hosts; they follow the same depth sort.
  const etc: [string, string | undefined][] = [
    ["/etc/resolv.conf", input.etcFiles?.resolvConf],
    ["/etc/hostname", input.etcFiles?.hostname],
    ["/etc/hosts", input.etcFiles?.hosts],
  ];
  const explicit = new Set((input.mounts ?? []).map((m) => cleanPath(m.destination)));
  for (const [destination, source] of etc) {
    // A user mount over one of these files wins, as in Docker.
    if (!source || explicit.has(destination)) continue;
    list.push({ destination, mount: { destination, type: "bind", source, options: ["rbind", ...(writable ? [] : ["ro"]), "rprivate"] } });
  }
  const seen = new Set<string>();
  for (const m of input.mounts ?? []) {
    const destination = cleanPath(m.destination);
    if (!destination.startsWith("/")) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid mount config: mount path must be absolute: ${m.destination}`, {
        field: "mounts",
        path: m.destination,
      });
    }
    if (seen.has(destination)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `Duplicate mount point: ${destination}`, { field: "mounts", path: destination });
    }
    seen.add(destination);
    if (m.type === "tmpfs") {
      list.push({
        destination,
        mount: { destination, type: "tmpfs", source: "tmpfs", options: mergeTmpfsOptions(["noexec", "nosuid", "nodev", "rprivate", ...(m.options ?? [])]) },
      });
      continue;
    }
    const options = [m.recursive === false ? "bind" : "rbind"];
    if (m.readonly) options.push("ro");
    options.push(m.propagation ?? "rprivate");
    list.push({ destination, mount: { destination, type: "bind", source: m.source, options } });
  }
  // Array.prototype.sort is stable, so equal depths keep the order given.
  return list.sort((a, b) => depth(a.destination) - depth(b.destination)).map((e) => e.mount);
}

/** The flag families of mount options: a later member replaces an earlier one (moby `MergeTmpfsOptions`). */
const flagFamilies: Record<string, string> = {
  ro: "rw", rw: "rw", exec: "exec", noexec: "exec", suid: "suid", nosuid: "suid", dev: "dev", nodev: "dev",
  sync: "sync", async: "sync", atime: "atime", noatime: "atime", relatime: "atime", norelatime: "atime",
  strictatime: "atime", nostrictatime: "atime", diratime: "diratime", nodiratime: "diratime", mand: "mand", nomand: "mand",
  private: "propagation", rprivate: "propagation", shared: "propagation", rshared: "propagation", slave: "propagation",
  rslave: "propagation", unbindable: "propagation", runbindable: "propagation",
};

/** Merges tmpfs options so the last of each kind wins, keeping the first-seen order of kinds. */
export function mergeTmpfsOptions(options: readonly string[]): string[] {
  const keyOf = (o: string) => (o.includes("=") ? o.slice(0, o.indexOf("=")) : (flagFamilies[o] ?? o));
  const last = new Map<string, string>();
  const order: string[] = [];
  for (const o of options) {
    const key = keyOf(o);
    if (!last.has(key)) order.push(key);
    last.set(key, o);
  }
  return order.map((k) => last.get(k)!);
}

function rootPropagation(mounts: readonly ContainerMount[]): string | undefined {
  let result: string | undefined;
  for (const m of mounts) {
    if (m.type !== "bind" || !m.propagation) continue;
    if (m.propagation === "shared" || m.propagation === "rshared") return "shared";
    if (m.propagation === "slave" || m.propagation === "rslave") result = "rslave";
  }
  return result;
}

function namespacesFor(network: NetworkMode, cgroupns: "private" | "host"): OciNamespace[] {
  const out: OciNamespace[] = [];
  for (const type of dockerDefaults.namespaces) {
    if (type === "network") {
      if (network.mode === "host") continue;
      out.push(network.mode === "path" ? { type, path: network.netnsPath } : { type });
      continue;
    }
    out.push({ type });
  }
  if (cgroupns === "private") out.push({ type: "cgroup" });
  return out;
}

/** The capabilities in this process's bounding set (CapBnd of /proc/self/status). */
function ownBoundingSet(): string[] | undefined {
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapBnd:"));
    if (!line) return undefined;
    const mask = BigInt(`0x${line.slice(7).trim()}`);
    return dockerDefaults.knownCapabilities.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  } catch {
    return undefined;
  }
}

/** /proc/self/limits names of the rlimits berth sets by default. */
const limitNames: Record<string, string> = { RLIMIT_NOFILE: "Max open files" };

function ownHardLimits(): Record<string, number> {
  const out: Record<string, number> = {};
  let text = "";
  try {
    text = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return out;
  }
  for (const [type, label] of Object.entries(limitNames)) {
    const line = text.split("\n").find((l) => l.startsWith(label));
    const hard = line?.slice(label.length).trim().split(/\s+/)[1];
    if (hard && /^\d+$/.test(hard)) out[type] = Number(hard);
  }
  return out;
}

function rlimitsFor(ulimits: readonly (string | Ulimit)[], hardLimits: Readonly<Record<string, number>>): OciRlimit[] {
  const byType = new Map<string, OciRlimit>(
    dockerDefaults.rlimits.map((r) => {
      const cap = hardLimits[r.type] ?? Infinity;
      return [r.type, { type: r.type, soft: Math.min(r.soft, cap), hard: Math.min(r.hard, cap) }];
    }),
  );
  for (const u of ulimits) {
    const r = parseUlimit(u);
    byType.set(r.type, r);
  }
  return [...byType.values()];
}

function size(value: number | string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (value === -1 || value === "-1") return -1;
  try {
    return ramInBytes(value);
  } catch (error) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid ${field}: ${value}`, { field: `resources.${field}`, cause: error });
  }
}

function invalidResource(message: string, field: string): BerthError {
  return new BerthError("BERTH_INVALID_ARGUMENT", message, { field: `resources.${field}` });
}

function resourcesFor(input: OciSpecInput, privileged: boolean): OciResources {
  const r = input.resources ?? {};
  const memory: OciMemory = {};
  const limit = size(r.memory, "memory");
  const reservation = size(r.memoryReservation, "memoryReservation");
  let swap = size(r.memorySwap, "memorySwap");
  if (limit !== undefined && limit > 0) {
    if (limit < 6 * 1024 * 1024) throw invalidResource("Minimum memory limit allowed is 6MB", "memory");
    memory.limit = limit;
    // Docker's daemon gives as much swap as memory unless told otherwise.
    if (swap === undefined || swap === 0) swap = limit * 2;
    else if (swap !== -1 && swap < limit) {
      throw invalidResource("Minimum memoryswap limit should be larger than memory limit, see usage", "memorySwap");
    }
  } else if (swap !== undefined && swap !== 0 && swap !== -1) {
    throw invalidResource("You should always set the Memory limit when using Memoryswap limit, see usage", "memorySwap");
  }
  if (reservation !== undefined && reservation > 0) {
    if (limit !== undefined && limit > 0 && reservation > limit) {
      throw invalidResource("Minimum memory limit can not be less than memory reservation limit, see usage", "memoryReservation");
    }
    memory.reservation = reservation;
  }
  if (swap !== undefined && swap !== 0) memory.swap = swap;
  if (r.memorySwappiness !== undefined) {
    if (!Number.isInteger(r.memorySwappiness) || r.memorySwappiness < 0 || r.memorySwappiness > 100) {
      throw invalidResource(`Invalid value: ${r.memorySwappiness}, valid memory swappiness range is 0-100`, "memorySwappiness");
    }
    memory.swappiness = r.memorySwappiness;
  }
  if (r.oomKillDisable !== undefined) memory.disableOOMKiller = r.oomKillDisable;

  const cpu: OciCpu = {};
  if (r.cpuShares !== undefined) {
    if (!Number.isInteger(r.cpuShares) || r.cpuShares < 0) throw invalidResource("shares: invalid argument", "cpuShares");
    if (r.cpuShares > 0) cpu.shares = r.cpuShares;
  }
  if (r.cpus !== undefined) {
    if (r.cpuPeriod !== undefined || r.cpuQuota !== undefined) {
      throw invalidResource("Conflicting options: Nano CPUs and CPU Period cannot both be set", "cpus");
    }
    const count = Number(r.cpus);
    const available = input.host?.cpuCount ?? hostCpus().length;
    if (!Number.isFinite(count) || count < 0.01 || count > available) {
      throw invalidResource(`Range of CPUs is from 0.01 to ${available}.00, as there are only ${available} CPUs available`, "cpus");
    }
    // Docker's NanoCPUs: a 100 ms period and the matching quota, in µs.
    cpu.period = 100_000;
    cpu.quota = Math.trunc((Math.round(count * 1e9) * 100_000) / 1e9);
  }
  if (r.cpuPeriod !== undefined) {
    if (r.cpuPeriod !== 0 && (r.cpuPeriod < 1000 || r.cpuPeriod > 1_000_000)) {
      throw invalidResource("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)", "cpuPeriod");
    }
    if (r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  }
  if (r.cpuQuota !== undefined) {
    if (r.cpuQuota > 0 && r.cpuQuota < 1000) throw invalidResource("CPU cfs quota can not be less than 1ms (i.e. 1000)", "cpuQuota");
    if (r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  }
  if (r.cpusetCpus) {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(r.cpusetCpus)) throw invalidResource(`Invalid value ${r.cpusetCpus} for cpuset cpus`, "cpusetCpus");
    cpu.cpus = r.cpusetCpus;
  }
  if (r.cpusetMems) {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(r.cpusetMems)) throw invalidResource(`Invalid value ${r.cpusetMems} for cpuset mems`, "cpusetMems");
    cpu.mems = r.cpusetMems;
  }

  const resources: OciResources = { devices: devicesFor(input, privileged), memory, cpu };
  if (r.pidsLimit !== undefined) resources.pids = { limit: r.pidsLimit > 0 ? r.pidsLimit : -1 };
  if (r.hugepageLimits && r.hugepageLimits.length > 0) {
    resources.hugepageLimits = r.hugepageLimits.map((h) => {
      // The kernel's names of the cgroup files: hugetlb.2MB.max, hugetlb.1GB.max.
      if (!/^\d+(KB|MB|GB)$/.test(h.pageSize)) throw invalidResource(`invalid huge page size ${JSON.stringify(h.pageSize)} (as the kernel names them: 2MB, 1GB)`, "hugepageLimits");
      const limit = size(h.limit, "hugepageLimits");
      if (limit === undefined || limit < 0) throw invalidResource(`invalid huge page limit ${h.limit}`, "hugepageLimits");
      return { pageSize: h.pageSize, limit };
    });
  }
  return resources;
}

function devicesFor(input: OciSpecInput, privileged: boolean): OciDeviceCgroup[] {
  if (privileged) return [{ allow: true, access: "rwm" }];
  const rules: OciDeviceCgroup[] = dockerDefaults.deviceCgroupRules.map((r) => ({ ...r }));
  for (const d of input.devices ?? []) {
    rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions ?? "rwm" });
  }
  for (const rule of input.deviceCgroupRules ?? []) rules.push(parseDeviceCgroupRule(rule));
  return rules;
}

/** Parses `--device-cgroup-rule` (`c 1:3 mr`, `a *:* rwm`) as Docker does; `*` is "any". */
export function parseDeviceCgroupRule(rule: string): OciDeviceCgroup {
  const match = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule.trim());
  if (!match) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid device cgroup format '${rule}'`, { field: "deviceCgroupRules" });
  }
  const out: OciDeviceCgroup = { allow: true, type: match[1]!, access: match[4]! };
  if (match[2] !== "*") out.major = Number(match[2]);
  if (match[3] !== "*") out.minor = Number(match[3]);
  return out;
}

/** IPC sysctls a container may set in its own namespace. */
const ipcSysctls = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

function sysctlsFor(input: OciSpecInput, network: NetworkMode): Record<string, string> {
  const out: Record<string, string> = {};
  const exists = input.host?.sysctlExists ?? ((name: string) => existsSync(`/proc/sys/${name.replaceAll(".", "/")}`));
  if (network.mode !== "host") {
    // Docker's defaults for a private network namespace: ping without CAP_NET_RAW and
    // ports below 1024 without CAP_NET_BIND_SERVICE.
    if (exists("net.ipv4.ping_group_range")) out["net.ipv4.ping_group_range"] = "0 2147483647";
    if (exists("net.ipv4.ip_unprivileged_port_start")) out["net.ipv4.ip_unprivileged_port_start"] = "0";
  }
  for (const [name, value] of Object.entries(input.sysctls ?? {})) {
    const namespaced = ipcSysctls.has(name) || name.startsWith("fs.mqueue.") || name.startsWith("net.") || name === "kernel.domainname" || name === "kernel.hostname";
    if (!namespaced) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `sysctl '${name}' is not allowed`, { field: "sysctls", sysctl: name });
    }
    if (name.startsWith("net.") && network.mode === "host") {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `sysctl '${name}' not allowed in host network namespace`, { field: "sysctls", sysctl: name });
    }
    out[name] = value;
  }
  return out;
}
