import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { writeFileAtomic, syncDirectory } from "../common/atomic-file.js";
import { BerthError } from "../common/berth-error.js";
import { withStateLock } from "../common/file-lock.js";
import { logger } from "../common/logger.js";
import { removeTree } from "../common/user-namespace.js";
import type { LayerRecord } from "./image-record.js";
import { unpackerChecksDigest, unpackLayer, type Compression } from "./layer-unpack.js";
import { digestHex, sha256Digest } from "./oci.js";
import { isSha256Digest } from "./reference.js";

const log = logger("image:content");

/** Options of {@link ContentStore}. */
export interface ContentStoreOptions {
  /** How long to wait for a layer another process is fetching, in ms. @default 1_800_000 */
  layerLockTimeout?: number;
}

/** A layer to make present: its blob and its unpacked snapshot. */
export interface EnsureLayerInput {
  layer: LayerRecord;
  /**
   * Opens the blob's bytes (a download); called only when they are not in the store.
   * `verifyDigest` false says the unpacker checks the digest itself before anything is
   * committed, so the stream need not hash the bytes too.
   */
  open: (options: { verifyDigest: boolean }) => Promise<Readable>;
  compression: Compression;
}

/** What {@link ContentStore.lease} returns. */
export interface Lease {
  /** Adds digests (blobs or chain IDs) to protect. */
  extend(digests: string[]): Promise<void>;
  /** Drops the lease; call once the image is committed or the operation failed. */
  release(): Promise<void>;
}

const tmpPrefix = ".tmp-";

/**
 * The content half of the image store, under `<state root>/image/`: `blobs/sha256/<hex>`
 * (layers, configs, manifests, by digest), `snapshots/<chain hex>/fs` (unpacked layers),
 * `leases/` (what running operations are about to commit), `ingest/` and `.tmp-*` names
 * (temporaries carrying their writer's pid), `locks/`. Knows nothing of tags or images:
 * {@link ImageStore} builds those on top.
 */
export class ContentStore {
  /** `<state root>/image`. */
  readonly root: string;
  private readonly layerLockTimeout: number;

  constructor(root: string, options: ContentStoreOptions = {}) {
    this.root = root;
    this.layerLockTimeout = options.layerLockTimeout ?? 30 * 60_000;
  }

  /** The lock that guards the tag index and serialises leases with prune. */
  protected get indexLock(): string {
    return join(this.root, "locks", "index.lock");
  }

  blobPath(digest: string): string {
    return join(this.root, "blobs", "sha256", digestHex(digest));
  }

  snapshotDir(chainId: string): string {
    return join(this.root, "snapshots", digestHex(chainId));
  }

  /** The directory containers stack as an overlayfs lowerdir. */
  snapshotFs(chainId: string): string {
    return join(this.snapshotDir(chainId), "fs");
  }

  /** Creates the store's directories if missing. */
  async ensureLayout(): Promise<void> {
    for (const dir of ["blobs/sha256", "snapshots", "images", "locks", "ingest", "leases"]) {
      await mkdir(join(this.root, dir), { recursive: true });
    }
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  async hasSnapshot(chainId: string): Promise<boolean> {
    return this.hasSnapshotSync(chainId);
  }

  /**
   * {@link hasSnapshot} without the thread pool, for the engine's path to a container's start:
   * one stat costs microseconds, an awaited one a round trip through the pool and the event
   * loop (tenths of a millisecond on a busy process), and a start checks every layer twice.
   */
  hasSnapshotSync(chainId: string): boolean {
    return existsSync(this.snapshotFs(chainId));
  }

  /** Reads a blob whole, verifying its digest (for manifests and configs). */
  async readBlob(digest: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (error) {
      throw new BerthError("BERTH_IMAGE_NOT_FOUND", `blob ${digest} is not in the store`, { digest, cause: error });
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new BerthError("BERTH_DIGEST_MISMATCH", `stored blob ${digest} is corrupt (its digest is ${actual})`, {
        digest,
        actual,
        path: this.blobPath(digest),
      });
    }
    return bytes;
  }

  openBlob(digest: string): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: 256 * 1024 });
  }

  /** Stores small bytes (a manifest, a config) as a blob; returns its digest. */
  async writeBlob(bytes: Uint8Array): Promise<string> {
    await this.ensureLayout();
    const digest = sha256Digest(bytes);
    if (!(await this.hasBlob(digest))) await writeFileAtomic(this.blobPath(digest), bytes);
    return digest;
  }

  /**
   * Stores a stream as a blob through a private temporary file, verifying `expected` when
   * given; returns the digest. A crash leaves only an `ingest/` file, removed by later runs.
   */
  async ingestBlob(source: Readable, expected?: string): Promise<{ digest: string; size: number }> {
    await this.ensureLayout();
    const tmp = this.tmpName(join(this.root, "ingest"), expected ? digestHex(expected) : "blob");
    const fh = await open(tmp, "w", 0o644);
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of source) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
        await fh.write(chunk as Buffer);
      }
      await fh.sync();
    } catch (error) {
      await fh.close();
      await rm(tmp, { force: true });
      throw error;
    }
    await fh.close();
    const digest = `sha256:${hash.digest("hex")}`;
    if (expected && digest !== expected) {
      await rm(tmp, { force: true });
      throw new BerthError("BERTH_DIGEST_MISMATCH", `blob digest is ${digest}, expected ${expected}`, {
        expected,
        actual: digest,
      });
    }
    await rename(tmp, this.blobPath(digest));
    return { digest, size };
  }

  /**
   * A gzip-compressed copy of an uncompressed layer blob, stored as a blob of its own (push
   * sends layers compressed, as Docker does). Made once: `gzip/<hex>` remembers the copy's
   * digest, and zlib's output for the same input and level is the same bytes every time.
   */
  async gzipBlob(digest: string): Promise<{ digest: string; size: number }> {
    await this.ensureLayout();
    const note = join(this.root, "gzip", digestHex(digest));
    const known = await readFile(note, "utf8").catch(() => undefined);
    if (known && isSha256Digest(known.trim()) && (await this.hasBlob(known.trim()))) {
      return { digest: known.trim(), size: (await stat(this.blobPath(known.trim()))).size };
    }
    const gzip = createGzip({ chunkSize: 256 * 1024 });
    // pipeline destroys the gzip stream with a read error, which ingestBlob then reports.
    pipeline(this.openBlob(digest), gzip).catch(() => {});
    const made = await this.ingestBlob(gzip);
    await mkdir(join(this.root, "gzip"), { recursive: true });
    await writeFileAtomic(note, made.digest, { fsync: false });
    return made;
  }

  protected tmpName(dir: string, key: string): string {
    return join(dir, `${tmpPrefix}${key}-${process.pid}-${randomBytes(4).toString("hex")}`);
  }

  /**
   * Makes a layer's blob and snapshot present, fetching and unpacking it at most once across
   * processes (under the layer's lock; a second process waits, then finds it done). The
   * bytes are hashed, stored and unpacked in one pass. Returns whether it fetched.
   */
  async ensureLayer(input: EnsureLayerInput): Promise<{ fetched: boolean; unpackedSize: number }> {
    const { layer } = input;
    await this.ensureLayout();
    const lock = join(this.root, "locks", `layer-${digestHex(layer.chainId)}.lock`);
    return withStateLock(
      lock,
      async () => {
        const haveBlob = await this.hasBlob(layer.digest);
        const haveSnapshot = await this.hasSnapshot(layer.chainId);
        if (haveBlob && haveSnapshot) return { fetched: false, unpackedSize: await this.snapshotSize(layer.chainId) };
        await this.removeStaleTemps(join(this.root, "snapshots"), digestHex(layer.chainId));
        await this.removeStaleTemps(join(this.root, "ingest"), digestHex(layer.digest));
        const fetched = !haveBlob;
        const source = haveBlob ? this.openBlob(layer.digest) : await input.open({ verifyDigest: !(await unpackerChecksDigest()) });
        const tmpSnap = this.tmpName(join(this.root, "snapshots"), digestHex(layer.chainId));
        const tmpBlob = haveBlob ? undefined : this.tmpName(join(this.root, "ingest"), digestHex(layer.digest));
        try {
          // The blob file is written beside the unpacking (by the native unpacker when it can),
          // flushed once both digests matched, and renamed into place only then.
          const result = await unpackLayer(source, {
            dest: join(tmpSnap, "fs"),
            compression: input.compression,
            expectedDigest: layer.digest,
            expectedDiffId: layer.diffId,
            ...(tmpBlob ? { blobFile: tmpBlob } : {}),
          });
          if (result.size !== layer.size && layer.size >= 0) {
            throw new BerthError("BERTH_DIGEST_MISMATCH", `layer ${layer.digest} is ${result.size} bytes, expected ${layer.size}`, {
              digest: layer.digest,
            });
          }
          if (tmpBlob) await rename(tmpBlob, this.blobPath(layer.digest));
          if (haveSnapshot) {
            await rm(tmpSnap, { recursive: true, force: true });
          } else {
            await writeFile(
              join(tmpSnap, "info.json"),
              JSON.stringify({ chainId: layer.chainId, diffId: layer.diffId, unpackedSize: result.unpackedSize }),
            );
            await rename(tmpSnap, this.snapshotDir(layer.chainId));
            await syncDirectory(join(this.root, "snapshots"));
          }
          return { fetched, unpackedSize: result.unpackedSize };
        } catch (error) {
          source.destroy();
          if (tmpBlob) await rm(tmpBlob, { force: true });
          await rm(tmpSnap, { recursive: true, force: true });
          throw error;
        }
      },
      { timeout: this.layerLockTimeout },
    );
  }

  private async snapshotSize(chainId: string): Promise<number> {
    try {
      const info = JSON.parse(await readFile(join(this.snapshotDir(chainId), "info.json"), "utf8"));
      return Number(info.unpackedSize) || 0;
    } catch {
      return 0;
    }
  }

  /** Removes temporaries named for `key` whose writer process is gone. */
  private async removeStaleTemps(dir: string, key: string): Promise<void> {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.startsWith(`${tmpPrefix}${key}-`)) continue;
      const pid = Number(name.slice(tmpPrefix.length + key.length + 1).split("-")[0]);
      if (isAlive(pid)) continue;
      log("removing stale temporary %s", name);
      await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  /**
   * Records a running operation's intent to commit these digests, so {@link prune} spares
   * them until the returned release runs (or the process dies).
   */
  async lease(digests: string[]): Promise<Lease> {
    await this.ensureLayout();
    const path = join(this.root, "leases", `${process.pid}-${randomBytes(4).toString("hex")}.json`);
    const held = [...digests];
    const write = () => withStateLock(this.indexLock, () => writeFileAtomic(path, JSON.stringify(held), { fsync: false }));
    await write();
    return {
      extend: async (more) => {
        held.push(...more);
        await write();
      },
      release: () => rm(path, { force: true }),
    };
  }

  /**
   * Deletes blobs and snapshots not in the keep sets, not held by a live lease and (for
   * snapshots) used by no container, and temporaries of dead processes. The caller holds
   * {@link indexLock}, which leases are also written under.
   */
  protected async sweep(keepBlobs: Set<string>, keepSnapshots: Set<string>): Promise<{ blobs: number; snapshots: number; bytes: number }> {
    for (const name of await readdir(join(this.root, "leases")).catch(() => [] as string[])) {
      const pid = Number(name.split("-")[0]);
      if (!isAlive(pid)) {
        await rm(join(this.root, "leases", name), { force: true });
        continue;
      }
      const held = JSON.parse(await readFile(join(this.root, "leases", name), "utf8").catch(() => "[]")) as string[];
      for (const d of held) {
        if (!isSha256Digest(d)) continue;
        keepBlobs.add(digestHex(d));
        keepSnapshots.add(digestHex(d));
      }
    }
    let blobs = 0;
    let snapshots = 0;
    let bytes = 0;
    const blobDir = join(this.root, "blobs", "sha256");
    for (const name of await readdir(blobDir)) {
      if (keepBlobs.has(name) || name.startsWith(".")) continue;
      bytes += (await stat(join(blobDir, name)).catch(() => ({ size: 0 }))).size;
      await rm(join(blobDir, name), { force: true });
      blobs++;
    }
    const snapDir = join(this.root, "snapshots");
    for (const name of await readdir(snapDir)) {
      if (name.startsWith(tmpPrefix)) {
        const pid = Number(name.split("-").at(-2));
        if (!isAlive(pid)) await rm(join(snapDir, name), { recursive: true, force: true });
        continue;
      }
      if (keepSnapshots.has(name)) continue;
      const users = await readdir(join(snapDir, name, "users")).catch(() => [] as string[]);
      if (users.length > 0) continue;
      // Rootless: a snapshot given its layer's owners holds files of subordinate ids.
      await removeTree(join(snapDir, name));
      snapshots++;
    }
    for (const name of await readdir(join(this.root, "ingest")).catch(() => [] as string[])) {
      const pid = Number(name.split("-").at(-2));
      if (!isAlive(pid)) await rm(join(this.root, "ingest", name), { recursive: true, force: true });
    }
    return { blobs, snapshots, bytes };
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
