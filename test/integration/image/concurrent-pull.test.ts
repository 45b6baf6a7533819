import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ImageStore } from "../../../src/image/image-store.js";
import { OciLayoutTransport } from "../../../src/image/oci-layout.js";
import { pullImage } from "../../../src/registry/pull.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { makeLayout, makeTar } from "../../unit/image/fixtures.js";

const child = fileURLToPath(new URL("./pull-child.ts", import.meta.url));
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir("berth-concurrent-");
});
afterEach(async () => removeTempDir(dir));

function startChild(state: string, layout: string, ref: string, throttleMs = 0) {
  return execa(process.execPath, ["--import", "tsx", child, state, layout, ref, String(throttleMs)], {
    timeout: 120_000,
    reject: false,
    buffer: { stdout: true },
  });
}

async function layoutWithBigLayers(layout: string, sizes: number[]): Promise<void> {
  const layers = [];
  for (const [i, size] of sizes.entries()) layers.push(await makeTar([{ name: `data/${i}.bin`, content: randomBytes(size) }]));
  await makeLayout(layout, [{ layers, tag: "big", compress: "none" }]);
}

describeAsRoot("pulls from several processes", () => {
  it("two processes pulling one image into one store fetch each blob once and both succeed", async () => {
    const layout = join(dir, "layout");
    const state = join(dir, "state");
    await layoutWithBigLayers(layout, [8 << 20, 8 << 20, 8 << 20]);
    const [a, b] = await Promise.all([startChild(state, layout, "localhost/big:big", 1), startChild(state, layout, "localhost/big:big", 1)]);
    expect(a.exitCode, String(a.stderr)).toBe(0);
    expect(b.exitCode, String(b.stderr)).toBe(0);
    const ra = JSON.parse(String(a.stdout).trim().split("\n").pop()!);
    const rb = JSON.parse(String(b.stdout).trim().split("\n").pop()!);
    expect(ra.id).toBe(rb.id);
    const store = new ImageStore(state);
    const record = await store.get("localhost/big:big");
    for (const layer of record.layers) {
      expect((ra.blobReads[layer.digest] ?? 0) + (rb.blobReads[layer.digest] ?? 0)).toBe(1);
    }
    expect(await readdir(join(store.root, "ingest"))).toEqual([]);
  });

  it("a pull killed with SIGKILL midway leaves a store the next pull completes", async () => {
    const layout = join(dir, "layout");
    const state = join(dir, "state");
    await layoutWithBigLayers(layout, [16 << 20]);
    // 40 ms per 256 KiB chunk: about 2.5 s for the layer, so the kill surely lands midway.
    const proc = startChild(state, layout, "localhost/big:big", 40);
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on("data", (d: Buffer) => {
        if (d.toString().includes("progress")) resolve();
      });
      proc.then(() => reject(new Error("child ended before it was killed")), reject);
    });
    // "progress" comes as the first bytes are read, which may be just before the temporary
    // snapshot exists: wait for it, so the kill surely lands midway through the unpack.
    for (let i = 0; i < 500; i++) {
      const names = await readdir(join(state, "image", "snapshots")).catch(() => [] as string[]);
      if (names.some((n) => n.startsWith(".tmp-"))) break;
      await sleep(10);
    }
    proc.kill("SIGKILL");
    await proc;
    // The native unpacker it ran (if any) dies with it, so nothing writes on into the store.
    expect(await unpackersWritingUnder(state)).toEqual([]);
    const store = new ImageStore(state);
    // Left behind: a partial snapshot and a lock held by a dead process.
    expect((await readdir(join(store.root, "snapshots"))).some((n) => n.startsWith(".tmp-"))).toBe(true);
    // The partial blob may be gone already: the unpacker can see its input end (and remove
    // its blob file) before the kernel delivers its parent-death signal. Nothing is committed.
    expect(await readdir(join(store.root, "blobs", "sha256"))).toEqual([]);
    expect(await store.list()).toEqual([]);

    const record = await pullImage(store, new OciLayoutTransport(layout), "localhost/big:big");
    expect((await store.getRootfsLayers(record.id)).layerDirs).toHaveLength(1);
    expect((await readdir(join(store.root, "snapshots"))).filter((n) => n.startsWith("."))).toEqual([]);
    expect(await readdir(join(store.root, "ingest"))).toEqual([]);
    const layerDir = (await store.getRootfsLayers(record.id)).layerDirs[0]!;
    expect((await readFile(join(layerDir, "data/0.bin"))).length).toBe(16 << 20);
  });
});

/** Pids of `berth-runtime unpack` processes writing below `dir` (polled briefly: death is asynchronous). */
async function unpackersWritingUnder(dir: string): Promise<number[]> {
  let found: number[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    found = [];
    for (const name of await readdir("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
      const args = cmdline.split("\0");
      if (args.includes("unpack") && args.some((a) => a.startsWith(dir))) found.push(Number(name));
    }
    if (found.length === 0) return found;
    await sleep(20);
  }
  return found;
}
