// A smoke run of berth's runtime layer: makes the busybox fixture rootfs (cached under
// ~/.cache/berth/fixtures), writes a bundle and runs `echo hello` through the driver.
//   npx tsx examples/runtime-smoke.ts            # berth-runtime (BERTH_RUNTIME to override)
//   npx tsx examples/runtime-smoke.ts runc       # any runc-compatible runtime
// Needs root (namespaces, mounts and cgroups).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OciRuntime, defaultSpec, isBerthError } from "../src/index.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";

const runtime = new OciRuntime(process.argv[2] ? { runtime: process.argv[2] } : {});
const rootfs = await busyboxRootfs();
const bundle = await mkdtemp(join(tmpdir(), "berth-smoke-"));
try {
  await runtime.writeBundle(bundle, defaultSpec(rootfs, { args: ["echo", "hello"], readonlyRootfs: true }));
  const result = await runtime.run(`smoke-${process.pid}`, bundle, { timeout: 10_000 });
  process.stdout.write(result.stdout);
  console.error(`${runtime.kind} (${runtime.binary}): exit code ${result.exitCode}`);
  process.exitCode = result.exitCode;
} catch (error) {
  console.error(isBerthError(error) ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
} finally {
  await rm(bundle, { recursive: true, force: true });
}
