import { createReadStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, constants as zlibConstants } from "node:zlib";
import { createHash, randomBytes } from "node:crypto";
import { execa } from "execa";
import { BerthError } from "../common/berth-error.js";
import type { ImageRecord, LayerRecord } from "./image-record.js";
import type { ImageStore } from "./image-store.js";
import { decompressor, readHead, sniffCompression } from "./layer-unpack.js";
import { hostPlatform, mediaTypes, sha256Digest, type ContainerConfig, type ImageConfig, type ImageManifest } from "./oci.js";
import { formatReference, parseReference } from "./reference.js";

/** Options of {@link createImageFromRootfs}. */
export interface FromRootfsOptions {
  /** The runtime config (`Cmd`, `Env`, `WorkingDir`, `User`, `ExposedPorts`…). @default {} */
  config?: ContainerConfig;
  /** References to tag the image with. @default none */
  tags?: string[];
  /** The comment recorded in the image history. @default "berth fromRootfs" */
  comment?: string;
  /** gzip level of the layer blob (1 fastest … 9 smallest). @default 6 */
  compressionLevel?: number;
  /** The platform recorded in the config. @default the host's */
  platform?: { os: string; architecture: string; variant?: string };
}

class Hashing extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Makes a one-layer image from a root filesystem, as `docker import` does: a directory (read
 * with GNU tar, which keeps hard links, device nodes, ownership and `security.capability`) or
 * a tar (plain, gzip or zstd). The layer blob is written gzip-compressed now, so a push sends
 * it as is; the snapshot is then unpacked from that blob by the same code a pull uses.
 */
export async function createImageFromRootfs(
  store: ImageStore,
  source: string | Readable,
  options: FromRootfsOptions = {},
): Promise<ImageRecord> {
  const tags = (options.tags ?? []).map((t) => formatReference(parseReference(t)));
  const st =
    typeof source === "string"
      ? await stat(source).catch((error: unknown) => {
          throw new BerthError("BERTH_INVALID_ARGUMENT", `root filesystem ${source} does not exist`, { path: source, cause: error });
        })
      : undefined;
  const head = typeof source === "string" && !st!.isDirectory() ? await readHead(source) : undefined;
  await store.ensureLayout();
  const tmp = join(store.root, "ingest", `.tmp-rootfs-${process.pid}-${randomBytes(4).toString("hex")}`);
  const diff = new Hashing();
  const compressed = new Hashing();
  const fh = await open(tmp, "w", 0o644);
  let tarStream: Readable;
  let child: ReturnType<typeof execa> | undefined;
  if (typeof source === "string") {
    if (st!.isDirectory()) {
      child = execa(
        "tar",
        ["--format=pax", "--xattrs", "--xattrs-include=security.capability", "--numeric-owner", "--sort=name",
          "--pax-option=delete=atime,delete=ctime", "-C", source, "-cf", "-", "."],
        { stdout: "pipe", stderr: "pipe", buffer: { stdout: false, stderr: true }, timeout: 30 * 60_000 },
      );
      tarStream = child.stdout!;
    } else {
      const compression = sniffCompression(head!);
      const file = createReadStream(source, { highWaterMark: 256 * 1024 });
      tarStream = compression === "none" ? file : file.pipe(decompressor(compression));
      file.on("error", (error) => tarStream.destroy(error));
    }
  } else {
    tarStream = source;
  }

  try {
    const writer = new Transform({
      transform(chunk: Buffer, _e, cb) {
        fh.write(chunk).then(() => cb(), cb);
      },
    });
    await Promise.all([
      pipeline(tarStream, diff, createGzip({ level: options.compressionLevel ?? zlibConstants.Z_DEFAULT_COMPRESSION, chunkSize: 256 * 1024 }), compressed, writer),
      child ?? Promise.resolve(),
    ]);
    await fh.sync();
    await fh.close();
  } catch (error) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    const stderr = (error as { stderr?: string }).stderr;
    throw new BerthError("BERTH_IO", `cannot read root filesystem ${typeof source === "string" ? source : "stream"}`, {
      cause: error,
      ...(stderr ? { lastLines: stderr.split("\n").slice(-5) } : {}),
    });
  }
  const digest = `sha256:${compressed.hash.digest("hex")}`;
  const diffId = `sha256:${diff.hash.digest("hex")}`;
  // Held from before the blob is in place until the image is committed, so a concurrent
  // prune does not take the blob or snapshot of an image not yet recorded.
  const lease = await store.lease([digest, diffId]);
  try {
    await rename(tmp, store.blobPath(digest));

    const layer: LayerRecord = { digest, size: compressed.bytes, mediaType: mediaTypes.ociLayerGzip, diffId, chainId: diffId };
    const { unpackedSize } = await store.ensureLayer({
      layer,
      compression: "gzip",
      open: async () => store.openBlob(digest),
    });

    const platform = options.platform ?? hostPlatform();
    const created = new Date().toISOString();
    const config: ImageConfig = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created,
      config: options.config ?? {},
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created, created_by: options.comment ?? "berth fromRootfs" }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length },
      layers: [{ mediaType: mediaTypes.ociLayerGzip, digest, size: compressed.bytes }],
    };
    return await store.commitImage({
      manifest: Buffer.from(JSON.stringify(manifest)),
      manifestMediaType: mediaTypes.ociManifest,
      config: configBytes,
      layers: [layer],
      tags,
      unpackedSize,
    });
  } finally {
    await lease.release();
  }
}
