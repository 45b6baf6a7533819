import { BerthError } from "../../common/berth-error.js";
import { pollUntil } from "./poll.js";
import { AbstractWaitStrategy } from "./wait-strategy.js";
import type { WaitTarget } from "./wait-target.js";

/** Ready when a command run inside the container exits 0 (`pg_isready`, `redis-cli ping`). */
export class SuccessfulCommandWaitStrategy extends AbstractWaitStrategy {
  readonly #argv: readonly string[];

  /** @param command argv, or a string run with `/bin/sh -c` as testcontainers does. */
  constructor(command: string | readonly string[]) {
    super();
    this.#argv = typeof command === "string" ? ["/bin/sh", "-c", command] : [...command];
    if (this.#argv.length === 0) throw new BerthError("BERTH_INVALID_ARGUMENT", "the command to wait for is empty", { field: "command" });
  }

  describe(): string {
    return `successful command ${JSON.stringify(this.#argv)}`;
  }

  protected async waitFor(target: WaitTarget, signal: AbortSignal): Promise<void> {
    // Each exec is a process start: back off to 200 ms so a slow service is not hammered.
    await pollUntil(async () => (await target.exec(this.#argv, { signal })).exitCode === 0, signal, { initialInterval: 10, maxInterval: 200 });
  }
}
