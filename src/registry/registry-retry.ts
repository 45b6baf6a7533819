import pRetry from "p-retry";
import { BerthError, hasErrorCode, isBerthError, logger } from "../common/index.js";
import { isTransientNetworkError } from "./registry-http.js";

const log = logger("registry");

/** How hard to retry. */
export interface RetryPolicy {
  retries: number;
  /** The first delay, in ms; each next one doubles, up to 10 s. */
  retryDelay: number;
  /** The longest `Retry-After` waited for, in ms. */
  maxRetryAfter: number;
}

/** An error status carried through p-retry, with the wait the registry asked for. */
export class RetryableStatus extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs `fn` with backoff on network failures, timeouts and {@link RetryableStatus} (5xx,
 * 429), honouring `Retry-After`. What is still failing in the end becomes
 * `BERTH_REGISTRY_UNAVAILABLE`; any other error passes through untouched at once.
 */
export async function retryRegistryCall<T>(
policy: RetryPolicy,
subject: string,
fn: () => Promise<T>,
signal?: AbortSignal,
): Promise<T> {
  let last: unknown;
  try {
    return await pRetry(fn, {
      retries: policy.retries,
      minTimeout: policy.retryDelay,
      maxTimeout: 10_000,
      factor: 2,
      signal,
      shouldRetry: ({ error }) => {
        last = error;
        if (signal?.aborted) return false;
        if (error instanceof RetryableStatus) return (error.retryAfterMs ?? 0) <= policy.maxRetryAfter;
        return !isBerthError(error) || hasErrorCode(error, "BERTH_TIMEOUT") ? isTransientNetworkError(error) : false;
      },
      onFailedAttempt: async ({ error, retriesLeft }) => {
        last = error;
        log("%s failed (%s), %d retries left", subject, error.message, retriesLeft);
        // Retry-After comes on top of the backoff, so the wait is never shorter than asked.
        if (error instanceof RetryableStatus && error.retryAfterMs && retriesLeft > 0 && error.retryAfterMs <= policy.maxRetryAfter) {
          await new Promise((resolve) => setTimeout(resolve, error.retryAfterMs));
        }
      },
    });
  } catch (error) {
    const failure = error ?? last;
    if (failure instanceof RetryableStatus) {
      throw new BerthError("BERTH_REGISTRY_UNAVAILABLE", `${failure.message} (after ${policy.retries} retries)`, {
        status: failure.status,
        cause: failure,
      });
    }
    if (isBerthError(failure) && !hasErrorCode(failure, "BERTH_TIMEOUT")) throw failure;
    if (signal?.aborted) throw failure;
    if (isTransientNetworkError(failure)) {
      throw new BerthError(
        "BERTH_REGISTRY_UNAVAILABLE",
        `${subject}: ${(failure as Error).message} (after ${policy.retries} retries)`,
        { cause: failure },
      );
    }
    throw failure;
  }
}

/** Parses `Retry-After` (seconds or an HTTP date) into ms. */
export function retryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(v);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

