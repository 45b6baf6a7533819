import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";

/** A blob in memory with its digest. */
export interface TestBlob {
  bytes: Buffer;
  digest: string;
  size: number;
}

export function blobOf(bytes: Buffer | string): TestBlob {
  const b = Buffer.from(bytes);
  return { bytes: b, digest: `sha256:${createHash("sha256").update(b).digest("hex")}`, size: b.length };
}

/** Opens a blob as a stream in pieces of `piece` bytes, as a file would be read. */
export function streamOf(bytes: Buffer, piece = 16 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= bytes.length) {
        this.push(null);
        return;
      }
      this.push(bytes.subarray(offset, offset + piece));
      offset += piece;
    },
  });
}

/** A gzip layer holding the given files, and its diff_id. */
export async function gzipLayer(files: Record<string, string>): Promise<TestBlob & { diffId: string }> {
  const tar = pack();
  for (const [name, content] of Object.entries(files)) tar.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar as AsyncIterable<Buffer>) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  return { ...blobOf(gzipSync(raw)), diffId: `sha256:${createHash("sha256").update(raw).digest("hex")}` };
}

/** An OCI image (config, one layer, manifest) built by hand. */
export async function handMadeImage(label = "berth"): Promise<{
  config: TestBlob;
  layer: TestBlob;
  manifest: TestBlob;
  mediaType: string;
}> {
  const layer = await gzipLayer({ "hello.txt": `hello from ${label}\n` });
  const config = blobOf(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/hello"] },
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
    }),
  );
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const manifest = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer.digest, size: layer.size }],
    }),
  );
  return { config, layer, manifest, mediaType };
}

/** Reads a stream to the end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
