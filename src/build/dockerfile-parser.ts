import { BerthError } from "../common/index.js";
import { ShellLex } from "./shell-lex.js";

/**
 * The Dockerfile parser: text → instructions, with BuildKit's rules for parser directives,
 * comments, line continuations, heredocs, exec (JSON) and shell forms, and flags. Variables
 * are not expanded here (that needs the build's args and env; see `build-plan.ts`), so
 * arguments keep their quotes where BuildKit keeps them (ENV, LABEL and ARG values).
 */

/** A heredoc attached to a RUN, COPY or ADD instruction (`<<EOF`, `<<-EOF`, `<<"EOF"`). */
export interface Heredoc {
  /** The delimiter word with its quotes removed (`EOF`). */
  name: string;
  /** The body, each line ending in `\n`; with `<<-`, leading tabs already stripped. */
  content: string;
  /** Whether variables in the body are expanded: false when the delimiter was quoted. */
  expand: boolean;
  /** Whether it was written `<<-` (leading tabs stripped from the body and the delimiter line). */
  chomp: boolean;
  /** The file descriptor written before `<<` (`3<<EOF`), 0 when none. */
  fileDescriptor: number;
}

/** A `--name[=value]` flag of an instruction. */
export interface InstructionFlag {
  /** The name without the leading dashes. */
  name: string;
  /** The value, or undefined for a bare boolean flag (`--link`). */
  value: string | undefined;
}

/** A `key=value` pair of ENV or LABEL; `value` is raw (quotes kept, variables unexpanded). */
export interface KeyValue {
  key: string;
  value: string;
}

/** One name of an ARG instruction with its raw default, if any. */
export interface ArgDefinition {
  name: string;
  /** The raw default (quotes kept, variables unexpanded), undefined when none was given. */
  value: string | undefined;
}

/** A parsed HEALTHCHECK: `test` as Docker stores it, durations in nanoseconds. */
export interface HealthcheckSpec {
  /** `["NONE"]`, `["CMD", ...args]` (exec form) or `["CMD-SHELL", command]`. */
  test: string[];
  /** Nanoseconds; absent when not given (Docker then uses its own default). */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

/** One instruction of a Dockerfile. */
export interface Instruction {
  /** The instruction keyword, upper-cased (`RUN`). */
  keyword: string;
  /** Flags in the order written (`--mount` may repeat). */
  flags: InstructionFlag[];
  /**
   * The arguments: for the exec form the JSON array's strings; for RUN/CMD/ENTRYPOINT/SHELL
   * shell form the whole command as one string; otherwise the instruction's words.
   */
  args: string[];
  /** Whether the arguments were written in the exec (JSON array) form. */
  json: boolean;
  /** Heredocs, in the order their delimiters appear on the instruction line. */
  heredocs: Heredoc[];
  /** 1-based line where the instruction starts. */
  startLine: number;
  /** 1-based last line, including continuation and heredoc lines. */
  endLine: number;
  /** The instruction as written, continuation lines joined (comments inside dropped). */
  original: string;
  /** Comment lines immediately before the instruction (text after `#`, trimmed). */
  comments: string[];
  /** ENV and LABEL pairs. */
  keyValues?: KeyValue[];
  /** ARG names and defaults. */
  argDefinitions?: ArgDefinition[];
  /** FROM: the base as written, the stage name (lower-cased) and `--platform`. */
  stage?: { base: string; name: string | undefined; platform: string | undefined };
  /** COPY and ADD: file sources (heredoc sources are in `heredocs`) and the destination. */
  sources?: string[];
  destination?: string;
  /** HEALTHCHECK. */
  healthcheck?: HealthcheckSpec;
  /** ONBUILD: the trigger instruction, and its text as Docker stores it in `OnBuild`. */
  trigger?: Instruction;
  triggerText?: string;
}

/** Parser directives found at the top of the file. */
export interface ParserDirectives {
  /** The escape character: `\` unless `# escape=` said otherwise. */
  escape: "\\" | "`";
  /** The `# syntax=` frontend reference, when given. */
  syntax?: string;
  /** The `# check=` build-check settings, when given. */
  check?: string;
}

/** A non-fatal finding of the parser, with the line it refers to. */
export interface ParseWarning {
  line: number;
  message: string;
}

/** The result of {@link parseDockerfile}. */
export interface ParsedDockerfile {
  directives: ParserDirectives;
  instructions: Instruction[];
  warnings: ParseWarning[];
}

const knownDirectives = new Set(["syntax", "escape", "check"]);
const directivePattern = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const whitespaceRun = /[\t\v\f\r ]+/;
const heredocPattern = /^(\d*)<<(-?)([^<]*)$/;

/** Which flags each instruction accepts; `true` marks a boolean flag, `"multi"` a repeatable one. */
const allowedFlags: Record<string, Record<string, "string" | "bool" | "multi">> = {
  FROM: { platform: "string" },
  RUN: { mount: "multi", network: "string", security: "string" },
  COPY: { from: "string", chown: "string", chmod: "string", link: "bool", exclude: "multi", parents: "bool" },
  ADD: {
    chown: "string",
    chmod: "string",
    link: "bool",
    "keep-git-dir": "bool",
    checksum: "string",
    exclude: "multi",
    unpack: "bool",
  },
  HEALTHCHECK: { interval: "string", timeout: "string", "start-period": "string", "start-interval": "string", retries: "string" },
};

const instructionKeywords = new Set([
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

/** A syntax error at a line. */
export function syntaxError(line: number, message: string, cause?: unknown): BerthError {
  return new BerthError("BERTH_DOCKERFILE_SYNTAX", `dockerfile parse error on line ${line}: ${message}`, { line, cause });
}

/**
 * Parses a Dockerfile. Throws a `BERTH_DOCKERFILE_SYNTAX` BerthError (with `context.line`) on
 * a syntax error or an unknown instruction.
 */
export function parseDockerfile(text: string): ParsedDockerfile {
  // Lines keep their endings for heredoc bodies (BuildKit copies them byte for byte);
  // everything else sees them without.
  const rawLines = text.replace(/^\uFEFF/, "").split(/(?<=\n)/);
  const lines = rawLines.map((l) => l.replace(/[\r\n]+$/, ""));
  const directives: ParserDirectives = { escape: "\\" };
  const warnings: ParseWarning[] = [];
  const instructions: Instruction[] = [];
  const seenDirectives = new Set<string>();
  let directivesDone = false;
  let continuation = continuationPattern("\\");
  let comments: string[] = [];

  /** Whether `line` was a parser directive (and applies it). */
  const checkDirective = (line: string, lineNo: number): boolean => {
    if (directivesDone) return false;
    const m = directivePattern.exec(line);
    const key = m?.[1]?.toLowerCase();
    if (!m || !key || !knownDirectives.has(key)) {
      // Anything that is not a known directive (a comment, a blank line, an instruction, an
      // unknown directive) ends the directive section, as BuildKit does.
      directivesDone = true;
      return false;
    }
    if (seenDirectives.has(key)) throw syntaxError(lineNo, `only one ${key} parser directive can be used`);
    seenDirectives.add(key);
    const value = m[2]!;
    if (key === "escape") {
      if (value !== "\\" && value !== "`") throw syntaxError(lineNo, `invalid escape token '${value}' does not match \` or \\`);
      directives.escape = value;
      continuation = continuationPattern(value);
    } else if (key === "syntax") directives.syntax = value;
    else directives.check = value;
    return true;
  };

  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!;
    i++;
    const lineNo = i;
    const trimmed = raw.replace(/^\s+/, "");
    const isDirective = checkDirective(trimmed, lineNo);
    if (trimmed.startsWith("#")) {
      if (!isDirective) {
        const comment = trimmed.slice(1).trim();
        if (comment === "") comments = [];
        else comments.push(comment);
      }
      continue;
    }
    let [line, ended] = trimContinuation(trimmed, continuation);
    if (ended && line.trim() === "") {
      continue;
    }
    let emptyContinuation = false;
    while (!ended && i < lines.length) {
      const next = lines[i]!;
      i++;
      if (/^\s*#/.test(next)) continue;
      if (next.trim() === "") {
        emptyContinuation = true;
        continue;
      }
      const [part, end] = trimContinuation(next, continuation);
      line += part;
      ended = end;
    }
    if (emptyContinuation) warnings.push({ line: lineNo, message: `Empty continuation line found in: ${line.trim()}` });
    let instruction: Instruction;
    try {
      instruction = parseInstructionLine(line, lineNo, i, directives.escape, comments, warnings);
    } catch (error) {
      if (error instanceof BerthError) throw error;
      throw syntaxError(lineNo, error instanceof Error ? error.message : String(error), error);
    }
    comments = [];
    const heredocTarget = instruction.trigger ?? instruction;
    const rawBodies: string[] = [];
    if (canContainHeredoc(heredocTarget) && line.includes("<<")) {
      for (const doc of heredocsFromLine(line)) {
        let terminated = false;
        let raw = "";
        while (i < lines.length) {
          const body = lines[i]!;
          const withEnding = rawLines[i]!;
          i++;
          if ((doc.chomp ? body.replace(/^\t+/, "") : body) === doc.name) {
            terminated = true;
            break;
          }
          raw += withEnding;
        }
        if (!terminated) throw syntaxError(lineNo, `unterminated heredoc ${doc.name}`);
        heredocTarget.heredocs.push({ ...doc, content: doc.chomp ? raw.replace(/^\t+/gm, "") : raw });
        rawBodies.push(`\n${raw}${doc.name}`);
      }
      instruction.endLine = i;
      if (instruction.trigger) {
        instruction.trigger.endLine = i;
        // Docker stores a trigger's heredocs as written, tabs and all.
        instruction.triggerText = `${instruction.triggerText}${rawBodies.join("")}`;
      }
      finishSourcesAndDest(heredocTarget, lineNo);
    }
    instructions.push(instruction);
  }
  if (instructions.length === 0) throw syntaxError(Math.max(lines.length, 1), "file with no instructions");
  return { directives, instructions, warnings };
}

/**
 * The line-continuation pattern: the escape character last on the line (blanks after it
 * allowed), alone or after a character that is not itself the escape character, so that an
 * escaped escape character (`RUN echo a\\` with the default escape) ends the line, as in
 * BuildKit.
 */
function continuationPattern(escape: string): RegExp {
  const e = escape === "`" ? "`" : "\\\\";
  return new RegExp(`(?:^|([^${e}]))${e}[ \\t]*$`);
}

function trimContinuation(line: string, continuation: RegExp): [string, boolean] {
  if (continuation.test(line)) return [line.replace(continuation, "$1"), false];
  return [line, true];
}

function canContainHeredoc(instruction: Instruction): boolean {
  return !instruction.json && (instruction.keyword === "RUN" || instruction.keyword === "COPY" || instruction.keyword === "ADD");
}

/** Parses one heredoc word (`<<EOF`, `<<-"EOF"`, `3<<EOF`); undefined when it is not one. */
export function parseHeredocWord(word: string): Omit<Heredoc, "content"> | undefined {
  const m = heredocPattern.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest === "") return undefined;
  const plain = new ShellLex({ skipUnsetEnv: true }).processWords(rest, {});
  if (plain.length !== 1) return undefined;
  const raw = new ShellLex({ skipUnsetEnv: true, rawQuotes: true }).processWords(rest, {});
  const name = plain[0]!;
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  return {
    name,
    // Any quoting anywhere in the delimiter turns expansion off, as in sh.
    expand: quotes(name) === quotes(raw[0] ?? ""),
    chomp: m[2] === "-",
    fileDescriptor: m[1] ? Number.parseInt(m[1], 10) : 0,
  };
}

function heredocsFromLine(line: string): Omit<Heredoc, "content">[] {
  let words: string[];
  try {
    words = new ShellLex({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).processWords(line, {});
  } catch {
    // BuildKit ignores lexing errors here: a line the lexer cannot split has no heredoc.
    return [];
  }
  const docs: Omit<Heredoc, "content">[] = [];
  for (const word of words) {
    const doc = parseHeredocWord(word);
    if (doc) docs.push(doc);
  }
  return docs;
}

/** Splits `--flag=value` words off the front of the arguments, honouring quotes. */
function extractFlags(rest: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < rest.length && /\s/.test(rest[pos]!)) pos++;
    if (!rest.startsWith("--", pos)) return { flags, rest: rest.slice(pos) };
    let word = "";
    let quote: string | undefined;
    let blankOk = false;
    for (; pos < rest.length; pos++) {
      let ch = rest[pos]!;
      if (quote) {
        if (ch === quote) {
          quote = undefined;
          continue;
        }
      } else {
        if (/\s/.test(ch)) break;
        if (ch === "'" || ch === '"') {
          quote = ch;
          blankOk = true;
          continue;
        }
      }
      if (ch === "\\") {
        if (pos + 1 === rest.length) continue;
        ch = rest[++pos]!;
      }
      word += ch;
    }
    // A lone `--` ends the flags, like a shell's end-of-options marker.
    if (word === "--") return { flags, rest: rest.slice(pos).trimStart() };
    if (blankOk || word.length > 0) flags.push(word);
  }
}

function parseFlagWords(words: string[], keyword: string): InstructionFlag[] {
  const allowed = allowedFlags[keyword] ?? {};
  const out: InstructionFlag[] = [];
  const seen = new Set<string>();
  for (const word of words) {
    if (!word.startsWith("--")) throw new Error(`Arg "${word}" must start with "--"`);
    const body = word.slice(2);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = allowed[name];
    if (!kind) throw new Error(`unknown flag: --${name}`);
    if (kind !== "multi" && seen.has(name)) throw new Error(`Duplicate flag specified: ${name}`);
    seen.add(name);
    if (kind === "bool") {
      if (value !== undefined && !/^(true|false)$/i.test(value)) {
        throw new Error(`expecting boolean value for flag ${name}, not: ${value}`);
      }
    } else if (value === undefined) throw new Error(`Missing a value on flag: --${name}`);
    out.push({ name, value: kind === "bool" && value !== undefined ? value.toLowerCase() : value });
  }
  return out;
}

/** Splits into words on whitespace, keeping quotes and escapes (BuildKit's ENV/LABEL/ARG splitter). */
export function splitWordsKeepingQuotes(rest: string, escape: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  let blankOk = false;
  const chars = [...rest];
  for (let pos = 0; pos < chars.length; pos++) {
    let ch = chars[pos]!;
    if (!inWord) {
      if (/\s/.test(ch)) continue;
      inWord = true;
    }
    if (quote === undefined) {
      if (/\s/.test(ch)) {
        if (blankOk || word.length > 0) words.push(word);
        word = "";
        blankOk = false;
        inWord = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        ch = chars[++pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = undefined;
    else if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) continue;
      word += ch;
      ch = chars[++pos]!;
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/** Parses a JSON array of strings; undefined when `rest` is not one (shell form then). */
function parseJsonArray(rest: string): string[] | undefined {
  const trimmed = rest.trimStart();
  if (!trimmed.startsWith("[")) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((v) => typeof v === "string")) {
    throw new Error("when using JSON array syntax, arrays must be comprised of strings only");
  }
  return parsed as string[];
}

function maybeJson(rest: string): { args: string[]; json: boolean } {
  if (rest === "") return { args: [], json: false };
  const json = parseJsonArray(rest);
  if (json) return { args: json, json: true };
  return { args: [rest], json: false };
}

function maybeJsonToList(rest: string): { args: string[]; json: boolean } {
  const json = parseJsonArray(rest);
  if (json) return { args: json, json: true };
  return { args: splitWhitespace(rest), json: false };
}

function splitWhitespace(rest: string): string[] {
  const t = rest.trim();
  return t === "" ? [] : t.split(whitespaceRun);
}

function parseKeyValues(keyword: string, rest: string, escape: string, lineNo: number, warnings: ParseWarning[]): KeyValue[] {
  const words = splitWordsKeepingQuotes(rest, escape);
  if (words.length === 0) throw new Error(`${keyword} requires at least one argument`);
  if (!words[0]!.includes("=")) {
    // The legacy `ENV key value` form: everything after the first blank is the value.
    const parts = rest.trim().split(whitespaceRun);
    if (parts.length < 2) throw new Error(`${keyword} must have two arguments`);
    const key = parts[0]!;
    const value = rest.trim().slice(key.length).replace(/^[\t\v\f\r ]+/, "");
    warnings.push({
      line: lineNo,
      message: `"${keyword} key=value" should be used instead of legacy "${keyword} key value" format`,
    });
    return [{ key, value }];
  }
  return words.map((word) => {
    const eq = word.indexOf("=");
    if (eq < 0) throw new Error(`Syntax error - can't find = in "${word}". Must be of the form: name=value`);
    const key = word.slice(0, eq);
    if (key === "") throw new Error(`${keyword} names can not be blank`);
    return { key, value: word.slice(eq + 1) };
  });
}

/** Go's `time.ParseDuration`, in nanoseconds (Docker's HEALTHCHECK duration syntax). */
export function parseGoDuration(text: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new Error(`time: invalid duration "${text}"`);
  let total = 0;
  const re = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || m[1] === "" || m[1] === ".") throw new Error(`time: invalid duration "${text}"`);
    total += Number.parseFloat(m[1]!) * units[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

const minimumHealthDuration = 1e6;

function parseHealthcheck(args: string[], json: boolean, flags: InstructionFlag[]): HealthcheckSpec {
  if (args.length === 0) throw new Error("HEALTHCHECK requires at least one argument");
  const type = args[0]!.toUpperCase();
  const rest = args.slice(1);
  if (type === "NONE") {
    if (rest.length !== 0) throw new Error("HEALTHCHECK NONE takes no arguments");
    return { test: ["NONE"] };
  }
  if (type !== "CMD") throw new Error(`Unknown type "${type}" in HEALTHCHECK (try CMD)`);
  if (rest.length === 0) throw new Error("Missing command after HEALTHCHECK CMD");
  const spec: HealthcheckSpec = { test: json ? ["CMD", ...rest] : ["CMD-SHELL", ...rest] };
  const flag = (name: string): string | undefined => flags.find((f) => f.name === name)?.value;
  const durations: [string, "interval" | "timeout" | "startPeriod" | "startInterval"][] = [
    ["interval", "interval"],
    ["timeout", "timeout"],
    ["start-period", "startPeriod"],
    ["start-interval", "startInterval"],
  ];
  for (const [name, field] of durations) {
    const value = flag(name);
    if (value === undefined || value === "") continue;
    const ns = parseGoDuration(value);
    if (ns !== 0 && ns < minimumHealthDuration) throw new Error(`Interval "${name}" cannot be less than 1ms`);
    spec[field] = ns;
  }
  const retries = flag("retries");
  if (retries !== undefined && retries !== "") {
    if (!/^[+-]?\d+$/.test(retries)) throw new Error(`strconv.ParseInt: parsing "${retries}": invalid syntax`);
    const n = Number.parseInt(retries, 10);
    if (n < 0) throw new Error(`--retries cannot be negative (${n})`);
    spec.retries = n;
  }
  return spec;
}

const stageNamePattern = /^[a-z][a-z0-9-_.]*$/;

function parseInstructionLine(
  line: string,
  startLine: number,
  endLine: number,
  escape: "\\" | "`",
  comments: string[],
  warnings: ParseWarning[],
): Instruction {
  const trimmed = line.trim();
  const split = whitespaceRun.exec(trimmed);
  const word = split ? trimmed.slice(0, split.index) : trimmed;
  const afterKeyword = split ? trimmed.slice(split.index + split[0].length) : "";
  const keyword = word.toUpperCase();
  if (!instructionKeywords.has(keyword)) {
    throw new BerthError("BERTH_DOCKERFILE_SYNTAX", `dockerfile parse error on line ${startLine}: unknown instruction: ${word}`, {
      line: startLine,
      instruction: word,
    });
  }
  const extracted = extractFlags(afterKeyword);
  const rest = extracted.rest.trim();
  const instruction: Instruction = {
    keyword,
    flags: [],
    args: [],
    json: false,
    heredocs: [],
    startLine,
    endLine,
    original: trimmed,
    comments: [...comments],
  };
  try {
    instruction.flags = parseFlagWords(extracted.flags, keyword);
  } catch (error) {
    throw syntaxError(startLine, `${keyword}: ${(error as Error).message}`, error);
  }

  switch (keyword) {
    case "ADD":
    case "COPY": {
      Object.assign(instruction, maybeJsonToList(rest));
      if (instruction.args.length < 2) {
        throw new Error(`${keyword} requires at least two arguments, but only one was provided. Destination could not be determined`);
      }
      finishSourcesAndDest(instruction, startLine);
      break;
    }
    case "VOLUME": {
      Object.assign(instruction, maybeJsonToList(rest));
      if (instruction.args.length === 0) throw new Error("VOLUME requires at least one argument");
      if (instruction.args.some((v) => v.trim() === "")) throw new Error("VOLUME specified can not be an empty string");
      break;
    }
    case "RUN":
    case "CMD":
    case "ENTRYPOINT":
      Object.assign(instruction, maybeJson(rest));
      break;
    case "SHELL":
      Object.assign(instruction, maybeJson(rest));
      if (!instruction.json) throw new Error("SHELL requires the arguments to be in JSON form");
      if (instruction.args.length === 0) throw new Error("SHELL requires at least one argument");
      break;
    case "ARG": {
      const words = splitWordsKeepingQuotes(rest, escape);
      if (words.length === 0) throw new Error("ARG requires at least one argument");
      instruction.args = words;
      instruction.argDefinitions = words.map((w) => {
        const eq = w.indexOf("=");
        if (eq === 0) throw new Error("ARG names can not be blank");
        return eq < 0 ? { name: w, value: undefined } : { name: w.slice(0, eq), value: w.slice(eq + 1) };
      });
      break;
    }
    case "ENV":
    case "LABEL": {
      const pairs = parseKeyValues(keyword, rest, escape, startLine, warnings);
      instruction.keyValues = pairs;
      instruction.args = pairs.flatMap((p) => [p.key, p.value]);
      break;
    }
    case "EXPOSE":
      instruction.args = splitWhitespace(rest);
      if (instruction.args.length === 0) throw new Error("EXPOSE requires at least one argument");
      break;
    case "FROM": {
      instruction.args = splitWhitespace(rest);
      const a = instruction.args;
      let name: string | undefined;
      if (a.length === 3 && a[1]!.toLowerCase() === "as") {
        name = a[2]!.toLowerCase();
        if (!stageNamePattern.test(name)) {
          throw new Error(`invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`);
        }
      } else if (a.length !== 1) throw new Error("FROM requires either one or three arguments");
      instruction.stage = { base: a[0]!, name, platform: instruction.flags.find((f) => f.name === "platform")?.value };
      break;
    }
    case "HEALTHCHECK": {
      const m = /^(\S+)\s*([\s\S]*)$/.exec(rest);
      if (m) {
        const cmd = maybeJson(m[2]!);
        instruction.args = [m[1]!, ...cmd.args];
        instruction.json = cmd.json;
      }
      instruction.healthcheck = parseHealthcheck(instruction.args, instruction.json, instruction.flags);
      break;
    }
    case "MAINTAINER":
    case "STOPSIGNAL":
    case "USER":
    case "WORKDIR":
      instruction.args = rest === "" ? [] : [rest];
      if (instruction.args.length !== 1) throw new Error(`${keyword} requires exactly one argument`);
      if (keyword === "MAINTAINER") {
        warnings.push({ line: startLine, message: "The MAINTAINER instruction is deprecated, use a label instead" });
      }
      break;
    case "ONBUILD": {
      if (rest === "") throw new Error("ONBUILD requires at least one argument");
      const trigger = parseInstructionLine(rest, startLine, endLine, escape, [], warnings);
      if (trigger.keyword === "ONBUILD") throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger.keyword === "FROM" || trigger.keyword === "MAINTAINER") {
        throw new Error(`${trigger.keyword} isn't allowed as an ONBUILD trigger`);
      }
      instruction.trigger = trigger;
      instruction.args = [trigger.keyword, ...trigger.args];
      instruction.triggerText = trimmed.replace(/^\s*ONBUILD\s*/i, "");
      break;
    }
  }
  return instruction;
}

/** Splits COPY/ADD arguments into file sources and destination once heredocs are known. */
function finishSourcesAndDest(instruction: Instruction, line: number): void {
  if (instruction.keyword !== "COPY" && instruction.keyword !== "ADD") return;
  const args = instruction.args;
  const destination = args[args.length - 1]!;
  if (!instruction.json && parseHeredocWord(destination)) {
    throw syntaxError(line, `${instruction.keyword} cannot accept a heredoc as a destination`);
  }
  instruction.destination = destination;
  instruction.sources = args.slice(0, -1).filter((a) => instruction.json || !parseHeredocWord(a));
}

/** The values of a flag, in order (several for `--mount`, `--exclude`). */
export function flagValues(instruction: Instruction, name: string): string[] {
  return instruction.flags.filter((f) => f.name === name).map((f) => f.value ?? "true");
}

/** The value of a single-valued flag, undefined when absent. */
export function flagValue(instruction: Instruction, name: string): string | undefined {
  const f = instruction.flags.find((x) => x.name === name);
  return f ? (f.value ?? "true") : undefined;
}
