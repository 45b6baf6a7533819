import { BerthError } from "../../common/berth-error.js";
import { AbstractWaitStrategy } from "./wait-strategy.js";
import type { WaitStrategy } from "./wait-strategy.js";
import type { WaitTarget } from "./wait-target.js";

/**
 * Ready when every strategy is. They run at once, each with its own startup timeout; a
 * deadline bounds the whole. A timeout set on the composite is passed to the strategies that
 * have none of their own, as testcontainers does.
 */
export class CompositeWaitStrategy extends AbstractWaitStrategy {
  readonly #strategies: readonly WaitStrategy[];
  #deadline: number | undefined;

  constructor(strategies: readonly WaitStrategy[]) {
    super();
    if (strategies.length === 0) throw new BerthError("BERTH_INVALID_ARGUMENT", "Wait.forAll needs at least one strategy", { field: "strategies" });
    this.#strategies = [...strategies];
  }

  override withStartupTimeout(ms: number): this {
    super.withStartupTimeout(ms);
    for (const s of this.#strategies) if (!s.hasStartupTimeout) s.withStartupTimeout(ms);
    return this;
  }

  /** The longest all strategies together may take, in ms. @default the longest of their startup timeouts */
  withDeadline(ms: number): this {
    this.#deadline = ms;
    return super.withStartupTimeout(ms);
  }

  override get startupTimeout(): number {
    return this.#deadline ?? Math.max(...this.#strategies.map((s) => s.startupTimeout));
  }

  describe(): string {
    return `all of [${this.#strategies.map((s) => s.describe()).join("; ")}]`;
  }

  protected async waitFor(target: WaitTarget, signal: AbortSignal): Promise<void> {
    // One strategy's failure aborts the others, so nothing keeps polling after we return.
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.all(
        this.#strategies.map((s) =>
          s.waitUntilReady(target, controller.signal).catch((error: unknown) => {
            controller.abort(error);
            throw error;
          }),
        ),
      );
    } finally {
      signal.removeEventListener("abort", onAbort);
      controller.abort();
    }
  }
}
