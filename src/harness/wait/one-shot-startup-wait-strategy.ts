import { BerthError } from "../../common/berth-error.js";
import { pollUntil } from "./poll.js";
import { AbstractWaitStrategy, lastLogLines } from "./wait-strategy.js";
import type { WaitTarget } from "./wait-target.js";

/** Ready when the container has run to completion with exit code 0 (migrations, seeders). */
export class OneShotStartupWaitStrategy extends AbstractWaitStrategy {
  protected override readonly failOnExit = false;

  describe(): string {
    return "one-shot exit 0";
  }

  protected async waitFor(target: WaitTarget, signal: AbortSignal): Promise<void> {
    await pollUntil(async () => !(await target.isRunning()), signal);
    const exitCode = await target.exitCode();
    if (exitCode === 0) return;
    throw new BerthError("BERTH_WAIT_CONTAINER_EXITED", `one-shot container ${target.name} exited with code ${exitCode ?? "unknown"}`, {
      container: target.id,
      exitCode,
      lastLines: await lastLogLines(target),
    });
  }
}
