// What the `.wh.` file form of whiteouts costs an unprivileged unpack, against the device form
// in the same run: a layer of 200 files and 200 deletions of lower files, unpacked with each
// extractor into a directory on ext4 (0/0 devices: the path every ordinary host takes) and
// into one on overlayfs (the kernel refuses the device: `.wh.` files), plus the same layer
// without its deletions. As root (overlayfs refuses the device to root too); iterations are
// interleaved so the machine's load falls on every case alike.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { execa } from "execa";
import tar from "tar-stream";
import { unpackLayer } from "../src/image/layer-unpack.js";
import { summary, time } from "./stats.js";

const files = 200;
const deletions = 200;
const rounds = 25;

async function layerTar(withDeletions: boolean): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on("end", () => resolve()));
  pack.entry({ name: "etc/", type: "directory", mode: 0o755 });
  for (let i = 0; i < files; i++) pack.entry({ name: `etc/file-${i}`, mode: 0o644 }, `content ${i}\n`);
  if (withDeletions) for (let i = 0; i < deletions; i++) pack.entry({ name: `etc/.wh.gone-${i}`, mode: 0o644 }, "");
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export default async function whiteoutsBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (it mounts an overlay)");
    return;
  }
  const root = await mkdtemp(join(tmpdir(), "berth-bench-wh-"));
  const ovl = join(root, "ovl");
  try {
    for (const d of ["l", "u", "w", "m"]) await mkdir(join(ovl, d), { recursive: true });
    await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${ovl}/l,upperdir=${ovl}/u,workdir=${ovl}/w`, `${ovl}/m`]);
    const layers = { deletions: await layerTar(true), none: await layerTar(false) };
    const cases = [
      { name: "ext4, deletions as devices", at: join(root, "plain"), layer: layers.deletions },
      { name: "overlayfs, deletions as .wh. files", at: join(ovl, "m"), layer: layers.deletions },
      { name: "ext4, no deletions (baseline)", at: join(root, "plain"), layer: layers.none },
    ];
    const samples = new Map<string, number[]>();
    console.log(`  load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${cpus().length} CPUs)`);
    let n = 0;
    for (let round = 0; round < rounds; round++) {
      for (const extractor of ["native", "js"] as const) {
        for (const c of cases) {
          const dest = join(c.at, `u${n++}`);
          const ms = await time(() => unpackLayer(Readable.from([c.layer]), { dest, compression: "none", privileged: false, extractor }));
          const key = `${extractor.padEnd(6)} ${c.name}`;
          samples.set(key, [...(samples.get(key) ?? []), ms]);
          await rm(dest, { recursive: true, force: true });
        }
      }
    }
    for (const [key, s] of samples) console.log(`  ${key.padEnd(45)} ${summary(s)}`);
    console.log(`  load average after:  ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  } finally {
    await execa("umount", [join(ovl, "m")], { reject: false });
    await rm(root, { recursive: true, force: true });
  }
}
