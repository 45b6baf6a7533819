import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Image } from "../../../src/harness/image.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { useSuiteFixture } from "../../helpers/suite-fixture.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Builds the `berth` binary as `npm run build` does (tsup, dependencies external) into a temp
 * dir under node_modules/.cache: from there the bundle still finds the repo's native runtime
 * and node_modules by walking up, and a package.json beside it gives `version`. Running the
 * build rather than the sources through tsx makes each command start in a third of the time.
 */
async function buildCli(): Promise<{ cli: string; dir: string }> {
  const dir = await mkdtemp(join(repo, "node_modules", ".cache", "berth-cli-test-"));
  const { build } = await import("tsup");
  await build({ entry: { cli: join(repo, "src/cli/main.ts") }, format: ["esm"], target: "node20", outDir: join(dir, "dist"), config: false, silent: true, clean: false, dts: false });
  await copyFile(join(repo, "package.json"), join(dir, "package.json"));
  return { cli: join(dir, "dist", "cli.js"), dir };
}

/** What one `berth` command line gave back. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A private state root with a `busybox:test` image, and a `berth` that runs as a user would run it. */
export interface CliWorld {
  root: string;
  /** The built `berth` (run it with node) and the environment that points it at `root`. */
  cli: string;
  env: Record<string, string>;
  berth: (args: string[], options?: { input?: string | Buffer; cwd?: string; env?: Record<string, string> }) => Promise<CliResult>;
  cleanup: () => Promise<void>;
}

export async function cliWorld(prefix: string): Promise<CliWorld> {
  await mkdir(join(repo, "node_modules", ".cache"), { recursive: true });
  const { cli, dir } = await buildCli();
  const root = await makeTempDir(prefix);
  await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
  const env = { BERTH_ROOT: root, BERTH_RUN_ROOT: join(root, "run"), DOCKER_CONFIG: join(root, "docker-config") };
  const berth: CliWorld["berth"] = async (args, options = {}) => {
    const r = await execa(process.execPath, [cli, ...args], {
      reject: false,
      env: { ...env, ...options.env },
      cwd: options.cwd ?? root,
      // Every verb has its own time limits; this one only keeps a broken test from hanging.
      timeout: 60_000,
      stripFinalNewline: false,
      ...(options.input !== undefined ? { input: options.input } : { stdin: "ignore" }),
    });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const cleanup = async () => {
    const ids = (await berth(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await berth(["rm", "-f", "-v", ...ids]);
    await berth(["network", "prune", "-f"]);
    await execa("umount", [new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }).netnsDir], { reject: false });
    await removeTempDir(root);
    await rm(dir, { recursive: true, force: true });
  };
  return { root, cli, env, berth, cleanup };
}

/**
 * A {@link CliWorld} made in `beforeAll` and cleaned up in `afterAll` of the calling suite;
 * its fields are read through, so helpers outside the suite may hold it and use it in a test.
 */
export function useCliWorld(prefix: string): CliWorld {
  return useSuiteFixture("the CLI world", () => cliWorld(prefix), (world) => world.cleanup());
}
