import { createHash } from "node:crypto";
import { Transform } from "node:stream";
import type { Readable, TransformCallback } from "node:stream";
import { BerthError } from "../common/index.js";
import type { TransferProgress } from "./types.js";

/**
 * Passes a blob through, hashing and counting; fails at the end when either is wrong. With
 * `hashing` false it only counts: the consumer checks the digest itself (the native layer
 * unpacker does, in the same pass as its decompression), and a second hash here would only
 * cost this process's one thread.
 */
export class VerifyingStream extends Transform {
  received = 0;
  private readonly hash;

  constructor(
    private readonly digest: string,
    algorithm: "sha256" | "sha512",
    private readonly expected: number | undefined,
    private readonly subject: string,
    private readonly onProgress: ((p: TransferProgress) => void) | undefined,
    hashing = true,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.hash = hashing ? createHash(algorithm) : null;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.expected !== undefined && this.received > this.expected) {
      callback(
        new BerthError("BERTH_DIGEST_MISMATCH", `${this.subject}: more than the expected ${this.expected} bytes`, {
          digest: this.digest,
          expected: this.expected,
        }),
      );
      return;
    }
    this.hash?.update(chunk);
    this.onProgress?.({ digest: this.digest, current: this.received, total: this.expected });
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expected !== undefined && this.received < this.expected) {
      callback(
        new BerthError("BERTH_DOWNLOAD_TRUNCATED", `${this.subject}: ${this.received} of ${this.expected} bytes received`, {
          digest: this.digest,
          received: this.received,
          expected: this.expected,
        }),
      );
      return;
    }
    if (!this.hash) {
      callback();
      return;
    }
    const actual = `${this.digest.split(":")[0]}:${this.hash.digest("hex")}`;
    if (actual !== this.digest) {
      callback(new BerthError("BERTH_DIGEST_MISMATCH", `${this.subject}: received bytes hash to ${actual}`, { expected: this.digest, actual }));
      return;
    }
    callback();
  }
}

/** Reports upload progress as the body is read. */
export function withProgress(
  source: Readable,
  digest: string,
  total: number,
  onProgress: ((p: TransferProgress) => void) | undefined,
): Readable {
  if (!onProgress) return source;
  let current = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, callback) {
      current += chunk.length;
      onProgress({ digest, current, total });
      callback(null, chunk);
    },
  });
  source.on("error", (error) => counter.destroy(error));
  return source.pipe(counter);
}
