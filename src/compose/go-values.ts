/**
 * The value syntaxes Compose inherits from Go: `time.Duration` strings and docker/go-units
 * byte sizes. Parsers return undefined on bad input so callers can name the field.
 */

import { parseDuration } from "../common/duration.js";

/** Parses a Go duration (`1m30s`, `500ms`, `1.5h`) into nanoseconds; undefined when invalid. */
export function parseGoDuration(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

/** Formats nanoseconds as Go's `Duration.String()` (`1m30s`, `1h0m0s`, `500ms`, `0s`). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e9) {
    // Sub-second values use the largest unit that keeps an integer part, as Go does.
    const [unit, size] = n < 1e3 ? ["ns", 1] : n < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    out = `${trimFraction(n / (size as number))}${unit}`;
  } else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    const s = trimFraction(n / 1e9);
    out = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
  }
  return neg ? `-${out}` : out;
}

function trimFraction(v: number): string {
  return Number(v.toFixed(9)).toString();
}

const binaryUnits: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * Parses a go-units RAM size (`512m`, `1g`, `1.5GiB`, `1024`) into bytes; units are binary,
 * as `docker run --memory` and Compose's `mem_limit` read them.
 */
export function parseRamSize(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)(i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] || "b").toLowerCase();
  return Math.floor(Number(m[1]) * binaryUnits[unit]!);
}
