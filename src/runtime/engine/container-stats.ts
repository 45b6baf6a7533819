import { readFile } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";

/**
 * A running container's resource usage, as `docker stats` reports it, read from its cgroups
 * (v1 controllers where the container has them, else its cgroup2 directory, so hybrid, v1 and
 * v2 hosts all work) and from `/proc/<pid>/net/dev`, which shows the container's own network
 * namespace. CPU % needs two readings some time apart ({@link cpuPercent}), as the daemon's.
 */

/** Linux's USER_HZ: /proc/stat counts in these ticks. */
const clockTicks = 100;

/** One reading of a container's counters: cumulative ones (CPU, network, block I/O) and current ones. */
export interface ContainerStatsReading {
  /** CPU time the container has used, in ns; undefined when no cgroup tells it. */
  cpuNs: number | undefined;
  /** The host's CPU time (all CPUs), in ns. */
  systemNs: number;
  /** Memory in use less the inactive page cache, in bytes. */
  memUsage: number;
  /** The memory limit, or the host's memory when there is none, in bytes. */
  memLimit: number;
  /** Bytes received and sent on the container's interfaces, loopback left out. */
  netRx: number;
  netTx: number;
  /** Bytes read from and written to block devices. */
  blockRead: number;
  blockWrite: number;
  /** Processes (tasks) in the container. */
  pids: number;
}

/** A container's cgroup directories: per v1 controller, and its cgroup2 directory. */
interface CgroupDirs {
  v1: Map<string, string>;
  v2: string | undefined;
}

/** Where each cgroup hierarchy is mounted: v1 by controller, and the cgroup2 mount. */
async function cgroupMounts(): Promise<CgroupDirs> {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of (await readFile("/proc/self/mountinfo", "utf8")).split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = left.split(" ")[4]!;
    const [fstype, , superOptions = ""] = right.split(" ");
    if (fstype === "cgroup2") v2 ??= mountPoint;
    else if (fstype === "cgroup") for (const o of superOptions.split(",")) v1.set(o, mountPoint);
  }
  return { v1, v2 };
}

/** The directories of the cgroups `pid` is in. */
async function cgroupDirs(pid: number): Promise<CgroupDirs> {
  const mounts = await cgroupMounts();
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of (await readFile(`/proc/${pid}/cgroup`, "utf8")).split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, hierarchy, controllers, path] = m;
    if (hierarchy === "0" && controllers === "") {
      if (mounts.v2) v2 = `${mounts.v2}${path}`;
      continue;
    }
    // A controller left at its hierarchy's root counts the whole host: not the container's.
    if (path === "/") continue;
    for (const c of controllers!.split(",")) {
      const mount = mounts.v1.get(c);
      if (mount) v1.set(c, `${mount}${path}`);
    }
  }
  return { v1, v2 };
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function readNumber(path: string): Promise<number | undefined> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** `key value` lines (memory.stat, cpu.stat) as a record. */
async function readKeyed(path: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of ((await readText(path)) ?? "").split("\n")) {
    const [k, v] = line.split(" ");
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** The host's CPU time (the daemon's `system_cpu_usage`): the `cpu` line of /proc/stat, in ns. */
async function systemCpuNs(): Promise<number> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((a, v) => a + Number(v), 0);
  return (ticks * 1e9) / clockTicks;
}

async function cpuUsageNs(dirs: CgroupDirs): Promise<number | undefined> {
  const acct = dirs.v1.get("cpuacct");
  if (acct) return readNumber(`${acct}/cpuacct.usage`);
  // cgroup2 keeps usage_usec in cpu.stat even without the cpu controller enabled.
  if (dirs.v2) {
    const usec = (await readKeyed(`${dirs.v2}/cpu.stat`)).usage_usec;
    if (usec !== undefined) return usec * 1000;
  }
  return undefined;
}

/** Docker's "usage without cache": the usage minus the inactive page cache. */
async function memory(dirs: CgroupDirs): Promise<{ usage: number; limit: number }> {
  const host = totalmem();
  const v1 = dirs.v1.get("memory");
  let usage = 0;
  let limit = Number.POSITIVE_INFINITY;
  if (v1) {
    usage = (await readNumber(`${v1}/memory.usage_in_bytes`)) ?? 0;
    const inactive = (await readKeyed(`${v1}/memory.stat`)).total_inactive_file ?? 0;
    if (inactive < usage) usage -= inactive;
    limit = (await readNumber(`${v1}/memory.limit_in_bytes`)) ?? limit;
  } else if (dirs.v2) {
    usage = (await readNumber(`${dirs.v2}/memory.current`)) ?? 0;
    const inactive = (await readKeyed(`${dirs.v2}/memory.stat`)).inactive_file ?? 0;
    if (inactive < usage) usage -= inactive;
    const max = await readText(`${dirs.v2}/memory.max`);
    if (max !== undefined && max.trim() !== "max") limit = Number(max.trim());
  }
  // No limit shows the host's memory, as the daemon reports it.
  return { usage, limit: limit > 0 && limit < host ? limit : host };
}

async function blockIo(dirs: CgroupDirs): Promise<{ read: number; write: number }> {
  let read = 0;
  let write = 0;
  const blkio = dirs.v1.get("blkio");
  if (blkio) {
    const text = (await readText(`${blkio}/blkio.throttle.io_service_bytes_recursive`)) ?? (await readText(`${blkio}/blkio.throttle.io_service_bytes`)) ?? "";
    for (const line of text.split("\n")) {
      const [, op, value] = line.split(" ");
      if (op === "Read") read += Number(value);
      else if (op === "Write") write += Number(value);
    }
  } else if (dirs.v2) {
    for (const line of ((await readText(`${dirs.v2}/io.stat`)) ?? "").split("\n")) {
      read += Number(/\brbytes=(\d+)/.exec(line)?.[1] ?? 0);
      write += Number(/\bwbytes=(\d+)/.exec(line)?.[1] ?? 0);
    }
  }
  return { read, write };
}

async function pidCount(dirs: CgroupDirs): Promise<number> {
  const v1 = dirs.v1.get("pids");
  const current = v1 ? await readNumber(`${v1}/pids.current`) : dirs.v2 ? await readNumber(`${dirs.v2}/pids.current`) : undefined;
  if (current !== undefined) return current;
  // Without a pids controller, count the processes in the container's cgroup2 directory.
  const procs = dirs.v2 ? await readText(`${dirs.v2}/cgroup.procs`) : undefined;
  return procs ? procs.split("\n").filter(Boolean).length : 0;
}

/** Bytes received and sent on the container's interfaces (loopback excluded, as Docker's). */
async function network(pid: number): Promise<{ rx: number; tx: number }> {
  let rx = 0;
  let tx = 0;
  for (const line of ((await readText(`/proc/${pid}/net/dev`)) ?? "").split("\n").slice(2)) {
    const [name, rest] = line.split(":");
    if (!name || rest === undefined || name.trim() === "lo") continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}

export async function readContainerStats(pid: number): Promise<ContainerStatsReading> {
  const dirs = await cgroupDirs(pid);
  const [cpuNs, systemNs, mem, net, blk, pids] = await Promise.all([cpuUsageNs(dirs), systemCpuNs(), memory(dirs), network(pid), blockIo(dirs), pidCount(dirs)]);
  return { cpuNs, systemNs, memUsage: mem.usage, memLimit: mem.limit, netRx: net.rx, netTx: net.tx, blockRead: blk.read, blockWrite: blk.write, pids };
}

/** CPU % between two readings: docker/cli's `calculateCPUPercentUnix` (100% is one CPU busy). */
export function cpuPercent(before: ContainerStatsReading, after: ContainerStatsReading): number {
  if (before.cpuNs === undefined || after.cpuNs === undefined) return 0;
  const cpuDelta = after.cpuNs - before.cpuNs;
  const systemDelta = after.systemNs - before.systemNs;
  return cpuDelta > 0 && systemDelta > 0 ? (cpuDelta / systemDelta) * availableParallelism() * 100 : 0;
}

