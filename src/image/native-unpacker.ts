import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Writable } from "node:stream";
import { BerthError } from "../common/berth-error.js";
import type { BerthErrorCode } from "../common/error-codes.js";

/**
 * `berth-runtime unpack`, the C extractor (native/src/unpack.c): it reads the uncompressed
 * layer tar on stdin and creates the entries with openat2(RESOLVE_IN_ROOT), the same rules as
 * {@link Extractor} in layer-extractor.ts. Node keeps the download, the digests and the
 * decompression, so the two run on two cores; per-entry work costs no JavaScript at all.
 * Measured in bench/pull.bench.ts.
 */
export interface NativeUnpack {
  /** Where the tar goes. */
  stdin: Writable;
  /** Settles when the command exits: its result, or a BerthError with the layer's code. */
  done: Promise<{ unpackedSize: number }>;
  /** Kills the command (a failed pipeline); `done` then rejects. */
  kill(): void;
  /**
   * `done`, once all input is written: the command only has directory metadata left to do,
   * so one that has not exited within `ms` is stuck (a hung file system) and is killed, with
   * `BERTH_TIMEOUT`.
   */
  finishWithin(ms: number): Promise<{ unpackedSize: number }>;
  /**
   * After the writer failed: whether the command had stopped on its own with a verdict on the
   * layer (not merely because its input ended), waiting at most `graceMs` for it to exit.
   * Kills it otherwise.
   */
  stoppedOnItsOwn(graceMs: number): Promise<boolean>;
}

const exitCodes: Record<number, BerthErrorCode> = {
  1: "BERTH_IO",
  2: "BERTH_LAYER_INVALID",
  3: "BERTH_PATH_ESCAPE",
  4: "BERTH_LAYER_INVALID",
};

/** The exit status of `berth-runtime unpack` when its input ended inside an entry. */
export const shortInputExit = 4;
/** The exit status of `berth-runtime unpack` without a destination (its usage). */
const usageExit = 64;

let located: Promise<string | null> | undefined;

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

/** Whether `binary unpack` exists: with no destination it prints its usage and exits 64. */
function probe(binary: string): Promise<string | null> {
  return new Promise((resolveProbe) => {
    const child = spawn(binary, ["unpack"], { stdio: "ignore", timeout: 10_000 });
    child.on("error", () => resolveProbe(null));
    child.on("close", (code) => resolveProbe(code === usageExit ? binary : null));
  });
}

async function locate(env: NodeJS.ProcessEnv): Promise<string | null> {
  const fromEnv = env.BERTH_RUNTIME;
  const candidates = fromEnv && /(^|\/)berth-runtime[^/]*$/.test(fromEnv) ? [resolve(fromEnv)] : [];
  let dir = moduleDir();
  for (let i = 0; i < 5 && dir; i++) {
    candidates.push(join(dir, "native", "build", "berth-runtime"));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const candidate of candidates) {
    try {
      const st = statSync(candidate);
      if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
    } catch {
      // not there
    }
  }
  return null;
}

function moduleDir(): string | undefined {
  // The CJS build has __dirname and no import.meta.url; the ESM build and sources the reverse.
  if (typeof __dirname === "string") return __dirname;
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return undefined;
  }
}

/** Starts `berth-runtime unpack` into `dest` (an existing directory). */
export function startNativeUnpack(binary: string, dest: string, privileged: boolean): NativeUnpack {
  const args = ["unpack", ...(privileged ? [] : ["--unprivileged"]), dest];
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
  const done = new Promise<{ unpackedSize: number }>((resolveDone, reject) => {
    child.on("error", (error) => reject(new BerthError("BERTH_IO", `cannot run ${binary} unpack`, { path: binary, cause: error })));
    child.on("close", (code, signal) => {
      if (code === 0) {
        const size = Number((/"unpackedSize":(\d+)/.exec(stdout) ?? [])[1]);
        resolveDone({ unpackedSize: Number.isFinite(size) ? size : 0 });
        return;
      }
      const message = stderr.trim().split("\n").at(-1)?.replace(/^berth-runtime: unpack: /, "") || `exited with ${code ?? signal}`;
      reject(
        new BerthError(exitCodes[code ?? -1] ?? "BERTH_IO", signal ? `layer unpack was stopped (${signal})` : `cannot unpack layer: ${message}`, {
          lastLines: stderr.trim().split("\n").slice(-5),
          ...(signal ? { signal } : { exitCode: code ?? undefined }),
        }),
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
      return code !== null && code !== 0 && code !== shortInputExit;
    },
  };
}
