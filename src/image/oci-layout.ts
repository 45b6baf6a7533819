import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import { writeFileAtomic } from "../common/atomic-file.js";
import { BerthError } from "../common/berth-error.js";
import { withFileLock } from "../common/file-lock.js";
import type { FetchedManifest, RegistryTransport, RepositoryRef, TransferProgress } from "../registry/types.js";
import { digestHex, parseJson, sha256Digest, type Descriptor, type ImageIndex } from "./oci.js";
import { repositoryName } from "./reference.js";

/** The annotation OCI layouts name a manifest's tag with (skopeo and umoci write the tag). */
export const refNameAnnotation = "org.opencontainers.image.ref.name";
/** The annotation containerd and Docker 25+ put the full image name in. */
export const imageNameAnnotation = "io.containerd.image.name";

/**
 * A {@link RegistryTransport} over an OCI image layout directory (image-spec `image-layout`):
 * the same pull and push code serves a registry and `Image.import`/`image.export`. The
 * layout holds what one registry repository would; `repo` only narrows name annotations.
 */
export class OciLayoutTransport implements RegistryTransport {
  /** Blob downloads served, by digest: tests count them to prove a blob was fetched once. */
  readonly blobReads = new Map<string, number>();

  constructor(readonly dir: string) {}

  private blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", digestHex(digest));
  }

  async readIndex(): Promise<ImageIndex> {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.dir, "index.json"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { schemaVersion: 2, manifests: [] };
      throw new BerthError("BERTH_IO", `cannot read ${join(this.dir, "index.json")}`, { path: this.dir, cause: error });
    }
    const index = parseJson<ImageIndex>(bytes, `${join(this.dir, "index.json")}`);
    if (!Array.isArray(index.manifests)) {
      throw new BerthError("BERTH_ARCHIVE_INVALID", `${join(this.dir, "index.json")} has no manifests`, { path: this.dir });
    }
    return index;
  }

  async getManifest(repo: RepositoryRef, tagOrDigest: string): Promise<FetchedManifest> {
    let descriptor: Descriptor | undefined;
    if (tagOrDigest.startsWith("sha256:")) {
      descriptor = (await this.readIndex()).manifests.find((m) => m.digest === tagOrDigest);
      if (!descriptor) descriptor = { mediaType: "", digest: tagOrDigest, size: -1 };
    } else {
      const full = `${repositoryName(repo)}:${tagOrDigest}`;
      const manifests = (await this.readIndex()).manifests;
      descriptor =
        manifests.find((m) => m.annotations?.[imageNameAnnotation] === full) ??
        manifests.find((m) => m.annotations?.[refNameAnnotation] === tagOrDigest || m.annotations?.[refNameAnnotation] === full);
    }
    if (!descriptor) {
      throw new BerthError("BERTH_REGISTRY_NOT_FOUND", `OCI layout ${this.dir} has no manifest tagged ${tagOrDigest}`, {
        path: this.dir,
        tag: tagOrDigest,
      });
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(descriptor.digest));
    } catch (error) {
      throw new BerthError("BERTH_REGISTRY_NOT_FOUND", `OCI layout ${this.dir} lacks blob ${descriptor.digest}`, {
        path: this.dir,
        digest: descriptor.digest,
        cause: error,
      });
    }
    const digest = sha256Digest(bytes);
    if (digest !== descriptor.digest) {
      throw new BerthError("BERTH_DIGEST_MISMATCH", `manifest ${descriptor.digest} in ${this.dir} has digest ${digest}`, {
        path: this.dir,
        expected: descriptor.digest,
        actual: digest,
      });
    }
    const inner = parseJson<{ mediaType?: string }>(bytes, `manifest ${digest}`);
    return { mediaType: inner.mediaType ?? descriptor.mediaType, digest, bytes };
  }

  async getBlob(
    _repo: RepositoryRef,
    digest: string,
    options: { size?: number; onProgress?: (p: TransferProgress) => void; signal?: AbortSignal } = {},
  ): Promise<Readable> {
    const path = this.blobPath(digest);
    await stat(path).catch((error: unknown) => {
      throw new BerthError("BERTH_REGISTRY_NOT_FOUND", `OCI layout ${this.dir} lacks blob ${digest}`, { path, digest, cause: error });
    });
    this.blobReads.set(digest, (this.blobReads.get(digest) ?? 0) + 1);
    const stream = createReadStream(path, { highWaterMark: 256 * 1024, ...(options.signal ? { signal: options.signal } : {}) });
    return stream.pipe(new VerifyingStream(digest, options.size, options.onProgress)).on("error", () => stream.destroy());
  }

  async hasBlob(_repo: RepositoryRef, digest: string): Promise<boolean> {
    return stat(this.blobPath(digest)).then(
      () => true,
      () => false,
    );
  }

  async pushBlob(
    repo: RepositoryRef,
    digest: string,
    size: number,
    openBlob: () => Readable,
    options: { onProgress?: (p: TransferProgress) => void } = {},
  ): Promise<void> {
    if (await this.hasBlob(repo, digest)) return;
    await this.init();
    const final = this.blobPath(digest);
    const tmp = join(this.dir, "blobs", "sha256", `.tmp-${digestHex(digest)}-${process.pid}-${randomBytes(4).toString("hex")}`);
    const fh = await open(tmp, "w", 0o644);
    try {
      const verify = new VerifyingStream(digest, size, options.onProgress);
      const source = openBlob().pipe(verify);
      for await (const chunk of source) await fh.write(chunk as Buffer);
      await fh.close();
      await rename(tmp, final);
    } catch (error) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async putManifest(repo: RepositoryRef, tagOrDigest: string, mediaType: string, bytes: Buffer): Promise<string> {
    await this.init();
    const digest = sha256Digest(bytes);
    await writeFileAtomic(this.blobPath(digest), bytes, { fsync: false });
    await withFileLock(join(this.dir, ".index.lock"), async () => {
      const index = await this.readIndex();
      const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
      if (!tagOrDigest.startsWith("sha256:")) {
        const full = `${repositoryName(repo)}:${tagOrDigest}`;
        descriptor.annotations = { [imageNameAnnotation]: full, [refNameAnnotation]: tagOrDigest };
        index.manifests = index.manifests.filter(
          (m) => m.annotations?.[imageNameAnnotation] !== full && !(m.annotations?.[refNameAnnotation] === tagOrDigest && !m.annotations?.[imageNameAnnotation]),
        );
      } else if (index.manifests.some((m) => m.digest === digest)) {
        return;
      }
      index.manifests.push(descriptor);
      const out = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: index.manifests };
      await writeFileAtomic(join(this.dir, "index.json"), JSON.stringify(out), { fsync: false });
    });
    return digest;
  }

  /** Creates the layout's skeleton (`oci-layout`, `blobs/sha256`) if missing. */
  async init(): Promise<void> {
    await mkdir(join(this.dir, "blobs", "sha256"), { recursive: true });
    const marker = join(this.dir, "oci-layout");
    if (!(await stat(marker).catch(() => undefined))) {
      await writeFileAtomic(marker, JSON.stringify({ imageLayoutVersion: "1.0.0" }), { fsync: false });
    }
  }
}

/**
 * Passes bytes through, counting and hashing; at the end fails with
 * `BERTH_DOWNLOAD_TRUNCATED` (short) or `BERTH_DIGEST_MISMATCH`, so a consumer that commits
 * on `end` never commits bad bytes (the contract of `RegistryTransport.getBlob`).
 */
export class VerifyingStream extends Transform {
  private readonly hash = createHash("sha256");
  private bytes = 0;
  constructor(
    private readonly digest: string,
    private readonly size: number | undefined,
    private readonly onProgress?: (p: TransferProgress) => void,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onProgress?.({ digest: this.digest, current: this.bytes, total: this.size });
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.size !== undefined && this.size >= 0 && this.bytes < this.size) {
      cb(new BerthError("BERTH_DOWNLOAD_TRUNCATED", `blob ${this.digest} ended after ${this.bytes} of ${this.size} bytes`, { digest: this.digest }));
      return;
    }
    const actual = `sha256:${this.hash.digest("hex")}`;
    if (actual !== this.digest) {
      cb(new BerthError("BERTH_DIGEST_MISMATCH", `blob has digest ${actual}, expected ${this.digest}`, { expected: this.digest, actual }));
      return;
    }
    cb();
  }
}
