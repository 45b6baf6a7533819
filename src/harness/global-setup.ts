import { randomUUID } from "node:crypto";
import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import { sessionReaper, type SessionReaper } from "./reaper/session-reaper.js";

const log = logger("setup");

/** A value that survives JSON: what a global setup can hand to test workers. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** What a global setup function gets. */
export interface BerthSetupContext {
  /** The session id every process of the run shares (`BERTH_SESSION_ID`). */
  readonly sessionId: string;
  /** This process's reaper: what is registered with it goes when the run ends, however it ends. */
  readonly reaper: SessionReaper;
  /** Runs `fn` at teardown; the last registered runs first. */
  onTeardown(fn: () => unknown): void;
  /**
   * Disposes `resource` at teardown: `Symbol.asyncDispose`, else `stop()`, else `remove()`.
   * Returns it, so `const db = ctx.use(await new GenericContainer(...).start())` reads well.
   */
  use<T extends object>(resource: T): T;
}

/** Options of {@link runBerthSetup}. */
export interface BerthSetupOptions {
  /** How long each teardown step may take, in ms. @default 60000 */
  teardownTimeout?: number;
  /** The environment that carries the session id to the test processes. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** A finished setup: the values to hand to tests, and the teardown. */
export interface BerthSetup<T> {
  sessionId: string;
  values: T;
  /** Undoes the setup; rejects with `BERTH_TEARDOWN_FAILED` listing what could not be undone. */
  teardown(): Promise<void>;
}

/**
 * Runs `fn` once for a whole test run, runner-independent (`berth/vitest` wraps it for
 * vitest; jest's globalSetup calls it directly). It sets `BERTH_SESSION_ID` before the test
 * processes start, so everything they create belongs to one session; when `fn` fails, what it
 * had started is torn down before the error propagates.
 */
export async function runBerthSetup<T>(fn: (ctx: BerthSetupContext) => Promise<T> | T, options: BerthSetupOptions = {}): Promise<BerthSetup<T>> {
  const { teardownTimeout = 60_000, env = process.env } = options;
  if (!env.BERTH_SESSION_ID) env.BERTH_SESSION_ID = `run-${randomUUID()}`;
  const sessionId = env.BERTH_SESSION_ID;
  const steps: (() => unknown)[] = [];
  const ctx: BerthSetupContext = {
    sessionId,
    // Made on first use, after BERTH_SESSION_ID is set, so the reaper takes the run's id.
    get reaper() {
      return sessionReaper();
    },
    onTeardown(step) {
      steps.push(step);
    },
    use(resource) {
      steps.push(() => dispose(resource));
      return resource;
    },
  };
  let torn = false;
  const teardown = async (): Promise<void> => {
    if (torn) return;
    torn = true;
    const failures: unknown[] = [];
    for (const step of steps.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          step(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new BerthError("BERTH_TIMEOUT", `a teardown step took over ${teardownTimeout} ms`)), teardownTimeout);
          }),
        ]);
      } catch (error) {
        log("teardown step failed: %O", error);
        failures.push(error);
      } finally {
        clearTimeout(timer);
      }
    }
    if (failures.length > 0) {
      throw new BerthError("BERTH_TEARDOWN_FAILED", `${failures.length} teardown step(s) failed: ${failures.map(String).join("; ")}`, {
        cause: failures.length === 1 ? failures[0] : new AggregateError(failures),
      });
    }
  };
  try {
    return { sessionId, values: await fn(ctx), teardown };
  } catch (error) {
    await teardown().catch((e: unknown) => log("teardown after a failed setup failed: %O", e));
    throw error;
  }
}

async function dispose(resource: object): Promise<void> {
  const r = resource as { [Symbol.asyncDispose]?: () => Promise<void>; stop?: () => unknown; remove?: () => unknown };
  if (typeof r[Symbol.asyncDispose] === "function") await r[Symbol.asyncDispose]!();
  else if (typeof r.stop === "function") await r.stop();
  else if (typeof r.remove === "function") await r.remove();
  else throw new BerthError("BERTH_INVALID_ARGUMENT", "ctx.use() needs something with Symbol.asyncDispose, stop() or remove()", { field: "resource" });
}
