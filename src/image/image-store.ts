import { existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../common/atomic-file.js";
import { BerthError, hasErrorCode } from "../common/berth-error.js";
import { withStateLock } from "../common/file-lock.js";
import { stateRoot } from "../common/paths.js";
import { ContentStore, type ContentStoreOptions } from "./content-store.js";
import type { BlobSource, ImageRecord, LayerRecord } from "./image-record.js";
import { digestHex, type ImageConfig } from "./oci.js";
import { familiarName, formatReference, parseReference, repositoryName } from "./reference.js";

export type { EnsureLayerInput, Lease } from "./content-store.js";


/** The tag index (`index.json`): normalised `registry/repo:tag` → image ID. */
interface TagIndex {
  tags: Record<string, string>;
}

/** The rootfs of an image as the engine mounts it. */
export interface RootfsLayers {
  /** The image ID (config digest). */
  imageId: string;
  config: ImageConfig;
  /** Snapshot directories, lowest layer first (reverse them for overlayfs `lowerdir=`). */
  layerDirs: string[];
  /** The chain IDs of those snapshots, same order. */
  chainIds: string[];
}

/** Options of {@link ImageStore.remove}. */
export interface RemoveOptions {
  /** Remove even while a container uses the image. @default false */
  force?: boolean;
}

/** Options of {@link ImageStore.prune}. */
export interface PruneOptions {
  /** Also remove dangling images (untagged, not pulled by digest, unused). @default true */
  dangling?: boolean;
}

/**
 * The image store under `<state root>/image/`: the {@link ContentStore} (blobs, snapshots,
 * leases) plus `images/<id hex>.json` (per-image records) and `index.json` (tags), and the
 * engine's view of it ({@link acquireRootfs}).
 *
 * Safe for many processes at once: records are written atomically, the tag index is changed
 * under a file lock, and a layer is fetched under a per-layer lock so concurrent pulls
 * fetch it once.
 */
export class ImageStore extends ContentStore {
  constructor(stateDir: string = stateRoot(), options: ContentStoreOptions = {}) {
    super(join(stateDir, "image"), options);
  }

  private get indexPath(): string {
    return join(this.root, "index.json");
  }

  private imagePath(id: string): string {
    return join(this.root, "images", `${digestHex(id)}.json`);
  }

  /**
   * Commits an image: manifest and config blobs (already verified by the caller), the
   * image record, then the tags — last, so a reader never sees a tag whose image is partial.
   */
  async commitImage(input: {
    manifest: Buffer;
    manifestMediaType: string;
    config: Buffer;
    layers: LayerRecord[];
    tags: string[];
    repoDigest?: string;
    source?: BlobSource;
    unpackedSize: number;
  }): Promise<ImageRecord> {
    await this.ensureLayout();
    const manifestDigest = await this.writeBlob(input.manifest);
    const id = await this.writeBlob(input.config);
    return withStateLock(this.indexLock, async () => {
      const previous = await this.readRecord(id);
      const record: ImageRecord = {
        id,
        manifestDigest,
        manifestMediaType: input.manifestMediaType,
        repoDigests: unique([...(previous?.repoDigests ?? []), ...(input.repoDigest ? [input.repoDigest] : [])]),
        layers: input.layers,
        sources: uniqueSources([...(previous?.sources ?? []), ...(input.source ? [input.source] : [])]),
        unpackedSize: input.unpackedSize,
        addedAt: previous?.addedAt ?? new Date().toISOString(),
      };
      await writeFileAtomic(this.imagePath(id), JSON.stringify(record, null, 2));
      if (input.tags.length > 0) {
        const index = await this.readIndex();
        for (const tag of input.tags) index.tags[tag] = id;
        await writeFileAtomic(this.indexPath, JSON.stringify(index, null, 2));
      }
      return record;
    });
  }

  /** Adds sources and repo digests to an image (after a push). */
  async annotate(id: string, extra: { source?: BlobSource; repoDigest?: string }): Promise<void> {
    await withStateLock(this.indexLock, async () => {
      const record = await this.readRecord(id);
      if (!record) return;
      if (extra.source) record.sources = uniqueSources([...record.sources, extra.source]);
      if (extra.repoDigest) record.repoDigests = unique([...record.repoDigests, extra.repoDigest]);
      await writeFileAtomic(this.imagePath(id), JSON.stringify(record, null, 2));
    });
  }

  private async readIndex(): Promise<TagIndex> {
    try {
      // Synchronous, as the record below: small files, read on every container create, where
      // a thread-pool round trip costs more than the read.
      const parsed = JSON.parse(readFileSync(this.indexPath, "utf8")) as TagIndex;
      return { tags: parsed.tags ?? {} };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { tags: {} };
      throw new BerthError("BERTH_IO", `cannot read image index ${this.indexPath}`, { path: this.indexPath, cause: error });
    }
  }

  async readRecord(id: string): Promise<ImageRecord | undefined> {
    try {
      return JSON.parse(readFileSync(this.imagePath(id), "utf8")) as ImageRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new BerthError("BERTH_IO", `cannot read image record for ${id}`, { image: id, cause: error });
    }
  }

  /** The tags (normalised) that point at `id`. */
  async tagsOf(id: string): Promise<string[]> {
    const index = await this.readIndex();
    return Object.entries(index.tags)
      .filter(([, v]) => v === id)
      .map(([k]) => k)
      .sort();
  }

  /**
   * Finds an image by reference (`redis`, `localhost:5000/app:1`, `name@sha256:…`), by ID
   * (`sha256:…`) or by an unambiguous ID prefix of at least 4 hex characters, as Docker does.
   */
  async find(reference: string): Promise<ImageRecord | undefined> {
    // A full ID names its record file: no listing of every image (the engine's path).
    if (fullId.test(reference)) return this.readRecord(reference);
    const idLike = /^(sha256:)?([a-f0-9]{4,64})$/.exec(reference);
    if (idLike) {
      const prefix = idLike[2]!;
      const names = await readdir(join(this.root, "images")).catch(() => [] as string[]);
      const matches = names.filter((n) => n.endsWith(".json") && n.startsWith(prefix));
      if (matches.length === 1) return this.readRecord(`sha256:${matches[0]!.slice(0, -5)}`);
      if (matches.length > 1) {
        throw new BerthError("BERTH_REFERENCE_INVALID", `image ID prefix ${reference} is ambiguous`, { image: reference });
      }
      // A bare hex name that is not an ID may still be a repository (`docker.io/library/cafe`).
      if (idLike[1] || prefix.length === 64) return undefined;
    }
    const ref = parseReference(reference);
    if (ref.digest) {
      const wanted = `${repositoryName(ref)}@${ref.digest}`;
      for (const record of await this.list()) {
        if (record.repoDigests.includes(wanted) || record.manifestDigest === ref.digest) return record;
      }
      return undefined;
    }
    const index = await this.readIndex();
    const id = index.tags[formatReference(ref)];
    return id ? this.readRecord(id) : undefined;
  }

  /** Like {@link find}, failing with `BERTH_IMAGE_NOT_FOUND`. */
  async get(reference: string): Promise<ImageRecord> {
    const record = await this.find(reference);
    if (!record) throw new BerthError("BERTH_IMAGE_NOT_FOUND", `image ${reference} is not in the store`, { image: reference });
    return record;
  }

  async list(): Promise<ImageRecord[]> {
    const names = await readdir(join(this.root, "images")).catch(() => [] as string[]);
    const out: ImageRecord[] = [];
    for (const name of names) {
      if (!name.endsWith(".json") || name.startsWith(".")) continue;
      const record = await this.readRecord(`sha256:${name.slice(0, -5)}`);
      if (record) out.push(record);
    }
    return out;
  }

  /** Points `reference` (normalised) at image `id`. */
  async tag(id: string, reference: string): Promise<string> {
    const ref = parseReference(reference);
    if (ref.digest) throw new BerthError("BERTH_REFERENCE_INVALID", `cannot tag with a digest: ${reference}`, { image: reference });
    const name = formatReference(ref);
    await withStateLock(this.indexLock, async () => {
      if (!(await this.readRecord(id))) throw new BerthError("BERTH_IMAGE_NOT_FOUND", `image ${id} is not in the store`, { image: id });
      const index = await this.readIndex();
      index.tags[name] = id;
      await writeFileAtomic(this.indexPath, JSON.stringify(index, null, 2));
    });
    return name;
  }

  /** Whether a container holds any snapshot of `id`, from the engine's user records. */
  async usersOf(record: ImageRecord): Promise<string[]> {
    const users = new Set<string>();
    for (const layer of record.layers) {
      const dir = join(this.snapshotDir(layer.chainId), "users");
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const owner = await readFile(join(dir, name), "utf8").catch(() => "");
        if (owner.trim() === record.id) users.add(name);
      }
    }
    return [...users];
  }

  /**
   * `docker rmi`: a tag reference removes that tag, and the image goes when no tag is left;
   * an ID removes the image and all its tags. Refuses with `BERTH_IMAGE_IN_USE` while a
   * container uses the image, unless `force`. Blobs and snapshots are freed by {@link prune}.
   */
  async remove(reference: string, options: RemoveOptions = {}): Promise<{ untagged: string[]; deleted: boolean }> {
    const record = await this.get(reference);
    const byId = /^(sha256:)?[a-f0-9]{4,64}$/.test(reference) && !(await this.tagsOf(record.id)).includes(safeFormat(reference));
    return withStateLock(this.indexLock, async () => {
      const index = await this.readIndex();
      const tags = Object.keys(index.tags).filter((t) => index.tags[t] === record.id);
      let untagged: string[];
      if (byId) {
        untagged = tags;
      } else {
        const ref = parseReference(reference);
        untagged = ref.digest ? [] : [formatReference(ref)];
      }
      const remaining = tags.filter((t) => !untagged.includes(t));
      const deleting = remaining.length === 0;
      if (deleting && !options.force) {
        const users = await this.usersOf(record);
        if (users.length > 0) {
          throw new BerthError("BERTH_IMAGE_IN_USE", `image ${reference} is used by container ${users.join(", ")}`, {
            image: reference,
            containers: users,
          });
        }
      }
      for (const t of untagged) delete index.tags[t];
      await writeFileAtomic(this.indexPath, JSON.stringify(index, null, 2));
      if (deleting) await rm(this.imagePath(record.id), { force: true });
      return { untagged: untagged.map((t) => familiarName(parseReference(t))), deleted: deleting };
    });
  }

  /**
   * Frees what nothing uses: dangling images (untagged, not pulled by digest, used by no
   * container; skipped when `dangling` is false), then blobs
   * and snapshots no image record, running pull (lease) or container references, and
   * temporaries of dead processes. Holds the index lock throughout so no pull commits midway.
   */
  async prune(options: PruneOptions = {}): Promise<{ images: string[]; blobs: number; snapshots: number; bytes: number }> {
    await this.ensureLayout();
    return withStateLock(
      this.indexLock,
      async () => {
        const index = await this.readIndex();
        const tagged = new Set(Object.values(index.tags));
        const removedImages: string[] = [];
        const keepBlobs = new Set<string>();
        const keepSnapshots = new Set<string>();
        for (const record of await this.list()) {
          // Dangling: no tag and no repo digest (an image pulled by digest is kept, as
          // pinning by digest is deliberate), and no container.
          const dangling = !tagged.has(record.id) && record.repoDigests.length === 0;
          if (options.dangling !== false && dangling && (await this.usersOf(record)).length === 0) {
            await rm(this.imagePath(record.id), { force: true });
            removedImages.push(record.id);
            continue;
          }
          keepBlobs.add(digestHex(record.id));
          keepBlobs.add(digestHex(record.manifestDigest));
          for (const layer of record.layers) {
            keepBlobs.add(digestHex(layer.digest));
            keepSnapshots.add(digestHex(layer.chainId));
          }
        }
        const freed = await this.sweep(keepBlobs, keepSnapshots);
        return { images: removedImages, ...freed };
      },
      { timeout: 120_000 },
    );
  }

  /**
   * For the engine: the config and the snapshot directories of an image, lowest first.
   * Fails with `BERTH_IMAGE_NOT_FOUND` when the image or a snapshot is missing.
   */
  async getRootfsLayers(reference: string): Promise<RootfsLayers> {
    const record = await this.get(reference);
    const text = await this.#configText(record.id);
    this.#requireSnapshots(record, reference);
    // Parsed per call: the caller owns (and may change) what it gets.
    const config = JSON.parse(text) as ImageConfig;
    return { imageId: record.id, config, layerDirs: record.layers.map((l) => this.snapshotFs(l.chainId)), chainIds: record.layers.map((l) => l.chainId) };
  }

  /** Fails with `BERTH_IMAGE_NOT_FOUND` when a snapshot of `record` (named `reference`) is gone. */
  #requireSnapshots(record: ImageRecord, reference: string): void {
    const missing = record.layers.find((l) => !this.hasSnapshotSync(l.chainId));
    if (missing) {
      throw new BerthError("BERTH_IMAGE_NOT_FOUND", `snapshot ${missing.chainId} of image ${reference} is missing: pull it again`, { image: reference });
    }
  }

  /**
   * An image config's text, read and verified once per process: a blob is named by its digest,
   * so what was verified once never changes (whether the image still exists is its record's
   * to say, read on every call).
   */
  async #configText(id: string): Promise<string> {
    const cached = configTexts.get(id);
    if (cached !== undefined) return cached;
    const text = (await this.readBlob(id)).toString("utf8");
    if (configTexts.size >= maxCachedConfigs) configTexts.delete(configTexts.keys().next().value!);
    configTexts.set(id, text);
    return text;
  }

  /**
   * For the engine: records that `container` uses every snapshot of image `imageId`, so
   * neither `remove` (without force) nor `prune` takes them away. Idempotent.
   */
  async addSnapshotUser(imageId: string, container: string): Promise<void> {
    if (!/^[A-Za-z0-9_.-]+$/.test(container)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `bad container id ${JSON.stringify(container)}`, { container });
    }
    // Under the index lock, so a concurrent prune either ran before (and the image is gone:
    // not found) or runs after and sees the user.
    await withStateLock(this.indexLock, async () => {
      const record = await this.get(imageId);
      // Every snapshot is checked before any is marked: a missing one leaves no user behind.
      this.#requireSnapshots(record, imageId);
      let first: string | undefined;
      for (const layer of record.layers) {
        const dir = join(this.snapshotDir(layer.chainId), "users");
        if (first === undefined || !linkUserFile(first, dir, container)) writeUserFile(dir, container, `${record.id}\n`);
        first ??= join(dir, container);
      }
    });
  }

  /**
   * For the engine, the one call before mounting a container's rootfs: marks the image's
   * snapshots used by `container` and returns its config and layer directories. Undo with
   * {@link removeSnapshotUser} when the container is removed.
   */
  async acquireRootfs(reference: string, container: string): Promise<RootfsLayers> {
    const record = await this.get(reference);
    await this.addSnapshotUser(record.id, container);
    return this.getRootfsLayers(record.id);
  }

  /**
   * For the engine: drops the records {@link addSnapshotUser} wrote for `container`: in the
   * snapshots of `imageId` when given and still in the store (an image's layers never change),
   * else in every snapshot (the image may have been removed with `force` meanwhile).
   */
  async removeSnapshotUser(container: string, imageId?: string): Promise<void> {
    if (!/^[A-Za-z0-9_.-]+$/.test(container)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `bad container id ${JSON.stringify(container)}`, { container });
    }
    const record = imageId !== undefined && fullId.test(imageId) ? await this.readRecord(imageId).catch(() => undefined) : undefined;
    if (record) {
      await Promise.all(record.layers.map((l) => rm(join(this.snapshotDir(l.chainId), "users", container), { force: true })));
      return;
    }
    const snapshots = join(this.root, "snapshots");
    for (const name of await readdir(snapshots).catch(() => [] as string[])) {
      if (name.startsWith(".")) continue;
      await rm(join(snapshots, name, "users", container), { force: true });
    }
  }

  /** Whether an image and all its snapshots are present (the pull-of-present fast path). */
  async isComplete(record: ImageRecord): Promise<boolean> {
    for (const layer of record.layers) if (!(await this.hasSnapshot(layer.chainId))) return false;
    return true;
  }
}

/** `sha256:` and 64 hex digits: an image ID whole. */
const fullId = /^sha256:[a-f0-9]{64}$/;

const configTexts = new Map<string, string>();
/** Configs are a few kB; a process that runs thousands of images keeps the latest. */
const maxCachedConfigs = 256;

/**
 * The other layers' user files of one container are hard links to the first: the same text,
 * with one inode made and freed per container instead of one per layer. On an ext4 without a
 * journal each new inode skips those freed in the last minutes, which costs ~0.2 ms apiece
 * on a host that starts and removes containers all day. False where the file system refuses
 * (no hard links, or the name is taken): the caller writes the file instead.
 */
function linkUserFile(first: string, dir: string, name: string): boolean {
  const target = join(dir, name);
  try {
    linkSync(first, target);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || !existsSync(first)) return false;
  }
  try {
    mkdirSync(dir, { recursive: true });
    linkSync(first, target);
    return true;
  } catch {
    return false;
  }
}

/**
 * A snapshot's user file, written in place rather than renamed over: it is written and read
 * (usersOf, by remove and prune) only under the index lock, so no reader sees it half-written,
 * and on ext4 a rename costs a journal round trip (~0.5 ms on a busy host) per layer per
 * container. Only a power cut mid-write can leave it empty, which counts as no user.
 */
function writeUserFile(dir: string, name: string, content: string): void {
  try {
    writeFileSync(join(dir, name), content);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), content);
  }
}

function safeFormat(reference: string): string {
  try {
    return formatReference(parseReference(reference));
  } catch (error) {
    if (hasErrorCode(error, "BERTH_REFERENCE_INVALID")) return "";
    throw error;
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function uniqueSources(values: BlobSource[]): BlobSource[] {
  const seen = new Map<string, BlobSource>();
  for (const v of values) seen.set(`${v.registry}/${v.repository}`, v);
  return [...seen.values()];
}
