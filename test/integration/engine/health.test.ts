import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { useEngineContext } from "./engine-context.js";

/** Pids whose command line names `id` (the monitor's and the exec helpers' do). */
async function processesMentioning(id: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(id)) found.push(Number(entry));
  }
  return found;
}

// Health checks run in berth-runtime's monitor (native/src/health.c); the engine only hands
// the check over and reads the state back.
describe("health checks run by the monitor", () => {
  const ctx = useEngineContext();

  const status = async (engine: ContainerEngine, id: string) => (await engine.inspect(id)).State.Health?.Status;

  it("keeps probing after the engine that started the container is disposed", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], healthcheck: { test: ["CMD", "true"], interval: "100ms" } });
    await engine.start(id);
    engine.dispose();
    await expect.poll(() => status(engine, id), { timeout: 15_000, interval: 50 }).toBe("healthy");
    const health = (await engine.inspect(id)).State.Health!;
    expect(health.Log[0]).toMatchObject({ ExitCode: 0, Output: "" });
    expect(Date.parse(health.Log[0]!.End)).toBeGreaterThanOrEqual(Date.parse(health.Log[0]!.Start));
    await engine.remove(id, { force: true });
  });

  it("a probe past its timeout fails with exit code -1 and Docker's message, and is killed", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "300"],
      healthcheck: { test: "sleep 30", interval: "100ms", timeout: "300ms", retries: 1 },
    });
    await engine.start(id);
    await expect.poll(() => status(engine, id), { timeout: 15_000, interval: 50 }).toBe("unhealthy");
    const entry = (await engine.inspect(id)).State.Health!.Log[0]!;
    expect(entry).toMatchObject({ ExitCode: -1, Output: "Health check exceeded timeout (300ms)" });
    // The timed-out probe's `sleep 30` does not pile up in the container.
    const ps = await engine.exec(id, ["ps", "-o", "args"]);
    expect(ps.stdout.split("\n").filter((l) => l.trim() === "sleep 30").length).toBeLessThanOrEqual(1);
    await engine.remove(id, { force: true });
  });

  it("a probe command that cannot start counts as a failure with the runtime's message", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "300"],
      healthcheck: { test: ["CMD", "no-such-probe"], interval: "100ms", retries: 2 },
    });
    await engine.start(id);
    await expect.poll(() => status(engine, id), { timeout: 15_000, interval: 50 }).toBe("unhealthy");
    const health = (await engine.inspect(id)).State.Health!;
    expect(health.FailingStreak).toBeGreaterThanOrEqual(2);
    expect(health.Log[0]!.ExitCode).toBe(-1);
    expect(health.Log[0]!.Output).toContain('exec: "no-such-probe"');
    await engine.remove(id, { force: true });
  });

  it("exit codes other than 0 fail; output is kept and capped at 4096 bytes; only the last 5 results stay", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "300"],
      healthcheck: { test: "head -c 10000 /dev/zero | tr '\\0' x; exit 3", interval: "50ms", retries: 100 },
    });
    await engine.start(id);
    await expect.poll(async () => (await engine.inspect(id)).State.Health?.FailingStreak ?? 0, { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(7);
    const health = (await engine.inspect(id)).State.Health!;
    expect(health.Status).toBe("starting");
    expect(health.Log).toHaveLength(5);
    expect(health.Log[4]).toMatchObject({ ExitCode: 3, Output: "x".repeat(4096) });
    await engine.remove(id, { force: true });
  });

  it("failures within the start period do not count while starting", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "300"],
      healthcheck: { test: ["CMD", "false"], interval: "50ms", startPeriod: "10m", startInterval: "50ms", retries: 1 },
    });
    await engine.start(id);
    await expect.poll(async () => (await engine.inspect(id)).State.Health?.Log.length ?? 0, { timeout: 15_000, interval: 50 }).toBeGreaterThanOrEqual(3);
    expect((await engine.inspect(id)).State.Health).toMatchObject({ Status: "starting", FailingStreak: 0 });
    await engine.remove(id, { force: true });
  });

  it("turns unhealthy when the container stops, as Docker does, and leaves no probe state behind", async () => {
    const { engine, root } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], healthcheck: { test: ["CMD", "true"], interval: "50ms" } });
    await engine.start(id);
    await expect.poll(() => status(engine, id), { timeout: 15_000, interval: 50 }).toBe("healthy");
    await engine.stop(id, { timeout: 0 });
    expect((await engine.inspect(id)).State.Health?.Status).toBe("unhealthy");
    // A restart begins again at "starting".
    await engine.start(id);
    await expect.poll(() => status(engine, id), { timeout: 15_000, interval: 50 }).toBe("healthy");
    await engine.remove(id, { force: true });
    expect(await readdir(`${root}/run/runtime`).catch(() => [])).not.toContain(id);
    // No monitor, probe helper or probe of it is left running.
    expect(await processesMentioning(id)).toEqual([]);
  });

  it("no Health without a check, with HEALTHCHECK NONE, or with the check disabled", async () => {
    const { engine } = ctx;
    const plain = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    const none = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], healthcheck: { test: ["NONE"] } });
    const off = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], healthcheck: false });
    for (const id of [plain, none, off]) {
      await engine.start(id);
      expect((await engine.inspect(id)).State.Health).toBeUndefined();
      await engine.remove(id, { force: true });
    }
  });
});
