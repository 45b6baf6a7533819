import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NetworkStore } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { ensureFixtureImages, fixtureTags } from "../../fixtures/fixture-images.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const project = join(repo, "test/fixtures/jest-project");
let root: string;
let report: string;

describeAsRoot("jest globalSetup with defineJestGlobalSetup / defineJestGlobalTeardown", () => {
  beforeAll(async () => {
    root = await makeTempDir("berth-jest-root-");
    report = await makeTempDir("berth-jest-report-");
    await ensureFixtureImages({ stateRoot: root, images: ["redis"] });
  }, 600_000);

  afterAll(async () => {
    if (root) {
      await execa("umount", [new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }).netnsDir], { reject: false });
      await removeTempDir(root);
    }
    if (report) await removeTempDir(report);
  });

  it("`npx jest` on a jest project: the setup's Redis reaches the test files through process.env, and the teardown removes it", async () => {
    const result = await execa("npx", ["jest", "--config", join(project, "jest.config.cjs"), "--ci"], {
      cwd: repo,
      env: {
        // jest 29 loads an .mjs globalSetup with require(), which Node 20.19+ turns into
        // require(esm) and which then fails on top-level await; off, jest falls back to import().
        NODE_OPTIONS: "--no-experimental-require-module",
        BERTH_ROOT: root,
        BERTH_SESSION_ID: "",
        REDIS_IMAGE: fixtureTags.redis,
        REPORT_DIR: report,
        JEST_CACHE_DIR: join(report, "jest-cache"),
      },
      extendEnv: true,
      reject: false,
      all: true,
      timeout: 180_000,
    });
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(String(result.all)).toMatch(/Tests:\s+2 passed, 2 total/);
    const setup = JSON.parse(readFileSync(join(report, "setup.json"), "utf8")) as { container: string; sessionId: string };
    expect(setup.sessionId).toMatch(/^run-/);
    const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), pull: async () => {} });
    try {
      expect((await engine.list({ all: true })).map((c) => c.Names)).toEqual([]);
    } finally {
      engine.dispose();
    }
    // The watchdog is done when its session's directory is gone.
    await expect.poll(() => readdirSync(join(root, "run", "sessions")), { timeout: 5_000 }).toEqual([]);
  });
});
