import { BerthError } from "../common/index.js";
import { YamlTagged } from "./yaml-tags.js";

/** Where a value sits, for error messages: the file and the dotted path inside it. */
export interface ValueLocation {
  /** The compose file the value came from. */
  file?: string;
  /** The path inside the document (`services.web.image`). */
  field: string;
}

/** Looks a variable up; `undefined` means unset (an empty string is set). */
export type VariableLookup = (name: string) => string | undefined;

const namePattern = /^[_a-zA-Z][_a-zA-Z0-9]*/;

function invalidFormat(at: ValueLocation, cause?: unknown): BerthError {
  // Compose's wording, so people who search it find the same advice.
  return new BerthError(
    "BERTH_COMPOSE_INVALID",
    `${at.file ? `${at.file}: ` : ""}invalid interpolation format for ${at.field}. You may need to escape any $ with another $.`,
    { path: at.file, field: at.field, cause },
  );
}

/**
 * Substitutes variables in one string as Compose does: `$$` is a literal `$`; `$VAR`,
 * `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?err}`,
 * `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`; defaults and messages are themselves
 * interpolated, so `${A:-${B:-c}}` works. A `$` followed by anything else is an error, as in
 * Compose, because it is almost always a forgotten escape.
 */
export function interpolateString(input: string, lookup: VariableLookup, at: ValueLocation): string {
  const [value, end] = substitute(input, 0, lookup, at, false);
  if (end !== input.length) throw invalidFormat(at);
  return value;
}

/**
 * Scans from `start`; inside a braced default (`nested`) it stops at the matching `}` and
 * returns its index, so defaults may contain further `${...}`.
 */
function substitute(input: string, start: number, lookup: VariableLookup, at: ValueLocation, nested: boolean): [string, number] {
  let out = "";
  let i = start;
  while (i < input.length) {
    const ch = input[i]!;
    if (nested && ch === "}") return [out, i];
    if (ch !== "$") {
      out += ch;
      i++;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next === "{") {
      const [value, end] = braced(input, i + 2, lookup, at);
      out += value;
      i = end + 1;
      continue;
    }
    const name = namePattern.exec(input.slice(i + 1))?.[0];
    if (!name) throw invalidFormat(at);
    out += lookup(name) ?? "";
    i += 1 + name.length;
  }
  if (nested) throw invalidFormat(at);
  return [out, i];
}

/** Parses `NAME[op word]}` starting just after `${`; returns the value and the index of `}`. */
function braced(input: string, start: number, lookup: VariableLookup, at: ValueLocation): [string, number] {
  const name = namePattern.exec(input.slice(start))?.[0];
  if (!name) throw invalidFormat(at);
  let i = start + name.length;
  if (input[i] === "}") return [lookup(name) ?? "", i];
  let op: string;
  if (input[i] === ":" && ["-", "?", "+"].includes(input[i + 1] ?? "")) {
    op = `:${input[i + 1]}`;
    i += 2;
  } else if (["-", "?", "+"].includes(input[i] ?? "")) {
    op = input[i]!;
    i += 1;
  } else {
    throw invalidFormat(at);
  }
  const [word, end] = substitute(input, i, lookup, at, true);
  const value = lookup(name);
  const set = value !== undefined;
  const nonEmpty = set && value !== "";
  switch (op) {
    case ":-":
      return [nonEmpty ? value! : word, end];
    case "-":
      return [set ? value! : word, end];
    case ":+":
      return [nonEmpty ? word : "", end];
    case "+":
      return [set ? word : "", end];
    default: {
      const ok = op === ":?" ? nonEmpty : set;
      if (ok) return [value!, end];
      const where = at.file ? ` (${at.file}: ${at.field})` : ` (${at.field})`;
      throw new BerthError(
        "BERTH_COMPOSE_VARIABLE_REQUIRED",
        `required variable ${name} is missing a value${word ? `: ${word}` : ""}${where}`,
        { path: at.file, field: at.field, variable: name },
      );
    }
  }
}

/**
 * Interpolates every string value of a parsed YAML tree (keys are left alone, as Compose
 * does), returning a new tree. `path` is the dotted prefix used in error messages.
 */
export function interpolateTree(value: unknown, lookup: VariableLookup, file: string | undefined, path = ""): unknown {
  if (typeof value === "string") return interpolateString(value, lookup, { file, field: path || "(root)" });
  if (value instanceof YamlTagged) return new YamlTagged(value.tag, interpolateTree(value.value, lookup, file, path));
  if (Array.isArray(value)) return value.map((item, i) => interpolateTree(item, lookup, file, `${path}[${i}]`));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, lookup, file, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}

/** Whether `value` is a mapping from YAML (not an array, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
