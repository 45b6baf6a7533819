import { execaNode } from "execa";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { findLeaks } from "../../helpers/leaks.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { isAlive } from "./process-liveness.js";

const child = fileURLToPath(new URL("./fixtures/reaper-container-child.ts", import.meta.url));
let root: string;

describeAsRoot("session reaper with the engine", () => {
  beforeAll(async () => {
    root = await makeTempDir("berth-reaper-engine-");
  });
  afterAll(async () => {
    const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run") });
    // Only a failed test leaves a container; remove it so the root can go.
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true });
    engine.dispose();
    await removeTempDir(root);
  });

  it("removes a running container within 2 s of the session's SIGKILL, leaving no mount, cgroup or process", async () => {
    const proc = execaNode(child, [], { nodeOptions: ["--import", "tsx"], env: { BERTH_ROOT: root, BERTH_SESSION_ID: "reaper-engine" }, reject: false, timeout: 60_000, buffer: { stdout: false } });
    const reg = await new Promise<{ id: string; pid: number; sessionFile: string }>((resolve, reject) => {
      proc.stdout!.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { id: string; pid: number; sessionFile: string }));
      void proc.then((r) => reject(new Error(`session exited early: ${r.stderr}`)));
    });
    expect(isAlive(reg.pid)).toBe(true);
    // Steady state: the watchdog has taken the registration in.
    await expect.poll(async () => (await readFile(reg.sessionFile, "utf8").catch(() => "")).includes("container"), { timeout: 10_000 }).toBe(true);
    const killed = Date.now();
    proc.kill("SIGKILL");
    await proc;
    const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run") });
    await expect.poll(async () => (await engine.list({ all: true })).length, { timeout: 5_000, interval: 10 }).toBe(0);
    const took = Date.now() - killed;
    engine.dispose();
    console.log(`reaper removed a running container ${took} ms after SIGKILL`);
    expect(took).toBeLessThan(2_000);
    // The record goes last in the engine's remove, but the killed init may take a moment to die.
    await expect.poll(() => isAlive(reg.pid), { timeout: 2_000, interval: 10 }).toBe(false);
    expect(findLeaks({ match: reg.id, paths: [root] }).filter((l) => !l.startsWith("mount") || l.includes(reg.id))).toEqual([]);
  });
});
