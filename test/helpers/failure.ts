import type { BerthError } from "../../src/common/berth-error.js";

/**
 * The error `promise` rejects with, for assertions on its `code` and context; fails the test
 * when it resolves instead.
 */
export async function failure(promise: Promise<unknown>): Promise<BerthError> {
  try {
    await promise;
  } catch (error) {
    return error as BerthError;
  }
  throw new Error("expected a rejection");
}
