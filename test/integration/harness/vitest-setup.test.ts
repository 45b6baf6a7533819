import { execa } from "execa";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { isAlive } from "./process-liveness.js";

const project = fileURLToPath(new URL("./fixtures/vitest-project", import.meta.url));
const vitestBin = fileURLToPath(new URL("../../../node_modules/vitest/vitest.mjs", import.meta.url));
let root: string;
let report: string;
let tmp: string;

beforeEach(async () => {
  root = await makeTempDir("berth-vitest-root-");
  report = await makeTempDir("berth-vitest-report-");
  tmp = await makeTempDir("berth-vitest-tmp-");
});
afterEach(async () => {
  await removeTempDir(root);
  await removeTempDir(report);
  // vitest keeps transformed modules in a directory of its own under TMPDIR and removes it
  // when it closes: a run SIGKILLed below cannot, and left one in /tmp per test run.
  await removeTempDir(tmp);
});

function runVitest(env: Record<string, string> = {}) {
  return execa(process.execPath, [vitestBin, "run", "--root", project, "--reporter=dot"], {
    env: { BERTH_ROOT: root, REPORT_DIR: report, BERTH_SESSION_ID: "", TMPDIR: tmp, ...env },
    extendEnv: true,
    reject: false,
    timeout: 60_000,
  });
}

describe("berth/vitest defineBerthSetup", () => {
  it("provides the setup's values to tests, shares the session id with workers and tears down", async () => {
    const result = await runVitest();
    expect(result.exitCode, String(result.stdout) + String(result.stderr)).toBe(0);
    const setup = JSON.parse(readFileSync(join(report, "setup.json"), "utf8")) as { pid: number; dir: string; sessionId: string };
    const workers = readdirSync(report).filter((f) => f.startsWith("worker-"));
    expect(workers).toHaveLength(1);
    const worker = JSON.parse(readFileSync(join(report, workers[0]!), "utf8")) as { sessionId: string; dir: string };
    expect(worker.sessionId).toBe(setup.sessionId);
    expect(worker.dir).toBe(setup.dir);
    expect(isAlive(setup.pid)).toBe(false);
    expect(existsSync(setup.dir)).toBe(false);
    await expect.poll(() => readdirSync(join(root, "run", "sessions")), { timeout: 5_000 }).toEqual([]);
  });

  it("leaves nothing behind when the vitest run is SIGKILLed mid-test", async () => {
    const run = runVitest({ HANG: "1" });
    for (let i = 0; i < 600 && !readdirSync(report).some((f) => f.startsWith("worker-")); i++) await sleep(50);
    const setup = JSON.parse(readFileSync(join(report, "setup.json"), "utf8")) as { pid: number; dir: string };
    expect(isAlive(setup.pid)).toBe(true);
    run.kill("SIGKILL");
    await run;
    await expect.poll(() => isAlive(setup.pid) || existsSync(setup.dir), { timeout: 5_000, interval: 20 }).toBe(false);
    // The watchdog is done when its session's directory is gone.
    await expect.poll(() => readdirSync(join(root, "run", "sessions")), { timeout: 5_000 }).toEqual([]);
  });
});
