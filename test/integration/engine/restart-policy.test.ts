import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { parseRestartPolicy } from "../../../src/runtime/engine/index.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { logLines, useEngineContext } from "./engine-context.js";

const starter = fileURLToPath(new URL("./fixtures/start-with-restart.ts", import.meta.url));

/** Polls `check` until it holds; bounded so that a policy that never acts fails the test. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describeAsRoot("restart policies", () => {
  const ctx = useEngineContext();

  it("on-failure:2 runs a failing container exactly 3 times, then records its exit code and RestartCount", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo attempt; exit 3"], restartPolicy: { name: "on-failure", maximumRetryCount: 2 } });
    await engine.start(id);
    expect(await engine.wait(id)).toBe(3);
    expect(await logLines(engine, id)).toEqual(["stdout: attempt", "stdout: attempt", "stdout: attempt"]);
    const info = await engine.inspect(id);
    expect(info.State.Status).toBe("exited");
    expect(info.State.ExitCode).toBe(3);
    expect(info.RestartCount).toBe(2);
    expect(info.HostConfig.RestartPolicy).toEqual({ Name: "on-failure", MaximumRetryCount: 2 });
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  }, 60_000);

  it("logs({ follow }) follows a container across its restarts and ends with its last run", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "sleep 0.2; echo attempt; exit 1"], restartPolicy: { name: "on-failure", maximumRetryCount: 2 } });
    await engine.start(id);
    expect(await logLines(engine, id, { follow: true })).toEqual(["stdout: attempt", "stdout: attempt", "stdout: attempt"]);
    expect((await engine.inspect(id)).RestartCount).toBe(2);
    await engine.remove(id);
  }, 60_000);

  it("health checks resume in the restarted run", async () => {
    const { engine } = ctx;
    // The probe passes only in the second run (the first removes nothing and exits 1).
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sh", "-c", "if [ ! -f /ran ]; then touch /ran; sleep 0.5; exit 1; fi; touch /ok; exec sleep 300"],
      healthcheck: { test: ["CMD", "test", "-f", "/ok"], interval: "100ms", retries: 1 },
      restartPolicy: { name: "on-failure" },
    });
    await engine.start(id);
    await until("healthy after the restart", async () => {
      const info = await engine.inspect(id);
      return info.RestartCount === 1 && info.State.Health?.Status === "healthy";
    });
    await engine.remove(id, { force: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
  }, 60_000);

  it("a restart that cannot run the command records Docker's exit code and leaves nothing behind", async () => {
    const { engine } = ctx;
    // The first run removes the shell the next run would exec.
    const id = await engine.create({ image: "busybox:test", cmd: ["/bin/sh", "-c", "rm /bin/sh; echo gone; exit 1"], restartPolicy: { name: "always" } });
    await engine.start(id);
    expect(await engine.wait(id)).toBe(127);
    const info = await engine.inspect(id);
    expect(info.State.Status).toBe("exited");
    expect(info.RestartCount).toBe(1);
    expect(await logLines(engine, id)).toEqual(["stdout: gone"]);
    // Only the container's own state (its record, its layer) remains until it is removed.
    expect((await ctx.leaksOf(id)).filter((l) => !l.startsWith("mount overlay"))).toEqual([]);
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  }, 60_000);

  it("with openStdin each run gets its own stdin: a client attaches again to the restarted run", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "read x; echo got $x; exit 1"], openStdin: true, restartPolicy: { name: "on-failure", maximumRetryCount: 1 } });
    const first = await engine.attach(id, { stdin: true, stdout: true, stream: true });
    await engine.start(id);
    first.stdin!.write("a\n");
    expect(await first.exitCode).toBe(1);
    await until("the second run", async () => {
      const info = await engine.inspect(id);
      return info.RestartCount === 1 && info.State.Status === "running";
    });
    const second = await engine.attach(id, { stdin: true, stdout: true, stream: true });
    second.stdin!.write("b\n");
    expect(await second.exitCode).toBe(1);
    expect(await engine.wait(id)).toBe(1);
    expect(await logLines(engine, id)).toEqual(["stdout: got a", "stdout: got b"]);
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  }, 60_000);

  it("a tty container gets a new terminal at each run, its output in the one log", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "sleep 0.1; echo tty-run; exit 2"], tty: true, restartPolicy: { name: "on-failure", maximumRetryCount: 2 } });
    await engine.start(id);
    expect(await engine.wait(id)).toBe(2);
    const lines = await logLines(engine, id);
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^stdout: tty-run\r?$/);
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
    // The console sockets of each run are gone too.
    expect((await readdir(join(ctx.root, "run", "runtime"))).filter((e) => e.startsWith(".console-"))).toEqual([]);
  }, 60_000);

  it("on-failure does not restart a container that exits 0", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo once"], restartPolicy: { name: "on-failure" } });
    await engine.start(id);
    expect(await engine.wait(id)).toBe(0);
    expect(await logLines(engine, id)).toEqual(["stdout: once"]);
    expect((await engine.inspect(id)).RestartCount).toBe(0);
    await engine.remove(id);
  }, 60_000);

  it("always restarts after exit 0, after the Node process that started it has exited; stop ends it for good", async () => {
    const { engine, root } = ctx;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", starter, root, join(root, "run", "runtime"), "always", "sh", "-c", "echo run"], { stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.stdout!.on("data", (c: Buffer) => (text += c.toString()));
      child.on("error", reject);
      child.on("exit", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(text.trim());
        else reject(new Error(`the starter exited with ${code}`));
      });
    });
    const id = out.split("\n").pop()!;
    await until("3 restarts", async () => (await engine.inspect(id)).RestartCount >= 3);
    const running = await engine.inspect(id);
    expect(["running", "restarting"]).toContain(running.State.Status);
    expect(running.State.Running).toBe(true);
    expect((await logLines(engine, id)).length).toBeGreaterThanOrEqual(3);
    await engine.stop(id, { timeout: 1 });
    const stopped = await engine.inspect(id);
    expect(stopped.State.Status).toBe("exited");
    expect(stopped.State.Restarting).toBe(false);
    // The monitor is gone with the stop (its process names the id): nothing is left to restart it.
    expect(await ctx.leaksOf(id)).toEqual([]);
    const lines = (await logLines(engine, id)).length;
    expect((await engine.inspect(id)).RestartCount).toBe(stopped.RestartCount);
    expect((await logLines(engine, id)).length).toBe(lines);
    await engine.remove(id);
  }, 90_000);

  it("stop during the backoff between two runs stops the container with no restart racing it", async () => {
    const { engine } = ctx;
    // Exits at once: the container spends most of its life between runs.
    const id = await engine.create({ image: "busybox:test", cmd: ["true"], restartPolicy: { name: "unless-stopped" } });
    await engine.start(id);
    await until("a restart", async () => (await engine.inspect(id)).RestartCount >= 2);
    await engine.stop(id);
    const info = await engine.inspect(id);
    expect(info.State.Status).toBe("exited");
    expect(await ctx.leaksOf(id)).toEqual([]);
    await engine.start(id);
    await engine.kill(id).catch((error: unknown) => {
      // Between two runs `kill` may find no process: the stop request alone ends it.
      if (!hasErrorCode(error, "BERTH_CONTAINER_NOT_RUNNING")) throw error;
    });
    expect(await engine.wait(id)).not.toBe(undefined);
    expect((await engine.inspect(id)).State.Status).toBe("exited");
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  }, 90_000);

  it("remove({ force }) of a restarting container leaves no process, mount, cgroup or state", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "sleep 0.2"], restartPolicy: { name: "always" }, mounts: ["/anon"] });
    await engine.start(id);
    await until("a restart", async () => (await engine.inspect(id)).RestartCount >= 1);
    await engine.remove(id, { force: true, volumes: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
    expect(await engine.volumes.list()).toEqual([]);
  }, 60_000);

  it("a restarted container keeps its namespace on the default bridge and answers on its published port; stop then kills the new run for good", async () => {
    const { engine, root } = ctx;
    const store = new NetworkStore({ stateRoot: root, runRoot: join(root, "run") });
    const manager = new NetworkManager({ store });
    const attachment = new BridgeAttachment({ ports: ["0:80"], manager });
    // The first run fails; the second serves.
    const script = "mkdir -p /www && echo restarted > /www/index.html && if [ ! -f /ran ]; then touch /ran; exit 1; fi; exec httpd -f -p 80 -h /www";
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", script], network: attachment, restartPolicy: parseRestartPolicy("on-failure:3") });
    try {
      await engine.start(id);
      const firstPid = (await engine.inspect(id)).State.Pid;
      await until("the second run", async () => {
        const info = await engine.inspect(id);
        return info.RestartCount === 1 && info.State.Status === "running";
      });
      const info = await engine.inspect(id);
      expect(info.State.Pid).not.toBe(firstPid);
      expect(info.HostConfig.NetworkMode).toBe("bridge");
      const port = attachment.publishedPorts[0]!.hostPort;
      const deadline = Date.now() + 10_000;
      let body = "";
      while (!body) {
        body = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) })
          .then((r) => r.text())
          .catch((error: unknown) => {
            // httpd may not listen yet: the proxy resets the connection until it does.
            if (Date.now() > deadline) throw error;
            return new Promise<string>((r) => setTimeout(() => r(""), 50));
          });
      }
      expect(body).toBe("restarted\n");
      // exec joins the new run, whose pid only the runtime's state knows.
      expect(await engine.exec(id, ["cat", "/www/index.html"])).toMatchObject({ exitCode: 0, stdout: "restarted\n" });
      await engine.stop(id, { timeout: 1 });
      const stopped = await engine.inspect(id);
      expect(stopped.State.Status).toBe("exited");
      expect(stopped.RestartCount).toBe(1);
      expect(await ctx.leaksOf(id)).toEqual([]);
    } finally {
      await engine.remove(id, { force: true });
      for (const network of await store.list()) if (network.name === "bridge") await store.delete(network.id);
    }
  }, 90_000);

  it("refuses what Docker refuses", async () => {
    const { engine } = ctx;
    const before = (await engine.list({ all: true })).length;
    await expect(engine.create({ image: "busybox:test", cmd: ["true"], restartPolicy: { name: "always", maximumRetryCount: 2 } })).rejects.toMatchObject({ code: "BERTH_INVALID_ARGUMENT" });
    await expect(engine.create({ image: "busybox:test", cmd: ["true"], restartPolicy: { name: "always" }, autoRemove: true })).rejects.toMatchObject({ code: "BERTH_INVALID_ARGUMENT", message: expect.stringContaining("--restart and --rm") });
    await expect(engine.create({ image: "busybox:test", cmd: ["true"], restartPolicy: { name: "sometimes" as "always" } })).rejects.toMatchObject({ code: "BERTH_INVALID_ARGUMENT" });
    expect(() => parseRestartPolicy("on-failure:x")).toThrow(/invalid restart policy/);
    expect(() => parseRestartPolicy("always:3")).toThrow(/only be used with 'on-failure'/);
    expect(parseRestartPolicy("on-failure:5")).toEqual({ name: "on-failure", maximumRetryCount: 5 });
    expect(parseRestartPolicy("unless-stopped")).toEqual({ name: "unless-stopped" });
    // Nothing was left by the refused creates.
    expect((await engine.list({ all: true })).length).toBe(before);
  });
});
