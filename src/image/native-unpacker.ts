import { spawn } from "node:child_process";
import { resolve } from "node:path";
import type { Writable } from "node:stream";
import { BerthError } from "../common/berth-error.js";
import { bundledRuntime, isExecutableFile } from "../common/bundled-runtime.js";
import type { BerthErrorCode } from "../common/error-codes.js";

/**
 * `berth-runtime unpack`, the C extractor (native/src/unpack.c): it reads the layer on stdin
 * and creates the entries with openat2(RESOLVE_IN_ROOT), the same rules as
 * {@link Extractor} in layer-extractor.ts. A binary that has `--gzip` also decompresses
 * (zlib, libzstd) and computes both digests itself, so Node only moves bytes from the socket
 * to the pipe (and to the blob file); an older one takes the tar, and Node decompresses and
 * hashes. Measured in bench/pull.bench.ts.
 */
export interface NativeUnpack {
  /** Where the tar goes. */
  stdin: Writable;
  /** Settles when the command exits: its result, or a BerthError with the layer's code. */
  done: Promise<NativeUnpackResult>;
  /** Kills the command (a failed pipeline); `done` then rejects. */
  kill(): void;
  /**
   * `done`, once all input is written: the command only has directory metadata left to do,
   * so one that has not exited within `ms` is stuck (a hung file system) and is killed, with
   * `BERTH_TIMEOUT`.
   */
  finishWithin(ms: number): Promise<NativeUnpackResult>;
  /**
   * After the writer failed: whether the command had stopped on its own with a verdict on the
   * layer (not merely because its input ended), waiting at most `graceMs` for it to exit.
   * Kills it otherwise.
   */
  stoppedOnItsOwn(graceMs: number): Promise<boolean>;
}

/** What `berth-runtime unpack` reports on success. */
export interface NativeUnpackResult {
  /** Bytes of regular-file content written. */
  unpackedSize: number;
  /** Bytes read (as given, before decompression); absent from a binary without `--gzip`. */
  size?: number;
  /** `sha256:` of the bytes as given; absent from a binary without `--gzip`. */
  digest?: string;
  /** `sha256:` of the tar; absent from a binary without `--gzip`. */
  diffId?: string;
}

/** What the command is given besides the destination (a binary with `--gzip` only). */
export interface NativeUnpackInput {
  /** How stdin is compressed: the command decompresses it. */
  compression: "gzip" | "zstd" | "none";
  /** `sha256:` the bytes as given must hash to. @default not checked */
  expectedDigest?: string;
  /** `sha256:` the tar must hash to. @default not checked */
  expectedDiffId?: string;
  /**
   * A file to create (it must not exist) with the bytes as given, flushed to disk once both
   * digests matched, removed by the command when it fails (a binary that
   * {@link nativeWritesBlob} only). @default none
   */
  blobFile?: string;
}

const exitCodes: Record<number, BerthErrorCode> = {
  1: "BERTH_IO",
  2: "BERTH_LAYER_INVALID",
  3: "BERTH_PATH_ESCAPE",
  4: "BERTH_LAYER_INVALID",
  5: "BERTH_DIGEST_MISMATCH",
  6: "BERTH_DIGEST_MISMATCH",
};

/** The exit status of `berth-runtime unpack` when its input ended inside an entry or a compressed stream. */
export const shortInputExit = 4;
/**
 * Exit statuses that are a verdict on the input's end (truncated, or hashing to something
 * else): after the writer failed, they are only the echo of that failure.
 */
const inputEndExits = new Set([shortInputExit, 5, 6]);
/** The exit status of `berth-runtime unpack` without a destination (its usage). */
const usageExit = 64;

let located: Promise<string | null> | undefined;
/** Binaries whose usage offers `--gzip` (they decompress and hash). */
const decompressing = new Set<string>();
/** Binaries whose usage offers `--blob-out` (they also store the blob). */
const blobWriting = new Set<string>();

/**
 * The berth-runtime binary that has the `unpack` command, or null: `BERTH_RUNTIME` when it
 * names a berth-runtime, else `native/build/berth-runtime` of this package. `BERTH_UNPACKER=js`
 * turns the native path off (the JavaScript extractor is then used, as when none is built, or
 * when the binary predates the command: it is asked once per process).
 */
export function nativeUnpacker(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (env.BERTH_UNPACKER === "js") return Promise.resolve(null);
  located ??= locate(env).then((binary) => (binary ? probe(binary) : null));
  return located;
}

/**
 * Whether `binary` (from {@link nativeUnpacker}) decompresses and hashes layers itself.
 * `BERTH_UNPACKER=native-tar` says no (Node then decompresses and hashes, as for a binary
 * built before the option), to compare the two.
 */
export function nativeDecompresses(binary: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BERTH_UNPACKER !== "native-tar" && decompressing.has(binary);
}

/**
 * Whether `binary` (one that {@link nativeDecompresses}) writes the blob file itself as it
 * reads (`--blob-out`), so this process only moves the bytes from the socket into the pipe:
 * measured about 0.5 s less CPU in this process per 275 MB than writing it here (a promise
 * per chunk), and no slower. `BERTH_UNPACKER=native-no-blob` has this process write it (in
 * libuv's thread pool, without hashing it), as for a binary built before the option, and
 * `native-node-hash` also hashes it here (the way before), to compare.
 */
export function nativeWritesBlob(binary: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    env.BERTH_UNPACKER !== "native-no-blob" &&
    env.BERTH_UNPACKER !== "native-node-hash" &&
    nativeDecompresses(binary, env) &&
    blobWriting.has(binary)
  );
}

/**
 * Whether the download need not hash a layer that `binary` unpacks: one that
 * {@link nativeDecompresses} checks the blob digest itself before it reports success.
 * `BERTH_UNPACKER=native-node-hash` hashes in this process all the same (the way before), to
 * compare.
 */
export function nativeChecksDigest(binary: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BERTH_UNPACKER !== "native-node-hash" && nativeDecompresses(binary, env);
}

/** Whether `binary unpack` exists: with no destination it prints its usage and exits 64. */
function probe(binary: string): Promise<string | null> {
  return new Promise((resolveProbe) => {
    const child = spawn(binary, ["unpack"], { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
    let usage = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => (usage += s));
    child.on("error", () => resolveProbe(null));
    child.on("close", (code) => {
      if (code === usageExit && usage.includes("--gzip")) decompressing.add(binary);
      if (code === usageExit && usage.includes("--blob-out")) blobWriting.add(binary);
      resolveProbe(code === usageExit ? binary : null);
    });
  });
}

async function locate(env: NodeJS.ProcessEnv): Promise<string | null> {
  const fromEnv = env.BERTH_RUNTIME;
  const candidates = fromEnv && /(^|\/)berth-runtime[^/]*$/.test(fromEnv) ? [resolve(fromEnv)] : [];
  const bundled = bundledRuntime();
  if (bundled) candidates.push(bundled);
  return candidates.find(isExecutableFile) ?? null;
}


/**
 * Starts `berth-runtime unpack` into `dest` (an existing directory). Without `input` it reads
 * a plain tar and checks nothing; with it (only for a binary that {@link nativeDecompresses})
 * it decompresses and verifies the digests itself.
 */
export function startNativeUnpack(binary: string, dest: string, privileged: boolean, input?: NativeUnpackInput): NativeUnpack {
  const args = [
    "unpack",
    ...(privileged ? [] : ["--unprivileged"]),
    ...(input && input.compression !== "none" ? [`--${input.compression}`] : []),
    ...(input?.expectedDigest ? ["--blob-digest", input.expectedDigest] : []),
    ...(input?.expectedDiffId ? ["--diff-id", input.expectedDiffId] : []),
    ...(input?.blobFile ? ["--blob-out", input.blobFile] : []),
    dest,
  ];
  const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    if (stdout.length < 4096) stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    if (stderr.length < 8192) stderr += s;
  });
  // EPIPE when the command stopped on a bad entry: its exit status tells the story.
  child.stdin.on("error", () => {});
  const done = new Promise<NativeUnpackResult>((resolveDone, reject) => {
    child.on("error", (error) => reject(new BerthError("BERTH_IO", `cannot run ${binary} unpack`, { path: binary, cause: error })));
    child.on("close", (code, signal) => {
      if (code === 0) {
        resolveDone(parseResult(stdout));
        return;
      }
      const message = stderr.trim().split("\n").at(-1)?.replace(/^berth-runtime: unpack: /, "") || `exited with ${code ?? signal}`;
      // "layer digest is sha256:…, expected sha256:…": the caller's context names both.
      const mismatch = /is (sha256:[0-9a-f]{64}), expected (sha256:[0-9a-f]{64})/.exec(message);
      reject(
        new BerthError(
          exitCodes[code ?? -1] ?? "BERTH_IO",
          signal ? `layer unpack was stopped (${signal})` : mismatch ? message : `cannot unpack layer: ${message}`,
          {
            lastLines: stderr.trim().split("\n").slice(-5),
            ...(signal ? { signal } : { exitCode: code ?? undefined }),
            ...(mismatch ? { actual: mismatch[1], expected: mismatch[2] } : {}),
          },
        ),
      );
    });
  });
  // The caller awaits `done` only once its own pipeline settled.
  done.catch(() => {});
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const exited = new Promise<void>((resolveExit) => child.once("close", () => resolveExit()));
  return {
    stdin: child.stdin,
    done,
    kill,
    finishWithin: async (ms) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, ms);
      try {
        return await done;
      } catch (error) {
        if (timedOut) throw new BerthError("BERTH_TIMEOUT", `layer unpack into ${dest} did not finish within ${ms} ms of its input's end`, { path: dest, cause: error });
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
    stoppedOnItsOwn: async (graceMs) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      const code = child.exitCode;
      kill();
      await exited;
      return code !== null && code !== 0 && !inputEndExits.has(code);
    },
  };
}

/** The command's JSON line; a binary without `--gzip` prints only `unpackedSize`. */
function parseResult(stdout: string): NativeUnpackResult {
  try {
    const parsed = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Partial<NativeUnpackResult>;
    return {
      unpackedSize: Number(parsed.unpackedSize) || 0,
      ...(typeof parsed.size === "number" ? { size: parsed.size } : {}),
      ...(typeof parsed.digest === "string" ? { digest: parsed.digest } : {}),
      ...(typeof parsed.diffId === "string" ? { diffId: parsed.diffId } : {}),
    };
  } catch {
    return { unpackedSize: 0 };
  }
}
