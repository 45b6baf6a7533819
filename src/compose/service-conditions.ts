import { setTimeout as sleep } from "node:timers/promises";
import { BerthError } from "../common/berth-error.js";
import type { ContainerInspect } from "../runtime/engine/container-inspect.js";
import type { ComposeContext } from "./compose-context.js";

/**
 * How often conditions are polled, in ms. The container's monitor runs its health probes and
 * writes the status at each one, whichever process started it, so polling the record suffices.
 */
const pollInterval = 100;

/** Options of the waits in this file. */
export interface ConditionWaitOptions {
  /** How long to wait, in ms; then `BERTH_COMPOSE_DEPENDENCY_FAILED`. */
  timeout: number;
  /** Aborts the wait. @default none */
  signal?: AbortSignal;
}

/**
 * The exit code of a container seen not running: the engine records it when it reaps the
 * exit, which may not have happened yet when inspect first reports the process gone.
 */
async function exitCodeOf(context: ComposeContext, id: string, inspect: ContainerInspect): Promise<number> {
  return context.engine.wait(id, { timeout: 10_000 }).catch(() => inspect.State.ExitCode);
}

function lastLog(inspect: ContainerInspect): string {
  const entry = inspect.State.Health?.Log?.at(-1);
  return entry ? `: ${String(entry.Output).trim().split("\n").slice(-3).join(" | ")}` : "";
}

/**
 * Resolves once the container is healthy (`service_healthy`, `up --wait`). A container that
 * exits or turns unhealthy fails at once, with Compose's wording
 * (`dependency failed to start: container app-db-1 is unhealthy`).
 */
export async function waitHealthy(context: ComposeContext, id: string, options: ConditionWaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeout;
  for (;;) {
    options.signal?.throwIfAborted();
    const inspect = await context.engine.inspect(id);
    const name = inspect.Name.replace(/^\//, "");
    const status = inspect.State.Health?.Status;
    const hc = inspect.Config.Healthcheck;
    if (!inspect.State.Running) {
      const exitCode = await exitCodeOf(context, id, inspect);
      throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `dependency failed to start: container ${name} exited (${exitCode})`, { container: name, exitCode });
    }
    if (!hc || hc.Test[0] === "NONE") {
      throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `dependency failed to start: container ${name} has no healthcheck configured`, { container: name });
    }
    if (status === "healthy") return;
    if (status === "unhealthy") {
      throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `dependency failed to start: container ${name} is unhealthy${lastLog(inspect)}`, { container: name });
    }
    if (Date.now() >= deadline) {
      throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `dependency failed to start: container ${name} not healthy after ${options.timeout} ms${lastLog(inspect)}`, {
        container: name,
        timeout: options.timeout,
      });
    }
    await sleep(pollInterval, undefined, options.signal ? { signal: options.signal } : {});
  }
}

/** Resolves once the container has exited 0 (`service_completed_successfully`); another exit code fails. */
export async function waitCompleted(context: ComposeContext, id: string, service: string, options: Pick<ConditionWaitOptions, "timeout">): Promise<void> {
  const code = await context.engine.wait(id, { timeout: options.timeout }).catch((error: unknown) => {
    throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `service "${service}" didn't complete within ${options.timeout} ms`, { service, cause: error });
  });
  if (code !== 0) {
    throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `service "${service}" didn't complete successfully: exit ${code}`, { service, exitCode: code });
  }
}

/** Resolves when the container runs (`service_started`, `up --wait` without a healthcheck); an exit fails. */
export async function checkRunning(context: ComposeContext, id: string): Promise<void> {
  const inspect = await context.engine.inspect(id);
  if (!inspect.State.Running) {
    const name = inspect.Name.replace(/^\//, "");
    const exitCode = await exitCodeOf(context, id, inspect);
    throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `container ${name} exited (${exitCode})`, { container: name, exitCode });
  }
}
