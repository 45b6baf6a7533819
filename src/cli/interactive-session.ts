import { spawnSync } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { ReadStream } from "node:tty";
import { BerthError } from "../common/index.js";
import type { CliIo } from "./main.js";

/** Docker's default detach sequence. */
export const defaultDetachKeys = "ctrl-p,ctrl-q";

/**
 * The bytes of a `--detach-keys` value, as Docker reads it: comma-separated keys, each a
 * single character or `ctrl-X` where X is a letter or one of `@[\]^_`.
 */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(",")) {
    const k = key.trim();
    const ctrl = /^ctrl-(.)$/i.exec(k);
    if (k.length === 1) bytes.push(k.charCodeAt(0));
    else if (ctrl && /[a-z]/i.test(ctrl[1]!)) bytes.push(ctrl[1]!.toLowerCase().charCodeAt(0) - 96);
    else if (ctrl && "@[\\]^_".includes(ctrl[1]!)) bytes.push("@[\\]^_".indexOf(ctrl[1]!) === 0 ? 0 : ctrl[1]!.charCodeAt(0) - 64);
    else throw new BerthError("BERTH_CLI_USAGE", `invalid detach keys (${spec}): unknown character: '${k}'`, { flag: "detach-keys" });
  }
  if (bytes.length === 0) throw new BerthError("BERTH_CLI_USAGE", `invalid detach keys (${spec})`, { flag: "detach-keys" });
  return Buffer.from(bytes);
}

/** What an interactive command talks to: an attach session or an exec process. */
export interface InteractiveTarget {
  stdin: Writable | undefined;
  stdout: Readable;
  stderr: Readable;
  resize(rows: number, cols: number): void;
  /** Settles when the far side is done (the container or process exited, or a detach). */
  done: Promise<unknown>;
  /** Leaves the far side running (the detach keys); undefined when it cannot be left. */
  detach?: () => void;
  /** Passes a signal the user sent to berth (without a terminal) on to the far side. */
  signal?: (signal: NodeJS.Signals) => void;
}

/** Options of {@link runInteractive}. */
export interface InteractiveOptions {
  /** Forward the user's stdin (`-i`). @default false */
  stdin?: boolean;
  /** The far side has a terminal (`-t`): raw mode here, sizes there. @default false */
  tty?: boolean;
  /** The detach sequence's bytes, or undefined for none. @default undefined */
  detachKeys?: Buffer;
}

/**
 * Connects the user's terminal or pipes to `target` until it is done: `-i` forwards stdin
 * (its end closes the far stdin), `-t` puts the user's terminal in raw mode (so Ctrl-C is a
 * byte the container's pty turns into SIGINT) and follows its size (SIGWINCH), the detach
 * keys leave the far side running. Returns whether the user detached.
 */
export async function runInteractive(io: CliIo, target: InteractiveTarget, options: InteractiveOptions = {}): Promise<"exited" | "detached"> {
  const input = io.stdin;
  const terminal = input && (input as ReadStream).isTTY === true ? (input as ReadStream) : undefined;
  const output = process.stdout;
  let detached = false;
  const cleanups: (() => void)[] = [];

  if (options.tty) {
    const size = () => {
      if (output.isTTY && output.rows > 0 && output.columns > 0) target.resize(output.rows, output.columns);
    };
    size();
    output.on("resize", size);
    cleanups.push(() => output.off("resize", size));
  }
  if (options.tty && options.stdin && terminal) {
    terminal.setRawMode(true);
    // libuv's raw mode keeps output processing (ONLCR): the container's pty already made
    // each \n a \r\n, and the user's terminal would print \r\r\n. Raw is raw, as in docker's
    // (moby/term) MakeRaw. setRawMode(false) restores the whole saved state, OPOST with it.
    if (terminal === process.stdin) spawnSync("stty", ["-opost"], { stdio: ["inherit", "ignore", "ignore"], timeout: 5000 });
    const restore = () => terminal.setRawMode(false);
    // Killed by a signal, berth still gives the user's terminal back, then dies of it.
    const onFatal = (signal: NodeJS.Signals) => {
      restore();
      process.off("SIGTERM", onFatal);
      process.off("SIGHUP", onFatal);
      process.kill(process.pid, signal);
    };
    process.on("SIGTERM", onFatal);
    process.on("SIGHUP", onFatal);
    cleanups.push(() => {
      process.off("SIGTERM", onFatal);
      process.off("SIGHUP", onFatal);
      restore();
    });
  }
  if (!options.tty && target.signal) {
    // As docker's --sig-proxy: without a terminal the user's Ctrl-C is a signal to berth.
    const forward = (signal: NodeJS.Signals) => target.signal!(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    cleanups.push(() => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
    });
  }

  let resolveDetach!: () => void;
  const detachRequested = new Promise<void>((resolve) => (resolveDetach = resolve));
  if (options.stdin && input && target.stdin) {
    const far = target.stdin;
    far.on("error", () => {}); // the far side gone: its exit ends the session
    const keys = terminal && target.detach ? options.detachKeys : undefined;
    let matched = 0;
    const onData = (chunk: Buffer) => {
      if (!keys) {
        far.write(chunk);
        return;
      }
      // Docker's escape proxy: bytes that may start the sequence are held until it completes
      // (detach) or breaks (they go on).
      const out: number[] = [];
      for (const byte of chunk) {
        if (byte === keys[matched]) {
          matched++;
          if (matched === keys.length) {
            detached = true;
            resolveDetach();
            return;
          }
          continue;
        }
        if (matched > 0) out.push(...keys.subarray(0, matched));
        matched = 0;
        if (byte === keys[0]) matched = 1;
        else out.push(byte);
      }
      if (out.length > 0) far.write(Buffer.from(out));
    };
    const onEnd = () => far.end();
    input.on("data", onData);
    input.once("end", onEnd);
    input.resume();
    cleanups.push(() => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.pause();
    });
  }

  const decoder = new StringDecoder("utf8");
  const writeOut = (chunk: Buffer) => (io.stdoutBytes ? io.stdoutBytes(chunk) : io.stdout(chunk.toString("latin1")));
  const writeErr = (chunk: Buffer) => io.stderr(decoder.write(chunk));
  target.stdout.on("data", writeOut);
  target.stderr.on("data", writeErr);
  const drained = Promise.all([ended(target.stdout), ended(target.stderr)]);

  try {
    await Promise.race([Promise.all([target.done, drained]), detachRequested]);
    if (detached) target.detach?.();
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    target.stdout.off("data", writeOut);
    target.stderr.off("data", writeErr);
  }
  return detached ? "detached" : "exited";
}

function ended(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) resolve();
    stream.once("end", () => resolve());
    stream.once("close", () => resolve());
    stream.once("error", () => resolve());
  });
}
