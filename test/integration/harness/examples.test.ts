// Runs every example under examples/ as a user would (`npx tsx examples/<name>.ts`, `npx vitest
// run --root examples/vitest-global-setup`), each against a fresh state root holding the
// fixture images, so that they cannot rot. Each must succeed, print what it promises and
// leave no container and no user network behind.
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
let root: string;

async function leftovers(): Promise<{ containers: string[]; networks: string[] }> {
  const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), pull: async () => {} });
  try {
    const containers = (await engine.list({ all: true })).flatMap((c) => c.Names);
    const networks = (await new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }).list()).map((n) => n.name).filter((n) => n !== "bridge");
    return { containers, networks };
  } finally {
    engine.dispose();
  }
}

function run(command: string, args: string[], env: Record<string, string> = {}) {
  return execa(command, args, { cwd: repo, env: { BERTH_ROOT: root, BERTH_SESSION_ID: "", ...env }, extendEnv: true, reject: false, timeout: 240_000 });
}

describeAsRoot("examples/ run as documented", () => {
  beforeAll(async () => {
    root = await makeTempDir("berth-examples-");
    await ensureFixtureImages({ stateRoot: root });
  }, 600_000);

  afterAll(async () => {
    if (!root) return;
    await execa("umount", [new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }).netnsDir], { reject: false });
    await removeTempDir(root);
  });

  const cases: [string, RegExp][] = [
    ["generic-container", /hello from a berth container/],
    ["postgres", /after restore \(\d+ ms\): \[ 'apple' \]/],
    ["redis", /client GET: hello from berth\nredis-cli GET: hello from berth/],
    ["dockerfile", /hello from an image built from a Dockerfile\nbuilt at \d{4}-\d\d-\d\d by berth's builder/],
    ["network-alias", /hello over the network, by alias/],
  ];
  for (const [name, expected] of cases) {
    it(`npx tsx examples/${name}.ts`, async () => {
      const result = await run("npx", ["tsx", `examples/${name}.ts`]);
      expect(result.exitCode, `${String(result.stdout)}\n${String(result.stderr)}`).toBe(0);
      expect(String(result.stdout)).toMatch(expected);
      expect(await leftovers()).toEqual({ containers: [], networks: [] });
    });
  }

  it("npx vitest run --root examples/vitest-global-setup (Redis from the global setup, in two test files)", async () => {
    const result = await run("npx", ["vitest", "run", "--root", "examples/vitest-global-setup"], { REDIS_IMAGE: fixtureTags.redis, VITE_CACHE_DIR: join(root, "vite-cache") });
    expect(result.exitCode, `${String(result.stdout)}\n${String(result.stderr)}`).toBe(0);
    expect(String(result.stdout)).toMatch(/Tests\s+.*2 passed/);
    expect(await leftovers()).toEqual({ containers: [], networks: [] });
  });
});
