import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { useEngineContext } from "./engine-context.js";

describe("inspect: HostConfig's CPU and memory fields in Docker's units, matching the cgroup", () => {
  const ctx = useEngineContext();

  /** The container's CFS quota and period as the kernel has them (v1 cpu controller, else cgroup2 cpu.max). */
  async function cfs(pid: number): Promise<{ quota: number; period: number }> {
    const lines = (await readFile(`/proc/${pid}/cgroup`, "utf8")).split("\n");
    const v1 = lines.find((l) => /:(cpu,cpuacct|cpuacct,cpu|cpu):/.test(l));
    if (v1) {
      const path = v1.split(":")[2]!;
      const base = existsSync("/sys/fs/cgroup/cpu,cpuacct") ? "/sys/fs/cgroup/cpu,cpuacct" : "/sys/fs/cgroup/cpu";
      const quota = Number(await readFile(`${base}${path}/cpu.cfs_quota_us`, "utf8"));
      const period = Number(await readFile(`${base}${path}/cpu.cfs_period_us`, "utf8"));
      return { quota, period };
    }
    const v2 = lines.find((l) => l.startsWith("0::"))!.slice(3);
    const [q, p] = (await readFile(`/sys/fs/cgroup/unified${v2}/cpu.max`, "utf8")).trim().split(" ");
    return { quota: q === "max" ? -1 : Number(q), period: Number(p) };
  }

  it("cpus 1.5 → NanoCpus 1500000000, applied as a 150000/100000 µs quota", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "60"], resources: { cpus: 1.5 } });
    const hc = (await engine.inspect(id)).HostConfig;
    expect(hc).toMatchObject({ NanoCpus: 1_500_000_000, CpuQuota: 0, CpuPeriod: 0, CpuShares: 0 });
    await engine.start(id);
    expect(await cfs((await engine.inspect(id)).State.Pid)).toEqual({ quota: 150_000, period: 100_000 });
    await engine.remove(id, { force: true });
  });

  it("cpuShares, cpuPeriod, cpuQuota, cpuset and memory as given", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "60"],
      resources: { cpuShares: 512, cpuPeriod: 50_000, cpuQuota: 25_000, cpusetCpus: "0", memory: "32m", memoryReservation: "16m", memorySwap: -1 },
    });
    expect((await engine.inspect(id)).HostConfig).toMatchObject({
      NanoCpus: 0,
      CpuShares: 512,
      CpuPeriod: 50_000,
      CpuQuota: 25_000,
      CpusetCpus: "0",
      Memory: 32 * 1024 * 1024,
      MemoryReservation: 16 * 1024 * 1024,
      MemorySwap: -1,
    });
    await engine.start(id);
    expect(await cfs((await engine.inspect(id)).State.Pid)).toEqual({ quota: 25_000, period: 50_000 });
    await engine.remove(id, { force: true });
  });

  it("no limits: zeros, as Docker shows them", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["true"] });
    expect((await engine.inspect(id)).HostConfig).toMatchObject({ NanoCpus: 0, CpuShares: 0, CpuPeriod: 0, CpuQuota: 0, Memory: 0, MemorySwap: 0, PidsLimit: 0 });
    expect((await engine.inspect(id)).NetworkSettings.Ports).toEqual({});
    await engine.remove(id);
  });
});
