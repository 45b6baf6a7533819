import { BerthError } from "../common/index.js";
import { parseDuration } from "../common/duration.js";

/**
 * Docker's `--filter key=value` arguments: parsed once per verb against the keys it knows, so
 * an unknown key or a malformed value is a usage error naming the verb's filters, as the
 * daemon's `invalid filter 'x'` is.
 */
export class Filters {
  private constructor(private readonly values: Map<string, string[]>) {}

  /** Parses `specs` (`key=value`, `key`); `keys` are the filters the verb knows. */
  static parse(specs: readonly string[], keys: readonly string[], verb: string): Filters {
    const values = new Map<string, string[]>();
    for (const spec of specs) {
      const eq = spec.indexOf("=");
      const key = (eq < 0 ? spec : spec.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? "" : spec.slice(eq + 1);
      if (!keys.includes(key)) {
        throw new BerthError("BERTH_CLI_USAGE", `invalid filter '${key}': ${verb} filters by ${keys.join(", ")}`, { filter: spec, verb });
      }
      // Checked now, not when the first object is compared: a bad time fails even with nothing to match.
      if (key === "until") parseTimestamp(value);
      values.set(key, [...(values.get(key) ?? []), value]);
    }
    return new Filters(values);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  get(key: string): string[] {
    return this.values.get(key) ?? [];
  }

  /** A boolean filter (`dangling=true`): undefined when not given; a usage error when not a boolean. */
  bool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v.length === 0) return undefined;
    const last = v[v.length - 1]!.toLowerCase();
    if (last === "true" || last === "1") return true;
    if (last === "false" || last === "0") return false;
    throw new BerthError("BERTH_CLI_USAGE", `invalid filter '${key}=${v[v.length - 1]}': expected true or false`, { filter: key });
  }

  /**
   * `label=key` / `label=key=value` (and `label!=` for the prune verbs): whether `labels`
   * satisfies every one given.
   */
  matchesLabels(labels: Readonly<Record<string, string>>, key = "label"): boolean {
    return this.get(key).every((spec) => labelMatches(labels, spec));
  }

  /** `label!=key[=value]` (prune verbs): none of them may match. */
  matchesNotLabels(labels: Readonly<Record<string, string>>): boolean {
    return this.get("label!").every((spec) => !labelMatches(labels, spec));
  }

  /** `until=<time>`: whether `created` is before every one given. */
  createdBeforeUntil(created: Date, now: Date = new Date()): boolean {
    return this.get("until").every((t) => created.getTime() < parseTimestamp(t, now).getTime());
  }
}

function labelMatches(labels: Readonly<Record<string, string>>, spec: string): boolean {
  const eq = spec.indexOf("=");
  if (eq < 0) return Object.prototype.hasOwnProperty.call(labels, spec);
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

/**
 * A time as Docker's filters and `--since` take it: a Go duration relative to `now`
 * (`10m`, `1h30m`), Unix seconds (with fractions), or an RFC 3339 date or date-time.
 */
export function parseTimestamp(text: string, now: Date = new Date()): Date {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return new Date(Number(t) * 1000);
  if (/^[\d.]+(ns|us|µs|ms|s|m|h)/.test(t)) {
    try {
      return new Date(now.getTime() - parseDuration(t) / 1e6);
    } catch {
      // Not a duration after all: try it as a date below.
    }
  }
  const date = new Date(t);
  if (!Number.isNaN(date.getTime())) return date;
  throw new BerthError("BERTH_CLI_USAGE", `invalid time '${text}': expected a duration (10m), Unix seconds or an RFC 3339 time`, { time: text });
}

/**
 * Go's `path.Match`, which Docker's `reference` filter uses: `*` is any run of non-`/`
 * characters, `?` one of them, `[...]` a class (`[^...]` negated, ranges), `\` escapes.
 */
export function globMatch(pattern: string, name: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += escapeRegex(pattern[++i]!);
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) return false;
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("^")) body = `^${body.slice(1).replace(/[\\\]]/g, "\\$&")}`;
      else body = body.replace(/[\\\]^]/g, "\\$&");
      re += `[${body}]`;
      i = end;
    } else re += escapeRegex(c);
  }
  return new RegExp(`${re}$`).test(name);
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
