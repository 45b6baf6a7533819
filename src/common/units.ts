import { BerthError } from "./berth-error.js";

const prefixes = "kmgtp";

/**
 * Parses a size the way Docker's go-units does: a number (fractions allowed), an optional
 * space, an optional unit letter `k m g t p` (any case), then an optional `i` and/or `b`.
 * The `i` does not choose the base: the function does. So `ramInBytes("64MiB")` and
 * `ramInBytes("64m")` are both 64 × 1024², and `fromHumanSize("64MiB")` is 64 × 1000²,
 * exactly as `docker run --memory` and `--storage-opt size=` read them. Fractions are
 * truncated toward zero after multiplying. A number is also accepted (bytes).
 */
function parseSize(input: string | number, base: 1000 | 1024, what: string): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw invalid(String(input), what);
    return Math.trunc(input);
  }
  const match = /^(\d+(?:\.\d+)*) ?([kmgtp])?(i)?(b)?$/i.exec(input.trim());
  // go-units accepts "1.2.3" as a number prefix but then fails to parse it as a float.
  if (!match || !/^\d+(\.\d+)?$/.test(match[1]!)) throw invalid(input, what);
  const value = Number(match[1]);
  const unit = match[2]?.toLowerCase();
  // An "i" without a unit letter ("5i", "5ib") is not a size in go-units either.
  if (!unit && match[3]) throw invalid(input, what);
  const exponent = unit ? prefixes.indexOf(unit) + 1 : 0;
  return Math.trunc(value * base ** exponent);
}

function invalid(input: string, what: string): BerthError {
  return new BerthError("BERTH_INVALID_ARGUMENT", `invalid size: '${input}'`, { value: input, field: what });
}

/**
 * A size in bytes with binary multiples (`512m` = 512 MiB), as Docker reads `--memory`,
 * `--shm-size`, `--memory-swap`, `tmpfs-size`. Fails with `BERTH_INVALID_ARGUMENT`.
 */
export function ramInBytes(input: string | number): number {
  return parseSize(input, 1024, "size");
}

/**
 * A size in bytes with decimal multiples (`10MB` = 10 000 000), as go-units `FromHumanSize`.
 */
export function fromHumanSize(input: string | number): number {
  return parseSize(input, 1000, "size");
}
