import { setTimeout as sleep } from "node:timers/promises";
import { BerthError, isBerthError } from "../../common/berth-error.js";
import { logger } from "../../common/logger.js";
import type { WaitTarget } from "./wait-target.js";

const log = logger("wait");

/** Waits until a container is ready for use. */
export interface WaitStrategy {
  /** How long {@link waitUntilReady} may take, in ms. @default 60000 */
  withStartupTimeout(ms: number): this;
  /** The startup timeout in effect, in ms. */
  readonly startupTimeout: number;
  /** Whether the timeout was set on this strategy rather than inherited. */
  readonly hasStartupTimeout: boolean;
  /**
   * Resolves when the target is ready. Rejects with `BERTH_WAIT_TIMEOUT` when the timeout
   * passes, `BERTH_WAIT_CONTAINER_EXITED` when the container stops meanwhile, and
   * `BERTH_WAIT_ABORTED` when `signal` aborts.
   */
  waitUntilReady(target: WaitTarget, signal?: AbortSignal): Promise<void>;
  /** What this strategy waits for, for error messages (`log message /ready/ 2 times`). */
  describe(): string;
}

/** The default startup timeout, in ms, as testcontainers has it. */
export const defaultStartupTimeout = 60_000;

/** How many of the container's last log lines a wait failure carries. */
const lastLinesInErrors = 20;

/**
 * The shared half of every strategy: the deadline, failing fast when the container exits
 * while we wait (a crashed database should fail in ms, not after 60 s), and errors that say
 * what was awaited and end with the container's last output.
 */
export abstract class AbstractWaitStrategy implements WaitStrategy {
  #startupTimeout: number | undefined;

  /** Whether a container exit while waiting is a failure; a one-shot container's exit is its success. */
  protected readonly failOnExit: boolean = true;

  withStartupTimeout(ms: number): this {
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `startup timeout must be a positive number of ms, got ${ms}`, { field: "startupTimeout" });
    }
    this.#startupTimeout = ms;
    return this;
  }

  get startupTimeout(): number {
    return this.#startupTimeout ?? defaultStartupTimeout;
  }

  get hasStartupTimeout(): boolean {
    return this.#startupTimeout !== undefined;
  }

  abstract describe(): string;

  /** Resolves when ready; `signal` aborts at the deadline, at a container exit, or on the caller's abort. */
  protected abstract waitFor(target: WaitTarget, signal: AbortSignal): Promise<void>;

  async waitUntilReady(target: WaitTarget, signal?: AbortSignal): Promise<void> {
    const timeout = this.startupTimeout;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TimeoutSignal()), timeout);
    const onOuterAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onOuterAbort, { once: true });
    if (signal?.aborted) onOuterAbort();
    const started = Date.now();
    try {
      const waits = [this.waitFor(target, controller.signal)];
      if (this.failOnExit) waits.push(watchExit(target, controller.signal));
      await Promise.race(waits);
      log("%s ready after %d ms: %s", target.name, Date.now() - started, this.describe());
    } catch (error) {
      throw await this.#failure(error, controller.signal, target, signal, timeout);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onOuterAbort);
      // Stops the exit watcher, log streams and polls still running.
      if (!controller.signal.aborted) controller.abort(new Settled());
    }
  }

  async #failure(error: unknown, inner: AbortSignal, target: WaitTarget, outer: AbortSignal | undefined, timeout: number): Promise<unknown> {
    if (error instanceof ContainerExited || inner.reason instanceof ContainerExited) {
      const exit = error instanceof ContainerExited ? error : (inner.reason as ContainerExited);
      return new BerthError(
        "BERTH_WAIT_CONTAINER_EXITED",
        `container ${target.name} exited with code ${exit.exitCode ?? "unknown"} while waiting for ${this.describe()}`,
        { container: target.id, exitCode: exit.exitCode, strategy: this.describe(), lastLines: await lastLogLines(target) },
      );
    }
    if (inner.reason instanceof TimeoutSignal) {
      return new BerthError("BERTH_WAIT_TIMEOUT", `container ${target.name} was not ready after ${timeout} ms waiting for ${this.describe()}`, {
        container: target.id,
        strategy: this.describe(),
        timeout,
        lastLines: await lastLogLines(target),
        cause: isAbortError(error) ? undefined : error,
      });
    }
    if (outer?.aborted) {
      if (isBerthError(outer.reason)) return outer.reason;
      return new BerthError("BERTH_WAIT_ABORTED", `waiting for ${this.describe()} on ${target.name} was aborted`, {
        container: target.id,
        strategy: this.describe(),
        cause: outer.reason,
      });
    }
    return error;
  }
}

/** The reason of an abort at the startup deadline. */
export class TimeoutSignal extends Error {
  constructor() {
    super("startup timeout");
  }
}

/** The reason of an abort after the wait settled. */
class Settled extends Error {
  constructor() {
    super("wait settled");
  }
}

/** Thrown by the exit watcher; turned into `BERTH_WAIT_CONTAINER_EXITED`. */
export class ContainerExited extends Error {
  constructor(readonly exitCode: number | undefined) {
    super(`container exited with ${exitCode}`);
  }
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error instanceof TimeoutSignal);
}

/**
 * Rejects with {@link ContainerExited} as soon as the container is not running. Polled
 * rather than pushed because a WaitTarget is only a view; 50 ms keeps a crash loud and cheap.
 */
async function watchExit(target: WaitTarget, signal: AbortSignal): Promise<never> {
  for (;;) {
    // Sleep first: the container was running when the wait began, most waits end within the
    // first interval, and an inspect at once would only compete with the wait's own work.
    await sleep(50, undefined, { signal });
    if (!(await target.isRunning())) throw new ContainerExited(await target.exitCode());
  }
}

/** The container's last lines of output, for an error; empty when they cannot be read. */
export async function lastLogLines(target: WaitTarget, count = lastLinesInErrors): Promise<string[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 2_000);
  const lines: string[] = [];
  try {
    for await (const { line } of target.logs({ tail: count, follow: false, signal: controller.signal })) {
      lines.push(line);
      if (lines.length > count) lines.shift();
    }
  } catch {
    // The error being built matters more than its last lines.
  } finally {
    clearTimeout(timer);
  }
  return lines;
}
