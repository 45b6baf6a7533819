// How many runtime requests the engine's hot operations make: inspect of a running container
// none (its record suffices), stop one (`stop`: signal, grace period, SIGKILL and the state),
// for running and paused containers alike. Counted through an OciRuntime subclass that runs
// every command for real.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime, type OciStopOptions } from "../../../src/runtime/oci-runtime.js";
import type { OciState } from "../../../src/runtime/oci-spec.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

class CountingRuntime extends OciRuntime {
  readonly calls: string[] = [];
  override async state(id: string, options?: Parameters<OciRuntime["state"]>[1]): Promise<OciState> {
    this.calls.push("state");
    return super.state(id, options);
  }
  override async kill(...args: Parameters<OciRuntime["kill"]>): Promise<void> {
    this.calls.push("kill");
    return super.kill(...args);
  }
  override async waitState(...args: Parameters<OciRuntime["waitState"]>): Promise<OciState> {
    this.calls.push("waitState");
    return super.waitState(...args);
  }
  override async stop(id: string, options?: OciStopOptions): Promise<OciState> {
    this.calls.push("stop");
    return super.stop(id, options);
  }
}

describeAsRoot("the engine's runtime requests", () => {
  let root: string;
  let runtime: CountingRuntime;
  let engine: ContainerEngine;
  beforeAll(async () => {
    root = await makeTempDir("berth-engine-requests-");
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
    runtime = new CountingRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 });
    engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), runtime, pull: async () => {} });
  }, 120_000);
  beforeEach(() => {
    runtime.calls.length = 0;
  });
  afterAll(async () => {
    if (!engine) return;
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true });
    await execa("umount", [join(root, "run", "netns")], { reject: false });
    await removeTempDir(root);
  });

  it("inspects a running and a paused container from the record, with no runtime request", async () => {
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], init: true });
    await engine.start(id);
    runtime.calls.length = 0;
    const running = await engine.inspect(id);
    expect(running.State).toMatchObject({ Status: "running", Running: true, Paused: false });
    expect(running.State.Pid).toBeGreaterThan(0);
    await engine.pause(id);
    runtime.calls.length = 0;
    expect((await engine.inspect(id)).State).toMatchObject({ Status: "paused", Paused: true });
    expect(runtime.calls).toEqual([]);
    await engine.unpause(id);
    await engine.remove(id, { force: true });
  });

  it("inspects an exited container as exited (its init is gone: the record no longer suffices)", async () => {
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "exit 4"] });
    await engine.start(id);
    await runtime.wait(id, { timeout: 10_000 });
    expect((await engine.inspect(id)).State).toMatchObject({ Status: "exited", ExitCode: 4, Running: false });
    await engine.remove(id);
  });

  it("stops a running container with one request, and a paused one too", async () => {
    for (const paused of [false, true]) {
      const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "trap 'exit 7' TERM; touch /ready; while :; do sleep 0.05; done"] });
      await engine.start(id);
      // A signal that comes before the trap is set is ignored (pid 1 without a handler).
      const pid = (await engine.inspect(id)).State.Pid;
      await expect.poll(() => existsSync(`/proc/${pid}/root/ready`), { timeout: 10_000, interval: 20 }).toBe(true);
      if (paused) await engine.pause(id);
      runtime.calls.length = 0;
      await engine.stop(id, { timeout: 20 });
      expect(runtime.calls).toEqual(["stop"]);
      expect((await engine.inspect(id)).State).toMatchObject({ Status: "exited", ExitCode: 7 });
      // Stopping twice does nothing and asks nothing.
      runtime.calls.length = 0;
      await engine.stop(id);
      expect(runtime.calls).toEqual([]);
      await engine.remove(id);
    }
  });
});
