import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { BerthError, isBerthError } from "../common/berth-error.js";
import { cleanArchivePath, safeJoin } from "../common/safe-path.js";
import type { ImageRecord, LayerRecord } from "./image-record.js";
import type { ImageStore } from "./image-store.js";
import { decompressor, readHead, sniffCompression } from "./layer-unpack.js";
import { imageNameAnnotation, OciLayoutTransport, refNameAnnotation } from "./oci-layout.js";
import { chainIds, mediaTypes, parseJson, sha256Digest, type ImageConfig, type ImageManifest } from "./oci.js";
import { formatReference, parseReference, type ImageReference } from "./reference.js";
import type { RegistryTransport } from "../registry/types.js";

/**
 * How import pulls from an OCI layout: the registry layer's `pullImage`, handed in by the
 * caller so this layer does not depend on the one below it at run time.
 */
export type PullFromTransport = (
  store: ImageStore,
  transport: RegistryTransport,
  reference: ImageReference,
  options: { extraTags: string[]; policy: "always"; anonymous: boolean },
) => Promise<ImageRecord>;

/** One entry of a `docker save` archive's `manifest.json`. */
interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/** The largest single member (other than blobs) read into memory from an archive. */
const maxMetaFile = 16 * 1024 * 1024;

/**
 * Imports every image of an archive into `store`: a `docker save` tar (the legacy
 * `manifest.json` form and the OCI-layout form Docker 25+ writes), an OCI layout directory,
 * or an OCI layout tar (`skopeo copy … oci-archive:`). Tars are unpacked to a private
 * directory under the store first, since their members come in any order.
 */
export async function importArchive(store: ImageStore, source: string | Readable, pull: PullFromTransport): Promise<ImageRecord[]> {
  if (typeof source === "string") {
    const st = await stat(source).catch((error: unknown) => {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `archive ${source} does not exist`, { path: source, cause: error });
    });
    if (st.isDirectory()) return importDirectory(store, source, pull);
  }
  await store.ensureLayout();
  const work = join(store.root, "ingest", `.tmp-import-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    let stream: Readable;
    if (typeof source === "string") {
      const compression = sniffCompression(await readHead(source));
      stream = createReadStream(source, { highWaterMark: 256 * 1024 });
      if (compression !== "none") stream = stream.pipe(decompressor(compression));
    } else {
      stream = source;
    }
    await extractArchive(stream, work);
    return await importDirectory(store, work, pull);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Unpacks an image archive's regular files only (it has nothing else that matters). */
async function extractArchive(stream: Readable, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  const extract = tar.extract();
  extract.on("entry", (header, entry, next) => {
    const done = (error?: unknown) => {
      if (error) entry.resume();
      next(error as Error | undefined);
    };
    (async () => {
      const rel = cleanArchivePath(header.name);
      if (header.type !== "file" || rel === "") {
        entry.resume();
        await new Promise<void>((r) => entry.on("end", () => r()));
        return;
      }
      const target = safeJoin(dest, rel);
      await mkdir(join(target, ".."), { recursive: true });
      await pipeline(entry as unknown as Readable, createWriteStream(target, { flags: "wx" }));
    })().then(() => done(), done);
  });
  try {
    await pipeline(stream, extract);
  } catch (error) {
    if (isBerthError(error)) throw error;
    throw new BerthError("BERTH_ARCHIVE_INVALID", `cannot read image archive: ${(error as Error).message}`, { cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function importDirectory(store: ImageStore, dir: string, pull: PullFromTransport): Promise<ImageRecord[]> {
  const hasLayout = await exists(join(dir, "oci-layout"));
  const dockerEntries = (await exists(join(dir, "manifest.json")))
    ? parseJson<DockerArchiveEntry[]>(await readSmall(join(dir, "manifest.json")), "manifest.json")
    : undefined;
  if (!hasLayout && !dockerEntries) {
    throw new BerthError("BERTH_ARCHIVE_INVALID", `${dir} is neither an OCI layout nor a docker save archive`, { path: dir });
  }
  if (hasLayout && (await exists(join(dir, "index.json")))) {
    const records = await importLayout(store, dir, pull);
    // Docker 25+ archives name their tags in manifest.json; apply them to the same configs.
    for (const entry of dockerEntries ?? []) {
      const id = `sha256:${entry.Config.split("/").pop()!.replace(/\.json$/, "")}`;
      const record = records.find((r) => r.id === id);
      if (record) for (const tag of entry.RepoTags ?? []) await store.tag(record.id, tag);
    }
    return records;
  }
  const records: ImageRecord[] = [];
  for (const entry of dockerEntries!) records.push(await importDockerEntry(store, dir, entry));
  return records;
}

async function importLayout(store: ImageStore, dir: string, pull: PullFromTransport): Promise<ImageRecord[]> {
  const transport = new OciLayoutTransport(dir);
  const index = await transport.readIndex();
  const records: ImageRecord[] = [];
  for (const descriptor of index.manifests) {
    const name = descriptor.annotations?.[imageNameAnnotation] ?? descriptor.annotations?.[refNameAnnotation];
    let tag: string | undefined;
    if (name) {
      try {
        const ref = parseReference(name);
        // A bare `latest` in ref.name is only a tag, not a name: it cannot become a reference.
        if (name.includes("/") || name.includes(":") || descriptor.annotations?.[imageNameAnnotation]) tag = formatReference(ref);
      } catch {
        tag = undefined;
      }
    }
    const ref = tag ? parseReference(tag) : parseReference("localhost/berth-import");
    const record = await pull(
      store,
      transport,
      { registry: ref.registry, repository: ref.repository, tag: undefined, digest: descriptor.digest },
      { extraTags: tag ? [tag] : [], policy: "always", anonymous: !tag },
    );
    records.push(record);
  }
  return records;
}

async function readSmall(path: string): Promise<Buffer> {
  const st = await stat(path);
  if (st.size > maxMetaFile) {
    throw new BerthError("BERTH_ARCHIVE_INVALID", `${path} is ${st.size} bytes, over the ${maxMetaFile}-byte limit`, { path });
  }
  return readFile(path);
}

/** Imports one image of a legacy `docker save` archive, keeping its layer files byte for byte. */
async function importDockerEntry(store: ImageStore, dir: string, entry: DockerArchiveEntry): Promise<ImageRecord> {
  if (typeof entry.Config !== "string" || !Array.isArray(entry.Layers)) {
    throw new BerthError("BERTH_ARCHIVE_INVALID", "manifest.json entry lacks Config or Layers", { path: dir });
  }
  const configBytes = await readSmall(safeJoin(dir, cleanArchivePath(entry.Config), { followLast: true }));
  const config = parseJson<ImageConfig>(configBytes, entry.Config);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== entry.Layers.length) {
    throw new BerthError("BERTH_ARCHIVE_INVALID", `${entry.Config} lists ${diffIds.length} diff_ids for ${entry.Layers.length} layers`, {
      path: dir,
    });
  }
  const chains = chainIds(diffIds);
  const layers: LayerRecord[] = [];
  const lease = await store.lease([...chains, sha256Digest(configBytes)]);
  try {
    for (const [i, layerPath] of entry.Layers.entries()) {
      const file = safeJoin(dir, cleanArchivePath(layerPath), { followLast: true });
      const { digest, size } = await hashFile(file);
      await lease.extend([digest]);
      const compression = sniffCompression(await readHead(file));
      const mediaType = compression === "gzip" ? mediaTypes.dockerLayerGzip : compression === "zstd" ? mediaTypes.ociLayerZstd : mediaTypes.dockerLayer;
      const layer: LayerRecord = { digest, size, mediaType, diffId: diffIds[i]!, chainId: chains[i]! };
      await store.ensureLayer({ layer, compression, open: async () => createReadStream(file, { highWaterMark: 256 * 1024 }) });
      layers.push(layer);
    }
    const zstd = layers.some((l) => l.mediaType === mediaTypes.ociLayerZstd);
    // Docker schema 2 has no zstd layer type; such an image is described as OCI instead.
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: zstd ? mediaTypes.ociManifest : mediaTypes.dockerManifest,
      config: { mediaType: zstd ? mediaTypes.ociConfig : mediaTypes.dockerConfig, digest: sha256Digest(configBytes), size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const tags = (entry.RepoTags ?? []).map((t) => formatReference(parseReference(t)));
    let unpackedSize = 0;
    for (const l of layers) unpackedSize += await snapshotSize(store, l.chainId);
    return await store.commitImage({
      manifest: Buffer.from(JSON.stringify(manifest)),
      manifestMediaType: manifest.mediaType!,
      config: configBytes,
      layers,
      tags,
      unpackedSize,
    });
  } finally {
    await lease.release();
  }
}

async function snapshotSize(store: ImageStore, chainId: string): Promise<number> {
  try {
    return Number(JSON.parse(await readFile(join(store.snapshotDir(chainId), "info.json"), "utf8")).unpackedSize) || 0;
  } catch {
    return 0;
  }
}

async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}
