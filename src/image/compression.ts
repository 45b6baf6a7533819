import { open } from "node:fs/promises";
import { Transform, type TransformCallback } from "node:stream";
import { createGunzip } from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import { BerthError } from "../common/berth-error.js";

/** How a layer's bytes are compressed. */
export type Compression = "gzip" | "zstd" | "none";

/** fzstd's streaming decoder as a Transform (Node 20's zlib has no zstd). */
class ZstdTransform extends Transform {
  private readonly decoder = new ZstdDecompress((data) => {
    this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      cb();
    } catch (error) {
      cb(new BerthError("BERTH_LAYER_INVALID", "corrupt zstd stream", { cause: error }));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      cb();
    } catch (error) {
      cb(new BerthError("BERTH_LAYER_INVALID", "corrupt or truncated zstd stream", { cause: error }));
    }
  }
}

/** Guesses a blob's compression from its first bytes (docker-archive layers carry no media type). */
export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

/** A Transform that decompresses `compression`. */
export function decompressor(compression: Compression): Transform {
  if (compression === "gzip") return createGunzip({ chunkSize: 128 * 1024 });
  if (compression === "zstd") return new ZstdTransform();
  return new Transform({ transform: (chunk, _e, cb) => cb(null, chunk) });
}

/** Reads the first bytes of a file (to sniff its compression). */
export async function readHead(path: string, length = 8): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
