import { readdir, readFile, stat, statfs } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import { BerthError } from "../../common/berth-error.js";

/**
 * A running container's resource usage, as `docker stats` reports it. Each figure comes from
 * the container's own cgroup when it has one for that controller (v1 or v2), else from its
 * processes in /proc; the network from `/proc/<pid>/net/dev`, which shows the container's own
 * network namespace. CPU % needs two readings some time apart ({@link cpuPercent}), as the
 * daemon's.
 *
 * Why "its own": on a hybrid host berth-runtime joins only the v1 hierarchies the container
 * limits (native/src/cgroup.c, v1_wanted); in the others its processes stay in the caller's
 * cgroup, and /proc/<pid>/cgroup names that one. Reading the caller's memory cgroup reported
 * the whole test session (154 MB) for an idle busybox. So a v1 directory counts only when it is
 * the container's (the same `<parent>/<id>` path as its cgroup2 directory, which berth-runtime
 * always makes); otherwise the figure is summed over the processes in that cgroup2 directory.
 * The path comparison rather than the runtime's state.json (where unjoined directories are
 * marked `bare`) keeps this working for runc and crun, and for a CLI that does not know the
 * runtime's state root.
 */

/** Linux's USER_HZ: /proc/stat and /proc/<pid>/stat count in these ticks. */
const clockTicks = 100;

/** One reading of a container's counters: cumulative ones (CPU, network, block I/O) and current ones. */
export interface ContainerStatsReading {
  /** CPU time the container has used, in ns; undefined when neither a cgroup nor its processes tell it. */
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
  /** Processes (tasks: threads count, as in pids.current) in the container. */
  pids: number;
}

/** Options of {@link readContainerStats}. */
export interface ReadContainerStatsOptions {
  /**
   * The container's id. When given, a cgroup counts as the container's only if its path has
   * the id in it (berth's `<cgroupParent>/<id>`), so a container the runtime left in the
   * caller's cgroups (rootless without cgroup delegation) is never charged the caller's usage:
   * its figures then come from its processes, found from its init down.
   * @default undefined (any cgroup below its hierarchy's root is taken as the container's)
   */
  id?: string;
}

/** A container's own cgroup directories: per v1 controller, and its cgroup2 directory. */
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

/** The directories of the cgroups `pid` is in that are the container's own (see the file comment). */
async function cgroupDirs(pid: number, id: string | undefined): Promise<CgroupDirs> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/cgroup`, "utf8");
  } catch (error) {
    throw new BerthError("BERTH_CONTAINER_NOT_RUNNING", `container process ${pid} is gone: no stats to read`, { pid, ...(id ? { container: id } : {}), cause: error });
  }
  const mounts = await cgroupMounts();
  const entries: { controllers: string; path: string }[] = [];
  let v2Path: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2Path = m[3]!;
    else entries.push({ controllers: m[2]!, path: m[3]! });
  }
  // A cgroup at its hierarchy's root counts the whole host; one without the id is someone else's.
  const mine = (path: string) => path !== "/" && (id === undefined || path.includes(id));
  const v2Own = v2Path !== undefined && mine(v2Path);
  const v1 = new Map<string, string>();
  for (const { controllers, path } of entries) {
    // With a cgroup2 directory of its own, a v1 one is the container's only at the same path:
    // an unjoined hierarchy shows the caller's cgroup, which may well be below the root too.
    if (!mine(path) || (v2Own && path !== v2Path)) continue;
    for (const c of controllers.split(",")) {
      const mount = mounts.v1.get(c);
      if (mount) v1.set(c, `${mount}${path}`);
    }
  }
  return { v1, v2: v2Own && mounts.v2 ? `${mounts.v2}${v2Path}` : undefined };
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

/** `key value` lines (memory.stat, cpu.stat; `key: value kB` ones of /proc too) as a record. */
async function readKeyed(path: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of ((await readText(path)) ?? "").split("\n")) {
    const m = /^(\S+?):?\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * The container's processes, each read lazily and at most once per reading: the pids in its
 * cgroup2 directory, else (no cgroup of its own) its init and the init's descendants.
 */
class Processes {
  #list: Promise<number[]> | undefined;
  readonly #pid: number;
  readonly #v2: string | undefined;

  constructor(pid: number, v2: string | undefined) {
    this.#pid = pid;
    this.#v2 = v2;
  }

  list(): Promise<number[]> {
    this.#list ??= this.#v2 ? readText(`${this.#v2}/cgroup.procs`).then((t) => (t ?? "").split("\n").filter(Boolean).map(Number)) : descendants(this.#pid);
    return this.#list;
  }

  /** The sum of `read(pid)` over the processes; one that exits meanwhile counts 0. */
  async sum(read: (pid: number) => Promise<number>): Promise<number> {
    const values = await Promise.all((await this.list()).map((p) => read(p).catch(() => 0)));
    return values.reduce((a, v) => a + v, 0);
  }
}

/** `pid` and its descendants, from the `children` files of its threads (Linux 4.2, CONFIG_PROC_CHILDREN). */
async function descendants(pid: number): Promise<number[]> {
  const seen = new Set<number>();
  const walk = async (p: number): Promise<void> => {
    if (seen.has(p)) return;
    seen.add(p);
    const tasks = await readdir(`/proc/${p}/task`).catch(() => [] as string[]);
    const children = await Promise.all(tasks.map((t) => readText(`/proc/${p}/task/${t}/children`)));
    await Promise.all(children.flatMap((c) => (c ?? "").split(" ").filter(Boolean).map((child) => walk(Number(child)))));
  };
  await walk(pid);
  return [...seen];
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

/**
 * CPU time of one process: utime + stime, plus cutime + cstime, the time of the children it
 * has reaped (which the kernel adds up the tree as each is waited for). Still lost: processes
 * whose parent exits unreaped or lives outside the container (an `exec`'d process's parent is
 * the runtime), and time between two readings of a process that exits in between.
 */
async function processCpuTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which may hold spaces and parentheses: field 3 is first.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

async function cpuUsageNs(dirs: CgroupDirs, procs: Processes): Promise<number | undefined> {
  const acct = dirs.v1.get("cpuacct");
  if (acct) return readNumber(`${acct}/cpuacct.usage`);
  // cgroup2 keeps usage_usec in cpu.stat even without the cpu controller enabled, and it
  // counts processes that have exited: better than any sum over the live ones.
  if (dirs.v2) {
    const usec = (await readKeyed(`${dirs.v2}/cpu.stat`)).usage_usec;
    if (usec !== undefined) return usec * 1000;
  }
  const ticks = await procs.sum(processCpuTicks);
  return (ticks * 1e9) / clockTicks;
}

/** A mountinfo path field: space, tab, newline and backslash come octal-escaped. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/**
 * The tmpfs file systems only the container has (its /dev, /dev/shm, `--tmpfs` mounts) by
 * device number (`major:minor`), with the bytes in use in each. Docker's figure includes
 * them (tmpfs pages are charged to the memory cgroup of whoever wrote them), and no process's
 * RSS does unless it maps the file. A tmpfs the caller's mount namespace also has (a bind from
 * the host) is the host's memory, not the container's, and is left out. A tmpfs mounted with
 * no size limit reports no block counts and counts 0.
 */
async function privateTmpfs(pid: number): Promise<Map<string, number>> {
  const devices = (text: string | undefined) => {
    const out: { dev: string; point: string }[] = [];
    for (const line of (text ?? "").split("\n")) {
      const [left, right] = line.split(" - ");
      if (!left || !right?.startsWith("tmpfs ")) continue;
      const f = left.split(" ");
      out.push({ dev: f[2]!, point: unescapeMountPath(f[4]!) });
    }
    return out;
  };
  const [theirs, ours] = await Promise.all([readText(`/proc/${pid}/mountinfo`), readText("/proc/self/mountinfo")]);
  const hostDevices = new Set(devices(ours).map((d) => d.dev));
  const used = new Map<string, number>();
  for (const { dev, point } of devices(theirs)) {
    if (hostDevices.has(dev) || used.has(dev)) continue;
    used.set(dev, 0);
    const path = `/proc/${pid}/root${point}`;
    try {
      // A mount over the same point hides this one: statfs would count the one on top twice.
      const st = await stat(path, { bigint: true });
      const major = (st.dev >> 8n) & 0xfffn;
      const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & 0xfff00n);
      if (`${major}:${minor}` !== dev) continue;
      const s = await statfs(path);
      used.set(dev, Math.max(0, s.blocks - s.bfree) * s.bsize);
    } catch {
      // Unmounted meanwhile, or hidden under another mount: nothing to count there.
    }
  }
  return used;
}

/**
 * Memory of one process: Pss from smaps_rollup (Linux 4.14), not VmRSS. RSS counts a shared
 * page in every process that maps it, so a forking server (Postgres: every backend maps the
 * shared buffers; every fork shares its parent's pages copy-on-write) would be counted many
 * times over; Pss splits each page among its mappers, so summed over the container's
 * processes it counts the pages they share once. Pages also mapped outside the container (a
 * host library file) count for the container's share only. VmRSS is the fallback on older
 * kernels. Pages of a private tmpfs file (see privateTmpfs) are left out here, as they are
 * counted with their file system; that takes the per-mapping smaps, read only when the
 * process maps shared memory at all.
 */
async function processMemory(pid: number, tmpfs: Map<string, number>): Promise<number> {
  const rollup = await readKeyed(`/proc/${pid}/smaps_rollup`);
  if (rollup.Pss === undefined) {
    // A zombie has no VmRSS line: it holds no memory.
    return ((await readKeyed(`/proc/${pid}/status`)).VmRSS ?? 0) * 1024;
  }
  let pss = rollup.Pss;
  if ((rollup.Pss_Shmem ?? 1) > 0 && [...tmpfs.values()].some((v) => v > 0)) {
    let onTmpfs = false;
    for (const line of ((await readText(`/proc/${pid}/smaps`)) ?? "").split("\n")) {
      // A mapping's header: `start-end perms offset major:minor inode [path]`, the device in hex.
      const header = /^[0-9a-f]+-[0-9a-f]+ \S+ [0-9a-f]+ ([0-9a-f]+):([0-9a-f]+) /.exec(line);
      if (header) onTmpfs = tmpfs.has(`${Number.parseInt(header[1]!, 16)}:${Number.parseInt(header[2]!, 16)}`);
      else if (onTmpfs && line.startsWith("Pss:")) pss -= Number(/\d+/.exec(line)?.[0] ?? 0);
    }
  }
  return pss * 1024;
}

/** Docker's "usage without cache": the usage minus the inactive page cache. */
async function memory(dirs: CgroupDirs, pid: number, procs: Processes): Promise<{ usage: number; limit: number }> {
  const host = totalmem();
  const v1 = dirs.v1.get("memory");
  let usage: number | undefined;
  let limit = Number.POSITIVE_INFINITY;
  if (v1) {
    usage = (await readNumber(`${v1}/memory.usage_in_bytes`)) ?? 0;
    const inactive = (await readKeyed(`${v1}/memory.stat`)).total_inactive_file ?? 0;
    if (inactive < usage) usage -= inactive;
    limit = (await readNumber(`${v1}/memory.limit_in_bytes`)) ?? limit;
  } else if (dirs.v2) {
    // memory.current exists only where the memory controller is enabled (not the v2 tree of a hybrid host).
    usage = await readNumber(`${dirs.v2}/memory.current`);
    if (usage !== undefined) {
      const inactive = (await readKeyed(`${dirs.v2}/memory.stat`)).inactive_file ?? 0;
      if (inactive < usage) usage -= inactive;
      const max = await readText(`${dirs.v2}/memory.max`);
      if (max !== undefined && max.trim() !== "max") limit = Number(max.trim());
    }
  }
  if (usage === undefined) {
    // No memory cgroup of its own (and so no limit): what its processes hold, plus its tmpfs
    // files. The page cache of the files it reads is not counted (no process owns it), nor
    // kernel memory (socket buffers, page tables): the cgroup figure would include both.
    const tmpfs = await privateTmpfs(pid);
    usage = (await procs.sum((p) => processMemory(p, tmpfs))) + [...tmpfs.values()].reduce((a, v) => a + v, 0);
  }
  // No limit shows the host's memory, as the daemon reports it.
  return { usage, limit: limit > 0 && limit < host ? limit : host };
}

/**
 * Bytes one process made the block layer read and write: read_bytes and write_bytes, the
 * storage-level counters, not rchar/wchar (which count reads served from the page cache too).
 * As with CPU time, the kernel adds a reaped child's counters to its parent's, so only the I/O
 * of processes reaped outside the container (an `exec`'d one) or never reaped is lost.
 * write_bytes counts a page when it is dirtied, a little before Docker's blkio counts it at
 * write-back; cancelled_write_bytes (a file truncated before write-back) is subtracted, as
 * that write never happens.
 */
async function processIo(pid: number): Promise<{ read: number; write: number }> {
  const io = await readKeyed(`/proc/${pid}/io`);
  return { read: io.read_bytes ?? 0, write: Math.max(0, (io.write_bytes ?? 0) - (io.cancelled_write_bytes ?? 0)) };
}

async function blockIo(dirs: CgroupDirs, procs: Processes): Promise<{ read: number; write: number }> {
  let read = 0;
  let write = 0;
  const blkio = dirs.v1.get("blkio");
  const ioStat = !blkio && dirs.v2 ? await readText(`${dirs.v2}/io.stat`) : undefined;
  if (blkio) {
    const text = (await readText(`${blkio}/blkio.throttle.io_service_bytes_recursive`)) ?? (await readText(`${blkio}/blkio.throttle.io_service_bytes`)) ?? "";
    for (const line of text.split("\n")) {
      const [, op, value] = line.split(" ");
      if (op === "Read") read += Number(value);
      else if (op === "Write") write += Number(value);
    }
  } else if (ioStat !== undefined) {
    for (const line of ioStat.split("\n")) {
      read += Number(/\brbytes=(\d+)/.exec(line)?.[1] ?? 0);
      write += Number(/\bwbytes=(\d+)/.exec(line)?.[1] ?? 0);
    }
  } else {
    // io.stat exists only where the io controller is enabled (not the v2 tree of a hybrid host).
    const each = await Promise.all((await procs.list()).map((p) => processIo(p).catch(() => ({ read: 0, write: 0 }))));
    for (const e of each) {
      read += e.read;
      write += e.write;
    }
  }
  return { read, write };
}

async function pidCount(dirs: CgroupDirs, procs: Processes): Promise<number> {
  const v1 = dirs.v1.get("pids");
  const current = v1 ? await readNumber(`${v1}/pids.current`) : dirs.v2 ? await readNumber(`${dirs.v2}/pids.current`) : undefined;
  if (current !== undefined) return current;
  // Without a pids controller, count the tasks (threads, as pids.current does) in the
  // container's cgroup2 directory, else in its processes.
  const threads = dirs.v2 ? await readText(`${dirs.v2}/cgroup.threads`) : undefined;
  if (threads !== undefined) return threads.split("\n").filter(Boolean).length;
  return procs.sum(async (p) => (await readKeyed(`/proc/${p}/status`)).Threads ?? 0);
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

/**
 * One reading of the container whose init is `pid`.
 * @throws BerthError `BERTH_CONTAINER_NOT_RUNNING` when that process is gone.
 */
export async function readContainerStats(pid: number, options: ReadContainerStatsOptions = {}): Promise<ContainerStatsReading> {
  const dirs = await cgroupDirs(pid, options.id);
  const procs = new Processes(pid, dirs.v2);
  const [cpuNs, systemNs, mem, net, blk, pids] = await Promise.all([cpuUsageNs(dirs, procs), systemCpuNs(), memory(dirs, pid, procs), network(pid), blockIo(dirs, procs), pidCount(dirs, procs)]);
  return { cpuNs, systemNs, memUsage: mem.usage, memLimit: mem.limit, netRx: net.rx, netTx: net.tx, blockRead: blk.read, blockWrite: blk.write, pids };
}

/** CPU % between two readings: docker/cli's `calculateCPUPercentUnix` (100% is one CPU busy). */
export function cpuPercent(before: ContainerStatsReading, after: ContainerStatsReading): number {
  if (before.cpuNs === undefined || after.cpuNs === undefined) return 0;
  const cpuDelta = after.cpuNs - before.cpuNs;
  const systemDelta = after.systemNs - before.systemNs;
  return cpuDelta > 0 && systemDelta > 0 ? (cpuDelta / systemDelta) * availableParallelism() * 100 : 0;
}
