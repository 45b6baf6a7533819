// Rootless mode (docs/rootless.md), from a warm store: as an unprivileged user made here (with
// its own /etc/subuid and /etc/subgid ranges, removed after), the engine's create + start +
// exit + remove of a busybox `true` on network `none`, and GenericContainer's start (busybox
// httpd, one published port, ready by listening ports) + stop on slirp4netns. Beside them,
// the same two as root (the second on the default bridge). No target: the figures show what
// the rootless path (rootfs helper, user namespaces, slirp4netns) costs. Needs root,
// util-linux, uidmap and slirp4netns; prints why when it cannot run.
import { chmodSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { createRootlessUser, shareDevice, type RootlessUser } from "../test/helpers/rootless-user.js";
import { makeTempDir, removeTempDir } from "../test/helpers/temp-dir.js";
import { measure } from "./rootless/rootless-worker.js";

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

export default async function rootlessBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (it makes an unprivileged user)");
    return;
  }
  const repo = fileURLToPath(new URL("..", import.meta.url));
  const user = `berthbench${process.pid % 100000}`;
  const dir = await makeTempDir("berth-rootless-bench-");
  chmodSync(dir, 0o755);
  let account: RootlessUser | undefined;
  try {
    account = await createRootlessUser(user);
    const rootfs = await busyboxRootfs({ cacheDir: join(dir, "fixtures") });
    await execa("chmod", ["-R", "a+rX", join(dir, "fixtures")]);
    console.log(`  load average before: ${load()}`);
    // fuse-overlayfs opens /dev/fuse as the user.
    shareDevice("/dev/fuse");
    const run = await account.run(join(repo, "bench/rootless/rootless-worker.ts"), [rootfs], { timeout: 600_000, env: { BENCH_RUNS: process.env.BENCH_RUNS ?? "10" } });
    const rootless = run.stdout.split("\n").find((l) => l.startsWith("{"));
    if (!rootless) throw new Error(`the rootless worker failed (exit ${run.exitCode}): ${run.stderr.slice(-2000)}`);
    const asUser = JSON.parse(rootless) as Record<string, string>;
    const asRoot = await measure(rootfs, join(dir, "root-state"));
    for (const key of Object.keys(asUser)) {
      console.log(`  ${key}:\n    rootless ${asUser[key]}\n    root     ${asRoot[key] ?? "(rootless only)"}`);
    }
    console.log(`  load average after: ${load()}`);
  } finally {
    // The worker removes its containers; anything of the user's still running is killed, by pid.
    await account?.remove();
    await removeTempDir(dir);
  }
}
