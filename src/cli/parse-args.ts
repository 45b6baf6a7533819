import { BerthError } from "../common/index.js";
import { parseGoDuration, parseRamSize } from "../compose/go-values.js";

/** The kinds of value a flag takes; each parses as Docker's pflag type of the same role. */
export type FlagType = "bool" | "string" | "list" | "map" | "int" | "decimal" | "duration" | "bytes";

/** One flag of a verb, as `docker <verb> --help` lists it. */
export interface FlagSpec {
  /** The long name without dashes (`detach`). */
  name: string;
  /** The one-letter short name (`d`), if any. */
  short?: string;
  type: FlagType;
  /** The help line. */
  description: string;
  /** The default shown in help (`(default 10s)`) and used when the flag is absent. */
  default?: string | number | boolean;
  /** Left out of `--help` (deprecated spellings kept for compatibility). */
  hidden?: boolean;
}

/** One verb (`run`) or sub-verb (`network ls`). */
export interface VerbSpec {
  /** The words naming it, `["network", "ls"]`. */
  path: string[];
  /** The arguments part of the usage line: `[OPTIONS] IMAGE [COMMAND] [ARG...]`. */
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Stop parsing flags at the first positional, for verbs that take a command (`run IMAGE CMD -x`). */
  stopAtFirstPositional?: boolean;
  minArgs?: number;
  maxArgs?: number;
  /** Other ways to call it (`docker container run`), for help. */
  aliases?: string[][];
  /** A group verb (`network`) lists its sub-verbs instead of running. */
  group?: boolean;
  /** Flags that sit between this group and its sub-verb (compose's `-f`, `-p`). */
  groupFlags?: FlagSpec[];
}

/** A parsed value: booleans, strings, lists, numbers (durations in ms, sizes in bytes), or a mapping. */
export type FlagValue = boolean | string | string[] | number | Record<string, string | null>;

/** The result of {@link parseArgs}. */
export interface ParsedCommand {
  /** The verb's words (`["run"]`, `["network", "ls"]`); empty for bare `berth`. */
  path: string[];
  /** The global flags (`--debug`, `--log-level`). */
  globals: Record<string, FlagValue>;
  /** The flags between a group and its sub-verb (`compose -f x.yml up`). */
  groupFlags: Record<string, FlagValue>;
  /** The verb's flags, by long name, defaults filled in. */
  flags: Record<string, FlagValue>;
  /** The positional arguments, after flags are taken out. */
  args: string[];
  /** Whether `--help` / `-h` was given (for the verb in `path`). */
  help: boolean;
  /** The spec of the verb, when one was found. */
  verb?: VerbSpec;
}

/** The whole command line: the program name, global flags and every verb. */
export interface CliSpec {
  program: string;
  globalFlags: FlagSpec[];
  verbs: VerbSpec[];
}

/** A usage error: printed with a pointer to the verb's help, exit code 125. */
export function usageError(message: string, commandPath: string, extra: Record<string, unknown> = {}): BerthError {
  return new BerthError("BERTH_CLI_USAGE", message, { command: commandPath, ...extra });
}

/**
 * Parses a command line as Docker's (cobra + pflag) does: global flags, the verb and its
 * sub-verb, then the verb's flags in any order among the arguments (`rm c1 -f`) unless the
 * verb takes a command (`run IMAGE sh -c x`), bundled short booleans (`-itd`), a value glued
 * to a short flag (`-eA=1`, `-p8080:80`), `--flag=value` and `--flag value`, and `--` to end
 * the flags. Throws a `BERTH_CLI_USAGE` BerthError with Docker's wording.
 */
export function parseArgs(argv: readonly string[], spec: CliSpec): ParsedCommand {
  const out: ParsedCommand = { path: [], globals: {}, groupFlags: {}, flags: {}, args: [], help: false };
  let i = 0;
  // Global flags come before the verb.
  const globalState = new FlagReader(spec.globalFlags, spec.program);
  while (i < argv.length && argv[i]!.startsWith("-") && argv[i] !== "-" && argv[i] !== "--") {
    if (isHelp(argv[i]!)) {
      out.help = true;
      i++;
      continue;
    }
    i = globalState.read(argv, i);
  }
  out.globals = globalState.values();
  if (argv[i] === "--") i++;
  if (i >= argv.length) return out;

  // The verb, and for a group, its sub-verb (with group flags in between).
  const first = argv[i]!;
  const top = spec.verbs.filter((v) => v.path[0] === first);
  if (top.length === 0) {
    throw usageError(`unknown command: ${spec.program} ${first}\n\nRun '${spec.program} --help' for more information`, spec.program);
  }
  i++;
  out.path = [first];
  let verb = top.find((v) => v.path.length === 1);
  if (verb?.group) {
    const groupState = new FlagReader(verb.groupFlags ?? [], `${spec.program} ${first}`);
    while (i < argv.length && argv[i]!.startsWith("-") && argv[i] !== "-" && argv[i] !== "--") {
      if (isHelp(argv[i]!)) {
        out.help = true;
        i++;
        continue;
      }
      i = groupState.read(argv, i);
    }
    out.groupFlags = groupState.values();
    const sub = argv[i];
    if (sub === undefined || out.help) {
      out.verb = verb;
      return out;
    }
    const subVerb = top.find((v) => v.path.length === 2 && (v.path[1] === sub || v.aliases?.some((a) => a[0] === first && a[1] === sub)));
    if (!subVerb) {
      throw usageError(`unknown command: ${spec.program} ${first} ${sub}\n\nRun '${spec.program} ${first} --help' for more information`, `${spec.program} ${first}`);
    }
    verb = subVerb;
    out.path.push(subVerb.path[1]!);
    i++;
  }
  if (!verb) throw usageError(`unknown command: ${spec.program} ${first}`, spec.program);
  out.verb = verb;
  const commandPath = `${spec.program} ${verb.path.join(" ")}`;
  const reader = new FlagReader(verb.flags, commandPath);
  let flagsDone = false;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (!flagsDone && arg === "--") {
      flagsDone = true;
      i++;
      continue;
    }
    if (!flagsDone && arg.startsWith("-") && arg !== "-") {
      // `-h` is help unless the verb uses it (`run -h HOSTNAME`, as Docker's does).
      if (arg === "--help" || (arg === "-h" && !verb.flags.some((fl) => fl.short === "h"))) {
        out.help = true;
        i++;
        continue;
      }
      i = reader.read(argv, i);
      continue;
    }
    out.args.push(arg);
    i++;
    if (verb.stopAtFirstPositional) flagsDone = true;
  }
  out.flags = reader.values();
  if (out.help) return out;
  const usageLine = `Usage:  ${commandPath} ${verb.usage}`;
  const see = `See '${commandPath} --help'.\n\n${usageLine}\n\n${verb.description}`;
  if (verb.minArgs !== undefined && out.args.length < verb.minArgs) {
    const what = verb.minArgs === verb.maxArgs ? "exactly" : "at least";
    throw usageError(`"${commandPath}" requires ${what} ${verb.minArgs} ${verb.minArgs === 1 ? "argument" : "arguments"}.\n${see}`, commandPath);
  }
  if (verb.maxArgs !== undefined && out.args.length > verb.maxArgs) {
    const text =
      verb.maxArgs === 0
        ? `"${commandPath}" accepts no arguments.`
        : verb.minArgs === verb.maxArgs
          ? `"${commandPath}" requires exactly ${verb.maxArgs} ${verb.maxArgs === 1 ? "argument" : "arguments"}.`
          : `"${commandPath}" requires at most ${verb.maxArgs} ${verb.maxArgs === 1 ? "argument" : "arguments"}.`;
    throw usageError(`${text}\n${see}`, commandPath);
  }
  return out;
}

function isHelp(arg: string): boolean {
  return arg === "--help" || arg === "-h";
}

/** Reads flags of one flag set, keeping values and filling defaults. */
class FlagReader {
  private readonly byName = new Map<string, FlagSpec>();
  private readonly byShort = new Map<string, FlagSpec>();
  private readonly got: Record<string, FlagValue> = {};

  constructor(
    private readonly specs: FlagSpec[],
    private readonly commandPath: string,
  ) {
    for (const f of specs) {
      this.byName.set(f.name, f);
      if (f.short) this.byShort.set(f.short, f);
    }
  }

  /** Reads the flag at argv[i] (and its value), returns the index after it. */
  read(argv: readonly string[], i: number): number {
    const arg = argv[i]!;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const flag = this.byName.get(name);
      if (!flag) throw this.unknown(`unknown flag: --${name}`);
      if (flag.type === "bool") {
        this.set(flag, eq === -1 ? "true" : arg.slice(eq + 1), `--${name}`);
        return i + 1;
      }
      if (eq !== -1) {
        this.set(flag, arg.slice(eq + 1), `--${name}`);
        return i + 1;
      }
      if (i + 1 >= argv.length) throw this.unknown(`flag needs an argument: --${name}`);
      this.set(flag, argv[i + 1]!, `--${name}`);
      return i + 2;
    }
    // A bundle of short flags: booleans until one that takes a value, which takes the rest.
    const bundle = arg.slice(1);
    for (let j = 0; j < bundle.length; j++) {
      const c = bundle[j]!;
      const flag = this.byShort.get(c);
      if (!flag) throw this.unknown(`unknown shorthand flag: '${c}' in ${arg}`);
      const rest = bundle.slice(j + 1);
      if (flag.type === "bool") {
        if (rest.startsWith("=")) {
          this.set(flag, rest.slice(1), `-${c}`);
          return i + 1;
        }
        this.set(flag, "true", `-${c}`);
        continue;
      }
      if (rest !== "") {
        this.set(flag, rest.startsWith("=") ? rest.slice(1) : rest, `-${c}`);
        return i + 1;
      }
      if (i + 1 >= argv.length) throw this.unknown(`flag needs an argument: '${c}' in ${arg}`);
      this.set(flag, argv[i + 1]!, `-${c}`);
      return i + 2;
    }
    return i + 1;
  }

  private unknown(message: string): BerthError {
    return usageError(`${message}\nSee '${this.commandPath} --help'.`, this.commandPath);
  }

  private invalid(flag: FlagSpec, raw: string, why: string): BerthError {
    const names = flag.short ? `-${flag.short}, --${flag.name}` : `--${flag.name}`;
    return usageError(`invalid argument "${raw}" for "${names}" flag: ${why}\nSee '${this.commandPath} --help'.`, this.commandPath, { flag: flag.name });
  }

  private set(flag: FlagSpec, raw: string, _as: string): void {
    switch (flag.type) {
      case "bool": {
        const v = parseGoBool(raw);
        if (v === undefined) throw this.invalid(flag, raw, `strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
        this.got[flag.name] = v;
        return;
      }
      case "string":
        this.got[flag.name] = raw;
        return;
      case "list": {
        const prev = this.got[flag.name];
        this.got[flag.name] = [...(Array.isArray(prev) ? prev : []), raw];
        return;
      }
      case "map": {
        const prev = (this.got[flag.name] as Record<string, string | null> | undefined) ?? {};
        const eq = raw.indexOf("=");
        if (eq === 0) throw this.invalid(flag, raw, "variable name is empty");
        // `-e KEY` alone takes the value from the caller's environment, so it is kept as null.
        this.got[flag.name] = { ...prev, [eq === -1 ? raw : raw.slice(0, eq)]: eq === -1 ? null : raw.slice(eq + 1) };
        return;
      }
      case "int": {
        if (!/^[-+]?\d+$/.test(raw)) throw this.invalid(flag, raw, `strconv.ParseInt: parsing ${JSON.stringify(raw)}: invalid syntax`);
        this.got[flag.name] = Number(raw);
        return;
      }
      case "decimal": {
        const n = Number(raw);
        if (raw.trim() === "" || !Number.isFinite(n)) throw this.invalid(flag, raw, `failed to parse ${raw} as a rational number`);
        this.got[flag.name] = n;
        return;
      }
      case "duration": {
        const ns = parseGoDuration(raw);
        if (ns === undefined) throw this.invalid(flag, raw, `time: invalid duration ${JSON.stringify(raw)}`);
        this.got[flag.name] = ns / 1e6;
        return;
      }
      case "bytes": {
        const n = parseRamSize(raw);
        if (n === undefined) throw this.invalid(flag, raw, `invalid size: '${raw}'`);
        this.got[flag.name] = n;
        return;
      }
    }
  }

  values(): Record<string, FlagValue> {
    const out: Record<string, FlagValue> = {};
    for (const f of this.specs) {
      if (this.got[f.name] !== undefined) out[f.name] = this.got[f.name]!;
      else if (f.default !== undefined) out[f.name] = defaultValue(f);
      else if (f.type === "bool") out[f.name] = false;
      else if (f.type === "list") out[f.name] = [];
      else if (f.type === "map") out[f.name] = {};
    }
    return out;
  }
}

function defaultValue(f: FlagSpec): FlagValue {
  if (f.type === "duration" && typeof f.default === "string") return (parseGoDuration(f.default) ?? 0) / 1e6;
  return f.default!;
}

/** Go's `strconv.ParseBool`. */
function parseGoBool(raw: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(raw)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(raw)) return false;
  return undefined;
}

/** pflag's type names as `--help` shows them. */
const typeNames: Record<FlagType, string> = {
  bool: "",
  string: "string",
  list: "list",
  map: "list",
  int: "int",
  decimal: "decimal",
  duration: "duration",
  bytes: "bytes",
};

/** The `Options:` block of a help text, laid out as pflag does. */
export function formatFlagUsages(flags: FlagSpec[]): string {
  const rows = flags
    .filter((f) => !f.hidden)
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((f) => {
      const type = typeNames[f.type];
      const left = `${f.short ? `  -${f.short}, ` : "      "}--${f.name}${type ? ` ${type}` : ""}`;
      const showDefault = f.default !== undefined && f.default !== "" && f.default !== false && !(f.type === "int" && f.default === 0);
      const def = showDefault ? ` (default ${f.type === "string" ? JSON.stringify(f.default) : String(f.default)})` : "";
      return [left, `${f.description}${def}`] as const;
    });
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `${l.padEnd(width)}   ${r}`).join("\n");
}

/** `berth <verb> --help`, in the shape of Docker's. */
export function formatVerbHelp(spec: CliSpec, verb: VerbSpec): string {
  const commandPath = `${spec.program} ${verb.path.join(" ")}`;
  let text = `\nUsage:  ${commandPath} ${verb.usage}\n\n${verb.description}\n`;
  if (verb.aliases && verb.aliases.length > 0) {
    text += `\nAliases:\n  ${[verb.path, ...verb.aliases].map((a) => `${spec.program} ${a.join(" ")}`).join(", ")}\n`;
  }
  if (verb.group) {
    const subs = spec.verbs.filter((v) => v.path.length === 2 && v.path[0] === verb.path[0]);
    const width = Math.max(...subs.map((s) => s.path[1]!.length));
    text += `\nCommands:\n${subs.map((s) => `  ${s.path[1]!.padEnd(width)}   ${s.description}`).join("\n")}\n`;
    if (verb.groupFlags && verb.groupFlags.length > 0) text += `\nOptions:\n${formatFlagUsages(verb.groupFlags)}\n`;
    text += `\nRun '${commandPath} COMMAND --help' for more information on a command.\n`;
    return text;
  }
  if (verb.flags.some((f) => !f.hidden)) text += `\nOptions:\n${formatFlagUsages(verb.flags)}\n`;
  return text;
}
