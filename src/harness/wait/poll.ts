import { setTimeout as sleep } from "node:timers/promises";

/** Options of {@link pollUntil}. */
export interface PollOptions {
  /** The first interval, in ms. @default 5 */
  initialInterval?: number;
  /** The longest interval, in ms. @default 50 */
  maxInterval?: number;
}

/**
 * Calls `check` until it returns true. Starts fast and backs off, because most services are
 * up within tens of ms and a fixed 100 ms interval would add its whole period to every start.
 * Ends with the signal's reason when it aborts.
 */
export async function pollUntil(check: () => Promise<boolean>, signal: AbortSignal, options: PollOptions = {}): Promise<void> {
  const { initialInterval = 5, maxInterval = 50 } = options;
  let interval = initialInterval;
  for (;;) {
    signal.throwIfAborted();
    if (await check()) return;
    await sleep(interval, undefined, { signal });
    interval = Math.min(maxInterval, interval * 2);
  }
}
