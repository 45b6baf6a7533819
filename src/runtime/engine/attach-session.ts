import { closeSync, constants, openSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { basename, dirname } from "node:path";
import { Readable, Writable } from "node:stream";
import { BerthError } from "../../common/berth-error.js";

/** Options of {@link ContainerEngine.attach}. */
export interface AttachOptions {
  /**
   * Write the container's stdin through `stdin`. Only a container created with `openStdin`
   * has one; for any other `stdin` is undefined. Ending `stdin` closes the container's stdin
   * unless it has a terminal (as Docker's `StdinOnce`); {@link AttachSession.detach} leaves
   * it open for the next attach.
   * @default false
   */
  stdin?: boolean;
  /** Receive the container's stdout (a terminal's whole output). @default true */
  stdout?: boolean;
  /** Receive the container's stderr (none with a terminal). @default true */
  stderr?: boolean;
  /** Always streams; kept for the shape of Docker's attach API. @default true */
  stream?: boolean;
  /** How long to wait for the container's attach endpoint, in ms. @default 10000 */
  timeout?: number;
}

/** Frame types of the monitor's attach socket (native/src/attach.h). */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const EXIT = 3;
const CLOSE_STDIN = 4;
const RESIZE = 5;
const HEADER = 5;
const MAX_PAYLOAD = 65536;
const RETRY_MS = 2;

function frame(type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(HEADER);
  header[0] = type;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/**
 * A client of a container's attach endpoint (the monitor's `attach.sock`): the container's
 * stdin, stdout and stderr as streams, its terminal's size, and its exit code. Made by
 * {@link ContainerEngine.attach}; it may be made before the container starts, in which case
 * it connects when the start opens the endpoint (and the start waits for it, so no output is
 * missed).
 */
export class AttachSession {
  /** The container's stdin, when asked for and the container has one. */
  readonly stdin: Writable | undefined;
  /** The container's stdout; with a terminal, everything it writes. Ends with the session. */
  readonly stdout: Readable;
  /** The container's stderr (empty with a terminal). Ends with the session. */
  readonly stderr: Readable;
  /**
   * Settles with the container's exit code once its output is all delivered, with undefined
   * when the session ended first ({@link detach}), and rejects with `BERTH_ATTACH_FAILED`
   * when the endpoint could not be reached.
   */
  readonly exitCode: Promise<number | undefined>;

  readonly #container: string;
  readonly #wantOut: boolean;
  readonly #wantErr: boolean;
  #socket: Socket | undefined;
  #queue: Buffer[] = [];
  #input: Buffer = Buffer.alloc(0);
  #exit: number | undefined;
  #done = false;
  #resolve!: (code: number | undefined) => void;
  #reject!: (error: unknown) => void;

  /** @internal Made by the engine; `hasStdin`: the container was created with `openStdin`. */
  constructor(container: string, options: AttachOptions, hasStdin: boolean) {
    this.#container = container;
    this.#wantOut = options.stdout !== false;
    this.#wantErr = options.stderr !== false;
    this.exitCode = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Handled here too: a caller that only reads the streams must not crash the process.
    this.exitCode.catch(() => {});
    const resume = () => {
      if (this.#socket && this.stdout.readableLength === 0 && this.stderr.readableLength === 0) this.#socket.resume();
    };
    this.stdout = new Readable({ read: resume });
    this.stderr = new Readable({ read: resume });
    this.stdin =
      options.stdin && hasStdin
        ? new Writable({
            write: (chunk: Buffer, _encoding, callback) => {
              for (let off = 0; off < chunk.length; off += MAX_PAYLOAD) this.#send(frame(STDIN, chunk.subarray(off, off + MAX_PAYLOAD)));
              this.#afterDrain(callback);
            },
            final: (callback) => {
              this.#send(frame(CLOSE_STDIN));
              callback();
            },
          })
        : undefined;
  }

  /** Sets the terminal's size (TIOCSWINSZ on its pty); nothing without a terminal. */
  resize(rows: number, cols: number): void {
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0 || rows > 0xffff || cols > 0xffff) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid terminal size ${rows}x${cols}`, { container: this.#container, field: "resize" });
    }
    const size = Buffer.alloc(4);
    size.writeUInt16BE(rows, 0);
    size.writeUInt16BE(cols, 2);
    this.#send(frame(RESIZE, size));
  }

  /**
   * Leaves the container running and its stdin open (Docker's detach keys): the streams end
   * and {@link exitCode} settles with undefined.
   */
  detach(): void {
    this.#finish(undefined);
  }

  /**
   * @internal Connects to the endpoint at `path`, retrying while it does not exist yet (the
   * start that opens it runs meanwhile), for at most `timeout` ms.
   */
  async connect(path: string, timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    for (;;) {
      if (this.#done) return;
      try {
        this.#socket = await connectUnix(path);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code !== "ENOENT" && code !== "ECONNREFUSED") || Date.now() >= deadline) {
          const failure = new BerthError("BERTH_ATTACH_FAILED", `cannot attach to container ${this.#container}: ${code === "ENOENT" || code === "ECONNREFUSED" ? "it has no attach endpoint (it is not running, or was not started attachable)" : (error as Error).message}`, {
            container: this.#container,
            path,
            cause: error,
          });
          this.fail(failure);
          throw failure;
        }
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
    const socket = this.#socket;
    if (this.#done) {
      socket.destroy();
      return;
    }
    // The first frame tells a monitor waiting to start the container that it may: an empty
    // stdin frame when nothing (a resize) is queued.
    if (this.#queue.length === 0) this.#queue.push(frame(STDIN));
    for (const f of this.#queue) socket.write(f);
    this.#queue = [];
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.#finish(this.#exit));
  }

  /** @internal The start this session waited for failed, or the endpoint is unreachable. */
  fail(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#socket?.destroy();
    this.stdout.push(null);
    this.stderr.push(null);
    this.#reject(error);
  }

  #send(data: Buffer): void {
    if (this.#done) return;
    if (this.#socket) this.#socket.write(data);
    else this.#queue.push(data);
  }

  #afterDrain(callback: () => void): void {
    const socket = this.#socket;
    if (socket && socket.writableNeedDrain && !this.#done) socket.once("drain", callback);
    else callback();
  }

  #onData(chunk: Buffer): void {
    this.#input = this.#input.length ? Buffer.concat([this.#input, chunk]) : chunk;
    while (this.#input.length >= HEADER) {
      const length = this.#input.readUInt32BE(1);
      if (this.#input.length < HEADER + length) break;
      const type = this.#input[0];
      const payload = this.#input.subarray(HEADER, HEADER + length);
      this.#input = this.#input.subarray(HEADER + length);
      let full = false;
      if (type === STDOUT && this.#wantOut) full = !this.stdout.push(Buffer.from(payload));
      else if (type === STDERR && this.#wantErr) full = !this.stderr.push(Buffer.from(payload));
      else if (type === EXIT && length >= 4) this.#exit = payload.readInt32BE(0);
      if (full) this.#socket?.pause();
    }
  }

  #finish(code: number | undefined): void {
    if (this.#done) return;
    this.#done = true;
    // Ended, not destroyed: what is queued (a last stdin byte, its close) still goes out.
    const socket = this.#socket;
    if (socket && !socket.destroyed) {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    this.stdout.push(null);
    this.stderr.push(null);
    this.#resolve(code);
  }
}

/** The longest path a sockaddr_un holds. */
const SUN_PATH_MAX = 107;

/**
 * Connects to a unix socket; a path too long for a sockaddr_un (a deep state root) is
 * reached through an fd of its directory, as the monitor bound it (native/src/attach.c).
 */
async function connectUnix(path: string): Promise<Socket> {
  let dirFd: number | undefined;
  let target = path;
  if (Buffer.byteLength(path) > SUN_PATH_MAX) {
    dirFd = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
    target = `/proc/self/fd/${dirFd}/${basename(path)}`;
  }
  try {
    return await new Promise<Socket>((resolve, reject) => {
      const socket = connect(target);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(socket);
      });
      socket.once("error", reject);
    });
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
}
