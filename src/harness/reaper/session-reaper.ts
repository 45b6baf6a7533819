import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { BerthError } from "../../common/berth-error.js";
import { logger } from "../../common/logger.js";
import { processStartTime } from "./reaper-handlers.js";
import { resourceKey, type ReaperMessage, type ReaperResource } from "./reaper-resource.js";
import { sessionsDir } from "./reap.js";

const log = logger("reaper");

/** Options of {@link SessionReaper}. */
export interface SessionReaperOptions {
  /** The session id shared by every process of a test run. @default `BERTH_SESSION_ID`, else a new UUID per process */
  sessionId?: string;
  /** Where session files live. @default `<runRoot()>/sessions` */
  sessionsDir?: string;
  /** Whether registering does anything. @default false unless `BERTH_REAPER_DISABLED` is `1` or `true` */
  disabled?: boolean;
  /** The environment of the watchdog (its state root decides which stores it cleans). @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * Registers what a session creates with a detached watchdog process that removes it all when
 * the session ends: normal exit, uncaught exception, SIGINT/SIGTERM or SIGKILL. The watchdog
 * is spawned on the first registration and learns of the end from its stdin pipe closing,
 * which needs no cooperation from a dying process; no container and no daemon are involved.
 *
 * Register a resource before creating it when its id is known in advance, so that a crash
 * between the two leaves nothing behind; removing a resource that was never made is a no-op.
 */
export class SessionReaper {
  readonly sessionId: string;
  readonly disabled: boolean;
  readonly #dir: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #table = new Map<string, ReaperResource>();
  #watchdog: ChildProcess | undefined;

  constructor(options: SessionReaperOptions = {}) {
    const env = options.env ?? process.env;
    this.sessionId = options.sessionId ?? (env.BERTH_SESSION_ID || randomUUID());
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(this.sessionId)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid session id ${JSON.stringify(this.sessionId)}: use [A-Za-z0-9_.-]`, { field: "sessionId" });
    }
    this.disabled = options.disabled ?? /^(1|true)$/i.test(env.BERTH_REAPER_DISABLED ?? "");
    this.#dir = options.sessionsDir ?? sessionsDir(env);
    this.#env = env;
  }

  /** The watchdog's pid once one runs. */
  get watchdogPid(): number | undefined {
    return this.#watchdog?.pid;
  }

  /** The file listing this process's registrations, written by the watchdog. */
  get sessionFile(): string {
    return join(this.#dir, this.sessionId, `${process.pid}.json`);
  }

  /** Registers `resource` for removal at the end of the session. Synchronous: it is in the pipe on return. */
  register(resource: ReaperResource): void {
    if (this.disabled) return;
    this.#table.set(resourceKey(resource), resource);
    this.#send({ op: "register", resource });
  }

  /** Forgets `resource` (removed by its owner, or handed over to outlive the session). */
  unregister(resource: Pick<ReaperResource, "kind" | "id">): void {
    if (this.disabled || !this.#table.delete(resourceKey(resource))) return;
    this.#send({ op: "unregister", resource: { kind: resource.kind, id: resource.id } });
  }

  /** A process registration with its start time, so that a reused pid is never killed. */
  registerProcess(pid: number, options: { group?: boolean } = {}): void {
    const startTime = processStartTime(pid);
    if (startTime === undefined) return;
    this.register({ kind: "process", id: String(pid), data: { startTime, ...(options.group ? { group: true } : {}) } });
  }

  #send(message: ReaperMessage): void {
    const line = `${JSON.stringify(message)}\n`;
    const watchdog = this.#watchdog ?? this.#spawn();
    if (watchdog.stdin?.writable) {
      // For a pipe libuv writes at once when it can, so the line is in the kernel's buffer
      // before we return and survives a SIGKILL that follows.
      watchdog.stdin.write(line);
      return;
    }
    // The watchdog died: start another and give it everything still registered.
    this.#watchdog = undefined;
    const fresh = this.#spawn();
    for (const resource of this.#table.values()) fresh.stdin?.write(`${JSON.stringify({ op: "register", resource })}\n`);
    if (message.op === "unregister") fresh.stdin?.write(line);
  }

  #spawn(): ChildProcess {
    const { command, args } = watchdogCommand();
    mkdirSync(dirname(this.sessionFile), { recursive: true });
    const logFile = join(dirname(this.sessionFile), `${process.pid}.log`);
    const logFd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        detached: true,
        stdio: ["pipe", "ignore", logFd],
        env: {
          ...this.#env,
          BERTH_REAPER_SESSION: this.sessionId,
          BERTH_REAPER_FILE: this.sessionFile,
          BERTH_REAPER_LOG: logFile,
          BERTH_REAPER_OWNER: String(process.pid),
        },
      });
    } catch (error) {
      throw new BerthError("BERTH_REAPER_FAILED", `cannot start the session watchdog (${command})`, { cause: error });
    } finally {
      closeSync(logFd);
    }
    child.on("error", (error) => log("watchdog error: %O", error));
    child.stdin?.on("error", (error) => log("watchdog pipe error: %O", error));
    child.on("exit", (code) => {
      log("watchdog %d exited with %s", child.pid, code);
      if (this.#watchdog === child) this.#watchdog = undefined;
    });
    // Neither the process nor its pipe may keep the session alive: its exit is the signal.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    log("session %s: watchdog %d started", this.sessionId, child.pid);
    this.#watchdog = child;
    return child;
  }
}

/**
 * Kept on globalThis under a registered symbol: vitest evaluates modules again for every
 * test file in a worker, and two copies of berth may be loaded; one process, one watchdog.
 */
const sharedKey = Symbol.for("berth.sessionReaper");

/** This process's reaper, made on first use; every harness object registers with it. */
export function sessionReaper(): SessionReaper {
  const holder = globalThis as { [sharedKey]?: SessionReaper };
  holder[sharedKey] ??= new SessionReaper();
  return holder[sharedKey];
}

/**
 * How to run the watchdog: the bundled `reaper-watchdog.js` beside the built library, or the
 * TypeScript source through tsx when berth runs from its sources (its own tests).
 */
function watchdogCommand(): { command: string; args: string[] } {
  const dir = moduleDir();
  const built = join(dir, "reaper-watchdog.js");
  if (existsSync(built)) return { command: process.execPath, args: [built] };
  const source = join(dir, "watchdog.ts");
  if (existsSync(source)) {
    const tsx = createRequire(join(dir, "noop.js")).resolve("tsx");
    return { command: process.execPath, args: ["--import", pathToFileURL(tsx).href, source] };
  }
  throw new BerthError("BERTH_REAPER_FAILED", `the session watchdog is missing beside ${dir} (reaper-watchdog.js): reinstall berth`, { path: dir });
}

function moduleDir(): string {
  // The CJS build has __dirname and no import.meta.url; the ESM build and sources the reverse.
  if (typeof __dirname === "string") return __dirname;
  return dirname(fileURLToPath(import.meta.url));
}
