import { BerthError } from "../../common/berth-error.js";
import { parseDuration } from "../../common/duration.js";

/**
 * Nanoseconds since the epoch of an RFC 3339 time with up to nine fractional digits
 * (`2026-11-22T16:41:18.123456789Z`, `...+01:00`), kept exact as a bigint because a
 * JavaScript number cannot hold nanoseconds since 1970. Returns undefined when unparsable.
 */
export function rfc3339ToNanos(text: string): bigint | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const fraction = BigInt((match[2] ?? "").padEnd(9, "0"));
  return BigInt(ms) * 1_000_000n + fraction;
}

/**
 * A `--since`/`--until` value as Docker's `timetypes.GetTimestamp` reads it: an RFC 3339
 * time (date only, or without zone, read as UTC), a Unix time with optional fraction
 * (`1700000000.5`), a relative duration back from `now` (`10m`, `1h30m`), or a Date/epoch ms
 * number. Returns nanoseconds since the epoch. Fails with `BERTH_INVALID_ARGUMENT`.
 */
export function toNanos(value: string | number | Date, now: Date = new Date()): bigint {
  if (value instanceof Date) return BigInt(value.getTime()) * 1_000_000n;
  if (typeof value === "number") return BigInt(Math.trunc(value)) * 1_000_000n;
  const text = value.trim();
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (unix) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? "").padEnd(9, "0"));
  const exact = rfc3339ToNanos(text);
  if (exact !== undefined) return exact;
  const noZone = /^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?$/.exec(text);
  if (noZone) {
    let full = text;
    if (!full.includes("T")) full += "T00:00:00";
    else if (/T\d{2}$/.test(full)) full += ":00:00";
    else if (/T\d{2}:\d{2}$/.test(full)) full += ":00";
    const parsed = rfc3339ToNanos(`${full}Z`);
    if (parsed !== undefined) return parsed;
  }
  try {
    return BigInt(now.getTime()) * 1_000_000n - BigInt(parseDuration(text));
  } catch (error) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid time value: ${value}`, { field: "since/until", value: text, cause: error });
  }
}
