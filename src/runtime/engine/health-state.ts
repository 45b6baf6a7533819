import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedContainerConfig } from "../container-config/merge-config.js";
import type { ContainerRecord, HealthState } from "./container-record.js";

/**
 * Health checks are run by berth-runtime's monitor (native/src/health.c), not by Node: the
 * monitor outlives the process that started the container, so `berth run -d --health-cmd`
 * turns healthy after the CLI has exited, as with dockerd. The engine hands the check over in
 * the bundle and reads back the state the monitor writes (atomically) into the container's
 * directory.
 */
const configName = "berth-health.json";
const stateName = "health.json";

/** Where the monitor writes a container's `State.Health`. */
export function healthStatePath(containerDir: string): string {
  return join(containerDir, stateName);
}

/**
 * Writes the health check the monitor runs into the bundle (or removes a stale one), and
 * drops the previous run's state so that nobody reads it as this run's.
 */
export async function prepareHealthCheck(bundle: string, containerDir: string, config: ResolvedContainerConfig): Promise<void> {
  // Synchronous, as the engine's other small files: each async call is a thread-pool round
  // trip on every start, with or without a check.
  rmSync(healthStatePath(containerDir), { force: true });
  const check = config.healthcheck;
  if (!check) {
    rmSync(join(bundle, configName), { force: true });
    return;
  }
  // CMD-SHELL runs through the image's SHELL, as Docker runs it.
  const test = check.test[0] === "CMD-SHELL" ? [...config.shell, check.test.slice(1).join(" ")] : check.test.slice(1);
  const file = {
    test,
    interval: check.interval,
    timeout: check.timeout,
    startPeriod: check.startPeriod,
    startInterval: check.startInterval,
    retries: check.retries,
    state: healthStatePath(containerDir),
  };
  writeFileSync(join(bundle, configName), JSON.stringify(file));
}

/**
 * A container's `State.Health`: what its monitor wrote; "starting" for a running container
 * whose monitor has not written yet; nothing for a container without a check or never started.
 */
export function readHealthState(containerDir: string, record: ContainerRecord, running: boolean): HealthState | undefined {
  if (!record.config.healthcheck) return undefined;
  try {
    return JSON.parse(readFileSync(healthStatePath(containerDir), "utf8")) as HealthState;
  } catch {
    // Absent (not started yet, or the monitor not yet at its loop), or from an older berth.
    return running ? { Status: "starting", FailingStreak: 0, Log: [] } : undefined;
  }
}
