import { existsSync } from "node:fs";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { ImageStore } from "../../../src/image/image-store.js";
import { OciLayoutTransport } from "../../../src/image/oci-layout.js";
import { pullImage, type PullProgress } from "../../../src/registry/pull.js";
import { pushImage } from "../../../src/registry/push.js";
import type { RegistryTransport } from "../../../src/registry/types.js";
import { makeLayout, makeTar, sha256, tempDirPerTest, ustarHeader } from "./fixtures.js";

let layoutDir: string;
let store: ImageStore;
const tmp = tempDirPerTest("berth-pull-", (dir) => {
  layoutDir = join(tmp.path, "layout");
  store = new ImageStore(join(tmp.path, "state"), { layerLockTimeout: 10_000 });
});

/** Counts what a pull asks of its transport (the layout transport is real; this only counts). */
function counting(inner: RegistryTransport) {
  const calls = { manifests: 0, blobs: 0 };
  const transport: RegistryTransport = {
    getManifest: (r, t) => (calls.manifests++, inner.getManifest(r, t)),
    getBlob: (r, d, o) => (calls.blobs++, inner.getBlob(r, d, o)),
    hasBlob: (r, d) => inner.hasBlob(r, d),
    pushBlob: (r, d, s, o, opt) => inner.pushBlob(r, d, s, o, opt),
    putManifest: (r, t, m, b) => inner.putManifest(r, t, m, b),
  };
  return { transport, calls };
}

async function twoLayers() {
  return [
    await makeTar([
      { name: "etc", type: "directory", mode: 0o755 },
      { name: "etc/os-release", content: "ID=test\n" },
    ]),
    await makeTar([{ name: "app/run.sh", content: "echo hi\n", mode: 0o755 }]),
  ];
}

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isBerthError(error) ? error.code : error;
}

/** Nothing half-made: no image, no snapshot, no temporaries. */
async function expectNothingCommitted(): Promise<void> {
  expect(await store.list()).toEqual([]);
  const snaps = await readdir(join(store.root, "snapshots")).catch(() => []);
  expect(snaps).toEqual([]);
  const ingest = await readdir(join(store.root, "ingest")).catch(() => []);
  expect(ingest).toEqual([]);
}

describe("pull from an OCI layout", () => {
  it("pulls, unpacks every layer, tags last, and a second pull makes no request", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const { transport, calls } = counting(new OciLayoutTransport(layoutDir));
    const events: PullProgress[] = [];
    const record = await pullImage(store, transport, "localhost:5000/app:v1", { onProgress: (e) => events.push(e) });
    expect(record.layers).toHaveLength(2);
    expect(record.repoDigests[0]).toMatch(/^localhost:5000\/app@sha256:/);
    const rootfs = await store.getRootfsLayers("localhost:5000/app:v1");
    expect(await readFile(join(rootfs.layerDirs[0]!, "etc/os-release"), "utf8")).toBe("ID=test\n");
    expect(await readFile(join(rootfs.layerDirs[1]!, "app/run.sh"), "utf8")).toBe("echo hi\n");
    expect(events.filter((e) => e.status === "done")).toHaveLength(2);
    expect(calls).toEqual({ manifests: 1, blobs: 3 });

    const again = await pullImage(store, transport, "localhost:5000/app:v1");
    expect(again.id).toBe(record.id);
    expect(calls).toEqual({ manifests: 1, blobs: 3 });

    await pullImage(store, transport, "localhost:5000/app:v1", { policy: "always" });
    expect(calls).toEqual({ manifests: 2, blobs: 3 });
  });

  it("keeps the compressed layer blobs byte for byte", async () => {
    const layers = await twoLayers();
    await makeLayout(layoutDir, [{ layers, tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    for (const layer of record.layers) {
      const bytes = await readFile(store.blobPath(layer.digest));
      expect(sha256(bytes)).toBe(layer.digest);
    }
  });

  it("keeps uncompressed layer blobs byte for byte too, and unpacks them", async () => {
    const layers = await twoLayers();
    await makeLayout(layoutDir, [{ layers, compress: "none", tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    for (const [i, layer] of record.layers.entries()) {
      expect((await readFile(store.blobPath(layer.digest))).equals(layers[i]!)).toBe(true);
    }
    const rootfs = await store.getRootfsLayers("localhost/app:v1");
    expect(await readFile(join(rootfs.layerDirs[1]!, "app/run.sh"), "utf8")).toBe("echo hi\n");
  });

  it("selects the host platform from an index, or the one asked for", async () => {
    const amd = [await makeTar([{ name: "arch", content: "amd64" }])];
    const arm = [await makeTar([{ name: "arch", content: "arm64" }])];
    await makeLayout(
      layoutDir,
      [
        { layers: arm, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        { layers: amd, platform: { os: "linux", architecture: "amd64" } },
      ],
      { asIndex: "multi" },
    );
    const transport = new OciLayoutTransport(layoutDir);
    const host = await store.getRootfsLayers((await pullImage(store, transport, "localhost/m:multi")).id);
    expect(await readFile(join(host.layerDirs[0]!, "arch"), "utf8")).toBe(process.arch === "arm64" ? "arm64" : "amd64");
    const other = await pullImage(store, transport, "localhost/m:multi", { platform: "linux/arm64/v8", policy: "always" });
    const rootfs = await store.getRootfsLayers(other.id);
    expect(await readFile(join(rootfs.layerDirs[0]!, "arch"), "utf8")).toBe("arm64");
    expect(await codeOf(pullImage(store, transport, "localhost/m:multi", { platform: "linux/s390x", policy: "always" }))).toBe(
      "BERTH_PLATFORM_NOT_FOUND",
    );
  });

  it("fails on a missing tag and commits nothing", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:nope"))).toBe("BERTH_REGISTRY_NOT_FOUND");
    await expectNothingCommitted();
  });

  it("refuses an unknown layer media type and commits nothing", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1", layerMediaType: "application/x-weird" }]);
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1"))).toBe("BERTH_MEDIA_TYPE_UNSUPPORTED");
    await expectNothingCommitted();
  });

  it("fails with BERTH_DIGEST_MISMATCH on a tampered layer and leaves no partial snapshot", async () => {
    const layers = await twoLayers();
    await makeLayout(layoutDir, [{ layers, tag: "v1" }]);
    const bad = gzipSync(layers[1]!);
    const path = join(layoutDir, "blobs", "sha256", sha256(bad).slice(7));
    const tampered = gzipSync(await makeTar([{ name: "app/run.sh", content: "evil\n", mode: 0o755 }]));
    await writeFile(path, Buffer.concat([tampered, Buffer.alloc(Math.max(0, bad.length - tampered.length))]).subarray(0, bad.length));
    const code = await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1"));
    expect(["BERTH_DIGEST_MISMATCH", "BERTH_LAYER_INVALID"]).toContain(code);
    expect(await store.list()).toEqual([]);
    const snaps = await readdir(join(store.root, "snapshots"));
    expect(snaps.filter((s) => s.startsWith("."))).toEqual([]);
    expect(await readdir(join(store.root, "ingest"))).toEqual([]);
  });

  it("fails with BERTH_DOWNLOAD_TRUNCATED on a short blob", async () => {
    const layers = await twoLayers();
    await makeLayout(layoutDir, [{ layers, tag: "v1" }]);
    const blob = gzipSync(layers[0]!);
    const path = join(layoutDir, "blobs", "sha256", sha256(blob).slice(7));
    await writeFile(path, blob.subarray(0, blob.length - 10));
    const code = await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1", { concurrency: 1 }));
    expect(["BERTH_DOWNLOAD_TRUNCATED", "BERTH_LAYER_INVALID"]).toContain(code);
    await expectNothingCommitted();
  });

  it("fails with BERTH_LAYER_INVALID on a corrupt gzip layer (digest honest)", async () => {
    const gz = gzipSync(await makeTar([{ name: "f", content: "z".repeat(5000) }]));
    gz.fill(0x42, 30, 80);
    // A layer whose blob digest is right but whose gzip is broken.
    await makeLayout(layoutDir, [{ layers: [gz], compress: "none", layerMediaType: "application/vnd.oci.image.layer.v1.tar+gzip", tag: "v1" }]);
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1"))).toBe("BERTH_LAYER_INVALID");
    await expectNothingCommitted();
  });

  it("fails with BERTH_DIGEST_MISMATCH when a manifest's bytes differ from its digest", async () => {
    const [digest] = await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const path = join(layoutDir, "blobs", "sha256", digest!.slice(7));
    const manifest = JSON.parse(await readFile(path, "utf8"));
    manifest.annotations = { tampered: "yes" };
    await writeFile(path, JSON.stringify(manifest));
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), `localhost/app@${digest}`))).toBe("BERTH_DIGEST_MISMATCH");
    await expectNothingCommitted();
  });

  it("fails with BERTH_DIGEST_MISMATCH when the config's bytes differ from its digest", async () => {
    const [digest] = await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const manifest = JSON.parse(await readFile(join(layoutDir, "blobs", "sha256", digest!.slice(7)), "utf8"));
    const configPath = join(layoutDir, "blobs", "sha256", manifest.config.digest.slice(7));
    const config = await readFile(configPath, "utf8");
    await writeFile(configPath, config.replace('"amd64"', '"AMD64"'));
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1"))).toBe("BERTH_DIGEST_MISMATCH");
    await expectNothingCommitted();
  });

  it("refuses a malicious layer (path traversal) and commits nothing", async () => {
    const evil = await makeTar([{ name: "../../escape", content: "x" }]);
    await makeLayout(layoutDir, [{ layers: [evil], tag: "v1" }]);
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1"))).toBe("BERTH_PATH_ESCAPE");
    await expectNothingCommitted();
    await expect(stat(join(tmp.path, "escape"))).rejects.toThrow();
  });

  it.each([
    ["a hard link that climbs out", [{ name: "h", type: "link" as const, linkname: "../../../etc/passwd" }], "BERTH_PATH_ESCAPE"],
    [
      "a hard link through a symlink that points outside",
      [
        { name: "s", type: "symlink" as const, linkname: "/" },
        { name: "h", type: "link" as const, linkname: "s/etc/passwd" },
      ],
      "BERTH_LAYER_INVALID",
    ],
    [
      "a file under a directory that a later entry turned into a file",
      [
        { name: "d/f", content: "x" },
        { name: "d", content: "now a file" },
        { name: "d/g", content: "y" },
      ],
      "BERTH_LAYER_INVALID",
    ],
  ])("refuses a malicious layer (%s) and commits nothing", async (_what, entries, code) => {
    await makeLayout(layoutDir, [{ layers: [await makeTar(entries)], tag: "v1" }]);
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1"))).toBe(code);
    await expectNothingCommitted();
  });

  it("refuses a layer with a huge PAX header (BERTH_LAYER_INVALID) and commits nothing", async () => {
    // A 64 MiB PAX record, far over the 1 MiB cap: refused on its header block alone.
    const header = ustarHeader("PaxHeaders/huge", 64 * 1024 * 1024, "x");
    const layer = Buffer.concat([header, Buffer.alloc(64 * 1024 * 1024, 0x61), Buffer.alloc(1024)]);
    await makeLayout(layoutDir, [{ layers: [layer], tag: "v1" }]);
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1"))).toBe("BERTH_LAYER_INVALID");
    await expectNothingCommitted();
  });

  it("confines a symlink escape: the layer is committed, nothing is written outside the snapshot", async () => {
    const outside = join(tmp.path, "outside");
    const evil = await makeTar([
      { name: "esc", type: "symlink", linkname: outside },
      { name: "esc/planted", content: "x" },
    ]);
    await makeLayout(layoutDir, [{ layers: [evil], tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    await expect(stat(join(outside, "planted"))).rejects.toThrow();
    const { layerDirs } = await store.getRootfsLayers(record.id);
    expect(await readFile(join(layerDirs[0]!, outside, "planted"), "utf8")).toBe("x");
  });

  it("fails with BERTH_PLATFORM_NOT_FOUND when no manifest fits the platform, committing nothing", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), platform: { os: "linux", architecture: "arm64" } }], { asIndex: "multi" });
    expect(await codeOf(pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:multi", { platform: "linux/amd64" }))).toBe(
      "BERTH_PLATFORM_NOT_FOUND",
    );
    await expectNothingCommitted();
  });

  it("follows an index nested in an index, and gives up on a cycle-like depth", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers() }], { asIndex: "nested", nest: 2 });
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:nested");
    expect(record.layers).toHaveLength(2);
    await makeLayout(join(tmp.path, "deep"), [{ layers: await twoLayers() }], { asIndex: "deep", nest: 6 });
    expect(await codeOf(pullImage(store, new OciLayoutTransport(join(tmp.path, "deep")), "localhost/app:deep"))).toBe("BERTH_REGISTRY_PROTOCOL");
  });

  it("pushes to another layout and pulls it back with the same digests", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    const target = new OciLayoutTransport(join(tmp.path, "pushed"));
    const pushed = await pushImage(store, target, record, "localhost/other:v2");
    expect(pushed.digest).toBe(record.manifestDigest);
    const second = new ImageStore(join(tmp.path, "state2"));
    const back = await pullImage(second, target, "localhost/other:v2");
    expect(back.id).toBe(record.id);
    expect(back.manifestDigest).toBe(record.manifestDigest);
  });
});

describe("tags, removal and prune", () => {
  it("untags, deletes when untagged, refuses while in use, and prune frees the rest", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    await store.tag(record.id, "localhost/app:alias");
    expect((await store.tagsOf(record.id)).sort()).toEqual(["localhost/app:alias", "localhost/app:v1"]);

    expect(await store.remove("localhost/app:alias")).toEqual({ untagged: ["localhost/app:alias"], deleted: false });
    const rootfs = await store.acquireRootfs("localhost/app:v1", "c1");
    expect(rootfs.layerDirs).toEqual(record.layers.map((l) => store.snapshotFs(l.chainId)));
    expect(rootfs.config.rootfs.diff_ids).toEqual(record.layers.map((l) => l.diffId));
    expect(await codeOf(store.remove("localhost/app:v1"))).toBe("BERTH_IMAGE_IN_USE");
    await store.removeSnapshotUser("c1");

    expect(await store.remove("localhost/app:v1")).toEqual({ untagged: ["localhost/app:v1"], deleted: true });
    expect(await codeOf(store.get("localhost/app:v1"))).toBe("BERTH_IMAGE_NOT_FOUND");
    const freed = await store.prune();
    expect(freed.snapshots).toBe(2);
    expect(freed.blobs).toBeGreaterThanOrEqual(4);
    expect(await readdir(join(store.root, "blobs", "sha256"))).toEqual([]);
  });

  it("a forced removal keeps the snapshots a container uses until it lets go", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    const { layerDirs } = await store.acquireRootfs(record.id, "c2");
    expect((await store.remove(record.id, { force: true })).deleted).toBe(true);
    expect((await store.prune()).snapshots).toBe(0);
    for (const d of layerDirs) expect((await stat(d)).isDirectory()).toBe(true);
    await store.removeSnapshotUser("c2");
    expect((await store.prune()).snapshots).toBe(2);
  });

  it("records a container's use once: its user files in the image's layers are links to one inode", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    await store.acquireRootfs(record.id, "c3");
    const files = record.layers.map((l) => join(store.snapshotDir(l.chainId), "users", "c3"));
    const stats = await Promise.all(files.map((f) => stat(f)));
    expect(new Set(stats.map((s) => s.ino)).size).toBe(1);
    expect(stats[0]!.nlink).toBe(2);
    for (const f of files) expect((await readFile(f, "utf8")).trim()).toBe(record.id);
    expect(await store.usersOf(record)).toEqual(["c3"]);
    await store.removeSnapshotUser("c3", record.id);
    for (const f of files) expect(existsSync(f)).toBe(false);
    expect(await store.usersOf(record)).toEqual([]);
  });

  it("an image whose snapshot was lost is BERTH_IMAGE_NOT_FOUND for a container, which is recorded in no layer", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    await rm(store.snapshotFs(record.layers[1]!.chainId), { recursive: true });
    expect(await codeOf(store.getRootfsLayers(record.id))).toBe("BERTH_IMAGE_NOT_FOUND");
    expect(await codeOf(store.acquireRootfs(record.id, "c4"))).toBe("BERTH_IMAGE_NOT_FOUND");
    expect(existsSync(join(store.snapshotDir(record.layers[0]!.chainId), "users", "c4"))).toBe(false);
  });

  it("finds images by ID, ID prefix and repo digest", async () => {
    await makeLayout(layoutDir, [{ layers: await twoLayers(), tag: "v1" }]);
    const record = await pullImage(store, new OciLayoutTransport(layoutDir), "localhost/app:v1");
    expect((await store.get(record.id)).id).toBe(record.id);
    expect((await store.get(record.id.slice(7, 19))).id).toBe(record.id);
    expect((await store.get(record.repoDigests[0]!)).id).toBe(record.id);
  });
});
