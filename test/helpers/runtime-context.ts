import { chmod, mkdir } from "node:fs/promises";
import { execa } from "execa";
import { describe } from "vitest";
import { join } from "node:path";
import { OciRuntime } from "../../src/runtime/oci-runtime.js";
import { defaultSpec, type DefaultSpecOptions } from "../../src/runtime/default-spec.js";
import type { OciSpec } from "../../src/runtime/oci-spec.js";
import { busyboxRootfs } from "../fixtures/busybox.js";
import { useSuiteFixture } from "./suite-fixture.js";
import { makeTempDir, removeTempDir, uniqueId } from "./temp-dir.js";

/**
 * The runtimes the integration tests run against: `BERTH_TEST_RUNTIMES` (comma-separated names
 * or paths), else berth-runtime and runc. berth-runtime is the product; runc is the reference
 * that keeps the tests themselves honest.
 */
export function runtimesUnderTest(): string[] {
  const fromEnv = process.env.BERTH_TEST_RUNTIMES;
  if (fromEnv) return fromEnv.split(",").map((s) => s.trim()).filter(Boolean);
  return ["berth-runtime", "runc"];
}

/** One runtime, a private state root, a temp dir for bundles, and cleanup of what a test made. */
export interface RuntimeContext {
  runtime: OciRuntime;
  /** The runtime's name as given (`berth-runtime`, `runc`). */
  name: string;
  /** The suite's temp dir; everything the suite makes is under it. */
  dir: string;
  /** The shared read-only busybox rootfs. */
  rootfs: string;
  /** A prefix every id of this context has, for leak checks. */
  prefix: string;
  /** A fresh container id, deleted (forced) after the test. */
  id(): string;
  /**
   * A spec for the busybox rootfs: the default spec with a read-only root (the fixture is
   * shared) and a tmpfs on /tmp, adjusted by `mutate`.
   */
  spec(options?: DefaultSpecOptions, mutate?: (spec: OciSpec) => void): OciSpec;
  /**
   * A private copy of the busybox rootfs, readable by any uid (for user namespaces) and
   * writable without touching the shared fixture.
   */
  privateRootfs(): Promise<string>;
  /** Writes a bundle with `spec` in a fresh directory and returns its path. */
  bundle(spec: OciSpec): Promise<string>;
  /** Force-deletes the containers made since the last call. */
  cleanupContainers(): Promise<void>;
  /** Cleans containers and removes the temp dir. */
  dispose(): Promise<void>;
}

/** Makes a {@link RuntimeContext}; call `dispose` in afterAll and `cleanupContainers` in afterEach. */
export async function createRuntimeContext(name: string): Promise<RuntimeContext> {
  const dir = await makeTempDir(`berth-rt-${name.replace(/\W/g, "")}-`);
  // mkdtemp makes it 700; a container in a user namespace must reach its bundle and rootfs.
  await chmod(dir, 0o755);
  const root = join(dir, "state");
  const runtime = new OciRuntime({ runtime: name, root, timeout: 20_000 });
  const rootfs = await busyboxRootfs();
  const prefix = uniqueId("brt");
  let ids: string[] = [];
  let bundles = 0;
  let copies = 0;
  let sequence = 0;
  const context: RuntimeContext = {
    runtime,
    name,
    dir,
    rootfs,
    prefix,
    id() {
      const id = `${prefix}-${(sequence++).toString(36)}`;
      ids.push(id);
      return id;
    },
    spec(options = {}, mutate) {
      const spec = defaultSpec(rootfs, { readonlyRootfs: true, ...options });
      spec.mounts!.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=16m"] });
      mutate?.(spec);
      return spec;
    },
    async privateRootfs() {
      const copy = join(dir, `rootfs-${copies++}`);
      await execa("cp", ["-a", rootfs, copy], { timeout: 30_000 });
      return copy;
    },
    async bundle(spec) {
      const bundle = join(dir, `bundle-${bundles++}`);
      await mkdir(bundle, { recursive: true });
      await runtime.writeBundle(bundle, spec);
      return bundle;
    },
    async cleanupContainers() {
      const current = ids;
      ids = [];
      await Promise.all(current.map((id) => runtime.delete(id, { force: true }).catch(() => {})));
    },
    async dispose() {
      await context.cleanupContainers();
      await removeTempDir(dir);
    },
  };
  return context;
}

/**
 * A {@link RuntimeContext} for the calling suite: made in `beforeAll`, the containers of each
 * test deleted after it, disposed in `afterAll`. Read through, as {@link useSuiteFixture} says.
 */
export function useRuntimeContext(name: string): RuntimeContext {
  return useSuiteFixture(
    `the ${name} runtime context`,
    () => createRuntimeContext(name),
    (ctx) => ctx.dispose(),
    (ctx) => ctx.cleanupContainers(),
  );
}

/**
 * `describe` for a suite of berth-runtime's own commands and extensions: skipped, and named
 * so, when `BERTH_TEST_RUNTIMES` leaves berth-runtime out.
 */
export function describeBerthRuntime(fn: () => void): void {
  if (runtimesUnderTest().includes("berth-runtime")) describe("berth-runtime", fn);
  else describe.skip("berth-runtime (skipped: BERTH_TEST_RUNTIMES leaves it out)", fn);
}
