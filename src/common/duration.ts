import { BerthError } from "./berth-error.js";

/** Nanoseconds per unit of Go's `time.ParseDuration`. */
const unitNs: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Parses a duration as Go's `time.ParseDuration` does (Docker's `--health-interval`,
 * `--stop-timeout` in compose, `HEALTHCHECK --interval=`): a sequence of decimal numbers each
 * with a unit (`300ms`, `1m30s`, `1.5h`), an optional sign, or a bare `0`. A number is taken
 * as nanoseconds already. Returns nanoseconds; fails with `BERTH_INVALID_ARGUMENT`.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input)) throw invalidDuration(String(input));
    return Math.trunc(input);
  }
  let text = input.trim();
  let sign = 1;
  if (text.startsWith("-") || text.startsWith("+")) {
    if (text[0] === "-") sign = -1;
    text = text.slice(1);
  }
  if (text === "0") return 0;
  if (text === "") throw invalidDuration(input);
  const part = /(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    part.lastIndex = pos;
    const match = part.exec(text);
    if (!match || match[1] === "" || match[1] === ".") {
      throw invalidDuration(input, match ? undefined : `missing unit in duration "${input}"`);
    }
    total += Number(match[1]) * unitNs[match[2]!]!;
    pos = part.lastIndex;
  }
  return sign * Math.round(total);
}

function invalidDuration(input: string, message = `time: invalid duration "${input}"`): BerthError {
  return new BerthError("BERTH_INVALID_ARGUMENT", message, { value: input, field: "duration" });
}

/** Formats nanoseconds as Go's `Duration.String` does for whole units (`1m30s`, `500ms`, `0s`). */
export function formatDuration(ns: number): string {
  if (ns === 0) return "0s";
  const sign = ns < 0 ? "-" : "";
  let rest = Math.abs(ns);
  if (rest < 1e9) {
    if (rest >= 1e6) return `${sign}${rest / 1e6}ms`;
    if (rest >= 1e3) return `${sign}${rest / 1e3}µs`;
    return `${sign}${rest}ns`;
  }
  const h = Math.floor(rest / 3600e9);
  rest -= h * 3600e9;
  const m = Math.floor(rest / 60e9);
  rest -= m * 60e9;
  const s = rest / 1e9;
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
