import { GoTemplate, printValue, templateError, truthy, type TemplateFunction } from "./go-template.js";
import { tabwrite } from "./tabwriter.js";

/** Docker's `json` function: compact JSON without HTML escaping, like Go's encoder. */
function toJson(v: unknown): string {
  return JSON.stringify(v === undefined ? null : v) ?? "null";
}

function goPrintf(format: string, ...args: unknown[]): string {
  let i = 0;
  return format.replace(/%([-+ 0#]*)(\d+)?(?:\.(\d+))?([sdvqftxXc%])/g, (_m, flags: string, w: string | undefined, prec: string | undefined, verb: string) => {
    if (verb === "%") return "%";
    const arg = args[i++];
    if (arg === undefined && i > args.length) return `%!${verb}(MISSING)`;
    let s: string;
    switch (verb) {
      case "d":
        s = typeof arg === "number" ? String(Math.trunc(arg)) : `%!d(${typeof arg}=${printValue(arg)})`;
        break;
      case "f":
        s = typeof arg === "number" ? arg.toFixed(prec === undefined ? 6 : Number(prec)) : `%!f(${typeof arg}=${printValue(arg)})`;
        break;
      case "q":
        s = JSON.stringify(typeof arg === "string" ? arg : printValue(arg));
        break;
      case "t":
        s = String(Boolean(arg));
        break;
      case "x":
      case "X":
        s = typeof arg === "number" ? arg.toString(16) : Buffer.from(String(arg)).toString("hex");
        if (verb === "X") s = s.toUpperCase();
        break;
      case "c":
        s = typeof arg === "number" ? String.fromCodePoint(arg) : printValue(arg);
        break;
      default:
        s = printValue(arg);
        if (verb === "s" && prec !== undefined) s = [...s].slice(0, Number(prec)).join("");
    }
    const width = w === undefined ? 0 : Number(w);
    if (s.length < width) s = flags.includes("-") ? s.padEnd(width) : s.padStart(width, flags.includes("0") && verb !== "s" ? "0" : " ");
    return s;
  });
}

function goEquals(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === "number" && typeof b === "number" && a === b);
}

function ensureString(v: unknown, fn: string): string {
  if (typeof v !== "string") throw new Error(`wrong type for value; expected string; got ${v === null || v === undefined ? "<nil>" : typeof v}`);
  void fn;
  return v;
}

/** The functions Docker's `--format` offers (Go's builtins plus docker/cli's `templates`). */
export const templateFunctions: Record<string, TemplateFunction> = {
  json: (v) => toJson(v),
  join: (list, sep) => (Array.isArray(list) ? list.map(printValue).join(String(sep)) : printValue(list)),
  split: (s, sep) => ensureString(s, "split").split(String(sep)),
  upper: (s) => ensureString(s, "upper").toUpperCase(),
  lower: (s) => ensureString(s, "lower").toLowerCase(),
  title: (s) => ensureString(s, "title").replace(/(^|[\s\-_])(\p{L})/gu, (_m, p: string, c: string) => p + c.toUpperCase()),
  pad: (s, prefix, suffix) => `${" ".repeat(Number(prefix))}${ensureString(s, "pad")}${" ".repeat(Number(suffix))}`,
  truncate: (s, n) => [...ensureString(s, "truncate")].slice(0, Number(n)).join(""),
  println: (...args) => `${args.map(printValue).join(" ")}\n`,
  print: (...args) => args.map((a, i) => (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string" ? " " : "") + printValue(a)).join(""),
  printf: (fmt, ...args) => goPrintf(ensureString(fmt, "printf"), ...args),
  index: (coll, ...keys) => {
    let v: unknown = coll;
    for (const k of keys) {
      if (v === null || v === undefined) return undefined;
      if (Array.isArray(v)) {
        if (typeof k !== "number" || k < 0 || k >= v.length) throw new Error(`index out of range: ${printValue(k)}`);
        v = v[k];
      } else if (typeof v === "object") v = (v as Record<string, unknown>)[String(k)];
      else throw new Error(`can't index item of type ${typeof v}`);
    }
    return v;
  },
  len: (v) => {
    if (typeof v === "string" || Array.isArray(v)) return v.length;
    if (v && typeof v === "object") return Object.keys(v).length;
    throw new Error(`len of type ${v === null || v === undefined ? "<nil>" : typeof v}`);
  },
  slice: (v, ...idx) => {
    const [a, b] = idx as number[];
    if (typeof v === "string" || Array.isArray(v)) return v.slice(a ?? 0, b);
    throw new Error("can't slice item");
  },
  eq: (a, ...bs) => bs.some((b) => goEquals(a, b)),
  ne: (a, b) => !goEquals(a, b),
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  and: (...args) => {
    for (const a of args) if (!truthy(a)) return a;
    return args[args.length - 1];
  },
  or: (...args) => {
    for (const a of args) if (truthy(a)) return a;
    return args[args.length - 1];
  },
  not: (a) => !truthy(a),
};

/**
 * In a table's header row Docker runs the same template over the column names, with the
 * string functions passing their first argument through, so `{{upper .Names}}` heads "NAMES".
 */
const headerFunctions: Record<string, TemplateFunction> = {
  ...templateFunctions,
  json: (v) => printValue(v),
  join: (v) => printValue(v),
  split: (v) => printValue(v),
  upper: (v) => printValue(v),
  lower: (v) => printValue(v),
  title: (v) => printValue(v),
  pad: (v) => printValue(v),
  truncate: (v) => printValue(v),
};

/** How one kind of listing prints (`ps`, `images`...). */
export interface ListingFormat {
  /** The template `table` alone stands for, without the `table ` prefix. */
  defaultTable: string;
  /** Column names by field: `{ ID: "CONTAINER ID" }`. Fields missing here head as their name uppercased. */
  headers: Record<string, string>;
  /** The field `-q` prints. */
  quietField: string;
}

/** What the user asked for with `--format` and `-q`. */
export interface RenderOptions {
  /** `--format`: `table`, `table TEMPLATE`, `json`, or a template. @default "table" */
  format?: string;
  /** `-q`: only the quiet field, one per line. @default false */
  quiet?: boolean;
}

/**
 * Renders a listing as Docker does: a `table` format through the tabwriter with a header
 * row, any other template once per item with a newline after each, `json` as one JSON
 * object per line. Items may be class instances whose getters are the fields.
 */
export function renderListing(items: readonly unknown[], kind: ListingFormat, options: RenderOptions = {}): string {
  let format = options.format ?? "";
  if (options.quiet) format = `{{.${kind.quietField}}}`;
  else if (format === "" || format === "table") format = `table ${kind.defaultTable}`;
  else if (format === "json") format = "{{json .}}";
  // Docker lets people type \t and \n in a shell-quoted --format.
  const unescape = (s: string) => s.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  if (format.startsWith("table")) {
    const body = unescape(format.slice(5).trim() || kind.defaultTable);
    const template = GoTemplate.parse(body, templateFunctions);
    let text = `${template.execute(headerRow(kind), headerFunctions)}\n`;
    for (const item of items) text += `${template.execute(item)}\n`;
    return tabwrite(text);
  }
  const template = GoTemplate.parse(unescape(format), templateFunctions);
  return items.map((item) => `${template.execute(item)}\n`).join("");
}

/** Renders one value with a template (`inspect --format`), followed by a newline. */
export function renderTemplate(format: string, data: unknown): string {
  if (format === "json") return `${toJson(data)}\n`;
  return `${GoTemplate.parse(format.replace(/\\t/g, "\t").replace(/\\n/g, "\n"), templateFunctions).execute(data)}\n`;
}

/** A stand-in dot whose every field is its column name, for the header row. */
function headerRow(kind: ListingFormat): unknown {
  return new Proxy(
    {},
    {
      has: () => true,
      get: (_t, name) => {
        if (typeof name !== "string") return undefined;
        const header = kind.headers[name] ?? splitCamel(name);
        // Methods such as `.Label "k"` head with the method's name.
        return Object.assign(() => header, { toString: () => header });
      },
      getPrototypeOf: () => Object.prototype,
    },
  );
}

function splitCamel(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toUpperCase();
}

export { templateError };
