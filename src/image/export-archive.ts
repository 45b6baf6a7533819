import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { writeFileAtomic } from "../common/atomic-file.js";
import { BerthError, isBerthError } from "../common/berth-error.js";
import type { ImageRecord } from "./image-record.js";
import type { ImageStore } from "./image-store.js";
import { imageNameAnnotation, OciLayoutTransport, refNameAnnotation } from "./oci-layout.js";
import { digestHex, mediaTypes, parseJson, type ImageManifest } from "./oci.js";
import { familiarName, formatReference, parseReference } from "./reference.js";

/** Options of {@link exportImage}. */
export interface ExportOptions {
  /**
   * `docker`: what `docker save` (25+) writes, an OCI layout plus `manifest.json`, which
   * every `docker load` and skopeo's `docker-archive:` read. `oci`: an OCI layout only
   * (skopeo's `oci-archive:`, or `oci:` with `directory`). @default "docker"
   */
  format?: "docker" | "oci";
  /** Write an OCI layout directory at the path instead of a tar (umoci reads only these). @default false */
  directory?: boolean;
  /** References the archive names the image by. @default the image's tags */
  tags?: string[];
}

/**
 * Writes an image to `path` as a tar (or a layout directory). The tar is written beside the
 * path and renamed over it when complete, so a failed export leaves no partial archive.
 */
export async function exportImage(store: ImageStore, record: ImageRecord, path: string, options: ExportOptions = {}): Promise<void> {
  const format = options.format ?? "docker";
  const tags = options.tags?.map((t) => formatReference(parseReference(t))) ?? (await store.tagsOf(record.id));
  const manifestBytes = await store.readBlob(record.manifestDigest);
  const manifest = parseJson<ImageManifest>(manifestBytes, "stored manifest");
  const blobs = [
    ...manifest.layers.map((l) => ({ digest: l.digest, size: l.size })),
    { digest: manifest.config.digest, size: manifest.config.size },
    { digest: record.manifestDigest, size: manifestBytes.length },
  ];
  const descriptors = (tags.length > 0 ? tags : [undefined]).map((tag) => ({
    mediaType: manifest.mediaType ?? record.manifestMediaType,
    digest: record.manifestDigest,
    size: manifestBytes.length,
    ...(tag ? { annotations: { [imageNameAnnotation]: tag, [refNameAnnotation]: parseReference(tag).tag! } } : {}),
  }));
  const index = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: descriptors };
  const files: { name: string; data: Buffer }[] = [
    { name: "oci-layout", data: Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })) },
    { name: "index.json", data: Buffer.from(JSON.stringify(index)) },
  ];
  if (format === "docker") {
    const dockerManifest = [
      {
        Config: `blobs/sha256/${digestHex(manifest.config.digest)}`,
        RepoTags: tags.map((t) => familiarName(parseReference(t))),
        Layers: manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
      },
    ];
    files.push({ name: "manifest.json", data: Buffer.from(JSON.stringify(dockerManifest)) });
  }

  if (options.directory) {
    const transport = new OciLayoutTransport(path);
    await transport.init();
    for (const blob of blobs) {
      await transport.pushBlob({ registry: "", repository: "" }, blob.digest, blob.size, () => store.openBlob(blob.digest));
    }
    for (const file of files) {
      if (file.name === "oci-layout") continue;
      await writeFileAtomic(join(path, file.name), file.data, { fsync: false });
    }
    return;
  }

  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const pack = tar.pack();
  const written = pipeline(pack as unknown as Readable, createWriteStream(tmp));
  try {
    const mtime = new Date(0);
    pack.entry({ name: "blobs/", type: "directory", mode: 0o755, mtime });
    pack.entry({ name: "blobs/sha256/", type: "directory", mode: 0o755, mtime });
    const seen = new Set<string>();
    for (const blob of blobs) {
      if (seen.has(blob.digest)) continue;
      seen.add(blob.digest);
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: `blobs/sha256/${digestHex(blob.digest)}`, size: blob.size, mode: 0o644, mtime }, (error) =>
          error ? reject(error) : resolve(),
        );
        store.openBlob(blob.digest).on("error", reject).pipe(entry);
      });
    }
    for (const file of files) pack.entry({ name: file.name, mode: 0o644, mtime }, file.data);
    pack.finalize();
    await written;
    await rename(tmp, path);
  } catch (error) {
    pack.destroy();
    await written.catch(() => {});
    await rm(tmp, { force: true });
    if (isBerthError(error)) throw error;
    throw new BerthError("BERTH_IO", `cannot write image archive ${path}`, { path, cause: error });
  }
}
