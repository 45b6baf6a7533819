import { join } from "node:path";
import { expect, it } from "vitest";
import { hasErrorCode, type BerthError } from "../../../src/common/berth-error.js";
import { containerWaitTarget } from "../../../src/harness/container-wait-target.js";
import { Wait } from "../../../src/harness/wait/wait.js";
import { engineContainerFinder, findOrCreateReusable, reuseHash, reuseHashLabel } from "../../../src/harness/reuse.js";
import { useEngineContext } from "../engine/engine-context.js";
import { describeAsRoot } from "../../helpers/require-root.js";

describeAsRoot("wait strategies over real containers (engine-backed WaitTarget)", () => {
  const ctx = useEngineContext();

  async function run(cmd: string[], options: Record<string, unknown> = {}): Promise<string> {
    const id = await ctx.engine.create({ image: "busybox:test", cmd, network: "none", ...options });
    await ctx.engine.start(id);
    return id;
  }

  it("sees a port listening inside a busybox container's namespace, and its log line", async () => {
    const id = await run(["sh", "-c", "echo booting; sleep 0.2; echo ready; exec httpd -f -p 8080 -h /"]);
    const target = await containerWaitTarget(ctx.engine, id, { exposedPorts: [{ port: 8080 }] });
    await Wait.forAll([Wait.forListeningPorts(), Wait.forLogMessage("ready")]).withStartupTimeout(20_000).waitUntilReady(target);
  });

  it("waits for the engine's health check", async () => {
    const id = await run(["sh", "-c", "sleep 0.3; touch /tmp/ok; exec sleep 300"], {
      healthcheck: { test: ["CMD", "test", "-e", "/tmp/ok"], interval: "100ms", startInterval: "100ms", timeout: "5s", retries: 3 },
    });
    const target = await containerWaitTarget(ctx.engine, id);
    await Wait.forHealthCheck().withStartupTimeout(30_000).waitUntilReady(target);
    await Wait.forSuccessfulCommand(["test", "-e", "/tmp/ok"]).withStartupTimeout(20_000).waitUntilReady(target);
  });

  it("fails fast with the exit code and last lines when the container exits", async () => {
    const id = await run(["sh", "-c", "echo 'fatal: no config'; exit 4"]);
    const target = await containerWaitTarget(ctx.engine, id, { exposedPorts: [{ port: 8080 }] });
    let error: BerthError | undefined;
    await Wait.forListeningPorts().withStartupTimeout(60_000).waitUntilReady(target).catch((e: BerthError) => (error = e));
    expect(hasErrorCode(error, "BERTH_WAIT_CONTAINER_EXITED")).toBe(true);
    expect(error?.exitCode).toBe(4);
    expect(error?.lastLines).toContain("fatal: no config");
  });
});

describeAsRoot("reuse over the engine", () => {
  const engineCtx = useEngineContext();

  it("finds the running container carrying the hash label, and creates one when there is none", async () => {
    const { engine } = engineCtx;
    const hash = reuseHash({ image: "busybox:test", cmd: ["sleep", "300"] });
    const lockDir = join(engineCtx.root, "reuse-locks");
    const create = async (labels: Record<string, string>) => {
      const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], network: "none", labels });
      await engine.start(id);
      return (await engine.list({ id: [id] }))[0]!;
    };
    const first = await findOrCreateReusable({ hash, finder: engineContainerFinder(engine), create, lockDir });
    const second = await findOrCreateReusable({ hash, finder: engineContainerFinder(engine), create, lockDir });
    expect(first.reused).toBe(false);
    expect(second).toMatchObject({ reused: true, container: { Id: first.container.Id } });
    expect(second.container.Labels[reuseHashLabel]).toBe(hash);
    // A stopped one is not reused.
    await engine.stop(first.container.Id, { timeout: 0 });
    const third = await findOrCreateReusable({ hash, finder: engineContainerFinder(engine), create, lockDir });
    expect(third.reused).toBe(false);
    expect(third.container.Id).not.toBe(first.container.Id);
  });
});
