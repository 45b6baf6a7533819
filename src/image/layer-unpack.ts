import { createHash, type Hash } from "node:crypto";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { BerthError, isBerthError } from "../common/berth-error.js";
import { isRoot } from "../common/paths.js";
import { decompressor, type Compression } from "./compression.js";
import { Extractor } from "./layer-extractor.js";
import {
  nativeChecksDigest,
  nativeDecompresses,
  nativeUnpacker,
  nativeWritesBlob,
  startNativeUnpack,
  type NativeUnpack,
  type NativeUnpackResult,
} from "./native-unpacker.js";
import { TarGuard } from "./tar-guard.js";

export { classifyWhiteout, type WhiteoutKind } from "./layer-extractor.js";
export { decompressor, readHead, sniffCompression, type Compression } from "./compression.js";

/** Options of {@link unpackLayer}. */
export interface UnpackLayerOptions {
  /** An empty directory (created if missing) that receives the layer's files. */
  dest: string;
  /** How the stream is compressed. */
  compression: Compression;
  /** The expected `sha256:` of the bytes as given (the blob digest); checked at the end. @default not checked */
  expectedDigest?: string;
  /** The expected `sha256:` of the uncompressed tar (the diff_id); checked at the end. @default not checked */
  expectedDiffId?: string;
  /**
   * Also write the bytes as given to this file (the blob being ingested): created here (it
   * must not exist), flushed to disk once both digests matched, removed when unpacking fails.
   * The caller renames it into place. @default none
   */
  blobFile?: string;
  /** Whether to apply ownership, device nodes and privileged xattrs. @default process is root */
  privileged?: boolean;
  /**
   * Which extractor creates the entries: `native` (`berth-runtime unpack`, in C, beside this
   * process), `js` (layer-extractor.ts, in this process), or `auto`: native when the binary
   * is built and `BERTH_UNPACKER` is not `js`. Both follow the same rules.
   * @default "auto"
   */
  extractor?: "auto" | "native" | "js";
}

/** What unpacking measured. */
export interface UnpackResult {
  /** `sha256:` of the bytes as given. */
  digest: string;
  /** Size of the bytes as given. */
  size: number;
  /** `sha256:` of the uncompressed tar. */
  diffId: string;
  /** Bytes of regular-file content written. */
  unpackedSize: number;
}

/** Bytes a stage buffers: large, because every hand-over between stages (and threads) costs a wake-up. */
const stageBuffer = 1024 * 1024;
/** Bytes of the blob copy that may be queued for writing before the stream waits for the disk. */
const teeBacklog = 8 * 1024 * 1024;

/**
 * Counts and hashes bytes that pass through, and copies them to `tee`. The copy is written
 * in the background (in order) while the bytes flow on, so the disk's latency is not added
 * to every chunk; the stream waits only when the backlog grows, and at its end.
 */
class Hasher extends Transform {
  /** Null when the bytes are only counted and copied (the native unpacker hashes them). */
  readonly hash: Hash | null;
  bytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private queued = 0;
  private failure: unknown;

  constructor(
    private readonly tee?: FileHandle,
    hashing = true,
  ) {
    super({ highWaterMark: stageBuffer });
    this.hash = hashing ? createHash("sha256") : null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    if (!this.tee) return cb(null, chunk);
    if (this.failure) return cb(this.asError(this.failure));
    const tee = this.tee;
    this.queued += chunk.length;
    this.writing = this.writing.then(async () => {
      if (this.failure) return;
      try {
        await tee.write(chunk);
      } catch (error) {
        this.failure = error;
      } finally {
        this.queued -= chunk.length;
      }
    });
    if (this.queued < teeBacklog) return cb(null, chunk);
    this.writing.then(() => (this.failure ? cb(this.asError(this.failure)) : cb(null, chunk)));
  }

  override _flush(cb: TransformCallback): void {
    this.writing.then(() => (this.failure ? cb(this.asError(this.failure)) : cb()));
  }

  private asError(error: unknown): BerthError {
    return new BerthError("BERTH_IO", "cannot write blob", { cause: error });
  }
}

/**
 * Unpacks one layer, in one pass over its bytes: hash the bytes as given (and copy them to
 * `tee`), decompress, hash the tar (the diff_id), extract — in C by `berth-runtime unpack`
 * beside this process when it is built (native-unpacker.ts: it then also decompresses and
 * hashes, and this process only copies the bytes to it and to `tee`), else in JavaScript
 * (layer-extractor.ts), with the same rules. Entries are confined to `dest` (see
 * `safe-path.ts`); whiteouts become what overlayfs expects. Fails with
 * `BERTH_DIGEST_MISMATCH` when a digest differs, `BERTH_LAYER_INVALID` for a corrupt stream
 * or tar, `BERTH_PATH_ESCAPE` for an entry that would land outside `dest`. On failure `dest`
 * is left for the caller to remove (it is always a private temporary directory).
 */
export async function unpackLayer(source: Readable, options: UnpackLayerOptions): Promise<UnpackResult> {
  const { dest, compression, privileged = isRoot() } = options;
  await mkdir(dest, { recursive: true, mode: 0o755 });
  const binary = await chooseUnpacker(options.extractor);
  if (binary && nativeWritesBlob(binary)) {
    // The unpacker decompresses, checks both digests and writes the blob file; this process
    // only moves the bytes from the socket into the pipe.
    const native = startNativeUnpack(binary, dest, privileged, {
      compression,
      ...(options.expectedDigest ? { expectedDigest: options.expectedDigest } : {}),
      ...(options.expectedDiffId ? { expectedDiffId: options.expectedDiffId } : {}),
      ...(options.blobFile ? { blobFile: options.blobFile } : {}),
    });
    try {
      await feedNative(native, [source]);
      return checkedResult(await native.finishWithin(nativeFinishTimeout), binary);
    } catch (error) {
      // The command removes its blob file when it fails, but not when it was killed.
      if (options.blobFile) await rm(options.blobFile, { force: true });
      throw error;
    }
  }
  const blob = options.blobFile ? await open(options.blobFile, "wx", 0o644) : undefined;
  try {
    const result = await unpackInNode(source, options, privileged, binary, blob);
    if (blob) await blob.sync();
    return result;
  } catch (error) {
    if (options.blobFile) await rm(options.blobFile, { force: true });
    throw error;
  } finally {
    await blob?.close().catch(() => {});
  }
}

/**
 * The `berth-runtime` that unpacks for `extractor`, or null for the JavaScript extractor.
 * Fails when `native` was asked for and none is built.
 */
async function chooseUnpacker(extractor: UnpackLayerOptions["extractor"]): Promise<string | null> {
  const binary = extractor === "js" ? null : await nativeUnpacker();
  if (extractor === "native" && !binary) {
    throw new BerthError("BERTH_RUNTIME_NOT_FOUND", "berth-runtime (for `berth-runtime unpack`) is not built", {});
  }
  return binary;
}

/**
 * Whether {@link unpackLayer} with `extractor` checks the blob digest of the bytes it is given
 * in C, before anything is committed, so whoever downloads them need not hash them too.
 */
export async function unpackerChecksDigest(extractor: UnpackLayerOptions["extractor"] = "auto"): Promise<boolean> {
  const binary = extractor === "js" ? null : await nativeUnpacker();
  return binary !== null && nativeChecksDigest(binary);
}

function checkedResult(result: NativeUnpackResult, binary: string): UnpackResult {
  if (!result.digest || !result.diffId || result.size === undefined) {
    throw new BerthError("BERTH_IO", `berth-runtime unpack reported no digests or size`, { path: binary });
  }
  return { digest: result.digest, size: result.size, diffId: result.diffId, unpackedSize: result.unpackedSize };
}

/**
 * Unpacking where this process passes over the bytes: it copies them to `blob` (a binary
 * built before `--blob-out`, or `BERTH_UNPACKER=native-no-blob`) and, unless the native
 * unpacker decompresses and hashes, hashes them, decompresses and hashes the tar, for the
 * native extractor (`BERTH_UNPACKER=native-tar`, or a binary built before `--gzip`) or the
 * JavaScript one.
 */
async function unpackInNode(
  source: Readable,
  options: UnpackLayerOptions,
  privileged: boolean,
  binary: string | null,
  blob: FileHandle | undefined,
): Promise<UnpackResult> {
  const { dest, compression } = options;
  const given = new Hasher(blob);
  const tarHash = new Hasher();
  if (binary && nativeDecompresses(binary)) {
    // The unpacker decompresses and checks both digests; here the bytes are only counted and
    // copied to the blob file (written in the thread pool, beside the pipe) on their way.
    const copy = new Hasher(blob, false);
    const native = startNativeUnpack(binary, dest, privileged, {
      compression,
      ...(options.expectedDigest ? { expectedDigest: options.expectedDigest } : {}),
      ...(options.expectedDiffId ? { expectedDiffId: options.expectedDiffId } : {}),
    });
    await feedNative(native, [source, copy]);
    const result = checkedResult(await native.finishWithin(nativeFinishTimeout), binary);
    if (result.size !== copy.bytes) {
      throw new BerthError("BERTH_IO", `berth-runtime unpack read ${result.size} of ${copy.bytes} bytes`, { path: binary });
    }
    return result;
  }
  if (binary) {
    const native = startNativeUnpack(binary, dest, privileged);
    await feedNative(native, [source, given, decompressor(compression), tarHash]);
    const { unpackedSize } = await native.finishWithin(nativeFinishTimeout);
    return verified(given, tarHash, options, unpackedSize);
  }
  const guard = new TarGuard();
  const extract = tar.extract();
  const extractor = new Extractor(dest, privileged, guard);
  extract.on("entry", (header, stream, next) => {
    // tar-stream destroys the entry with the pipeline's error; that error is already
    // reported by the pipeline and must not be rethrown as unhandled by the entry stream.
    stream.on("error", () => {});
    extractor.entry(header, stream as unknown as Readable).then(
      () => next(),
      (error: unknown) => {
        // After a teardown the extractor is destroyed and `next` may throw; the pipeline
        // already carries the first error.
        try {
          stream.resume();
          next(error as Error);
        } catch {
          // ignored: see above
        }
      },
    );
  });
  try {
    const stages = [source, given, decompressor(compression), tarHash, guard, extract] as const;
    // pipeline reports the first error; a stage that errors again while being torn down
    // (zlib does on a truncated stream) must not become an uncaught exception.
    for (const stage of stages) (stage as NodeJS.EventEmitter).on("error", () => {});
    await pipeline(...stages);
  } catch (error) {
    await extractor.barrier().catch(() => {});
    throw asLayerError(error);
  }
  // Background writes finish before any verdict, so a caller removing `dest` on failure
  // races with nothing.
  await extractor.barrier();
  const result = verified(given, tarHash, options, 0);
  await extractor.finish();
  return { ...result, unpackedSize: extractor.unpackedSize };
}

/**
 * Runs `stages` into the native unpacker's stdin. When the unpacker refuses an entry it exits
 * at once, and the writer's failure (a broken pipe, or a source torn down with the pipeline)
 * is only the echo: the unpacker's verdict is the story. When the stream itself failed
 * (truncated, corrupt, aborted), the unpacker only saw its input end early, and the stream's
 * error is the story.
 */
async function feedNative(native: NativeUnpack, stages: readonly NodeJS.ReadableStream[]): Promise<void> {
  // pipeline reports the first error; a stage that errors again while being torn down must
  // not become an uncaught exception.
  for (const stage of stages) stage.on("error", () => {});
  let failure: { error: unknown } | undefined;
  try {
    await pipeline([...stages, native.stdin] as ReadonlyArray<NodeJS.ReadableStream | NodeJS.WritableStream>);
  } catch (error) {
    failure = { error };
  }
  if (failure && !(await native.stoppedOnItsOwn(isCausedByUnpacker(failure.error) ? 10_000 : 200))) {
    throw asLayerError(failure.error);
  }
}

/** How long `berth-runtime unpack` may take after its input ended (directory metadata only). */
const nativeFinishTimeout = 10 * 60_000;

/** Errors a pipeline into the native unpacker reports when the unpacker quit first. */
function isCausedByUnpacker(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_DESTROYED";
}

/** Checks both digests once every byte went through. */
function verified(given: Hasher, tarHash: Hasher, options: UnpackLayerOptions, unpackedSize: number): UnpackResult {
  const digest = `sha256:${given.hash!.digest("hex")}`;
  const diffId = `sha256:${tarHash.hash!.digest("hex")}`;
  if (options.expectedDigest && options.expectedDigest !== digest) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `layer digest is ${digest}, expected ${options.expectedDigest}`, {
      expected: options.expectedDigest,
      actual: digest,
    });
  }
  if (options.expectedDiffId && options.expectedDiffId !== diffId) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `layer diff_id is ${diffId}, expected ${options.expectedDiffId}`, {
      expected: options.expectedDiffId,
      actual: diffId,
    });
  }
  return { digest, size: given.bytes, diffId, unpackedSize };
}

function asLayerError(error: unknown): unknown {
  if (isBerthError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR" || code === "Z_NEED_DICT") {
    return new BerthError("BERTH_LAYER_INVALID", "corrupt gzip stream in layer", { cause: error });
  }
  if (code === "ERR_STREAM_PREMATURE_CLOSE") {
    return new BerthError("BERTH_DOWNLOAD_TRUNCATED", "layer stream ended early", { cause: error });
  }
  if (error instanceof Error && /tar|header|Unexpected end|checksum/i.test(error.message) && !code) {
    return new BerthError("BERTH_LAYER_INVALID", `invalid tar in layer: ${error.message}`, { cause: error });
  }
  return new BerthError("BERTH_IO", `cannot unpack layer: ${(error as Error).message}`, { cause: error });
}
