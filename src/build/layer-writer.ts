import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { BerthError } from "../common/index.js";
import type { ImageRecord, LayerRecord } from "../image/image-record.js";
import type { Lease } from "../image/content-store.js";
import type { ImageStore } from "../image/image-store.js";
import { chainIds, mediaTypes, sha256Digest, type ImageConfig, type ImageManifest } from "../image/oci.js";

/**
 * Turns a build step's layer tar into a layer of the image store (blob + unpacked snapshot),
 * and commits images from a list of layers. Everything written is added to the build's lease
 * first, so a concurrent `prune` cannot take it before the image that uses it is committed.
 */

/** A layer made by a build step. */
export interface BuiltLayer {
  layer: LayerRecord;
  unpackedSize: number;
}

/** Stores `layerTar` as the layer above `parentDiffIds`. */
export async function storeLayer(images: ImageStore, lease: Lease, parentDiffIds: readonly string[], layerTar: Buffer): Promise<BuiltLayer> {
  const diffId = sha256Digest(layerTar);
  const chainId = chainIds([...parentDiffIds, diffId]).at(-1)!;
  await lease.extend([diffId, chainId]);
  let gz: Buffer;
  try {
    gz = await gzip(layerTar);
  } catch (error) {
    throw new BerthError("BERTH_IO", "cannot compress a build layer", { cause: error });
  }
  const digest = await images.writeBlob(gz);
  await lease.extend([digest]);
  const layer: LayerRecord = { digest, size: gz.length, mediaType: mediaTypes.ociLayerGzip, diffId, chainId };
  const { unpackedSize } = await images.ensureLayer({ layer, compression: "gzip", open: async () => Readable.from([gz]) });
  return { layer, unpackedSize };
}

/** Whether a cached layer is still whole in the store (blob and snapshot). */
export async function hasLayer(images: ImageStore, layer: LayerRecord): Promise<boolean> {
  return (await images.hasBlob(layer.digest)) && (await images.hasSnapshot(layer.chainId));
}

/** Commits an image made of `layers` with `config` (its rootfs is filled in here). */
export async function commitBuiltImage(
  images: ImageStore,
  layers: readonly BuiltLayer[],
  config: Omit<ImageConfig, "rootfs">,
  /** Normalised references (`formatReference`). */
  tags: readonly string[],
  /** Manifest annotations (they travel with a push but leave the image ID alone). @default none */
  annotations?: Readonly<Record<string, string>>,
): Promise<ImageRecord> {
  const full: ImageConfig = { ...(config as ImageConfig), rootfs: { type: "layers", diff_ids: layers.map((l) => l.layer.diffId) } };
  const configBytes = Buffer.from(JSON.stringify(full));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: l.layer.mediaType, digest: l.layer.digest, size: l.layer.size })),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations: { ...annotations } } : {}),
  };
  // A rebuild that changed nothing gives the same image: when it is already stored with these
  // tags, committing again would only rewrite (and fsync) the same records.
  const existing = await images.readRecord(sha256Digest(configBytes));
  if (existing && existing.manifestDigest === sha256Digest(Buffer.from(JSON.stringify(manifest)))) {
    const have = await images.tagsOf(existing.id);
    if (tags.every((t) => have.includes(t))) return existing;
  }
  return images.commitImage({
    manifest: Buffer.from(JSON.stringify(manifest)),
    manifestMediaType: mediaTypes.ociManifest,
    config: configBytes,
    layers: layers.map((l) => l.layer),
    tags: [...tags],
    unpackedSize: layers.reduce((n, l) => n + l.unpackedSize, 0),
  });
}

function gzip(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const z = createGzip({ level: 1 });
    z.on("data", (c: Buffer) => chunks.push(c));
    z.on("end", () => resolve(Buffer.concat(chunks)));
    z.on("error", reject);
    z.end(data);
  });
}
