import { readdir, readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Image } from "../../../src/harness/image.js";
import { ImageStore } from "../../../src/image/image-store.js";
import { RegistryClient } from "../../../src/registry/registry-client.js";
import type { RepositoryRef } from "../../../src/registry/types.js";
import { blobOf, gzipLayer, streamOf, type TestBlob } from "../../helpers/registry-blobs.js";
import { startRegistry, type StartedRegistry } from "../../helpers/registry-server.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { makeLayout, makeTar } from "../../unit/image/fixtures.js";

let dir: string;
let registry: StartedRegistry;
let files: http.Server;
let filesUrl: string;
/** What the file server on 127.0.0.1 serves, by path. */
const served = new Map<string, Buffer>();
const client = new RegistryClient({ env: {}, retries: 0 });

const docker = {
  manifest: "application/vnd.docker.distribution.manifest.v2+json",
  config: "application/vnd.docker.container.image.v1+json",
  foreign: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
};

/** Nothing half-made in a store: no image, no snapshot (not even a temporary), no ingest. */
async function expectNothingCommitted(root: string): Promise<void> {
  expect(await Image.list({ root })).toEqual([]);
  expect(await readdir(join(root, "image", "snapshots")).catch(() => [])).toEqual([]);
  expect(await readdir(join(root, "image", "ingest")).catch(() => [])).toEqual([]);
}

async function pushConfig(repo: RepositoryRef, diffIds: string[]): Promise<TestBlob> {
  const config = blobOf(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["/x"] }, rootfs: { type: "layers", diff_ids: diffIds } }));
  await client.pushBlob(repo, config.digest, config.size, () => streamOf(config.bytes));
  return config;
}

/** A Docker schema 2 manifest whose one layer is foreign: fetched from `urls`, not the registry. */
function foreignManifest(config: TestBlob, layer: TestBlob, urls: string[]): TestBlob {
  return blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker.manifest,
      config: { mediaType: docker.config, digest: config.digest, size: config.size },
      layers: [{ mediaType: docker.foreign, digest: layer.digest, size: layer.size, urls }],
    }),
  );
}

describeAsRoot("image formats against a real docker-registry", () => {
  beforeAll(async () => {
    dir = await makeTempDir("berth-registry-formats-");
    registry = await startRegistry({ mode: "plain", allowManifestUrls: ["^http://127\\.0\\.0\\.1:"] });
    files = http.createServer((req, res) => {
      const body = served.get(req.url ?? "");
      if (!body) res.writeHead(404).end();
      else res.writeHead(200, { "Content-Length": body.length }).end(body);
    });
    await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    client.close();
    await registry?.stop();
    await new Promise<void>((resolve) => (files ? files.close(() => resolve()) : resolve()));
    if (dir) await removeTempDir(dir);
  });

  it("fetches a foreign layer from its URL (not the registry), verifying its digest", async () => {
    const repo = { registry: registry.host, repository: "foreign/ok" };
    const layer = await gzipLayer({ "licensed.txt": "from elsewhere\n" });
    served.set("/ok/layer.tar.gz", layer.bytes);
    const config = await pushConfig(repo, [layer.diffId]);
    const manifest = foreignManifest(config, layer, [`${filesUrl}/missing`, `${filesUrl}/ok/layer.tar.gz`]);
    await client.putManifest(repo, "1", docker.manifest, manifest.bytes);
    expect(await client.hasBlob(repo, layer.digest)).toBe(false);

    const root = join(dir, "foreign-ok");
    const image = await Image.pull(`${registry.host}/foreign/ok:1`, { root });
    const { layerDirs } = await new ImageStore(root).getRootfsLayers(image.id);
    expect(await readFile(join(layerDirs[0]!, "licensed.txt"), "utf8")).toBe("from elsewhere\n");
  });

  it("refuses a foreign layer whose URL serves other bytes, with BERTH_DIGEST_MISMATCH, committing nothing", async () => {
    const repo = { registry: registry.host, repository: "foreign/tampered" };
    const layer = await gzipLayer({ "licensed.txt": "the real one\n" });
    const evil = await gzipLayer({ "licensed.txt": "a forgery!!!\n" });
    served.set("/tampered/layer.tar.gz", evil.bytes.subarray(0, layer.size));
    const config = await pushConfig(repo, [layer.diffId]);
    const manifest = foreignManifest(config, layer, [`${filesUrl}/tampered/layer.tar.gz`]);
    await client.putManifest(repo, "1", docker.manifest, manifest.bytes);
    const root = join(dir, "foreign-bad");
    const error = await Image.pull(`${registry.host}/foreign/tampered:1`, { root }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DIGEST_MISMATCH") || hasErrorCode(error, "BERTH_LAYER_INVALID")).toBe(true);
    await expectNothingCommitted(root);
  });

  it("resolves an index that points to an index (nested) down to the host's manifest", async () => {
    const repo = { registry: registry.host, repository: "nested/app" };
    const layer = await gzipLayer({ "level.txt": "innermost\n" });
    await client.pushBlob(repo, layer.digest, layer.size, () => streamOf(layer.bytes));
    const config = await pushConfig(repo, [layer.diffId]);
    const manifest = blobOf(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer.digest, size: layer.size }],
      }),
    );
    await client.putManifest(repo, manifest.digest, "application/vnd.oci.image.manifest.v1+json", manifest.bytes);
    const index = "application/vnd.oci.image.index.v1+json";
    const inner = blobOf(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: index,
        manifests: [
          { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: manifest.digest, size: manifest.size, platform: { os: "linux", architecture: "amd64" } },
        ],
      }),
    );
    await client.putManifest(repo, inner.digest, index, inner.bytes);
    const outer = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: index, manifests: [{ mediaType: index, digest: inner.digest, size: inner.size }] }));
    await client.putManifest(repo, "multi", index, outer.bytes);

    const root = join(dir, "nested");
    const image = await Image.pull(`${registry.host}/nested/app:multi`, { root, platform: "linux/amd64" });
    expect(image.id).toBe(config.digest);
    const { layerDirs } = await new ImageStore(root).getRootfsLayers(image.id);
    expect(await readFile(join(layerDirs[0]!, "level.txt"), "utf8")).toBe("innermost\n");

    const error = await Image.pull(`${registry.host}/nested/app:multi`, { root: join(dir, "nested-arm"), platform: "linux/arm64" }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_PLATFORM_NOT_FOUND")).toBe(true);
    await expectNothingCommitted(join(dir, "nested-arm"));
  });

  it("pushes layers stored uncompressed gzip-compressed, the manifest naming the compressed digest", async () => {
    const layout = join(dir, "plain-layout");
    const tar = await makeTar([{ name: "plain.txt", content: "stored as a plain tar\n" }]);
    await makeLayout(layout, [{ layers: [tar], compress: "none", tag: "v1" }]);
    const storeA = join(dir, "plain-a");
    const imported = await Image.import(layout, { root: storeA });
    expect((await imported.inspect()).layers[0]!.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");

    const ref = `${registry.host}/plain/app:1`;
    const { digest } = await imported.push(ref);
    const repo = { registry: registry.host, repository: "plain/app" };
    const pushed = await client.getManifest(repo, "1");
    expect(pushed.digest).toBe(digest);
    const manifest = JSON.parse(pushed.bytes.toString("utf8"));
    expect(manifest.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    const chunks: Buffer[] = [];
    for await (const chunk of await client.getBlob(repo, manifest.layers[0].digest)) chunks.push(chunk as Buffer);
    expect(gunzipSync(Buffer.concat(chunks)).equals(tar)).toBe(true);

    // Same config, so the same image ID once pulled back, and the same files.
    const pulled = await Image.pull(ref, { root: join(dir, "plain-b") });
    expect(pulled.id).toBe(imported.id);
    const { layerDirs } = await new ImageStore(join(dir, "plain-b")).getRootfsLayers(pulled.id);
    expect(await readFile(join(layerDirs[0]!, "plain.txt"), "utf8")).toBe("stored as a plain tar\n");
    // A second push compresses nothing again and names the same manifest.
    expect((await imported.push(ref)).digest).toBe(digest);
  });

  it("a 401 names the registry and where credentials were looked for, and commits nothing", async () => {
    const secured = await startRegistry({ mode: "basic" });
    try {
      const root = join(dir, "unauthorized");
      const error = await Image.pull(`${secured.host}/private/app:1`, { root }).catch((e: unknown) => e);
      expect(hasErrorCode(error, "BERTH_REGISTRY_UNAUTHORIZED")).toBe(true);
      expect((error as Error).message).toContain(secured.host);
      await expectNothingCommitted(root);
    } finally {
      await secured.stop();
    }
  });
});
