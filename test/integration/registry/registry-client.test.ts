import { randomBytes } from "node:crypto";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { RegistryClient } from "../../../src/registry/registry-client.js";
import type { RepositoryRef, TransferProgress } from "../../../src/registry/types.js";
import { blobOf, handMadeImage, readAll, streamOf } from "../../helpers/registry-blobs.js";
import { startRegistry } from "../../helpers/registry-server.js";
import type { StartedRegistry } from "../../helpers/registry-server.js";

const skopeo = await execa("skopeo", ["--version"]).then(
  () => true,
  () => false,
);

describe("RegistryClient against a plain HTTP docker-registry", () => {
  let registry: StartedRegistry;
  let client: RegistryClient;
  const repo = (repository: string): RepositoryRef => ({ registry: registry.host, repository });

  beforeAll(async () => {
    registry = await startRegistry({ mode: "plain" });
    client = new RegistryClient({ env: {}, certsDir: "/nonexistent", retries: 1, retryDelay: 10 });
  });
  afterAll(async () => {
    client?.close();
    await registry?.stop();
  });

  it("pushes a blob monolithically, then finds it with HEAD and streams it back", async () => {
    const blob = blobOf(randomBytes(300_000));
    const r = repo("berth/mono");
    expect(await client.hasBlob(r, blob.digest)).toBe(false);
    const progress: TransferProgress[] = [];
    await client.pushBlob(r, blob.digest, blob.size, () => streamOf(blob.bytes), { onProgress: (p) => progress.push(p) });
    expect(progress.at(-1)).toEqual({ digest: blob.digest, current: blob.size, total: blob.size });
    expect(await client.hasBlob(r, blob.digest)).toBe(true);
    const got = await readAll(await client.getBlob(r, blob.digest, { size: blob.size }));
    expect(got.equals(blob.bytes)).toBe(true);
  });

  it("pushes a blob in chunks (PATCH with Content-Range, then PUT ?digest=)", async () => {
    const blob = blobOf(randomBytes(250_001));
    const r = repo("berth/chunked");
    const seen: number[] = [];
    await client.pushBlob(r, blob.digest, blob.size, () => streamOf(blob.bytes, 7_000), {
      chunkSize: 64 * 1024,
      onProgress: (p) => seen.push(p.current),
    });
    // Four chunks of 64 KiB and the rest, then the final report.
    expect(seen.slice(0, 4)).toEqual([65_536, 131_072, 196_608, 250_001]);
    expect((await readAll(await client.getBlob(r, blob.digest))).equals(blob.bytes)).toBe(true);
  });

  it("mounts a blob from another repository instead of uploading it", async () => {
    const blob = blobOf(randomBytes(10_000));
    const from = repo("berth/mount-source");
    const to = repo("berth/mount-target");
    await client.pushBlob(from, blob.digest, blob.size, () => streamOf(blob.bytes));
    let opened = 0;
    await client.pushBlob(to, blob.digest, blob.size, () => {
      opened++;
      return streamOf(blob.bytes);
    }, { mountFrom: from });
    expect(opened).toBe(0);
    expect(await client.hasBlob(to, blob.digest)).toBe(true);
  });

  it("falls back to an upload when the mount source does not have the blob (registry answers 202)", async () => {
    const blob = blobOf(randomBytes(5_000));
    let opened = 0;
    await client.pushBlob(repo("berth/mount-fallback"), blob.digest, blob.size, () => {
      opened++;
      return streamOf(blob.bytes);
    }, { mountFrom: repo("berth/empty-source") });
    expect(opened).toBe(1);
    expect(await client.hasBlob(repo("berth/mount-fallback"), blob.digest)).toBe(true);
  });

  it("puts a hand-made OCI manifest and gets it back by tag and by digest", async () => {
    const image = await handMadeImage("plain");
    const r = repo("berth/image");
    for (const blob of [image.layer, image.config]) {
      await client.pushBlob(r, blob.digest, blob.size, () => streamOf(blob.bytes));
    }
    const reported = await client.putManifest(r, "v1", image.mediaType, image.manifest.bytes);
    expect(reported).toBe(image.manifest.digest);
    const byTag = await client.getManifest(r, "v1");
    expect(byTag).toEqual({ mediaType: image.mediaType, digest: image.manifest.digest, bytes: image.manifest.bytes });
    const byDigest = await client.getManifest(r, image.manifest.digest);
    expect(byDigest.bytes.equals(image.manifest.bytes)).toBe(true);
    const head = await client.headManifest(r, "v1");
    expect(head).toMatchObject({ digest: image.manifest.digest, mediaType: image.mediaType, size: image.manifest.size });
    const layer = await readAll(await client.getBlob(r, image.layer.digest, { size: image.layer.size }));
    expect(layer.equals(image.layer.bytes)).toBe(true);
  });

  it("fails with BERTH_REGISTRY_NOT_FOUND naming the reference for a missing tag", async () => {
    const error = await client.getManifest(repo("berth/image"), "no-such-tag").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_NOT_FOUND")).toBe(true);
    expect((error as Error).message).toContain(`${registry.host}/berth/image:no-such-tag`);
    expect(await client.headManifest(repo("berth/image"), "no-such-tag")).toBeUndefined();
  });

  it("refuses a manifest pushed under a digest its bytes do not have", async () => {
    const image = await handMadeImage("wrong-digest");
    const wrong = blobOf("something else").digest;
    const error = await client.putManifest(repo("berth/image"), wrong, image.mediaType, image.manifest.bytes).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DIGEST_MISMATCH")).toBe(true);
  });

  it("refuses a blob upload whose bytes do not match the digest (registry answers DIGEST_INVALID)", async () => {
    const blob = blobOf("the real bytes");
    const error = await client
      .pushBlob(repo("berth/bad-upload"), blob.digest, blob.size, () => streamOf(Buffer.from("other bytes!!!")))
      .catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DIGEST_MISMATCH")).toBe(true);
  });

  it.skipIf(!skopeo)("skopeo reads the image berth pushed, and berth reads the copy skopeo pushed (skipped: skopeo not installed)", async () => {
    const image = await handMadeImage("interop");
    const r = repo("berth/interop");
    for (const blob of [image.layer, image.config]) {
      await client.pushBlob(r, blob.digest, blob.size, () => streamOf(blob.bytes));
    }
    await client.putManifest(r, "v1", image.mediaType, image.manifest.bytes);
    const tls = ["--tls-verify=false"];
    const inspected = JSON.parse(
      (await execa("skopeo", ["inspect", ...tls, "--raw", `docker://${registry.host}/berth/interop:v1`])).stdout,
    ) as { layers: Array<{ digest: string }> };
    expect(inspected.layers[0]!.digest).toBe(image.layer.digest);
    await execa("skopeo", [
      "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "v2s2",
      `docker://${registry.host}/berth/interop:v1`, `docker://${registry.host}/berth/interop-copy:v2s2`,
    ]);
    const copy = await client.getManifest(repo("berth/interop-copy"), "v2s2");
    expect(copy.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    const layerDigest = (JSON.parse(copy.bytes.toString()) as { layers: Array<{ digest: string; size: number }> }).layers[0]!;
    const layer = await readAll(await client.getBlob(repo("berth/interop-copy"), layerDigest.digest, { size: layerDigest.size }));
    expect(layer.length).toBe(layerDigest.size);
  });
});
