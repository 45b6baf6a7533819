import { hasErrorCode } from "../common/berth-error.js";
import type { BerthErrorCode } from "../common/error-codes.js";

/**
 * What `lookup` finds, or undefined when it fails with `notFound` (the network, volume or
 * image is not there yet, which `up` then makes); any other failure is thrown on.
 */
export async function ifExists<T>(lookup: Promise<T>, notFound: BerthErrorCode): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (error) {
    if (hasErrorCode(error, notFound)) return undefined;
    throw error;
  }
}
