import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, delimiter, isAbsolute, join, resolve } from "node:path";
import { spawn, type StdioOptions } from "node:child_process";
import { BerthError } from "../common/berth-error.js";
import { writeFileAtomic } from "../common/atomic-file.js";
import { logger } from "../common/logger.js";
import { bundledRuntime, isExecutableFile } from "../common/bundled-runtime.js";
import { runRoot } from "../common/paths.js";
import type { OciProcess, OciSpec, OciState } from "./oci-spec.js";
import { runtimeServer, ServeUnavailable, type RuntimeServer } from "./runtime-server.js";

const log = logger("runtime");

/** Which command-line dialect a runtime binary speaks. */
export type OciRuntimeKind = "berth-runtime" | "runc" | "crun" | "other";

/** Options of {@link OciRuntime}. */
export interface OciRuntimeOptions {
  /**
   * The runtime: `"berth-runtime"`, `"runc"`, `"crun"` (looked up in PATH; berth-runtime at
   * `native/build/berth-runtime` in the package), or a path to a binary.
   * @default process.env.BERTH_RUNTIME ?? "berth-runtime"
   */
  runtime?: string;
  /**
   * The runtime's state directory (its `--root`). Each runtime gets its own: their state
   * formats differ.
   * @default `${runRoot()}/runtime` for berth-runtime, `${runRoot()}/runtime-<name>` otherwise
   */
  root?: string;
  /** The default time limit of one runtime command, in ms. @default 30000 */
  timeout?: number;
  /** Extra environment variables of the runtime process (added to `process.env`). @default {} */
  env?: Record<string, string>;
  /**
   * Send berth-runtime's commands to one `berth-runtime serve` co-process per Node process
   * instead of spawning each (a spawn from Node costs ~3 ms, the co-process's fork ~0.1 ms).
   * Only a binary named `berth-runtime` has it (runc, crun and wrappers are always spawned).
   * Commands whose container inherits the runtime's stdio (detached without a monitor) are
   * spawned either way.
   * @default true, unless the environment has `BERTH_RUNTIME_SERVE=0`
   */
  serve?: boolean;
}

/** Where a detached container's stdout and stderr go when no monitor takes them. */
export type OciDetachedStdio = "ignore" | "inherit" | number;

/** Options common to every runtime command. */
export interface OciCommandOptions {
  /** Time limit of this command, in ms. @default the runtime's `timeout` (30000) */
  timeout?: number;
}

/** berth-runtime's monitor: a detached process that parents the container and records its end. */
export interface OciMonitorOptions {
  /**
   * A file the container's stdout and stderr are appended to as Docker json-file lines.
   * @default undefined (output discarded)
   */
  logPath?: string;
  /**
   * Open the monitor's attach socket (`<root>/<id>/attach.sock`, see native/src/attach.h),
   * through which later processes reach the container's output, stdin and terminal.
   * @default false
   */
  attach?: boolean;
  /** Give the container a stdin that attach clients write (Docker's `-i`); implies `attach`. @default false */
  stdin?: boolean;
  /**
   * Start a `run` only once a client has attached (at most 10 s), so the client misses none
   * of the container's first output; implies `attach`. @default false
   */
  attachWait?: boolean;
}

/** Options of {@link OciRuntime.writeBundle}. */
export interface WriteBundleOptions {
  /**
   * The bundle is new (no `config.json` yet) and nothing reads it before the call returns: the
   * file is written in place, without the atomic write's rename. Fails when it exists.
   * @default false
   */
  fresh?: boolean;
}

/** Options of {@link OciRuntime.create}. */
export interface OciCreateOptions extends OciCommandOptions {
  /** A file the runtime writes the container's init pid to. @default undefined */
  pidFile?: string;
  /** A unix socket that receives the pty master when `process.terminal` is set. @default undefined */
  consoleSocket?: string;
  /**
   * Where the container's stdout and stderr go (the runtime passes its own on). Ignored
   * with `monitor`, which takes them.
   * @default "ignore"
   */
  stdio?: OciDetachedStdio;
  /** Run under berth-runtime's monitor (berth-runtime only). @default undefined (no monitor) */
  monitor?: OciMonitorOptions;
  /** Run a tini-like init as pid 1 that reaps zombies and forwards signals (berth-runtime only). @default false */
  init?: boolean;
}

/** Options of a foreground {@link OciRuntime.run}. */
export interface OciRunOptions extends OciCommandOptions {
  /** Text or bytes written to the container's stdin. @default undefined (stdin is /dev/null) */
  input?: string | Uint8Array;
  /** A file the runtime writes the container's init pid to. @default undefined */
  pidFile?: string;
  /** Run a tini-like init as pid 1 (berth-runtime only). @default false */
  init?: boolean;
  /** Keep the container's state after it exits instead of deleting it (runc's `--keep`). @default false */
  keep?: boolean;
}

/** Options of a detached {@link OciRuntime.run}. */
export interface OciRunDetachedOptions extends Omit<OciCreateOptions, "stdio"> {
  /** Run detached: return once the container has started. */
  detach: true;
  /** Where the container's stdout and stderr go. @default "ignore" */
  stdio?: OciDetachedStdio;
}

/** The result of a foreground run or exec. */
export interface OciProcessResult {
  /** The process's exit code; 128+N when killed by signal N. */
  exitCode: number;
  /** Everything the process wrote to stdout. */
  stdout: string;
  /** Everything the process wrote to stderr. */
  stderr: string;
}

/** A user for {@link OciExecOptions.user}: numeric ids inside the container. */
export interface OciExecUser {
  /** User id inside the container. */
  uid: number;
  /** Group id inside the container. @default the runtime's choice (runc: 0) */
  gid?: number;
}

/** Options of {@link OciRuntime.exec}. */
export interface OciExecOptions extends OciCommandOptions {
  /** Extra `NAME=value` environment entries (argv form only). @default [] */
  env?: string[];
  /** Working directory (argv form only). @default the container's process cwd */
  cwd?: string;
  /** The user (argv form only). @default the container's process user */
  user?: OciExecUser;
  /** Text or bytes written to the process's stdin. @default undefined (stdin is /dev/null) */
  input?: string | Uint8Array;
  /** Return once the process has started instead of waiting for it. @default false */
  detach?: boolean;
  /** A file the runtime writes the exec'd process's pid to. @default undefined */
  pidFile?: string;
}

/** Options of {@link OciRuntime.kill}. */
export interface OciKillOptions extends OciCommandOptions {
  /** Signal every process of the container, not only its init. @default false */
  all?: boolean;
}

/** Options of {@link OciRuntime.delete}. */
export interface OciDeleteOptions extends OciCommandOptions {
  /** Kill the container first if it is running; no error if it does not exist. @default false */
  force?: boolean;
}

/** Options of {@link OciRuntime.wait}. */
export interface OciWaitOptions {
  /** How long to wait for the container to stop, in ms. @default 30000 */
  timeout?: number;
}

/** Options of {@link OciRuntime.stop}. */
export interface OciStopOptions {
  /** The signal that asks the process to stop, by name or number. @default "SIGTERM" */
  signal?: string | number;
  /** How long the process gets to stop before every process of the container is SIGKILLed, in ms; 0 kills at once. @default 10000 */
  gracePeriod?: number;
}

interface Invocation {
  args: string[];
  id?: string;
  timeout?: number;
  input?: string | Uint8Array;
  stdio?: OciDetachedStdio;
  /** Whether the container inherits the runtime's stdio (so it must not be a pipe). */
  detached?: boolean;
  /** Detached under berth-runtime's monitor, which takes the container's stdio from the runtime. */
  monitored?: boolean;
}

/** What berth keeps of one runtime process. */
interface RawResult {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  failed: boolean;
  /** The spawn error's code (`ENOENT`, `EACCES`) when the binary could not be run. */
  spawnError: string | undefined;
  /** The raw outcome (command, exit code or signal, output, spawn error), kept as `cause`. */
  raw: unknown;
}

const defaultTimeout = 30_000;
const maxServedInput = 16 * 1024 * 1024;

/**
 * Drives an OCI runtime (berth-runtime by default, or runc/crun) through its runc-compatible
 * command line. Every failure is a {@link BerthError}: `BERTH_RUNTIME_NOT_FOUND`,
 * `BERTH_RUNTIME_FAILED` (with the runtime's message), `BERTH_CONTAINER_NOT_FOUND`,
 * `BERTH_CONTAINER_EXISTS`, `BERTH_TIMEOUT`, `BERTH_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * const runtime = new OciRuntime();
 * await runtime.writeBundle("/tmp/b", defaultSpec("/path/to/rootfs", { args: ["echo", "hi"] }));
 * const { exitCode, stdout } = await runtime.run("hello", "/tmp/b");
 * ```
 */
export class OciRuntime {
  /** The absolute path of the runtime binary. */
  readonly binary: string;
  /** The command-line dialect of the binary. */
  readonly kind: OciRuntimeKind;
  /** The runtime's state directory (`--root`). */
  readonly root: string;
  readonly #timeout: number;
  readonly #env: Record<string, string> | undefined;
  readonly #baseArgs: string[];
  readonly #server: RuntimeServer | undefined;

  constructor(options: OciRuntimeOptions = {}) {
    const requested = options.runtime ?? process.env.BERTH_RUNTIME ?? "berth-runtime";
    this.binary = resolveRuntime(requested);
    this.kind = kindOf(this.binary);
    const name = this.kind === "other" ? basename(this.binary) : this.kind;
    this.root = resolve(options.root ?? join(runRoot(), this.kind === "berth-runtime" ? "runtime" : `runtime-${name}`));
    this.#timeout = options.timeout ?? defaultTimeout;
    this.#env = options.env;
    this.#baseArgs = ["--root", this.root, "--log-format", "json"];
    // Only the binary itself: a wrapper (`berth-runtime-debug`, a test's hook script) must see
    // every command line, which a co-process would run behind its back.
    this.#server = basename(this.binary) === "berth-runtime" && options.serve !== false ? runtimeServer(this.binary, this.#env) : undefined;
  }

  /** The co-process this runtime's commands go to, when it has one (see {@link OciRuntimeOptions.serve}). */
  get server(): RuntimeServer | undefined {
    return this.#server?.available ? this.#server : undefined;
  }

  /** Whether the runtime has berth-runtime's extensions (monitor, init, wait, exit status in state). */
  get hasBerthExtensions(): boolean {
    return this.kind === "berth-runtime";
  }

  /**
   * Writes `spec` as `<dir>/config.json` in one atomic write (creating `dir`). The rootfs is
   * the caller's: `spec.root.path` must name an existing directory (relative to `dir` or
   * absolute).
   */
  async writeBundle(dir: string, spec: OciSpec, options: WriteBundleOptions = {}): Promise<void> {
    try {
      if (options.fresh) {
        // A rename costs a filesystem journal round trip (~0.5 ms on a busy ext4) that a new
        // file nobody reads yet does not need; an existing one is written atomically below.
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "config.json"), JSON.stringify(spec), { flag: "wx" });
        return;
      }
      // No fsync: a bundle lives as long as its container, which does not survive a reboot.
      await writeFileAtomic(join(dir, "config.json"), JSON.stringify(spec), { fsync: false });
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot write the bundle in ${dir}`, { path: dir, cause: error });
    }
  }

  /** Creates a container from a bundle; it waits in the `created` state for {@link start}. */
  async create(id: string, bundle: string, options: OciCreateOptions = {}): Promise<void> {
    checkId(id);
    const args = ["create", "--bundle", resolve(bundle), ...this.#detachedFlags(id, options), id];
    await this.#detachedInvoke({ args, id, timeout: options.timeout, detached: true, monitored: !!options.monitor, stdio: options.monitor ? "ignore" : options.stdio });
  }

  /** Starts the process of a created container. */
  async start(id: string, options: OciCommandOptions = {}): Promise<void> {
    checkId(id);
    await this.#invoke({ args: ["start", id], id, timeout: options.timeout });
  }

  /**
   * Creates and starts a container. In the foreground (the default) it waits for the process to
   * exit, deletes the container and returns its exit code and output; a non-zero exit of the
   * process is a result, not an error. With `detach: true` it returns once the process runs.
   */
  run(id: string, bundle: string, options?: OciRunOptions): Promise<OciProcessResult>;
  run(id: string, bundle: string, options: OciRunDetachedOptions): Promise<void>;
  async run(id: string, bundle: string, options: OciRunOptions | OciRunDetachedOptions = {}): Promise<OciProcessResult | void> {
    checkId(id);
    if ("detach" in options && options.detach) {
      const args = ["run", "--detach", "--bundle", resolve(bundle), ...this.#detachedFlags(id, options), id];
      await this.#detachedInvoke({ args, id, timeout: options.timeout, detached: true, monitored: !!options.monitor, stdio: options.monitor ? "ignore" : options.stdio });
      return;
    }
    const fg = options as OciRunOptions;
    // Absolute: the co-process runs commands in the directory Node had when it started it.
    const args = ["run", "--bundle", resolve(bundle)];
    if (fg.pidFile) args.push("--pid-file", resolve(fg.pidFile));
    if (fg.keep) args.push("--keep");
    if (fg.init) {
      this.#requireExtensions("init", id);
      args.push("--init");
    }
    args.push(id);
    try {
      return await this.#invokeForeground({ args, id, timeout: fg.timeout, input: fg.input });
    } catch (error) {
      // A timed-out foreground run was killed with the runtime; its container may not have been.
      if (error instanceof BerthError && error.code === "BERTH_TIMEOUT") await this.delete(id, { force: true }).catch(() => {});
      throw error;
    }
  }

  /** The state of a container. */
  async state(id: string, options: OciCommandOptions = {}): Promise<OciState> {
    checkId(id);
    const result = await this.#invoke({ args: ["state", id], id, timeout: options.timeout });
    return parseJson<OciState>(result.stdout, "state", id);
  }

  /** Sends a signal (a name such as `"TERM"`/`"SIGKILL"` or a number) to the container. */
  async kill(id: string, signal: string | number = "SIGTERM", options: OciKillOptions = {}): Promise<void> {
    checkId(id);
    const args = ["kill"];
    if (options.all) args.push("--all");
    args.push(id, String(signal));
    await this.#invoke({ args, id, timeout: options.timeout });
  }

  /** Deletes a stopped container (any container with `force`, which also ignores unknown ids). */
  async delete(id: string, options: OciDeleteOptions = {}): Promise<void> {
    checkId(id);
    const args = ["delete"];
    if (options.force) args.push("--force");
    args.push(id);
    try {
      await this.#invoke({ args, id, timeout: options.timeout });
    } catch (error) {
      if (options.force && error instanceof BerthError && error.code === "BERTH_CONTAINER_NOT_FOUND") return;
      throw error;
    }
  }

  /** The containers in this runtime's root. */
  async list(options: OciCommandOptions = {}): Promise<OciState[]> {
    const result = await this.#invoke({ args: ["list", "--format", "json"], timeout: options.timeout });
    const text = result.stdout.trim();
    // runc prints `null` for an empty list.
    if (text === "" || text === "null") return [];
    return parseJson<OciState[]>(text, "list");
  }

  /** Freezes every process of the container. */
  async pause(id: string, options: OciCommandOptions = {}): Promise<void> {
    checkId(id);
    await this.#invoke({ args: ["pause", id], id, timeout: options.timeout });
  }

  /** Thaws a paused container. */
  async resume(id: string, options: OciCommandOptions = {}): Promise<void> {
    checkId(id);
    await this.#invoke({ args: ["resume", id], id, timeout: options.timeout });
  }

  /**
   * Runs a process in a running container: an argv (with `env`, `cwd`, `user`) or a whole OCI
   * process. Waits for it and returns its exit code and output, or with `detach` returns once
   * it has started (exit code 0, empty output).
   */
  async exec(id: string, processOrArgv: string[] | OciProcess, options: OciExecOptions = {}): Promise<OciProcessResult> {
    checkId(id);
    const args = ["exec"];
    if (options.detach) args.push("--detach");
    if (options.pidFile) args.push("--pid-file", resolve(options.pidFile));
    let processFile: string | undefined;
    try {
      if (Array.isArray(processOrArgv)) {
        if (processOrArgv.length === 0) {
          throw new BerthError("BERTH_INVALID_ARGUMENT", "exec needs a command", { container: id, field: "args" });
        }
        for (const entry of options.env ?? []) args.push("--env", entry);
        if (options.cwd) args.push("--cwd", options.cwd);
        if (options.user) args.push("--user", options.user.gid === undefined ? `${options.user.uid}` : `${options.user.uid}:${options.user.gid}`);
        // `--` so that a getopt-style parser does not take the command's own flags (`sh -c`).
        args.push("--", id, ...processOrArgv);
      } else {
        processFile = join(tmpdir(), `berth-exec-${process.pid}-${id}-${Date.now().toString(36)}.json`);
        await writeFile(processFile, JSON.stringify(processOrArgv), { mode: 0o600 });
        args.push("--process", processFile, id);
      }
      if (options.detach) {
        await this.#invoke({ args, id, timeout: options.timeout, detached: true });
        return { exitCode: 0, stdout: "", stderr: "" };
      }
      return await this.#invokeForeground({ args, id, timeout: options.timeout, input: options.input });
    } finally {
      if (processFile) await rm(processFile, { force: true });
    }
  }

  /**
   * berth-runtime only: waits for the container to stop and returns its state then (status
   * `stopped`, with the exit code, finish time and OOM flag its monitor recorded), which
   * saves the `state` command that would follow a {@link wait}. Fails like {@link wait}.
   */
  async waitState(id: string, options: OciWaitOptions = {}): Promise<OciState> {
    checkId(id);
    this.#requireExtensions("wait --state", id);
    const timeout = options.timeout ?? this.#timeout;
    const seconds = Math.max(1, Math.ceil(timeout / 1000));
    // The runtime's own limit speaks first; ours is a backstop.
    const result = await this.#invoke({ args: ["wait", id, "--timeout", String(seconds), "--state"], id, timeout: timeout + 2_000 });
    return parseJson<OciState>(result.stdout, "wait --state", id);
  }

  /**
   * berth-runtime only: `docker stop` in one command — thaws a paused container, sends
   * `signal`, waits up to `gracePeriod`, then SIGKILLs every process of the container and
   * waits — and returns the stopped container's state, as {@link waitState}. A stopped
   * container's state is returned at once.
   */
  async stop(id: string, options: OciStopOptions = {}): Promise<OciState> {
    checkId(id);
    this.#requireExtensions("stop", id);
    const grace = options.gracePeriod ?? 10_000;
    const args = ["stop", "--timeout", String(grace / 1000), "--signal", String(options.signal ?? "SIGTERM"), id];
    // The runtime waits the grace period, then up to 30 s for the killed processes to go.
    const result = await this.#invoke({ args, id, timeout: grace + 35_000 });
    return parseJson<OciState>(result.stdout, "stop", id);
  }

  /**
   * Waits for the container to stop and returns its exit code. berth-runtime's monitor knows
   * it (its `wait` command); without a monitor, and with runc or crun (which poll `state`),
   * it is `undefined`: nobody recorded it.
   */
  async wait(id: string, options: OciWaitOptions = {}): Promise<number | undefined> {
    checkId(id);
    const timeout = options.timeout ?? this.#timeout;
    if (this.hasBerthExtensions) {
      const seconds = Math.max(1, Math.ceil(timeout / 1000));
      let result: RawResult;
      try {
        result = await this.#invoke({
          args: ["wait", id, "--timeout", String(seconds)],
          id,
          // The runtime's own limit speaks first; ours is a backstop.
          timeout: timeout + 2_000,
        });
      } catch (error) {
        // Only a monitor records the exit code; without one the container has stopped and
        // that is all anyone knows, as with runc.
        if (error instanceof BerthError && error.code === "BERTH_RUNTIME_FAILED" && /exit code is unknown/.test(error.message)) {
          return undefined;
        }
        throw error;
      }
      const code = Number.parseInt(result.stdout.trim(), 10);
      if (!Number.isInteger(code)) {
        throw new BerthError("BERTH_RUNTIME_FAILED", `${this.binary} wait printed no exit code: ${JSON.stringify(result.stdout)}`, {
          container: id,
          command: [this.binary, "wait", id].join(" "),
        });
      }
      return code;
    }
    const deadline = Date.now() + timeout;
    let delay = 2;
    for (;;) {
      const state = await this.state(id, { timeout: Math.max(1_000, deadline - Date.now()) });
      if (state.status === "stopped") return state.exitCode;
      if (Date.now() >= deadline) {
        throw new BerthError("BERTH_TIMEOUT", `container ${id} did not stop within ${timeout} ms`, { container: id, timeout });
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
  }

  /**
   * The host pids of the container's processes: those in the cgroup of its init process. Read
   * from /proc (no runtime command), so it works the same for every runtime.
   */
  async ps(id: string, options: OciCommandOptions = {}): Promise<number[]> {
    const state = await this.state(id, options);
    if (!state.pid || state.status === "stopped") return [];
    let cgroup: string;
    try {
      cgroup = readFileSync(`/proc/${state.pid}/cgroup`, "utf8");
    } catch (error) {
      // The init exited between `state` and here.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new BerthError("BERTH_IO", `cannot read the cgroup of container ${id}`, { container: id, cause: error });
    }
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      try {
        if (readFileSync(`/proc/${pid}/cgroup`, "utf8") === cgroup) pids.push(pid);
      } catch {
        // Gone while scanning.
      }
    }
    return pids.sort((a, b) => a - b);
  }

  #detachedFlags(id: string, options: OciCreateOptions): string[] {
    const flags: string[] = [];
    if (options.pidFile) flags.push("--pid-file", resolve(options.pidFile));
    if (options.consoleSocket) flags.push("--console-socket", resolve(options.consoleSocket));
    if (options.monitor) {
      this.#requireExtensions("monitor", id);
      flags.push("--monitor");
      if (options.monitor.logPath) flags.push("--log-path", resolve(options.monitor.logPath));
      if (options.monitor.attach) flags.push("--attach");
      if (options.monitor.stdin) flags.push("--stdin");
      if (options.monitor.attachWait) flags.push("--attach-wait");
    }
    if (options.init) {
      this.#requireExtensions("init", id);
      flags.push("--init");
    }
    return flags;
  }

  #requireExtensions(feature: string, id: string): void {
    if (!this.hasBerthExtensions) {
      throw new BerthError("BERTH_UNSUPPORTED", `${feature} needs berth-runtime; ${this.binary} does not have it`, {
        container: id,
        runtime: this.binary,
      });
    }
  }

  /** create and run --detach: a runtime killed at its time limit may leave a half-made container. */
  async #detachedInvoke(inv: Invocation): Promise<void> {
    try {
      await this.#invoke(inv);
    } catch (error) {
      if (error instanceof BerthError && error.code === "BERTH_TIMEOUT" && inv.id) await this.delete(inv.id, { force: true }).catch(() => {});
      throw error;
    }
  }

  /**
   * Runs a command whose success is its exit status. When the container inherits the runtime's
   * stdio, a pipe would stay open as long as the container runs, so the runtime's error is
   * read from a `--log` file instead.
   */
  async #invoke(inv: Invocation): Promise<RawResult> {
    const timeout = inv.timeout ?? this.#timeout;
    let logFile: string | undefined;
    let args = inv.args;
    // Under a monitor nothing inherits the runtime's stdio, so the co-process's captured
    // stderr carries the error and no log file is needed.
    const served = this.#server?.available && (!inv.detached || inv.monitored);
    if (inv.detached && !served) {
      logFile = join(tmpdir(), `berth-runtime-${process.pid}-${(counter++).toString(36)}.log`);
      args = ["--log", logFile, ...args];
    }
    try {
      const result = served ? await this.#serve(args, timeout, inv.input) : await this.#spawn(args, timeout, inv.input, inv.detached ? (inv.stdio ?? "ignore") : undefined);
      this.#checkTimeout(result, args, inv.id, timeout);
      if (result.exitCode !== 0 || result.failed) {
        let detail = result.stderr;
        if (logFile) detail = (await readFile(logFile, "utf8").catch(() => "")) + detail;
        throw this.#failure(args, inv.id, result, detail);
      }
      return result;
    } finally {
      if (logFile) await rm(logFile, { force: true });
    }
  }

  /** Runs a command whose exit code is the container process's (run, exec). */
  async #invokeForeground(inv: Invocation): Promise<OciProcessResult> {
    const timeout = inv.timeout ?? this.#timeout;
    const result = this.#server?.available ? await this.#serve(inv.args, timeout, inv.input) : await this.#spawn(inv.args, timeout, inv.input, undefined);
    this.#checkTimeout(result, inv.args, inv.id, timeout);
    const stderr = result.stderr;
    const exitCode = result.exitCode ?? (result.signal ? 128 + signalNumber(result.signal) : 1);
    if (exitCode !== 0) {
      const { line, isRuntimeError } = lastErrorLine(stderr, basename(this.binary));
      if (isRuntimeError) {
        throw this.#failure(inv.args, inv.id, result, line, stripLastLine(stderr));
      }
    }
    return { exitCode, stdout: result.stdout, stderr };
  }

  /**
   * One command through the co-process, as {@link #spawn} would run it. A co-process that
   * cannot serve (a binary without `serve`) falls back to the spawn; one that died while the
   * command ran makes a failed result, as a killed runtime would.
   */
  async #serve(args: string[], timeout: number, input: string | Uint8Array | undefined): Promise<RawResult> {
    // A request is held whole in the co-process's memory (as is its output): large inputs spawn.
    if (input !== undefined && input.length > maxServedInput) return this.#spawn(args, timeout, input, undefined);
    const full = [...this.#baseArgs, ...args];
    log("serve: %s", args.join(" "));
    try {
      const r = await this.#server!.run(full, timeout, input);
      const result = { ...r, failed: r.exitCode !== 0, spawnError: undefined };
      return { ...result, raw: { command: commandLine(this.binary, full), ...result } };
    } catch (error) {
      if (error instanceof ServeUnavailable && !error.sent) return this.#spawn(args, timeout, input, undefined);
      const message = error instanceof Error ? error.message : String(error);
      const result = { exitCode: undefined, signal: "SIGKILL", stdout: "", stderr: `${message}\n`, timedOut: false, failed: true, spawnError: undefined };
      return { ...result, raw: { command: commandLine(this.binary, full), ...result, error } };
    }
  }

  /**
   * One runtime process. node:child_process rather than execa: execa costs 1-1.5 ms more per
   * spawn, and a container start is four of them. Never rejects for the process's own
   * failure: a spawn error (ENOENT, EACCES) or exit status comes back in the result.
   */
  #spawn(args: string[], timeout: number, input: string | Uint8Array | undefined, stdio: OciDetachedStdio | undefined): Promise<RawResult> {
    log("%s %s", this.binary, args.join(" "));
    const full = [...this.#baseArgs, ...args];
    const out: StdioOptions =
      stdio === undefined ? [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] : ["ignore", stdio, stdio];
    return new Promise<RawResult>((resolvePromise, reject) => {
      let child;
      try {
        child = spawn(this.binary, full, { stdio: out, ...(this.#env ? { env: { ...process.env, ...this.#env } } : {}) });
      } catch (error) {
        // Only bad options throw synchronously; a missing binary is an 'error' event.
        reject(new BerthError("BERTH_INTERNAL", `cannot run ${this.binary}`, { command: commandLine(this.binary, full), cause: error }));
        return;
      }
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout?.on("data", (b: Buffer) => stdout.push(b));
      child.stderr?.on("data", (b: Buffer) => stderr.push(b));
      if (child.stdin) {
        // A runtime that exits without reading its input must not crash us with EPIPE.
        child.stdin.on("error", () => {});
        child.stdin.end(input);
      }
      // Our own time limit: the output pipes may be held open by a container that inherited
      // them (the process of a foreground run or exec) after the runtime is dead. So: SIGTERM
      // (runc forwards it and cleans up), SIGKILL a second later, then let go of the pipes.
      let timedOut = false;
      let spawnError: string | undefined;
      let force: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (exitCode: number | null, signal: NodeJS.Signals | null, error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(force);
        const result = {
          exitCode: exitCode ?? undefined,
          signal: signal ?? undefined,
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8"),
          timedOut,
          failed: error !== undefined || exitCode !== 0,
          spawnError,
        };
        resolvePromise({ ...result, raw: { command: commandLine(this.binary, full), ...result, ...(error ? { error } : {}) } });
      };
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGTERM");
        force = setTimeout(() => {
          child.kill("SIGKILL");
          child.stdout?.destroy();
          child.stderr?.destroy();
          // 'close' waits for the pipes; after the kill, the exit is all we wait for.
          finish(child.exitCode, child.signalCode ?? "SIGKILL");
        }, 1_000);
      }, timeout);
      child.on("error", (error: NodeJS.ErrnoException) => {
        spawnError = typeof error.code === "string" ? error.code : undefined;
        finish(null, null, error);
      });
      // 'close' (not 'exit'): the output is complete only once the pipes are closed.
      child.on("close", (code, signal) => finish(code, signal));
    });
  }

  #checkTimeout(result: RawResult, args: string[], id: string | undefined, timeout: number): void {
    if (result.timedOut) {
      throw new BerthError("BERTH_TIMEOUT", `${basename(this.binary)} ${args[0] === "--log" ? args[2] : args[0]} timed out after ${timeout} ms`, {
        container: id,
        command: commandLine(this.binary, [...this.#baseArgs, ...args]),
        timeout,
        cause: result.raw,
      });
    }
    if (result.spawnError === "ENOENT" || result.spawnError === "EACCES") {
      throw new BerthError("BERTH_RUNTIME_NOT_FOUND", `${this.binary} is missing`, { path: this.binary, cause: result.raw });
    }
  }

  #failure(args: string[], id: string | undefined, result: RawResult, detail: string, output?: string): BerthError {
    const { line } = lastErrorLine(detail, basename(this.binary));
    const message = line || (result.signal ? `killed by ${result.signal}` : `exited with code ${result.exitCode}`);
    const verb = args[0] === "--log" ? args[2] : args[0];
    // "container does not exist" (runc), "container `x` does not exist"; not "container
    // process: exec: ...: executable file not found".
    const code = /\bcontainer(?: [`'"]?[\w.-]+[`'"]?)? (?:does not exist|not found)\b|^no such container\b/i.test(message)
      ? ("BERTH_CONTAINER_NOT_FOUND" as const)
      : /\bcontainer\b.*\balready exists\b|^id already in use/i.test(message)
        ? ("BERTH_CONTAINER_EXISTS" as const)
        : /\bstopped container\b|\bcontainer\b.*\bnot running\b/i.test(message)
          ? ("BERTH_CONTAINER_NOT_RUNNING" as const)
          : verb === "wait" && /\btim(ed|e) ?out\b/i.test(message)
            ? ("BERTH_TIMEOUT" as const)
            : ("BERTH_RUNTIME_FAILED" as const);
    const stderr = result.stderr;
    return new BerthError(code, `${basename(this.binary)} ${verb}${id ? ` ${id}` : ""}: ${message}`, {
      container: id,
      exitCode: result.exitCode,
      command: commandLine(this.binary, [...this.#baseArgs, ...args]),
      stderr,
      ...(output === undefined ? {} : { output }),
      cause: result.raw,
    });
  }
}

let counter = 0;

/**
 * runc's rule for ids. Checked here as well so that an id such as `--help` is never taken for
 * a flag, and the error names the id instead of a runtime's usage text.
 */
const validId = /^[\w+.-]+$/;

function checkId(id: string): void {
  if (typeof id !== "string" || !validId.test(id) || id.startsWith("-") || id === "." || id === "..") {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid container id ${JSON.stringify(id)}: use letters, digits and _ + . - (not first)`, {
      container: String(id),
    });
  }
}

/** The last non-empty line of a runtime's stderr, its `msg` when it is a JSON or logfmt record. */
function lastErrorLine(text: string, program?: string): { line: string; isRuntimeError: boolean } {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  // A JSON record wins over plain lines after it: runc's --log file holds the JSON, stderr the plain text.
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l.startsWith("{")) {
      try {
        const record = JSON.parse(l) as { level?: string; msg?: string };
        if (typeof record.msg === "string" && (record.level === "error" || record.level === "fatal")) {
          return { line: record.msg, isRuntimeError: true };
        }
      } catch {
        // Not a record: an ordinary line.
      }
    }
    const logfmt = /\blevel=(error|fatal)\b.*\bmsg="((?:[^"\\]|\\.)*)"/.exec(l);
    if (logfmt) return { line: logfmt[2]!.replace(/\\(.)/g, "$1"), isRuntimeError: true };
  }
  const last = lines.at(-1) ?? "";
  // Plain-text errors, as a runtime prints them without --log-format json: "crun: ...".
  if (program && last.startsWith(`${program}: `)) return { line: last.slice(program.length + 2), isRuntimeError: true };
  return { line: last, isRuntimeError: false };
}

function stripLastLine(text: string): string {
  const trimmed = text.replace(/\n+$/, "");
  const at = trimmed.lastIndexOf("\n");
  return at < 0 ? "" : trimmed.slice(0, at + 1);
}

function parseJson<T>(text: string, what: string, id?: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new BerthError("BERTH_RUNTIME_FAILED", `the runtime's ${what} output is not JSON: ${text.slice(0, 200)}`, {
      container: id,
      cause: error,
    });
  }
}

function commandLine(binary: string, args: string[]): string {
  return [binary, ...args].join(" ");
}

const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

function signalNumber(signal: string): number {
  return signals[signal] ?? 0;
}

function kindOf(binary: string): OciRuntimeKind {
  const name = basename(binary);
  if (name.startsWith("berth-runtime")) return "berth-runtime";
  if (name === "runc" || name.startsWith("runc")) return "runc";
  if (name === "crun" || name.startsWith("crun")) return "crun";
  return "other";
}

const resolved = new Map<string, string>();

/** The absolute path of a runtime given by name or path; cached per process. */
export function resolveRuntime(requested: string): string {
  const cached = resolved.get(requested);
  if (cached) return cached;
  let found: string | undefined;
  if (requested.includes("/")) {
    const path = resolve(requested);
    if (isExecutableFile(path)) found = path;
  } else if (requested === "berth-runtime") {
    found = bundledRuntime() ?? searchPath(requested);
  } else {
    found = searchPath(requested);
  }
  if (!found) {
    const hint =
      requested === "berth-runtime"
        ? "run `npm install` (it builds native/build/berth-runtime) or set BERTH_RUNTIME"
        : `install it or give its path`;
    throw new BerthError("BERTH_RUNTIME_NOT_FOUND", `OCI runtime ${requested} not found: ${hint}`, { runtime: requested });
  }
  resolved.set(requested, found);
  return found;
}

function searchPath(name: string): string | undefined {
  // Runtimes live in sbin, which a non-login root shell may lack in PATH.
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

