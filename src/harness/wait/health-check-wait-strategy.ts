import { BerthError } from "../../common/berth-error.js";
import { pollUntil } from "./poll.js";
import { AbstractWaitStrategy, lastLogLines } from "./wait-strategy.js";
import type { WaitTarget } from "./wait-target.js";

/** Ready when the container's health check reports `healthy`; fails at once on `unhealthy`. */
export class HealthCheckWaitStrategy extends AbstractWaitStrategy {
  describe(): string {
    return "health check healthy";
  }

  protected async waitFor(target: WaitTarget, signal: AbortSignal): Promise<void> {
    await pollUntil(async () => {
      const status = await target.health();
      if (status === "healthy") return true;
      if (status === "unhealthy") {
        throw new BerthError("BERTH_WAIT_UNHEALTHY", `container ${target.name} became unhealthy while waiting for ${this.describe()}`, {
          container: target.id,
          lastLines: await lastLogLines(target),
        });
      }
      if (status === "none") {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `container ${target.name} has no health check to wait for: define one with withHealthCheck() or choose another strategy`, {
          container: target.id,
        });
      }
      return false;
    }, signal, { maxInterval: 100 });
  }
}
