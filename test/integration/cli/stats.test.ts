// `berth stats` as a user checks it: a container without limits that holds ~20 MB shows about
// 20 MB and its task count. Regression: on a hybrid host an unlimited container's processes
// stay in the caller's v1 cgroups (native/src/cgroup.c, v1_wanted), and stats showed the
// caller's memory cgroup (154 MB for an idle busybox).
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useCliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);
const hybrid = existsSync("/sys/fs/cgroup/unified/cgroup.controllers") && existsSync("/sys/fs/cgroup/memory/cgroup.procs");

/** Holds a 20,000,000-byte string in the shell, marks /ready, then waits on two sleeps: three processes. */
const holder = 'x=$(head -c 20000000 /dev/zero | tr "\\0" a); touch /ready; sleep 600 & sleep 600 & wait';

const units: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Bytes of a `docker stats` size such as `19.97MiB`. */
function bytesOf(size: string): number {
  const m = /^([\d.]+)([KMG]?i?B)$/.exec(size.trim());
  if (!m) throw new Error(`not a size: ${size}`);
  return Number(m[1]) * units[m[2]!]!;
}

/** Starts the holder as `name` and waits (30 s at most) until it has allocated and runs 3 tasks. */
async function runHolder(name: string, env: Record<string, string> = {}): Promise<Record<string, string>> {
  expect((await berth(["run", "-d", "--name", name, "busybox:test", "sh", "-c", holder], { env })).code).toBe(0);
  const pid = (await berth(["inspect", "--format", "{{.State.Pid}}", name])).stdout.trim();
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (existsSync(`/proc/${pid}/root/ready`)) {
      const row = JSON.parse((await berth(["stats", "--no-stream", "--format", "{{json .}}", name])).stdout) as Record<string, string>;
      if (row.PIDs === "3") return row;
    }
    if (Date.now() > deadline) throw new Error(`${name} did not allocate and start its sleeps in 30 s`);
    await sleep(100);
  }
}

describeAsRoot("berth stats: the container's own figures", () => {
  world = useCliWorld("berth-cli-stats-");

  it("an unlimited container holding 20 MB shows 15-100 MB of the host's memory and 3 PIDS, in Docker's JSON shape", async () => {
    const row = await runHolder("stats-lean");
    expect(Object.keys(row).sort()).toEqual(["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"]);
    const [usage, limit] = row.MemUsage!.split(" / ");
    expect(bytesOf(usage!)).toBeGreaterThanOrEqual(15 * 1024 ** 2);
    expect(bytesOf(usage!)).toBeLessThan(100 * 1024 ** 2);
    expect(limit).toMatch(/GiB$/);
    expect(Number.parseFloat(row.MemPerc!)).toBeLessThan(50);
    await berth(["rm", "-f", "stats-lean"]);
  });

  it.skipIf(!hybrid)("with BERTH_CGROUP_JOIN_ALL=1 (every v1 hierarchy joined, as runc) the same figures: 15-100 MB, 3 PIDS (skipped: needs a hybrid cgroup v1/v2 host)", async () => {
    const row = await runHolder("stats-all", { BERTH_CGROUP_JOIN_ALL: "1" });
    const id = (await berth(["inspect", "--format", "{{.Id}}", "stats-all"])).stdout.trim();
    expect(existsSync(`/sys/fs/cgroup/memory/berth/${id}`)).toBe(true);
    const usage = bytesOf(row.MemUsage!.split(" / ")[0]!);
    expect(usage).toBeGreaterThanOrEqual(15 * 1024 ** 2);
    expect(usage).toBeLessThan(100 * 1024 ** 2);
    await berth(["rm", "-f", "stats-all"]);
  });
});
