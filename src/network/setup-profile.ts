import { logger } from "../common/logger.js";

const log = logger("network:profile");

/**
 * Phase timings of one network operation (an attach, a release), taken only when
 * `BERTH_NET_PROFILE` is set: the budget of a container's network setup is a few
 * milliseconds, and finding where they go needs marks inside it, not around it. Off, a mark
 * costs one property read.
 */
export interface SetupProfile {
  /** Ends the phase that began at the previous mark (or at the start) and names it. */
  mark(phase: string): void;
  /** Ends the profile: logs it (`DEBUG=berth:network:profile`) and keeps it for {@link takeSetupProfiles}. */
  end(): void;
}

/** One finished profile: the operation and its phases in order, in milliseconds. */
export interface SetupProfileRecord {
  operation: string;
  phases: [phase: string, ms: number][];
  total: number;
}

const noop: SetupProfile = { mark() {}, end() {} };
const finished: SetupProfileRecord[] = [];
// Bounded: a long-lived process with the variable set must not grow without end.
const kept = 10_000;

/** Whether profiles are taken; read at each operation so a bench can switch it on at run time. */
export function isProfiling(): boolean {
  return !!process.env.BERTH_NET_PROFILE;
}

/** A profile of `operation`, or a no-op when `BERTH_NET_PROFILE` is not set. */
export function startSetupProfile(operation: string): SetupProfile {
  if (!isProfiling()) return noop;
  const start = process.hrtime.bigint();
  let last = start;
  const phases: [string, number][] = [];
  return {
    mark(phase) {
      const now = process.hrtime.bigint();
      phases.push([phase, Number(now - last) / 1e6]);
      last = now;
    },
    end() {
      const record = { operation, phases, total: Number(process.hrtime.bigint() - start) / 1e6 };
      if (finished.length >= kept) finished.shift();
      finished.push(record);
      log("%s %s ms: %s", operation, record.total.toFixed(2), phases.map(([p, ms]) => `${p} ${ms.toFixed(2)}`).join(", "));
    },
  };
}

/** The profiles finished since the last call (and forgets them). */
export function takeSetupProfiles(): SetupProfileRecord[] {
  return finished.splice(0, finished.length);
}
