import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { afterEach, beforeEach } from "vitest";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

/** A tar entry for {@link makeTar}: tar-stream's header plus optional content. */
export type TarEntry = Partial<tar.Header> & { name: string; content?: string | Buffer; pax?: Record<string, string> };

/**
 * A fresh temporary directory for each test of the calling file (under `prefix`), handed to
 * `setup` before the test and removed after it; `path` is the current one.
 */
export function tempDirPerTest(prefix: string, setup?: (dir: string) => unknown): { readonly path: string } {
  const current = { path: "" };
  beforeEach(async () => {
    current.path = await makeTempDir(prefix);
    await setup?.(current.path);
  });
  afterEach(async () => removeTempDir(current.path));
  return current;
}

/** Builds a tar in memory with tar-stream. */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ mtime: new Date(1_700_000_000_000), ...header }, content ?? "", (e) => (e ? reject(e) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * One ustar header block, written by hand for entries tar-stream would refuse or re-encode
 * (huge PAX headers, raw xattr bytes): `name` of `size` bytes and tar `type`, owned by 0:0.
 */
export function ustarHeader(name: string, size: number, type: string, options: { mode?: number; mtime?: number } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write(`${(options.mode ?? 0o644).toString(8).padStart(7, "0")}\0`, 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  h.write(`${(options.mtime ?? 0).toString(8).padStart(11, "0")}\0`, 136);
  h.write(type, 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  h.write("        ", 148);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export interface LayoutImage {
  /** Layer tars (uncompressed); each is gzipped unless `compress` says otherwise. */
  layers: Buffer[];
  compress?: "gzip" | "none";
  tag?: string;
  platform?: { os: string; architecture: string; variant?: string };
  layerMediaType?: string;
  config?: Record<string, unknown>;
}

/** Writes an OCI layout holding the images; returns manifest digests. Blobs written honestly. */
export async function makeLayout(dir: string, images: LayoutImage[], options: { asIndex?: string; nest?: number } = {}): Promise<string[]> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const put = async (bytes: Buffer) => {
    const d = sha256(bytes);
    await writeFile(join(dir, "blobs", "sha256", d.slice(7)), bytes);
    return d;
  };
  const descriptors: Record<string, unknown>[] = [];
  for (const image of images) {
    const compress = image.compress ?? "gzip";
    const layers = [];
    for (const layer of image.layers) {
      const blob = compress === "gzip" ? gzipSync(layer) : layer;
      layers.push({
        mediaType: image.layerMediaType ?? (compress === "gzip" ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar"),
        digest: await put(blob),
        size: blob.length,
      });
    }
    const platform = image.platform ?? { os: "linux", architecture: "amd64" };
    const config = Buffer.from(
      JSON.stringify({
        ...platform,
        created: "2024-01-01T00:00:00Z",
        config: { Cmd: ["/bin/sh"] },
        rootfs: { type: "layers", diff_ids: image.layers.map((l) => sha256(l)) },
        history: image.layers.map(() => ({ created_by: "test" })),
        ...image.config,
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: await put(config), size: config.length },
        layers,
      }),
    );
    descriptors.push({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: await put(manifest),
      size: manifest.length,
      platform,
      ...(image.tag ? { annotations: { "org.opencontainers.image.ref.name": image.tag } } : {}),
    });
  }
  let top = descriptors;
  if (options.asIndex) {
    let index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: descriptors }));
    // `nest` more indexes, each listing only the one below it (with no platform, as buildx writes them).
    for (let level = 0; level < (options.nest ?? 0); level++) {
      const inner = { mediaType: "application/vnd.oci.image.index.v1+json", digest: await put(index), size: index.length };
      index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [inner] }));
    }
    top = [
      {
        mediaType: "application/vnd.oci.image.index.v1+json",
        digest: await put(index),
        size: index.length,
        annotations: { "org.opencontainers.image.ref.name": options.asIndex },
      },
    ];
  }
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: top }));
  return descriptors.map((d) => d.digest as string);
}
