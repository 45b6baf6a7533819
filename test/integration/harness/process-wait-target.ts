import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import type { ExposedPort, HealthStatus, LogLine, WaitExecResult, WaitTarget } from "../../../src/harness/wait/wait-target.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

/** Options of {@link ProcessWaitTarget.start}. */
export interface ProcessTargetOptions {
  argv: string[];
  /** Run in a fresh network namespace (`unshare --net`, loopback up). */
  netns?: boolean;
  exposedPorts?: ExposedPort[];
  /** Container port → host port, for servers that listen on the host. */
  mappedPorts?: Record<number, number>;
  /** A command whose exit 0 means healthy, run every 20 ms; three failures after one success mean unhealthy. */
  healthCheck?: string[];
}

/**
 * A WaitTarget over a real process: in its own network namespace when asked, its output in a
 * file as a container's log is, commands run with nsenter as exec runs them in a container.
 * It stands in for a container until the engine's adapter exists; nothing in it is simulated.
 */
export class ProcessWaitTarget implements WaitTarget {
  readonly host = "127.0.0.1";
  readonly exposedPorts: readonly ExposedPort[];
  #health: HealthStatus;
  #healthTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly id: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly options: ProcessTargetOptions,
  ) {
    this.exposedPorts = options.exposedPorts ?? [];
    this.#health = options.healthCheck ? "starting" : "none";
  }

  get name(): string {
    return `process-${this.child.pid}`;
  }

  static async start(options: ProcessTargetOptions): Promise<ProcessWaitTarget> {
    const dir = await makeTempDir("berth-wait-");
    const logFd = openSync(join(dir, "output.log"), "a");
    const argv = options.netns ? ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...options.argv] : options.argv;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", logFd, logFd] });
    closeSync(logFd);
    const target = new ProcessWaitTarget(`proc-${child.pid}`, child, dir, options);
    if (options.healthCheck) target.#startHealthChecks(options.healthCheck);
    return target;
  }

  #startHealthChecks(argv: string[]): void {
    let failures = 0;
    const tick = async (): Promise<void> => {
      const { exitCode } = await this.exec(argv);
      if (exitCode === 0) {
        this.#health = "healthy";
        failures = 0;
      } else if (this.#health === "healthy" && ++failures >= 3) {
        this.#health = "unhealthy";
      }
      if (this.#healthTimer) this.#healthTimer = setTimeout(() => void tick(), 20);
    };
    this.#healthTimer = setTimeout(() => void tick(), 20);
  }

  async *logs(options: { since?: number; follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    const file = await open(join(this.dir, "output.log"), "r");
    try {
      let offset = 0;
      let partial = "";
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        options.signal.throwIfAborted();
        const running = this.child.exitCode === null && this.child.signalCode === null;
        const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
        offset += bytesRead;
        const text = partial + buffer.subarray(0, bytesRead).toString("utf8");
        const lines = text.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) yield { stream: "stdout", line };
        if (bytesRead > 0) continue;
        if (!options.follow || !running) {
          if (partial) yield { stream: "stdout", line: partial };
          return;
        }
        await sleep(10, undefined, { signal: options.signal });
      }
    } finally {
      await file.close();
    }
  }

  async exec(argv: readonly string[], options: { signal?: AbortSignal } = {}): Promise<WaitExecResult> {
    const pid = this.netnsPid();
    const full = this.options.netns && pid !== undefined ? ["nsenter", `--net=/proc/${pid}/ns/net`, "--", ...argv] : [...argv];
    const result = await execa(full[0]!, full.slice(1), { reject: false, cancelSignal: options.signal, timeout: 10_000 });
    return { exitCode: result.exitCode ?? 128, stdout: String(result.stdout), stderr: String(result.stderr) };
  }

  async health(): Promise<HealthStatus> {
    return this.#health;
  }

  async isRunning(): Promise<boolean> {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async exitCode(): Promise<number | undefined> {
    return this.child.exitCode ?? undefined;
  }

  mappedPort(port: number): number | undefined {
    return this.options.mappedPorts?.[port];
  }

  netnsPid(): number | undefined {
    return this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  netnsPath(): string | undefined {
    const pid = this.netnsPid();
    return pid === undefined ? undefined : `/proc/${pid}/ns/net`;
  }

  /** Kills the process and removes its files. */
  async stop(): Promise<void> {
    clearTimeout(this.#healthTimer);
    this.#healthTimer = undefined;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGKILL");
      await exited;
    }
    await removeTempDir(this.dir);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

