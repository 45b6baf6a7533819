import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { defaultSpec } from "../../../src/runtime/default-spec.js";
import { OciRuntime, resolveRuntime } from "../../../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { findLeaks } from "../../helpers/leaks.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useEngineContext } from "./engine-context.js";

const starter = fileURLToPath(new URL("./fixtures/start-and-wait.ts", import.meta.url));
const lister = fileURLToPath(new URL("./fixtures/list-and-exit.ts", import.meta.url));

/** Whether `pid` is a live process (not a zombie). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Polls until `pid` is gone; false if it still lives after `limitMs` (a bound, not a timing). */
async function gone(pid: number, limitMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isAlive(pid);
}

describeAsRoot("berth-runtime's co-process (serve) under the engine", () => {
  const ctx = useEngineContext();

  it("a Node process SIGKILLed while its co-process runs leaves no co-process, and its detached container runs on and is removable", async () => {
    const { engine, root } = ctx;
    const child = spawn(process.execPath, ["--import", "tsx", starter, root, join(root, "run", "runtime")], { stdio: ["ignore", "pipe", "inherit"] });
    const started = await new Promise<{ id: string; servePid?: number }>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the starter printed nothing within 60 s: ${out}`));
      }, 60_000);
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) {
          clearTimeout(timer);
          resolve(JSON.parse(out.split("\n")[0]!));
        }
      });
      child.on("error", reject);
    });
    expect(started.servePid).toBeGreaterThan(0);
    expect(isAlive(started.servePid!)).toBe(true);
    const exited = new Promise((r) => child.on("exit", r));
    child.kill("SIGKILL");
    await exited;

    expect(await gone(started.servePid!)).toBe(true);
    const inspect = await engine.inspect(started.id);
    expect(inspect.State.Running).toBe(true);
    expect(isAlive(inspect.State.Pid)).toBe(true);

    await engine.remove(started.id, { force: true });
    expect(findLeaks({ match: started.id, paths: [join(root, "containers")] })).toEqual([]);
  }, 120_000);

  it("does not keep Node alive: a process that used the co-process exits by itself, and the co-process with it", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", lister, join(ctx.root, "run", "runtime")], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    // A bound on a hang (the test's failure), not a measure of speed.
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
    clearTimeout(killer);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const servePid = Number(out.trim());
    expect(servePid).toBeGreaterThan(0);
    expect(await gone(servePid)).toBe(true);
  }, 90_000);

  it("runs commands concurrently and answers each request with its own result", async () => {
    const { engine } = ctx;
    const ids = await Promise.all(Array.from({ length: 8 }, () => engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo out-$HOSTNAME; exit 7"] })));
    await Promise.all(ids.map((id) => engine.start(id)));
    const codes = await Promise.all(ids.map((id) => engine.wait(id)));
    expect(codes).toEqual(ids.map(() => 7));
    await Promise.all(ids.map((id) => engine.remove(id)));
    // Failures come back as the same BerthErrors as from a spawned runtime.
    await expect(engine.runtime.state("no-such-container")).rejects.toMatchObject({ code: "BERTH_CONTAINER_NOT_FOUND" });
  }, 120_000);

  it("a container's layer (a volatile overlay) keeps its files across stop and start, and mounts again after each unmount", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], init: true });
    for (let round = 1; round <= 3; round++) {
      await engine.start(id);
      expect((await engine.exec(id, ["sh", "-c", "echo round >> /kept"])).exitCode).toBe(0);
      await engine.stop(id, { timeout: 0 });
    }
    await engine.start(id);
    const result = await engine.exec(id, ["sh", "-c", "wc -l < /kept"]);
    expect(result.stdout.trim()).toBe("3");
    await engine.remove(id, { force: true });
    expect(findLeaks({ match: id, paths: [join(ctx.root, "containers")] })).toEqual([]);
  }, 120_000);

  it("a served command's processes show its command line (a monitor names its container, as leak checks and ps need)", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(id);
    const pid = (await engine.inspect(id)).State.Pid;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const monitor = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const cmdline = readFileSync(`/proc/${monitor}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    expect(cmdline).toMatch(/^berth-runtime .*\brun --detach\b/);
    expect(cmdline).toContain(id);
    const serve = readFileSync(`/proc/${engine.runtime.server!.pid!}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    expect(serve).toMatch(/berth-runtime serve --parent \d+$/);
    await engine.remove(id, { force: true });
  }, 60_000);

  it("a berth-runtime without serve (an older build) is spawned instead, with the same results", async () => {
    const { root } = ctx;
    // Named berth-runtime, so the driver tries its co-process; `serve` fails as an old build's would.
    const dir = join(root, "old-build");
    await mkdir(dir, { recursive: true });
    const binary = join(dir, "berth-runtime");
    await writeFile(binary, `#!/bin/sh\n[ "$1" = serve ] && { echo "unknown command serve" >&2; exit 1; }\nexec "${resolveRuntime("berth-runtime")}" "$@"\n`);
    await chmod(binary, 0o755);
    const runtime = new OciRuntime({ runtime: binary, root: join(root, "run", "old-build") });
    expect(await runtime.list()).toEqual([]);
    expect(runtime.server).toBeUndefined();
    await expect(runtime.state("no-such-container")).rejects.toMatchObject({ code: "BERTH_CONTAINER_NOT_FOUND" });
  }, 60_000);

  it("a request past its time limit is killed and fails with BERTH_TIMEOUT, leaving no container", async () => {
    const { engine, root } = ctx;
    expect(engine.runtime.server).toBeDefined();
    const bundle = join(root, "timeout-bundle");
    await engine.runtime.writeBundle(bundle, defaultSpec(await busyboxRootfs(), { args: ["sleep", "30"], readonlyRootfs: true }));
    await expect(engine.runtime.run("serve-timeout", bundle, { timeout: 500 })).rejects.toMatchObject({ code: "BERTH_TIMEOUT" });
    expect(await engine.runtime.list()).not.toContainEqual(expect.objectContaining({ id: "serve-timeout" }));
  }, 60_000);
});
