// What `berth stats` reads for a container (src/runtime/engine/container-stats.ts), checked
// the way a user would: a container that holds ~20 MB shows about 20 MB. Regression: on a
// hybrid host berth-runtime leaves an unlimited container's processes in the caller's v1
// cgroups (native/src/cgroup.c, v1_wanted), and stats read the caller's memory cgroup: the
// whole test session (154 MB) for an idle busybox.
import { existsSync } from "node:fs";
import { readFile, statfs } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { expect, it } from "vitest";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { cpuPercent, readContainerStats, type ContainerStatsReading } from "../../../src/runtime/engine/container-stats.js";
import { failure } from "../../helpers/failure.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useEngineContext } from "./engine-context.js";
import { joinAllEngine } from "./join-all-engine.js";

const hybrid = existsSync("/sys/fs/cgroup/unified/cgroup.controllers") && existsSync("/sys/fs/cgroup/memory/cgroup.procs");
const MB = 1024 * 1024;

/**
 * Holds a 20,000,000-byte string in the shell (its heap, so its RSS), marks /ready, then waits
 * on two sleeps: three processes. The marker lets the test wait for the allocation, not guess.
 */
const holder = ["sh", "-c", 'x=$(head -c 20000000 /dev/zero | tr "\\0" a); touch /ready; sleep 600 & sleep 600 & wait'];

/** Polls `check` every 50 ms until it returns a value, failing after 30 s with `what`. */
async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A reading once the container's /ready exists and it runs `pids` tasks. */
async function settled(pid: number, id: string | undefined, pids: number): Promise<ContainerStatsReading> {
  return until(`/ready and ${pids} tasks`, async () => {
    if (!existsSync(`/proc/${pid}/root/ready`)) return undefined;
    const r = await readContainerStats(pid, id === undefined ? {} : { id });
    return r.pids === pids ? r : undefined;
  });
}

describeAsRoot("container stats: figures of the container's own, on every cgroup layout", () => {
  const ctx = useEngineContext();

  async function started(engine: ContainerEngine, options: Parameters<ContainerEngine["create"]>[0]): Promise<{ id: string; pid: number }> {
    const id = await engine.create(options);
    await engine.start(id);
    return { id, pid: (await engine.inspect(id)).State.Pid };
  }

  it("an unlimited container holding 20 MB shows 15-100 MB, not its caller's memory cgroup, and its 3 tasks", async () => {
    const { id, pid } = await started(ctx.engine, { image: "busybox:test", cmd: holder });
    const r = await settled(pid, id, 3);
    expect(r.memUsage).toBeGreaterThanOrEqual(15 * MB);
    expect(r.memUsage).toBeLessThan(100 * MB);
    // No limit: the host's memory, as Docker shows it.
    expect(r.memLimit).toBeGreaterThan(r.memUsage * 10);
    expect(r.cpuNs).toBeGreaterThan(0);
    await ctx.engine.remove(id, { force: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("a 20 MB file in the container's /dev/shm (tmpfs) counts as its memory, and a mapped tmpfs file counts once", async () => {
    // The sleep runs busybox from a copy in /dev (a tmpfs of the container's, exec allowed):
    // its text pages are both in that tmpfs and in the process's Pss, and must count once.
    const script = "head -c 20000000 /dev/zero > /dev/shm/blob; cat /bin/busybox > /dev/busybox; chmod 755 /dev/busybox; touch /ready; exec /dev/busybox sleep 600";
    const { id, pid } = await started(ctx.engine, { image: "busybox:test", cmd: ["sh", "-c", script] });
    const r = await settled(pid, id, 1);
    expect(r.memUsage).toBeGreaterThanOrEqual(15 * MB);
    expect(r.memUsage).toBeLessThan(100 * MB);
    const used = async (dir: string) => {
      const s = await statfs(`/proc/${pid}/root${dir}`);
      return (s.blocks - s.bfree) * s.bsize;
    };
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(rollup)![1]) * 1024;
    expect(kb("Pss_Shmem")).toBeGreaterThan(256 * 1024);
    const once = (await used("/dev")) + (await used("/dev/shm")) + kb("Pss") - kb("Pss_Shmem");
    expect(Math.abs(r.memUsage - once)).toBeLessThan(128 * 1024);
    await ctx.engine.remove(id, { force: true });
  });

  it("a container whose cgroups are not its own (rootless without delegation) is read from its processes: 15-100 MB, 3 tasks", async () => {
    const { id, pid } = await started(ctx.engine, { image: "busybox:test", cmd: holder });
    // An id in no cgroup path: as for a container left in its caller's cgroups, every figure
    // comes from the init and its descendants.
    const r = await settled(pid, "not-this-container", 3);
    expect(r.memUsage).toBeGreaterThanOrEqual(15 * MB);
    expect(r.memUsage).toBeLessThan(100 * MB);
    expect(r.cpuNs).toBeGreaterThan(0);
    await ctx.engine.remove(id, { force: true });
  });

  it("CPU time of an exited child is kept, and a busy container's CPU % is above 0", async () => {
    // The subshell is a child that burns CPU and exits before /ready.
    const script = "(i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done); touch /ready; while :; do :; done";
    const { id, pid } = await started(ctx.engine, { image: "busybox:test", cmd: ["sh", "-c", script] });
    const first = await settled(pid, id, 1);
    // The child's loop alone takes well over 10 ms of CPU in busybox sh.
    expect(first.cpuNs).toBeGreaterThan(10e6);
    await sleep(300);
    const second = await readContainerStats(pid, { id });
    expect(second.cpuNs!).toBeGreaterThan(first.cpuNs!);
    expect(cpuPercent(first, second)).toBeGreaterThan(0);
    // The same from the processes alone (the init reaped the child: its time is in cutime).
    const fromProcs = await readContainerStats(pid, { id: "not-this-container" });
    expect(fromProcs.cpuNs).toBeGreaterThan(10e6);
    await ctx.engine.remove(id, { force: true });
  });

  it("a memory limit is read from the container's own v1 (or v2) memory cgroup", async () => {
    const { id, pid } = await started(ctx.engine, { image: "busybox:test", cmd: holder, resources: { memory: "96m" } });
    const r = await settled(pid, id, 3);
    expect(r.memLimit).toBe(96 * MB);
    expect(r.memUsage).toBeGreaterThanOrEqual(15 * MB);
    expect(r.memUsage).toBeLessThan(96 * MB);
    await ctx.engine.remove(id, { force: true });
  });

  it("a container that is gone: BERTH_CONTAINER_NOT_RUNNING", async () => {
    const child = execa("true");
    await child;
    const pid = child.pid!;
    const error = await failure(readContainerStats(pid, { id: "gone" }));
    expect(error.code).toBe("BERTH_CONTAINER_NOT_RUNNING");
    expect(error.context).toMatchObject({ pid, container: "gone" });
  });

  it.skipIf(!hybrid)("with BERTH_CGROUP_JOIN_ALL=1 (every v1 hierarchy joined) the same container shows similar figures (skipped: needs a hybrid cgroup v1/v2 host)", async () => {
    const engine = joinAllEngine(ctx.root);
    try {
      const { id, pid } = await started(engine, { image: "busybox:test", cmd: holder });
      expect(existsSync(`/sys/fs/cgroup/memory/berth/${id}/memory.usage_in_bytes`)).toBe(true);
      const r = await settled(pid, id, 3);
      expect(r.memUsage).toBeGreaterThanOrEqual(15 * MB);
      expect(r.memUsage).toBeLessThan(100 * MB);
      expect(r.cpuNs).toBeGreaterThan(0);
      await engine.remove(id, { force: true });
      expect(await ctx.leaksOf(id)).toEqual([]);
    } finally {
      engine.dispose();
    }
  });
});
