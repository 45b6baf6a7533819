import { execaNode, type ResultPromise } from "execa";
import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { reapStaleSessions } from "../../../src/harness/reaper/reap.js";
import { VolumeStore } from "../../../src/volume/volume-store.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { isAlive } from "./process-liveness.js";

const child = fileURLToPath(new URL("./fixtures/reaper-child.ts", import.meta.url));

interface Registered {
  volume: string;
  kept: string;
  dir: string;
  pid: number;
  watchdog: number;
  sessionFile: string;
}

let root: string;
let volumes: VolumeStore;
const timings: string[] = [];

beforeAll(async () => {
  root = await makeTempDir("berth-reaper-");
  volumes = new VolumeStore(join(root, "volumes"));
});

afterAll(async () => {
  if (timings.length) console.log(`reaper cleanup after session end: ${timings.join(", ")}`);
  // Every watchdog removes its files and its session's directory when it is done.
  for (let i = 0; i < 500 && readdirSync(join(root, "run", "sessions")).length > 0; i++) await sleep(20);
  expect(readdirSync(join(root, "run", "sessions"))).toEqual([]);
  await removeTempDir(root);
});

function startSession(mode: string, env: Record<string, string> = {}): { proc: ResultPromise; registered: Promise<Registered> } {
  const proc = execaNode(child, [mode], {
    nodeOptions: ["--import", "tsx"],
    env: { BERTH_ROOT: root, BERTH_SESSION_ID: `reaper-test-${mode}`, ...env },
    reject: false,
    timeout: 30_000,
    buffer: { stdout: false },
  });
  const registered = new Promise<Registered>((resolve, reject) => {
    proc.stdout!.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as Registered));
    void proc.then((r) => reject(new Error(`session exited before registering: ${r.stderr}`)));
  });
  return { proc, registered };
}

/** Polls until everything registered is gone; returns how long it took after `since`. */
async function goneWithin(reg: Registered, since: number, limit = 15_000): Promise<number> {
  for (;;) {
    const remaining = [
      (await volumes.exists(reg.volume)) && `volume ${reg.volume}`,
      existsSync(reg.dir) && `directory ${reg.dir}`,
      isAlive(reg.pid) && `process ${reg.pid}`,
    ].filter(Boolean);
    if (remaining.length === 0) return Date.now() - since;
    if (Date.now() - since > limit) throw new Error(`still there ${limit} ms after the session ended: ${remaining.join(", ")}`);
    await sleep(10);
  }
}

/** Resolves once the watchdog has taken every registration in (it has written them to its file). */
async function watchdogReady(reg: Registered): Promise<void> {
  await expect.poll(async () => {
    const file = JSON.parse(await readFile(reg.sessionFile, "utf8").catch(() => "{}")) as { resources?: unknown[] };
    return file.resources?.length;
  }, { timeout: 10_000 }).toBe(3);
}

async function expectUnregisteredKept(reg: Registered): Promise<void> {
  expect(await volumes.exists(reg.kept)).toBe(true);
  await volumes.remove(reg.kept, { force: true });
}

describeAsRoot("session reaper", () => {
  it.each(["SIGKILL", "SIGTERM", "SIGINT"] as const)("removes a volume, a directory and a process within 2 s of the session's %s", async (signal) => {
    const { proc, registered } = startSession("wait");
    const reg = await registered;
    expect(isAlive(reg.pid)).toBe(true);
    expect(await volumes.exists(reg.volume)).toBe(true);
    await watchdogReady(reg);
    const killed = Date.now();
    proc.kill(signal);
    await proc;
    const took = await goneWithin(reg, killed);
    timings.push(`${signal} ${took} ms`);
    expect(took).toBeLessThan(2_000);
    await expectUnregisteredKept(reg);
    // A clean reap removes the session file; the watchdog then exits.
    await expect.poll(() => existsSync(reg.sessionFile) || isAlive(reg.watchdog), { timeout: 5_000 }).toBe(false);
  });

  it("removes everything when the session is SIGKILLed while its watchdog is still starting", async () => {
    const { proc, registered } = startSession("wait");
    const reg = await registered;
    const killed = Date.now();
    proc.kill("SIGKILL");
    await proc;
    timings.push(`SIGKILL at once ${await goneWithin(reg, killed)} ms`);
    await expectUnregisteredKept(reg);
  });

  it.each(["exit", "throw", "return"])("removes everything when the session ends by %s", async (mode) => {
    const { proc, registered } = startSession(mode);
    const reg = await registered;
    const result = await proc;
    expect(result.exitCode).toBe(mode === "throw" ? 1 : 0);
    const took = await goneWithin(reg, Date.now());
    timings.push(`${mode} ${took} ms`);
    await expectUnregisteredKept(reg);
  });

  it("writes the session file under runRoot()/sessions/<session-id>/", async () => {
    const { proc, registered } = startSession("wait");
    const reg = await registered;
    expect(reg.sessionFile).toBe(join(root, "run", "sessions", "reaper-test-wait", `${proc.pid}.json`));
    await expect.poll(async () => {
      const file = JSON.parse(await readFile(reg.sessionFile, "utf8").catch(() => "{}")) as { resources?: { kind: string; id: string }[] };
      return file.resources?.map((r) => `${r.kind} ${r.id}`).sort();
    }, { timeout: 5_000 }).toEqual([`directory ${reg.dir}`, `process ${reg.pid}`, `volume ${reg.volume}`].sort());
    proc.kill("SIGKILL");
    await proc;
    await goneWithin(reg, Date.now());
    await expectUnregisteredKept(reg);
  });

  it("registers nothing and spawns no watchdog with BERTH_REAPER_DISABLED=1", async () => {
    const { proc, registered } = startSession("wait", { BERTH_REAPER_DISABLED: "1" });
    const reg = await registered;
    expect(reg.watchdog).toBeUndefined();
    proc.kill("SIGKILL");
    await proc;
    await sleep(300);
    expect(await volumes.exists(reg.volume)).toBe(true);
    expect(isAlive(reg.pid)).toBe(true);
    process.kill(reg.pid, "SIGKILL");
    await volumes.remove(reg.volume, { force: true });
    await volumes.remove(reg.kept, { force: true });
    await removeTempDir(reg.dir);
  });

  it("reapStaleSessions finishes the work of a watchdog that was killed itself", async () => {
    const { proc, registered } = startSession("wait");
    const reg = await registered;
    await expect.poll(() => existsSync(reg.sessionFile), { timeout: 5_000 }).toBe(true);
    process.kill(reg.watchdog, "SIGKILL");
    await expect.poll(() => isAlive(reg.watchdog), { timeout: 5_000 }).toBe(false);
    proc.kill("SIGKILL");
    await proc;
    expect(await volumes.exists(reg.volume)).toBe(true);
    const result = await reapStaleSessions({ dir: join(root, "run", "sessions") });
    expect(result.failures).toEqual([]);
    expect(result.sessions).toContain(reg.sessionFile);
    await goneWithin(reg, Date.now());
    expect(existsSync(reg.sessionFile)).toBe(false);
    await expectUnregisteredKept(reg);
  });
});
