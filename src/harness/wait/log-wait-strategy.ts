import { BerthError } from "../../common/berth-error.js";
import { AbstractWaitStrategy, ContainerExited } from "./wait-strategy.js";
import type { WaitTarget } from "./wait-target.js";

/**
 * Ready when the container's output has matched `message` `times` times, counting from the
 * container's start (or `since`), so a line printed before the wait began still counts.
 */
export class LogWaitStrategy extends AbstractWaitStrategy {
  readonly #message: string | RegExp;
  readonly #times: number;
  #since: number | undefined;

  /**
   * @param message a substring or a pattern one line must match.
   * @param times how many matching lines to wait for. @default 1
   */
  constructor(message: string | RegExp, times = 1) {
    super();
    if (!Number.isInteger(times) || times < 1) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `times must be a positive integer, got ${times}`, { field: "times" });
    }
    // A global or sticky pattern keeps lastIndex between tests and would skip matches.
    this.#message = message instanceof RegExp ? new RegExp(message.source, message.flags.replace(/[gy]/g, "")) : message;
    this.#times = times;
  }

  /** Count only output after this time (ms since the epoch), as after a restart. @default the container's start */
  withSince(since: number): this {
    this.#since = since;
    return this;
  }

  describe(): string {
    const what = typeof this.#message === "string" ? JSON.stringify(this.#message) : String(this.#message);
    return `log message ${what}${this.#times > 1 ? ` ${this.#times} times` : ""}`;
  }

  protected async waitFor(target: WaitTarget, signal: AbortSignal): Promise<void> {
    let seen = 0;
    const lines = target.logs({ since: this.#since, follow: true, signal })[Symbol.asyncIterator]();
    for (;;) {
      const next = await lines.next();
      if (next.done) break;
      const { line } = next.value;
      const matches = typeof this.#message === "string" ? line.includes(this.#message) : this.#message.test(line);
      if (matches && ++seen >= this.#times) {
        // Ready now: closing the follower (a file handle, a watcher) need not delay the start,
        // as a `return` inside `for await` would by awaiting it.
        void lines.return?.(undefined)?.catch(() => {});
        return;
      }
    }
    signal.throwIfAborted();
    // The stream ended: the container's output is closed, so the message will never come.
    // Reported as the exit watcher reports an exit (code, strategy, last lines), whichever
    // of the two notices first.
    throw new ContainerExited(await target.exitCode());
  }
}
