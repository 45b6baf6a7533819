import { spawn, type ChildProcessByStdio } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { open } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { Duplex, Transform, type Readable, type TransformCallback, type Writable } from "node:stream";
import { createGunzip } from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import { BerthError } from "../common/berth-error.js";

/** How a layer's bytes are compressed. */
export type Compression = "gzip" | "zstd" | "none";

/**
 * fzstd's streaming decoder as a Transform (Node 20's zlib has no zstd). Pure JavaScript:
 * about 130 MB/s of output here, so it is the fallback for {@link ZstdProcess}.
 */
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

/**
 * The system's `zstd -d` as a Duplex: about 7× faster than fzstd (it is the reference C
 * decoder) and it streams. Its exit status is known before the readable side ends, so a
 * corrupt stream fails the pipeline instead of ending it short.
 */
class ZstdProcess extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = "";

  constructor(binary: string) {
    super();
    this.child = spawn(binary, ["-d", "-c", "-q"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString();
    });
    // EPIPE when zstd quit on bad input: its exit status tells the story.
    this.child.stdin.on("error", () => {});
    this.child.on("error", (error) => this.destroy(new BerthError("BERTH_IO", `cannot run ${binary}`, { cause: error })));
    this.child.on("close", (code, signal) => {
      if (code === 0) this.push(null);
      else
        this.destroy(
          new BerthError("BERTH_LAYER_INVALID", `corrupt zstd stream (zstd exited with ${code ?? signal})`, {
            lastLines: this.stderr.trim().split("\n").slice(-3),
          }),
        );
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) cb();
    else this.child.stdin.once("drain", () => cb());
  }

  override _final(cb: (error?: Error | null) => void): void {
    this.child.stdin.end(() => cb());
  }

  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    cb(error);
  }
}

let zstdBinary: string | null | undefined;

/** The `zstd` executable on PATH, looked up once; null when there is none. */
function findZstd(): string | null {
  if (zstdBinary !== undefined) return zstdBinary;
  zstdBinary = null;
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    try {
      accessSync(join(dir, "zstd"), constants.X_OK);
      zstdBinary = join(dir, "zstd");
      break;
    } catch {
      // not here
    }
  }
  return zstdBinary;
}

/**
 * A stream that decompresses `compression`: zlib for gzip; for zstd the system `zstd` when
 * installed, else fzstd (or fzstd always, with `preferProcess: false`).
 */
export function decompressor(compression: Compression, options: { preferProcess?: boolean } = {}): Duplex {
  // Each output chunk is one trip to the thread pool and back: few large ones beat many small
  // ones, above all on a busy machine where every wake-up waits for a core.
  if (compression === "gzip") return createGunzip({ chunkSize: 1024 * 1024 });
  if (compression === "zstd") {
    const binary = options.preferProcess === false ? null : findZstd();
    return binary ? new ZstdProcess(binary) : new ZstdTransform();
  }
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
