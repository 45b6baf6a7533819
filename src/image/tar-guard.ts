import { Transform, type TransformCallback } from "node:stream";
import { BerthError } from "../common/berth-error.js";

/** The largest PAX or GNU long-name header accepted; real ones are a few hundred bytes. */
export const maxMetaHeaderSize = 1024 * 1024;

/**
 * A pass-through over a tar stream that reads its headers alongside the extractor, for two
 * things the extractor (tar-stream) does not do: it refuses a PAX/GNU long header larger than
 * {@link maxMetaHeaderSize} before anything buffers it, and it keeps the raw bytes of
 * `SCHILY.xattr.*` PAX records (tar-stream decodes them as UTF-8, which corrupts binary
 * values such as `security.capability`). The xattrs are keyed by the byte offset of the
 * entry's data, which tar-stream reports as `header.byteOffset`.
 */
export class TarGuard extends Transform {
  /** xattr name → raw value, per entry, keyed by the offset of the entry's data. */
  readonly xattrs = new Map<number, Map<string, Buffer>>();
  private offset = 0;
  private header = Buffer.alloc(512);
  private headerFill = 0;
  private skip = 0;
  private capture: Buffer | undefined;
  private captureFill = 0;
  private captureType = "";
  private pending: Map<string, Buffer> | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    try {
      this.scan(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        if (this.capture && this.captureFill < this.capture.length) {
          const take = Math.min(n, this.capture.length - this.captureFill);
          chunk.copy(this.capture, this.captureFill, i, i + take);
          this.captureFill += take;
          if (this.captureFill === this.capture.length) this.finishCapture();
        }
        this.skip -= n;
        i += n;
        this.offset += n;
        continue;
      }
      const n = Math.min(512 - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      this.offset += n;
      if (this.headerFill === 512) {
        this.headerFill = 0;
        this.onHeader();
      }
    }
  }

  private onHeader(): void {
    const h = this.header;
    if (h.every((b) => b === 0)) return;
    const size = parseSize(h.subarray(124, 136));
    const type = String.fromCharCode(h[156]!);
    this.skip = Math.ceil(size / 512) * 512;
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      if (size > maxMetaHeaderSize) {
        throw new BerthError(
          "BERTH_LAYER_INVALID",
          `tar header of ${size} bytes is larger than the ${maxMetaHeaderSize}-byte limit`,
          { headerSize: size },
        );
      }
      this.captureType = type;
      this.capture = Buffer.alloc(size);
      this.captureFill = 0;
      if (size === 0) this.finishCapture();
      return;
    }
    this.capture = undefined;
    if (this.pending) {
      this.xattrs.set(this.offset, this.pending);
      this.pending = undefined;
    }
  }

  private finishCapture(): void {
    if (this.captureType === "x" && this.capture) {
      const found = parsePaxXattrs(this.capture);
      if (found.size > 0) this.pending = found;
    }
  }
}

function parseSize(field: Buffer): number {
  if (field[0]! & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte is the marker.
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field.toString("latin1").replace(/[\0 ]+$/g, "").trim();
  const value = text === "" ? 0 : Number.parseInt(text, 8);
  if (!Number.isFinite(value) || value < 0) {
    throw new BerthError("BERTH_LAYER_INVALID", `tar header has a bad size field ${JSON.stringify(text)}`);
  }
  return value;
}

/** Reads `<len> SCHILY.xattr.<name>=<raw value>\n` records, keeping values as bytes. */
function parsePaxXattrs(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < buf.length) {
    const space = buf.indexOf(0x20, i);
    if (space === -1) break;
    const len = Number.parseInt(buf.toString("latin1", i, space), 10);
    if (!Number.isInteger(len) || len <= 0 || i + len > buf.length) break;
    const record = buf.subarray(space + 1, i + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq !== -1) {
      const key = record.toString("utf8", 0, eq);
      if (key.startsWith("SCHILY.xattr.")) out.set(key.slice("SCHILY.xattr.".length), Buffer.from(record.subarray(eq + 1)));
    }
    i += len;
  }
  return out;
}
