// Pull and unpack of a large image from a local docker-registry: berth against `skopeo copy`
// + `umoci raw unpack` of the same image, alternating runs, each into a fresh directory.
// The image is a Debian bookworm root filesystem (mmdebstrap) with PostgreSQL and a compiler
// toolchain, made once with Image.fromRootfs and cached under ~/.cache/berth/bench/; the
// registry is started fresh and the image pushed to it on every run.
// Targets (issue 3): berth ≤ 0.6× skopeo+umoci; pull of a present image ≤ 50 ms.
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { homedir, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { Image } from "../src/harness/image.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { nativeUnpacker } from "../src/image/native-unpacker.js";
import { startRegistry } from "../test/helpers/registry-server.js";
import { quantile, summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const packages = "postgresql,postgresql-contrib,build-essential,python3";
const cacheDir = join(homedir(), ".cache", "berth", "bench");
const rootfsTar = join(cacheDir, "pg-rootfs-v1.tar");
const storeRoot = join(cacheDir, "pg-store-v1");
const tag = "bench/pg:v1";

/** The rootfs tar, made with mmdebstrap on first use (minutes; needs the Debian archive). */
async function rootfsSource(): Promise<{ source: string; label: string }> {
  if (existsSync(rootfsTar)) return { source: rootfsTar, label: `Debian bookworm + ${packages}` };
  await mkdir(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `.tmp-pg-rootfs-${process.pid}.tar`);
  console.log(`  building ${rootfsTar} with mmdebstrap (once)…`);
  const built = await execa(
    "mmdebstrap",
    ["--variant=apt", `--include=${packages}`, "bookworm", tmp, "/etc/apt/sources.list.d/debian.sources"],
    { reject: false, timeout: 30 * 60_000 },
  );
  if (built.exitCode === 0) {
    await rename(tmp, rootfsTar);
    return { source: rootfsTar, label: `Debian bookworm + ${packages}` };
  }
  await rm(tmp, { force: true });
  console.log(`  mmdebstrap failed (${built.stderr.split("\n").slice(-1)[0]}); benching the busybox rootfs instead`);
  return { source: await busyboxRootfs(), label: "busybox (fallback: mmdebstrap failed)" };
}

export default async function pullBench(): Promise<void> {
  const { source, label } = await rootfsSource();
  const image = existsSync(join(storeRoot, "image", "index.json"))
    ? await Image.get(tag, { root: storeRoot }).catch(() => undefined)
    : undefined;
  const made = image ?? (await Image.fromRootfs(source, { root: storeRoot, tag, config: { Cmd: ["bash"] } }));
  const info = await made.inspect();
  const compressed = info.layers.reduce((a, l) => a + l.size, 0);
  console.log(`image: ${label}: ${(compressed / 1e6).toFixed(0)} MB compressed, ${(info.size / 1e6).toFixed(0)} MB unpacked, ${info.layers.length} layer(s)`);

  const unpacker = await nativeUnpacker();
  console.log(`extractor: ${unpacker ? `native (${unpacker} unpack)` : "JavaScript (layer-extractor.ts)"}; BERTH_UNPACKER=js selects the JavaScript one`);
  console.log(`load average before: ${loadAverage()}`);
  await removeStaleWorkDirs();
  const registry = await startRegistry({ mode: "plain" });
  const work = join(tmpdir(), `berth-bench-pull-${process.pid}`);
  try {
    const ref = `${registry.host}/${tag}`;
    await made.push(ref);
    const berth: number[] = [];
    const peer: number[] = [];
    for (let i = 0; i < runs; i++) {
      const root = join(work, `berth-${i}`);
      berth.push(await time(() => Image.pull(ref, { root })));
      await rm(root, { recursive: true, force: true });

      const layout = join(work, `oci-${i}`);
      const bundle = join(work, `umoci-${i}`);
      peer.push(
        await time(async () => {
          await execa("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${layout}:pg`]);
          await execa("umoci", ["raw", "unpack", "--image", `${layout}:pg`, bundle]);
        }),
      );
      await rm(layout, { recursive: true, force: true });
      await rm(bundle, { recursive: true, force: true });
    }
    console.log(`pull + unpack, ${runs} runs each, alternating`);
    console.log(`  berth              ${summary(berth)}`);
    console.log(`  skopeo + umoci     ${summary(peer)}`);
    const ratio = quantile(berth, 0.5) / quantile(peer, 0.5);
    console.log(`  ratio (median)     ${ratio.toFixed(2)}×  (target ≤ 0.60×: ${ratio <= 0.6 ? "met" : "NOT met"})`);

    const root = join(work, "present");
    await Image.pull(ref, { root });
    const present: number[] = [];
    for (let i = 0; i < 30; i++) present.push(await time(() => Image.pull(ref, { root })));
    const median = quantile(present, 0.5);
    console.log(`pull of a present image: ${summary(present)}  (target ≤ 50 ms: ${median <= 50 ? "met" : "NOT met"})`);
    console.log(`load average after: ${loadAverage()} (2 cores shared with other work: compare ratios, not times)`);
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Work dirs of earlier runs that were killed (close to 1 GB each). */
async function removeStaleWorkDirs(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    const match = /^berth-bench-pull-(\d+)$/.exec(name);
    if (!match) continue;
    try {
      process.kill(Number(match[1]), 0);
    } catch {
      await rm(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}
