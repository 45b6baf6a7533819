import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { logger } from "../common/logger.js";

const log = logger("runtime:serve");

/** What one command run by the co-process produced. */
export interface ServedResult {
  /** The command's exit code; undefined when a signal killed it. */
  exitCode: number | undefined;
  /** The signal that killed it (`SIGKILL`), if one did. */
  signal: NodeJS.Signals | undefined;
  stdout: string;
  stderr: string;
  /** Killed at its time limit (by the co-process, or given up on by us). */
  timedOut: boolean;
}

/**
 * Why a request could not be served. With `sent: false` the command never ran and the caller
 * spawns it itself; with `sent: true` the co-process died while the command ran, and whether
 * it took effect is unknown (as with a spawned runtime that was killed).
 */
export class ServeUnavailable extends Error {
  readonly sent: boolean;
  constructor(message: string, sent: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ServeUnavailable";
    this.sent = sent;
  }
}

interface Pending {
  /** The command (for the debug log) and when it was sent. */
  what: string;
  sent: number;
  resolve: (result: ServedResult) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Bytes of command line a served command's process can show (longer ones are cut). */
const argvSpace = 4096;

/** How long after the co-process's own time limit (SIGTERM, SIGKILL a second later) we stop waiting. */
const backstopMs = 3_000;

const signalNames: Record<number, NodeJS.Signals> = { 1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM" };

/**
 * `berth-runtime serve`: one co-process per binary and Node process that runs berth-runtime
 * commands for it. A spawn from Node costs ~3 ms (Node forks its whole address space); the
 * co-process forks a small static process instead (~0.1 ms), so a container's ten commands
 * cost a millisecond or two instead of thirty.
 *
 * The co-process is started on first use and lives as long as this process: it exits on EOF
 * of its request pipe or when its parent dies (PR_SET_PDEATHSIG). It never keeps the event
 * loop alive by itself: the child and its pipes are referenced only while a request is in
 * flight. See native/src/serve.c for the protocol.
 */
export class RuntimeServer {
  readonly binary: string;
  readonly #env: NodeJS.ProcessEnv | undefined;
  #child: ChildProcessByStdio<Writable, Readable, null> | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Whether the current co-process has answered anything (then it does serve). */
  #replied = false;
  /** Set when the binary cannot serve (too old, cannot start): spawn from then on. */
  #broken: Error | undefined;

  constructor(binary: string, env?: NodeJS.ProcessEnv) {
    this.binary = binary;
    this.#env = env;
  }

  /** Whether requests can go to the co-process (false once it failed to start). */
  get available(): boolean {
    return this.#broken === undefined;
  }

  /**
   * Runs `berth-runtime <args>` in the co-process. Never rejects for the command's own
   * failure (that is in the result); rejects with {@link ServeUnavailable} when the
   * co-process cannot serve, in which case the command has not run.
   */
  run(args: readonly string[], timeoutMs: number, input?: string | Uint8Array): Promise<ServedResult> {
    if (this.#broken) return Promise.reject(new ServeUnavailable(this.#broken.message, false, { cause: this.#broken }));
    const child = this.#ensure();
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    const parts = args.map((a) => Buffer.from(`${a}\0`, "utf8"));
    const stdin = input === undefined ? Buffer.alloc(0) : typeof input === "string" ? Buffer.from(input, "utf8") : Buffer.from(input);
    const bodyLen = parts.reduce((n, p) => n + p.length, 0) + stdin.length;
    const header = Buffer.allocUnsafe(20);
    header.writeUInt32LE(16 + bodyLen, 0);
    header.writeUInt32LE(id, 4);
    header.writeUInt32LE(Math.max(1, Math.min(timeoutMs, 0xffffffff)), 8);
    header.writeUInt32LE(parts.length, 12);
    header.writeUInt32LE(stdin.length, 16);
    return new Promise<ServedResult>((resolve, reject) => {
      // The co-process enforces the limit itself; this one only covers a co-process that hangs.
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#updateRef();
        resolve({ exitCode: undefined, signal: "SIGKILL", stdout: "", stderr: "", timedOut: true });
      }, timeoutMs + backstopMs);
      this.#pending.set(id, { what: commandName(args), sent: performance.now(), resolve, reject, timer });
      this.#updateRef();
      child.stdin.write(Buffer.concat([header, ...parts, stdin]));
    });
  }

  /** Ends the co-process (it would end with this process anyway). */
  close(): void {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    child.stdin.end();
    this.#failAll(new ServeUnavailable("the runtime co-process was closed", true));
  }

  /** The co-process's pid, while one runs (for tests). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  #ensure(): ChildProcessByStdio<Writable, Readable, null> {
    if (this.#child) return this.#child;
    log("starting %s serve", this.binary);
    // --argv-space: room in the co-process's argv for each command's own command line, which
    // its forked children write there (see native/src/serve.c) so that /proc/<pid>/cmdline and
    // ps name them (a port-proxy is recognised by it).
    const child = spawn(this.binary, ["serve", "--parent", String(process.pid), "--argv-space", "-".repeat(argvSpace)], {
      stdio: ["pipe", "pipe", "ignore"],
      ...(this.#env ? { env: this.#env } : {}),
    });
    this.#child = child;
    this.#chunks = [];
    this.#buffered = 0;
    this.#replied = false;
    child.stdout.on("data", (chunk: Buffer) => this.#onData(chunk));
    // EPIPE after the co-process died: 'exit' reports it.
    child.stdin.on("error", () => {});
    child.on("error", (error) => {
      // Could not be started at all (ENOENT, EACCES): every request spawns from now on.
      this.#broken = error;
      this.#gone(child, new ServeUnavailable(`cannot start ${this.binary} serve: ${error.message}`, false, { cause: error }));
    });
    // 'close', not 'exit': the replies still in the pipe are read before pending requests fail.
    child.on("close", (code, signal) => {
      // A binary without `serve` exits at once with its usage, and one whose parent is not us
      // (a wrapper script in between) exits at once too, having run nothing: it cannot serve,
      // and what was sent to it can be spawned instead.
      const neverServed = !this.#replied && signal === null;
      if (neverServed) this.#broken = new Error(`${this.binary} has no serve command (exit ${code})`);
      this.#gone(child, new ServeUnavailable(`the runtime co-process exited (${signal ?? `code ${code}`})`, !neverServed));
    });
    return child;
  }

  #gone(child: ChildProcessByStdio<Writable, Readable, null>, error: ServeUnavailable): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    log("co-process gone: %s", error.message);
    this.#failAll(error);
  }

  #failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(error);
    }
  }

  #updateRef(): void {
    const child = this.#child;
    if (!child) return;
    const stdout = child.stdout as Readable & { ref?: () => void; unref?: () => void };
    const stdin = child.stdin as Writable & { ref?: () => void; unref?: () => void };
    if (this.#pending.size > 0) {
      child.ref();
      stdout.ref?.();
      stdin.ref?.();
    } else {
      child.unref();
      stdout.unref?.();
      stdin.unref?.();
    }
  }

  #onData(chunk: Buffer): void {
    this.#replied = true;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < 4) return;
    let buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off - 4 < len) break;
      const id = buf.readUInt32LE(off + 4);
      const exitCode = buf.readUInt32LE(off + 8);
      const signal = buf.readUInt32LE(off + 12);
      const timedOut = buf.readUInt32LE(off + 16) !== 0;
      const outLen = buf.readUInt32LE(off + 20);
      const errLen = buf.readUInt32LE(off + 24);
      const start = off + 28;
      const stdout = buf.toString("utf8", start, start + outLen);
      const stderr = buf.toString("utf8", start + outLen, start + outLen + errLen);
      off += 4 + len;
      const p = this.#pending.get(id);
      if (!p) continue; // given up on by the backstop
      this.#pending.delete(id);
      clearTimeout(p.timer);
      log("%s: exit %d in %s ms", p.what, signal ? 128 + signal : exitCode, (performance.now() - p.sent).toFixed(2));
      p.resolve({
        exitCode: signal ? undefined : exitCode,
        signal: signal ? (signalNames[signal] ?? ("SIGKILL" as NodeJS.Signals)) : undefined,
        stdout,
        stderr,
        timedOut,
      });
    }
    buf = buf.subarray(off);
    this.#chunks = buf.length ? [buf] : [];
    this.#buffered = buf.length;
    this.#updateRef();
  }
}

/** The command word of a berth-runtime command line (after its global flags). */
function commandName(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--root" || a === "--log" || a === "--log-format") i++;
    else if (!a.startsWith("-")) return a;
  }
  return args[0] ?? "";
}

const servers = new Map<string, RuntimeServer>();

/**
 * The co-process of `binary` for this Node process, or undefined when it is turned off
 * (`BERTH_RUNTIME_SERVE=0`). One per binary and environment.
 */
export function runtimeServer(binary: string, env?: Record<string, string>): RuntimeServer | undefined {
  if (process.env.BERTH_RUNTIME_SERVE === "0") return undefined;
  const key = env ? `${binary}\0${JSON.stringify(env)}` : binary;
  let server = servers.get(key);
  if (!server) {
    server = new RuntimeServer(binary, env ? { ...process.env, ...env } : undefined);
    servers.set(key, server);
  }
  return server;
}
