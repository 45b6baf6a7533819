import { logger } from "../common/logger.js";
import type { ImageRecord } from "../image/image-record.js";
import type { ImageStore } from "../image/image-store.js";
import { mediaTypes, parseJson, sha256Digest, type Descriptor, type ImageManifest } from "../image/oci.js";
import { formatReference, parseReference, repositoryName, type ImageReference } from "../image/reference.js";
import { mapLimit } from "./pull.js";
import type { RegistryTransport, RepositoryRef, TransferProgress } from "./types.js";
import { BerthError } from "../common/berth-error.js";

const log = logger("registry:push");

/** Uncompressed layer media types → the gzip type they are pushed as. */
const uncompressedLayers: ReadonlyMap<string, string> = new Map([
  [mediaTypes.ociLayer, mediaTypes.ociLayerGzip],
  [mediaTypes.dockerLayer, mediaTypes.dockerLayerGzip],
]);

/** Options of {@link pushImage}. */
export interface PushImageOptions {
  /** Called as each blob uploads. @default none */
  onProgress?: (p: TransferProgress) => void;
  /** Blobs uploaded at once. @default 3 */
  concurrency?: number;
  /** Upload in chunks of this many bytes instead of one request per blob. @default monolithic */
  chunkSize?: number;
}

/**
 * Pushes image `record` to `reference` through `transport`: layer blobs first (skipped when
 * the registry has them, mounted from another repository of the same registry when the
 * image came from one), then the config, then the manifest under the tag. The stored blobs
 * are sent byte for byte, so the pushed manifest is the stored one and its digest is kept,
 * except for layers stored uncompressed, which are sent gzip-compressed under a new manifest.
 */
export async function pushImage(
  store: ImageStore,
  transport: RegistryTransport,
  record: ImageRecord,
  reference: string | ImageReference,
  options: PushImageOptions = {},
): Promise<{ digest: string; reference: string }> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  if (ref.digest) {
    throw new BerthError("BERTH_REFERENCE_INVALID", `cannot push to a digest reference: ${formatReference(ref)}`, {
      image: formatReference(ref),
    });
  }
  const repo: RepositoryRef = { registry: ref.registry, repository: ref.repository };
  let manifestBytes = await store.readBlob(record.manifestDigest);
  let manifest = parseJson<ImageManifest>(manifestBytes, `stored manifest of ${record.id}`);
  const mountFrom = record.sources.find((s) => s.registry === repo.registry && s.repository !== repo.repository);

  // Layers stored uncompressed (a legacy `docker save` archive) go out gzip-compressed, as
  // Docker pushes them: the pushed manifest names the compressed blobs; the config and its
  // diff_ids are unchanged, so the image ID is the same.
  if (manifest.layers.some((l) => uncompressedLayers.has(l.mediaType))) {
    const layers = await mapLimit(manifest.layers, 2, async (layer): Promise<Descriptor> => {
      const gzipType = uncompressedLayers.get(layer.mediaType);
      if (!gzipType) return layer;
      const compressed = await store.gzipBlob(layer.digest);
      return { ...layer, mediaType: gzipType, digest: compressed.digest, size: compressed.size };
    });
    manifest = { ...manifest, layers };
    manifestBytes = Buffer.from(JSON.stringify(manifest));
  }

  // Foreign (non-distributable) layers stay where their URLs point, as Docker leaves them.
  const blobs = [...manifest.layers.filter((l) => !(l.urls && l.urls.length > 0)), manifest.config];
  await mapLimit(blobs, options.concurrency ?? 3, async (blob) => {
    if (await transport.hasBlob(repo, blob.digest)) {
      log("%s already in %s", blob.digest, repositoryName(repo));
      return;
    }
    await transport.pushBlob(repo, blob.digest, blob.size, () => store.openBlob(blob.digest), {
      ...(mountFrom ? { mountFrom } : {}),
      ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  });
  const mediaType = manifest.mediaType ?? record.manifestMediaType;
  const reported = await transport.putManifest(repo, ref.tag ?? "latest", mediaType, manifestBytes);
  const digest = sha256Digest(manifestBytes);
  if (reported && reported !== digest) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `registry reports manifest digest ${reported}, expected ${digest}`, {
      image: formatReference(ref),
      expected: digest,
      actual: reported,
    });
  }
  await store.annotate(record.id, { source: repo, repoDigest: `${repositoryName(repo)}@${digest}` });
  return { digest, reference: formatReference(ref) };
}
