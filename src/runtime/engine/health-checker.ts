import { hasErrorCode } from "../../common/berth-error.js";
import { logger } from "../../common/logger.js";
import type { ResolvedHealthcheck } from "../container-config/merge-config.js";
import type { ContainerRecord, HealthLogEntry } from "./container-record.js";

const log = logger("health");

/** What the health checker needs from the engine (kept narrow to avoid a cycle). */
export interface HealthHost {
  exec(id: string, argv: readonly string[], options: { timeout: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  update<T>(id: string, fn: (record: ContainerRecord) => Promise<T>): Promise<T>;
  setHealthTimer(id: string, timer: NodeJS.Timeout, stop: () => void): void;
}

const maxLog = 5;
/** Docker keeps at most this much of a probe's output. */
const maxOutput = 4096;

/**
 * Runs a container's health check from this Node process while the container runs, as
 * dockerd would: probes every `interval` (`startInterval` during the start period), each
 * limited to `timeout`; `retries` consecutive failures after the start period make it
 * unhealthy, one success makes it healthy. Each result is written to the container record
 * (the last five in `State.Health.Log`). The timer is unref'd: it never keeps Node alive,
 * and it ends when the container stops or is removed.
 */
export function startHealthChecks(host: HealthHost, id: string, check: ResolvedHealthcheck, shell: readonly string[]): void {
  const started = Date.now();
  let stopped = false;
  const argv = check.test[0] === "CMD-SHELL" ? [...shell, check.test.slice(1).join(" ")] : check.test.slice(1);
  const schedule = () => {
    if (stopped) return;
    const inStart = Date.now() - started < check.startPeriod / 1e6;
    const delay = (inStart ? check.startInterval : check.interval) / 1e6;
    const timer = setTimeout(probe, delay);
    timer.unref();
    host.setHealthTimer(id, timer, () => {
      stopped = true;
    });
  };
  const probe = async () => {
    if (stopped) return;
    const start = new Date();
    let entry: HealthLogEntry;
    try {
      const result = await host.exec(id, argv, { timeout: check.timeout / 1e6 });
      entry = { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: result.exitCode === 0 ? 0 : 1, Output: (result.stdout + result.stderr).slice(0, maxOutput) };
    } catch (error) {
      if (hasErrorCode(error, "BERTH_CONTAINER_NOT_RUNNING") || hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND")) {
        stopped = true;
        return;
      }
      const timedOut = hasErrorCode(error, "BERTH_TIMEOUT");
      entry = {
        Start: start.toISOString(),
        End: new Date().toISOString(),
        ExitCode: -1,
        Output: timedOut ? `Health check exceeded timeout (${check.timeout / 1e9}s)` : String((error as Error).message),
      };
    }
    const inStartPeriod = Date.now() - started < check.startPeriod / 1e6;
    try {
      await host.update(id, async (record) => {
        const health = record.health ?? { Status: "starting", FailingStreak: 0, Log: [] };
        health.Log = [...health.Log, entry].slice(-maxLog);
        if (entry.ExitCode === 0) {
          health.Status = "healthy";
          health.FailingStreak = 0;
        } else if (!inStartPeriod || health.Status !== "starting") {
          // Docker does not count failures during the start period while still "starting".
          health.FailingStreak++;
          if (health.FailingStreak >= check.retries) health.Status = "unhealthy";
        }
        record.health = health;
      });
    } catch (error) {
      log("recording health of %s failed: %O", id, error);
      stopped = true;
      return;
    }
    schedule();
  };
  schedule();
}
