/**
 * The few Go `fmt` renderings that end up in image history: BuildKit writes `created_by`
 * strings with `%q` and `%v`, and users compare them with `docker history`.
 */

const namedEscapes: Record<number, string> = { 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r" };

function isGoPrintable(cp: number): boolean {
  if (cp < 0x20 || cp === 0x7f) return false;
  if (cp >= 0x80 && cp < 0xa0) return false;
  // Unicode separators and unassigned code points are escaped by Go; the common ones suffice here.
  if (cp === 0x2028 || cp === 0x2029 || cp === 0xfeff || cp === 0xad) return false;
  return true;
}

function escapeCodePoint(cp: number): string {
  if (namedEscapes[cp]) return namedEscapes[cp]!;
  if (cp < 0x80) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\U${cp.toString(16).padStart(8, "0")}`;
}

/** Go's `strconv.Quote` (`%q` of a string). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (isGoPrintable(cp)) out += ch;
    else out += escapeCodePoint(cp);
  }
  return `${out}"`;
}

/** Go's `%q` of an integer: a quoted rune literal (`'\x03'`). */
export function goQuoteRune(n: number): string {
  if (n === 0x27) return "'\\''";
  if (n === 0x5c) return "'\\\\'";
  if (isGoPrintable(n)) return `'${String.fromCodePoint(n)}'`;
  return `'${escapeCodePoint(n)}'`;
}

/** Go's `%q` of a `[]string`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(" ")}]`;
}

/** Go's `%v` of a `[]string`: `[a b]`. */
export function goList(list: readonly string[]): string {
  return `[${list.join(" ")}]`;
}

function fraction(value: number, unit: number): string {
  const whole = Math.floor(value / unit);
  const rest = value % unit;
  if (rest === 0) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${rest.toString().padStart(digits, "0").replace(/0+$/, "")}`;
}

/** Go's `time.Duration.String()` for a number of nanoseconds (`1m30s`, `500ms`, `0s`). */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const sign = ns < 0 ? "-" : "";
  const v = Math.abs(ns);
  if (v < 1e3) return `${sign}${v}ns`;
  if (v < 1e6) return `${sign}${fraction(v, 1e3)}µs`;
  if (v < 1e9) return `${sign}${fraction(v, 1e6)}ms`;
  const hours = Math.floor(v / 3600e9);
  const minutes = Math.floor((v % 3600e9) / 60e9);
  const seconds = fraction(v % 60e9, 1e9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
