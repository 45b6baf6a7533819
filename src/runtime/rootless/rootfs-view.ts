import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BerthError } from "../../common/berth-error.js";
import { logger } from "../../common/logger.js";
import type { BerthErrorCode } from "../../common/error-codes.js";
import { resolveUser, type ResolvedUser } from "../container-config/resolve-user.js";
import { extractIntoRoot, packFromRoot } from "../engine/container-copy.js";
import { bundledRuntime, isExecutableFile } from "../../common/bundled-runtime.js";
import { commandCandidates, commandProblem, findCommandProblem, type CommandProblem, type CommandStat } from "../engine/executable.js";

const log = logger("rootless");

/** What {@link RootfsView.check} found: why the command cannot run, and the resolved user. */
export interface RootfsCheck {
  problem?: CommandProblem;
  user?: ResolvedUser;
}

/** What {@link RootfsView.prepare} did and found at a create, through a worker. */
export interface RootfsPreparation {
  /** Whether the working directory was missing (and made). */
  workdirCreated: boolean;
  user: ResolvedUser;
  /** Per volume target asked: the directory to fill the volume from, undefined when the image has none there. */
  sources: (string | undefined)[];
}

/**
 * A container's root filesystem as the engine works on it. Its operations are the engine's
 * file work on a root: the command check and user lookup (start, exec), the create's working
 * directory, user and volume sources, and copy in and out. `close` is idempotent.
 */
export interface RootfsView {
  /** The root's path: a mount, `/proc/<pid>/root`, or `/proc/<helper>/root/<merged>`. */
  readonly root: string;
  /**
   * Set when this process cannot read `root` itself, only a process in the user namespace of
   * this pid can (a fuse-overlayfs root): the operations then run in a worker started there.
   */
  readonly usernsPid?: number;
  /** The command check (Docker's 127/126) when `command` is given, and `user` resolved when given and runnable. */
  check(command: string | undefined, env: readonly string[], user?: string, groupAdd?: readonly (string | number)[]): Promise<RootfsCheck>;
  /** Through a worker only: makes the working directory, resolves the user, finds the volumes' sources. */
  prepare(workingDir: string, user: string, groupAdd: readonly (string | number)[], volumes: readonly string[]): Promise<RootfsPreparation>;
  /** `docker cp CONTAINER:path -` (see packFromRoot), read whole. */
  pack(path: string, container: string): Promise<Buffer>;
  /** `docker cp - CONTAINER:dir` (see extractIntoRoot). */
  extract(path: string, archive: Readable, container: string): Promise<void>;
  close(): Promise<void>;
}

/** A root this process reads and writes itself: the operations run here. */
export function directRootfsView(root: string, close: () => Promise<void> = async () => {}): RootfsView {
  return {
    root,
    async check(command, env, user, groupAdd = []) {
      const problem = command === undefined ? undefined : await findCommandProblem(root, command, env);
      const resolved = !problem && user !== undefined ? await resolveUser(user, { rootfs: root }, { groupAdd }) : undefined;
      return { ...(problem ? { problem } : {}), ...(resolved ? { user: resolved } : {}) };
    },
    async prepare() {
      throw new BerthError("BERTH_UNSUPPORTED", "prepare is made through a rootfs worker only", {});
    },
    async pack(path, container) {
      const chunks: Buffer[] = [];
      for await (const chunk of await packFromRoot(root, path, container)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    extract: (path, archive, container) => extractIntoRoot(root, path, archive, container),
    close,
  };
}

/**
 * A rootless container's root this process can read (a kernel overlay), but not as the
 * container's root: the user is root in the container's user namespace only, so a directory
 * of another container user (a volume of the image's USER, a 0700 data directory) refuses it
 * where Docker's copy, made as root, succeeds, and a copied file cannot be given its owner.
 * Checks and copies out are made here, and a copy out refused that way is made again in a
 * worker in `pid`'s user namespace (see workerRootfsView); copies in always go there, where
 * the worker is the container's root.
 */
export function kernelRootfsView(pid: number, root: string, options: WorkerRootfsViewOptions): RootfsView {
  const direct = directRootfsView(root);
  const worker = workerRootfsView(pid, root, options);
  // A build of berth without the worker (rootfs-worker.js) copies as this process, as before.
  const hasWorker = workerPath() !== undefined;
  return {
    root,
    check: direct.check,
    // Asked only when this process was refused (see the engine's create): a missing working
    // directory under a directory of another container user is made there as its root.
    prepare: worker.prepare,
    async pack(path, container) {
      try {
        return await direct.pack(path, container);
      } catch (error) {
        if (!hasWorker || !isPermissionError(error)) throw error;
        log("copying %s out of %s as its root, in its user namespace", path, container);
        return worker.pack(path, container);
      }
    },
    extract: hasWorker ? worker.extract : direct.extract,
    close: worker.close,
  };
}

/** Whether `error`, or one of its causes, is EACCES or EPERM. */
export function isPermissionError(error: unknown): boolean {
  for (let e = error as (Error & { code?: unknown }) | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === "EACCES" || e.code === "EPERM") return true;
  }
  return false;
}

/** Options of {@link workerRootfsView}. */
export interface WorkerRootfsViewOptions {
  /** The container, for the errors. */
  container: string;
  /** A check or prepare is killed after this many ms. @default 60_000 */
  timeout?: number;
  /** A copy is killed after this many ms. @default 600_000 */
  copyTimeout?: number;
  /** Ends what holds the root when the view closes. @default nothing to end */
  close?: () => Promise<void>;
  /**
   * The native helper that answers check and prepare (native/rootfs/berth-rootfs.c), or null
   * to run them in the Node worker too. @default `berth-rootfs` beside the bundled berth-runtime, when built
   */
  probe?: string | null;
}

/**
 * A root only a process in `pid`'s user namespace can read: fuse-overlayfs serves the
 * processes of its mounter's user namespace and no other (the kernel's
 * `fuse_allow_current_process` with `allow_other`, which fuse-overlayfs adds itself when it
 * runs as root, as it does there). A Node process cannot join a user namespace (setns(2)
 * refuses a threaded process), so each operation runs a helper there, which as the
 * namespace's root reaches the container's files, mounts included, by `/proc/<pid>/root`:
 * `berth-rootfs` (native, ~1 ms) for check and prepare, a Node worker through `nsenter
 * --user` for copy, which writes through the container's own mount (a second writable
 * fuse-overlayfs over the same upper directory would corrupt it). The same view serves a
 * running container whose init is not its root: its `/proc/<pid>/root` needs ptrace rights
 * over it, which the user has only inside its namespace.
 */
export function workerRootfsView(pid: number, root: string, options: WorkerRootfsViewOptions): RootfsView {
  const container = options.container;
  const timeout = options.timeout ?? 60_000;
  const copyTimeout = options.copyTimeout ?? 600_000;
  const json = async <T>(op: string, args: Record<string, unknown>): Promise<T> => {
    const out = await runWorker(pid, op, { root, ...args }, { container, timeout });
    return JSON.parse(out.toString("utf8")) as T;
  };
  const probe = options.probe === undefined ? bundledProbe() : options.probe;
  log("the root of %s is read in the user namespace of process %d (questions: %s)", container, pid, probe ?? "the Node worker");
  const ask = (args: string[]) => runProbe(probe!, pid, root, args, { container, timeout });
  return {
    root,
    usernsPid: pid,
    async check(command, env, user, groupAdd = []) {
      if (probe) {
        const candidates = command === undefined ? [] : commandCandidates(command, env);
        const answer = await ask([...candidates.flatMap((p) => ["--stat", p]), ...(user !== undefined ? ["--read", "/etc/passwd", "--read", "/etc/group"] : [])]);
        const stats = new Map(answer.stat.map((s) => [s.path, statOf(s)]));
        const problem = command === undefined ? undefined : commandProblem(command, env, (path) => stats.get(path));
        const resolved = !problem && user !== undefined ? await resolveUser(user, userFiles(answer), { groupAdd }) : undefined;
        return { ...(problem ? { problem } : {}), ...(resolved ? { user: resolved } : {}) };
      }
      const found = await json<{ problem?: CommandProblem; user?: ResolvedUser }>("check", {
        ...(command !== undefined ? { command } : {}),
        env,
        ...(user !== undefined ? { user } : {}),
        groupAdd,
      });
      return found;
    },
    async prepare(workingDir, user, groupAdd, volumes) {
      if (probe) {
        const answer = await ask(["--mkdir", workingDir, "--read", "/etc/passwd", "--read", "/etc/group", ...volumes.flatMap((v) => ["--realpath", v])]);
        if (!answer.mkdir || answer.mkdir.error !== undefined) {
          throw new BerthError("BERTH_IO", `cannot create the working directory ${workingDir}: ${answer.mkdir?.error ?? "no answer"}`, { container, path: workingDir });
        }
        return {
          workdirCreated: answer.mkdir.created === true,
          user: await resolveUser(user, userFiles(answer), { groupAdd }),
          // A volume is filled only from a directory of the image (VolumeStore's rule).
          sources: answer.realpath.map((r) => (r.type === "dir" && r.resolved ? `${root}${r.resolved === "/" ? "" : r.resolved}` : undefined)),
        };
      }
      const found = await json<{ workdirCreated: boolean; user: ResolvedUser; sources: (string | null)[] }>("prepare", { workingDir, user, groupAdd, volumes });
      return { ...found, sources: found.sources.map((s) => s ?? undefined) };
    },
    pack: (path, container) => runWorker(pid, "pack", { root, path, container }, { container, timeout: copyTimeout }),
    async extract(path, archive, container) {
      await runWorker(pid, "extract", { root, path, container }, { container, timeout: copyTimeout, input: archive });
    },
    close: options.close ?? (async () => {}),
  };
}

/**
 * How to run the worker: the bundled `rootfs-worker.js` beside the built library, or the
 * TypeScript source through tsx when berth runs from its sources (its own tests).
 */
function workerCommand(): string[] {
  const path = workerPath();
  if (path?.endsWith(".js")) return [process.execPath, path];
  if (path) {
    const tsx = createRequire(join(moduleDir(), "noop.js")).resolve("tsx");
    return [process.execPath, "--import", pathToFileURL(tsx).href, path];
  }
  throw new BerthError("BERTH_ROOTLESS_FAILED", `the rootfs worker is missing beside ${moduleDir()} (rootfs-worker.js): reinstall berth`, { path: moduleDir() });
}

/** The worker's file: `rootfs-worker.js` beside the built library, or its TypeScript source. */
function workerPath(): string | undefined {
  const dir = moduleDir();
  for (const name of ["rootfs-worker.js", "rootfs-worker.ts"]) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

function moduleDir(): string {
  // The CJS build has __dirname and no import.meta.url; the ESM build and sources the reverse.
  if (typeof __dirname === "string") return __dirname;
  return dirname(fileURLToPath(import.meta.url));
}

/**
 * Runs one worker operation in `pid`'s user namespace, or with `enter` (a command line that
 * ends in `--`, such as unshare's) where that puts it; resolves with its stdout, fails with
 * the worker's error.
 */
export async function runWorker(
  pid: number | undefined,
  op: string,
  args: Record<string, unknown>,
  options: { container: string; timeout: number; input?: Readable; enter?: readonly string[] },
): Promise<Buffer> {
  const { container } = options;
  // --preserve-credentials: the user is the namespace's root already (uid 0 maps to it), and
  // nsenter's own setgroups(2) is refused where the namespace denies it.
  const enter = options.enter ?? ["nsenter", `--target=${pid}`, "--user", "--preserve-credentials", "--"];
  const argv = [...enter, ...workerCommand(), op, JSON.stringify(args)];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  const stdout: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => stdout.push(c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  child.stdin.on("error", () => {}); // EPIPE when the worker fails before reading the archive
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeout);
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("close", (code) => resolve({ code }));
  });
  if (options.input) {
    options.input.on("error", () => child.kill("SIGKILL"));
    options.input.pipe(child.stdin);
  } else {
    child.stdin.end();
  }
  const { code, error } = await exited;
  clearTimeout(timer);
  if (code === 0) return Buffer.concat(stdout);
  const reported = lastJsonLine(stderr);
  if (reported?.code) {
    const context: Record<string, unknown> = { ...(reported.context ?? {}), container };
    const lastLines = context.lastLines as string[] | undefined;
    // The message came with its last lines appended (BerthError); they are added again.
    const message = lastLines ? reported.message.split("\nLast output:\n")[0]! : reported.message;
    throw new BerthError(reported.code as BerthErrorCode, message, context);
  }
  const lines = stderr.split("\n").filter((l) => l.trim() && !l.startsWith('{"error"'));
  const why = timedOut ? `timed out after ${options.timeout} ms` : (reported?.message ?? lines.at(-1) ?? error?.message ?? `exit ${code}`);
  const doing = op === "pack" ? "copy from the root of" : op === "extract" ? "copy into the root of" : op === "diff" ? "read the changes of" : "read the root of";
  throw new BerthError("BERTH_ROOTLESS_FAILED", `cannot ${doing} container ${container} in its user namespace: ${why}`, {
    container,
    ...(code !== null ? { exitCode: code } : {}),
    lastLines: lines.slice(-3),
    ...(reported?.errno ? { errno: reported.errno } : {}),
    ...(error ? { cause: error } : {}),
  });
}

function lastJsonLine(text: string): { code?: string; message: string; context?: Record<string, unknown>; errno?: string } | undefined {
  const line = text
    .split("\n")
    .reverse()
    .find((l) => l.startsWith('{"error"'));
  if (!line) return undefined;
  try {
    return (JSON.parse(line) as { error: { code?: string; message: string; context?: Record<string, unknown>; errno?: string } }).error;
  } catch {
    return undefined;
  }
}

/** One answer of berth-rootfs (see native/rootfs/berth-rootfs.c). */
interface ProbeEntry {
  path: string;
  type?: "file" | "dir" | "other";
  mode?: number;
  resolved?: string;
  content?: string;
  error?: string;
  errno?: number;
}

interface ProbeAnswer {
  mkdir?: { created?: boolean; error?: string };
  stat: ProbeEntry[];
  realpath: ProbeEntry[];
  read: ProbeEntry[];
}

function statOf(entry: ProbeEntry): CommandStat | undefined {
  if (entry.type === undefined) return undefined;
  return { isFile: () => entry.type === "file", isDirectory: () => entry.type === "dir", mode: entry.mode ?? 0 };
}

/** /etc/passwd and /etc/group as resolveUser takes them: absent when the image has none. */
function userFiles(answer: ProbeAnswer): { passwd?: string; group?: string } {
  const file = (path: string) => answer.read.find((r) => r.path === path)?.content;
  const passwd = file("/etc/passwd");
  const group = file("/etc/group");
  return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
}

function bundledProbe(): string | null {
  const runtime = bundledRuntime();
  const probe = runtime ? join(dirname(runtime), "berth-rootfs") : undefined;
  return probe && isExecutableFile(probe) ? probe : null;
}

/** Runs berth-rootfs in `pid`'s user namespace with `root` as its root; fails as runWorker does. */
async function runProbe(probe: string, pid: number, root: string, args: string[], options: { container: string; timeout: number }): Promise<ProbeAnswer> {
  const { container } = options;
  return new Promise((resolve, reject) => {
    execFile(probe, ["--pid", String(pid), "--root", root, ...args], { timeout: options.timeout, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      if (!error) {
        try {
          return resolve(JSON.parse(stdout) as ProbeAnswer);
        } catch (cause) {
          return reject(new BerthError("BERTH_ROOTLESS_FAILED", `cannot read the root of container ${container}: berth-rootfs answered ${JSON.stringify(stdout.slice(0, 200))}`, { container, cause }));
        }
      }
      const lastLines = String(stderr).split("\n").filter(Boolean).slice(-3);
      const why = error.killed ? `timed out after ${options.timeout} ms` : (lastLines.at(-1) ?? error.message);
      reject(
        new BerthError("BERTH_ROOTLESS_FAILED", `cannot read the root of container ${container} in its user namespace: ${why}`, {
          container,
          lastLines,
          ...(typeof error.code === "number" ? { exitCode: error.code } : {}),
          cause: error,
        }),
      );
    });
  });
}
