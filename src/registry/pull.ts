import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import type { ImageRecord, LayerRecord } from "../image/image-record.js";
import type { ImageStore } from "../image/image-store.js";
import type { Compression } from "../image/layer-unpack.js";
import {
  chainIds,
  configMediaTypes,
  formatPlatform,
  hostPlatform,
  indexMediaTypes,
  layerMediaTypes,
  manifestMediaTypes,
  parseJson,
  parsePlatform,
  platformMatches,
  sha256Digest,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from "../image/oci.js";
import { formatReference, parseReference, repositoryName, type ImageReference } from "../image/reference.js";
import type { FetchedManifest, RegistryTransport, RepositoryRef } from "./types.js";

const log = logger("registry:pull");

/** One progress event of a pull. */
export interface PullProgress {
  /** The layer's blob digest. */
  digest: string;
  /** `waiting` (queued or another process has it), `downloading`, `done` (fetched and unpacked), `exists` (already present). */
  status: "waiting" | "downloading" | "done" | "exists";
  /** Bytes downloaded so far. */
  current: number;
  /** The layer's size. */
  total: number;
}

/** Options of {@link pullImage}. */
export interface PullImageOptions {
  /** The platform to select from an index, `os/arch[/variant]`. @default the host's (`linux/amd64` here) */
  platform?: string;
  /**
   * `missing` uses a present image without any request; `always` resolves the tag again (one
   * manifest request) and fetches what changed. @default "missing"
   */
  policy?: "missing" | "always";
  /** Called as each layer progresses. @default none */
  onProgress?: (event: PullProgress) => void;
  /** Layers fetched at once. @default 3 */
  concurrency?: number;
  /** Cancels the pull; nothing is committed. @default none */
  signal?: AbortSignal;
  /** Extra normalised tags to point at the image (import uses it). @default none */
  extraTags?: string[];
  /** Record no repository digest or blob source (import of an unnamed image). @default false */
  anonymous?: boolean;
}

const maxConfigSize = 16 * 1024 * 1024;
/** Index levels followed before a pull gives up (a cycle of indexes would never end). */
const maxIndexDepth = 4;

/**
 * Pulls `reference` through `transport` into `store`: resolve the tag (or digest) to a
 * manifest, pick the platform from an index, verify the config, fetch and unpack the
 * layers in parallel (each in one streamed pass: digest, decompress, diff_id, untar), and
 * commit the image and its tag last. A present image costs no request unless `policy` is
 * `always`.
 */
export async function pullImage(
  store: ImageStore,
  transport: RegistryTransport,
  reference: string | ImageReference,
  options: PullImageOptions = {},
): Promise<ImageRecord> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const name = formatReference(ref);
  const wanted = options.platform ? parsePlatform(options.platform) : hostPlatform();
  const tagName = ref.tag !== undefined && ref.digest === undefined ? `${repositoryName(ref)}:${ref.tag}` : undefined;

  if (options.policy !== "always") {
    const present = await store.find(name);
    if (present && (await store.isComplete(present))) {
      log("%s present as %s", name, present.id);
      return present;
    }
  }

  const repo: RepositoryRef = { registry: ref.registry, repository: ref.repository };
  let fetched = await transport.getManifest(repo, ref.digest ?? ref.tag ?? "latest");
  checkManifestDigest(fetched, ref.digest, name);
  let body = parseJson<ImageIndex & ImageManifest>(fetched.bytes, `manifest of ${name}`, "BERTH_REGISTRY_PROTOCOL");
  let mediaType = body.mediaType ?? fetched.mediaType;
  const repoDigest = `${repositoryName(ref)}@${fetched.digest}`;

  // An index may point at another index (nested indexes, as buildx and some mirrors
  // write them); each level is resolved for the platform, to a bounded depth.
  for (let depth = 0; indexMediaTypes.has(mediaType) || (!body.config && Array.isArray(body.manifests)); depth++) {
    if (depth >= maxIndexDepth) {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `${name} nests image indexes more than ${maxIndexDepth} deep`, { image: name });
    }
    const chosen = selectPlatform(body, wanted, name);
    fetched = await transport.getManifest(repo, chosen);
    checkManifestDigest(fetched, chosen, name);
    body = parseJson<ImageIndex & ImageManifest>(fetched.bytes, `manifest of ${name}`, "BERTH_REGISTRY_PROTOCOL");
    mediaType = body.mediaType ?? fetched.mediaType;
  }
  if (!manifestMediaTypes.has(mediaType)) {
    throw new BerthError("BERTH_MEDIA_TYPE_UNSUPPORTED", `manifest of ${name} has unsupported media type ${mediaType}`, {
      image: name,
      mediaType,
    });
  }
  const manifest = body as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new BerthError("BERTH_REGISTRY_PROTOCOL", `manifest of ${name} has no config or layers`, { image: name });
  }
  if (!configMediaTypes.has(manifest.config.mediaType)) {
    throw new BerthError("BERTH_MEDIA_TYPE_UNSUPPORTED", `config of ${name} has unsupported media type ${manifest.config.mediaType}`, {
      image: name,
      mediaType: manifest.config.mediaType,
    });
  }
  for (const layer of manifest.layers) {
    if (!layerMediaTypes.has(layer.mediaType)) {
      throw new BerthError("BERTH_MEDIA_TYPE_UNSUPPORTED", `layer ${layer.digest} of ${name} has unsupported media type ${layer.mediaType}`, {
        image: name,
        mediaType: layer.mediaType,
      });
    }
  }

  if (options.policy === "always") {
    // The tag may still point at what we have: then only the tag's record is refreshed.
    const present = await store.readRecord(manifest.config.digest);
    if (present && present.manifestDigest === fetched.digest && (await store.isComplete(present))) {
      return store.commitImage({
        manifest: fetched.bytes,
        manifestMediaType: mediaType,
        config: await store.readBlob(present.id),
        layers: present.layers,
        tags: [...(tagName ? [tagName] : []), ...(options.extraTags ?? [])],
        ...(options.anonymous ? {} : { repoDigest, source: repo }),
        unpackedSize: present.unpackedSize,
      });
    }
  }

  // A config already in the store (another tag, another process's pull) is not fetched.
  const configBytes = (await store.hasBlob(manifest.config.digest))
    ? await store.readBlob(manifest.config.digest)
    : await readSmallBlob(transport, repo, manifest.config.digest, manifest.config.size, name);
  const config = parseJson<ImageConfig>(configBytes, `config of ${name}`, "BERTH_REGISTRY_PROTOCOL");
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new BerthError("BERTH_REGISTRY_PROTOCOL", `config of ${name} lists ${diffIds?.length ?? 0} diff_ids for ${manifest.layers.length} layers`, {
      image: name,
    });
  }
  const chains = chainIds(diffIds);
  const foreignUrls = new Map(manifest.layers.filter((l) => Array.isArray(l.urls) && l.urls.length > 0).map((l) => [l.digest, l.urls!]));
  const layers: LayerRecord[] = manifest.layers.map((l, i) => ({
    digest: l.digest,
    size: l.size,
    mediaType: l.mediaType,
    diffId: diffIds[i]!,
    chainId: chains[i]!,
  }));

  // The first failed layer stops the others' downloads: the pull fails anyway.
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const lease = await store.lease([...layers.flatMap((l) => [l.digest, l.chainId]), manifest.config.digest, fetched.digest]);
  try {
    const sizes = await mapLimit(layers, options.concurrency ?? 3, async (layer) => {
      stop.signal.throwIfAborted();
      const report = (status: PullProgress["status"], current: number) =>
        options.onProgress?.({ digest: layer.digest, status, current, total: layer.size });
      report("waiting", 0);
      let started = false;
      const result = await store.ensureLayer({
        layer,
        compression: compressionOf(layer.mediaType),
        open: ({ verifyDigest }) => {
          started = true;
          report("downloading", 0);
          return transport.getBlob(repo, layer.digest, {
            size: layer.size,
            verifyDigest,
            onProgress: (p) => report("downloading", p.current),
            signal: stop.signal,
            ...(foreignUrls.has(layer.digest) ? { urls: foreignUrls.get(layer.digest)! } : {}),
          });
        },
      }).catch((error: unknown) => {
        stop.abort(error);
        throw error;
      });
      report(started ? "done" : "exists", layer.size);
      return result.unpackedSize;
    });
    options.signal?.throwIfAborted();
    return await store.commitImage({
      manifest: fetched.bytes,
      manifestMediaType: mediaType,
      config: configBytes,
      layers,
      tags: [...(tagName ? [tagName] : []), ...(options.extraTags ?? [])],
      ...(options.anonymous ? {} : { repoDigest, source: repo }),
      unpackedSize: sizes.reduce((a, b) => a + b, 0),
    });
  } catch (error) {
    // An abort we caused reports the layer's own error, not the abort.
    throw stop.signal.aborted && stop.signal.reason !== undefined && !options.signal?.aborted ? stop.signal.reason : error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await lease.release();
  }
}

/** The digest of the manifest in `index` for `wanted`, or `BERTH_PLATFORM_NOT_FOUND`. */
export function selectPlatform(index: ImageIndex, wanted: Platform, name: string): string {
  const candidates = (index.manifests ?? []).filter(
    (m) => manifestMediaTypes.has(m.mediaType) || indexMediaTypes.has(m.mediaType) || m.mediaType === undefined,
  );
  // A nested index usually carries no platform of its own: it matches any, and its own
  // entries are matched on the next level. A manifest for the platform is preferred.
  const match =
    candidates.find((m) => !indexMediaTypes.has(m.mediaType) && platformMatches(wanted, m.platform)) ??
    candidates.find((m) => indexMediaTypes.has(m.mediaType) && (!m.platform || platformMatches(wanted, m.platform)));
  if (!match) {
    const offered = candidates.map((m) => (m.platform ? formatPlatform(m.platform) : "unknown")).join(", ");
    throw new BerthError("BERTH_PLATFORM_NOT_FOUND", `${name} has no manifest for ${formatPlatform(wanted)} (it has: ${offered || "none"})`, {
      image: name,
      platform: formatPlatform(wanted),
      offered,
    });
  }
  return match.digest;
}

function checkManifestDigest(fetched: FetchedManifest, expected: string | undefined, name: string): void {
  const actual = sha256Digest(fetched.bytes);
  if ((expected && actual !== expected) || actual !== fetched.digest) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `manifest of ${name} has digest ${actual}, expected ${expected ?? fetched.digest}`, {
      image: name,
      expected: expected ?? fetched.digest,
      actual,
    });
  }
}

async function readSmallBlob(transport: RegistryTransport, repo: RepositoryRef, digest: string, size: number, name: string): Promise<Buffer> {
  if (size > maxConfigSize) {
    throw new BerthError("BERTH_REGISTRY_PROTOCOL", `config of ${name} is ${size} bytes, over the ${maxConfigSize}-byte limit`, { image: name });
  }
  const stream = await transport.getBlob(repo, digest, { size });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > maxConfigSize) {
      stream.destroy();
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `config of ${name} is over the ${maxConfigSize}-byte limit`, { image: name });
    }
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const actual = sha256Digest(bytes);
  if (actual !== digest) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `config of ${name} has digest ${actual}, expected ${digest}`, {
      image: name,
      expected: digest,
      actual,
    });
  }
  return bytes;
}

export function compressionOf(mediaType: string): Compression {
  if (mediaType.endsWith("gzip")) return "gzip";
  if (mediaType.endsWith("zstd")) return "zstd";
  return "none";
}

/** Maps with at most `limit` calls in flight; the first failure rejects after the rest settle. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}
