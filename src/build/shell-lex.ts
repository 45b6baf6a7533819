import { BerthError } from "../common/index.js";

/**
 * Variable substitution as the Dockerfile frontend performs it (BuildKit's `shell/lex.go`
 * rules, reimplemented): `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`,
 * `${v:?msg}`, `${v?msg}`, `${v#pat}`, `${v##pat}`, `${v%pat}`, `${v%%pat}`,
 * `${v/pat/repl}`, `${v//pat/repl}`; the escape character and single quotes prevent
 * expansion; double quotes group without preventing it. One environment is used for a
 * whole instruction: an `ENV a=1 b=$a` sees the `a` from before the instruction.
 */

/** Where variable values come from: a map, a plain object, or a lookup function. */
export type VariableSource =
  | ReadonlyMap<string, string>
  | Readonly<Record<string, string | undefined>>
  | ((name: string) => string | undefined);

/** Options of {@link ShellLex}. */
export interface ShellLexOptions {
  /**
   * The escape character, from the `# escape=` directive.
   * @default "\\"
   */
  escapeToken?: "\\" | "`";
  /**
   * Keep quotes in the result instead of removing them (the parser uses this to find heredoc
   * words without changing them).
   * @default false
   */
  rawQuotes?: boolean;
  /**
   * Keep escape characters in the result instead of removing them.
   * @default false
   */
  rawEscapes?: boolean;
  /**
   * Leave a reference to an unset variable as written (`$nope` stays `$nope`) rather than
   * expanding it to the empty string.
   * @default false
   */
  skipUnsetEnv?: boolean;
}

/** The result of {@link ShellLex.processWord}. */
export interface LexResult {
  /** The expanded text with quotes and escapes removed. */
  value: string;
  /** The text split into words on unquoted whitespace (values of unquoted variables split too). */
  words: string[];
  /** Names of variables referenced that were set. */
  matched: Set<string>;
  /** Names of variables referenced that were not set. */
  unmatched: Set<string>;
}

const specialParams = new Set(["@", "*", "#", "?", "-", "$", "!", "0"]);

/** Reads a variable from any {@link VariableSource}. */
export function lookupVariable(source: VariableSource, name: string): string | undefined {
  if (typeof source === "function") return source(name);
  if (source instanceof Map) return source.get(name);
  const record = source as Readonly<Record<string, string | undefined>>;
  return Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined;
}

/** Collects characters into words: unquoted whitespace ends a word, raw characters never do. */
class WordCollector {
  words: string[] = [];
  private current = "";
  private inWord = false;

  addChar(ch: string): void {
    if (/\s/.test(ch)) {
      if (this.inWord) {
        this.words.push(this.current);
        this.current = "";
        this.inWord = false;
      }
      return;
    }
    this.current += ch;
    this.inWord = true;
  }

  addRawChar(ch: string): void {
    this.current += ch;
    this.inWord = true;
  }

  /** Makes the current position part of a word even when nothing is added (`''`). */
  markWord(): void {
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    for (const ch of s) this.addRawChar(ch);
  }

  finish(): string[] {
    if (this.inWord) {
      this.words.push(this.current);
      this.current = "";
      this.inWord = false;
    }
    return this.words;
  }
}

function lexError(message: string, text: string, cause?: unknown): BerthError {
  return new BerthError("BERTH_BUILD_VARIABLE", `${message} in ${JSON.stringify(text)}`, { field: text, cause });
}

/** One pass of the lexer over one text. */
class Scanner {
  pos = 0;
  /** Whether escapes are kept: the option, or true while reading a `#`/`%`/`/` pattern. */
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    readonly text: string,
    readonly env: VariableSource,
    readonly opts: Required<ShellLexOptions>,
  ) {
    this.rawEscapes = opts.rawEscapes;
  }

  /** {@link process} keeping escapes, for patterns whose escapes the matcher reads. */
  processPattern(stops: readonly string[]): { value: string; stoppedAt: string | undefined } {
    const saved = this.rawEscapes;
    this.rawEscapes = true;
    try {
      return this.process(stops);
    } finally {
      this.rawEscapes = saved;
    }
  }

  peek(): string | undefined {
    return this.text[this.pos];
  }

  next(): string | undefined {
    return this.text[this.pos++];
  }

  /** Processes until `stops` (consumed) or the end; returns the text and its words. */
  process(stops: readonly string[] = []): { value: string; words: string[]; stoppedAt: string | undefined } {
    let value = "";
    const words = new WordCollector();
    const esc = this.opts.escapeToken;
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) {
        if (stops.length > 0) throw lexError(`missing '${stops.includes("}") ? "}" : stops[0]}'`, this.text);
        return { value, words: words.finish(), stoppedAt: undefined };
      }
      if (stops.includes(ch)) {
        this.next();
        return { value, words: words.finish(), stoppedAt: ch };
      }
      if (ch === "'") {
        const s = this.singleQuote();
        value += s;
        words.addRawString(s);
        // An empty quoted string is still a word: `COPY '' dst` names "".
        words.markWord();
        continue;
      }
      if (ch === '"') {
        const s = this.doubleQuote();
        value += s;
        words.addRawString(s);
        words.markWord();
        continue;
      }
      if (ch === "$") {
        const s = this.dollar();
        value += s;
        words.addString(s);
        continue;
      }
      this.next();
      if (ch === esc) {
        const following = this.next();
        if (following === undefined) break;
        if (this.rawEscapes) {
          value += ch;
          words.addRawChar(ch);
        }
        value += following;
        words.addRawChar(following);
        continue;
      }
      value += ch;
      words.addChar(ch);
    }
    if (stops.length > 0) throw lexError(`missing '${stops.includes("}") ? "}" : stops[0]}'`, this.text);
    return { value, words: words.finish(), stoppedAt: undefined };
  }

  singleQuote(): string {
    this.next();
    let out = this.opts.rawQuotes ? "'" : "";
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw lexError("unexpected end of statement while looking for matching single-quote", this.text);
      if (ch === "'") break;
      out += ch;
    }
    return this.opts.rawQuotes ? `${out}'` : out;
  }

  doubleQuote(): string {
    this.next();
    let out = this.opts.rawQuotes ? '"' : "";
    const esc = this.opts.escapeToken;
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw lexError("unexpected end of statement while looking for matching double-quote", this.text);
      if (ch === '"') {
        this.next();
        break;
      }
      if (ch === "$") {
        out += this.dollar();
        continue;
      }
      this.next();
      if (ch === esc) {
        const following = this.peek();
        // Inside double quotes only `"`, `$` and the escape character itself can be escaped;
        // any other escape character stays as written (as in POSIX sh).
        if (following === '"' || following === "$" || following === esc) {
          this.next();
          if (this.rawEscapes) out += ch;
          out += following;
          continue;
        }
      }
      out += ch;
    }
    return this.opts.rawQuotes ? `${out}"` : out;
  }

  name(): string {
    let name = "";
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) return name;
      if (name === "" && /[0-9]/.test(ch)) {
        while (this.peek() !== undefined && /[0-9]/.test(this.peek()!)) name += this.next();
        return name;
      }
      if (name === "" && specialParams.has(ch)) {
        this.next();
        return ch;
      }
      if (!/[\p{L}\p{N}_]/u.test(ch)) return name;
      name += this.next();
    }
  }

  getVariable(name: string): string | undefined {
    // Positional and special parameters never come from the build environment.
    if (/^[0-9]/.test(name) || specialParams.has(name)) {
      this.unmatched.add(name);
      return undefined;
    }
    const v = lookupVariable(this.env, name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  dollar(): string {
    const start = this.pos;
    this.next();
    if (this.peek() !== "{") {
      const name = this.name();
      if (name === "") return "$";
      const v = this.getVariable(name);
      if (v === undefined) return this.opts.skipUnsetEnv ? this.text.slice(start, this.pos) : "";
      return v;
    }
    this.next();
    if (this.peek() === undefined) throw lexError("syntax error: missing '}'", this.text);
    if (this.peek() === "}") throw lexError("bad substitution", this.text);
    const name = this.name();
    const ch = this.peek();
    if (name === "") throw lexError("bad substitution", this.text);
    if (ch === undefined) throw lexError("syntax error: missing '}'", this.text);
    const value = this.getVariable(name);
    const unsetResult = (): string => (this.opts.skipUnsetEnv ? this.text.slice(start, this.pos) : "");
    if (ch === "}") {
      this.next();
      return value ?? unsetResult();
    }
    if (ch === ":" || ch === "-" || ch === "+" || ch === "?") {
      const colon = ch === ":";
      this.next();
      const mod = colon ? this.next() : ch;
      if (mod !== "-" && mod !== "+" && mod !== "?") {
        throw lexError(`unsupported modifier (${colon ? ":" : ""}${mod ?? ""}) in substitution`, this.text);
      }
      const word = this.process(["}"]).value;
      // With the colon an empty value counts as unset; without it only unset does.
      const isSet = value !== undefined && (!colon || value !== "");
      if (mod === "-") return isSet ? value! : word;
      if (mod === "+") return isSet ? word : "";
      if (!isSet) {
        const reason = word !== "" ? word : colon ? "is not allowed to be empty" : "is not allowed to be unset";
        throw new BerthError("BERTH_BUILD_VARIABLE", `${name}: ${reason}`, { field: name });
      }
      return value!;
    }
    if (ch === "#" || ch === "%") {
      this.next();
      const longest = this.peek() === ch;
      if (longest) this.next();
      const pattern = this.processPattern(["}"]).value;
      const v = value ?? "";
      if (value === undefined && this.opts.skipUnsetEnv) return this.text.slice(start, this.pos);
      return ch === "#" ? trimPrefix(v, pattern, longest, this.text) : trimSuffix(v, pattern, longest, this.text);
    }
    if (ch === "/") {
      this.next();
      const all = this.peek() === "/";
      if (all) this.next();
      const pat = this.processPattern(["/", "}"]);
      // BuildKit requires the second slash: `${v/pattern/}` deletes, `${v/pattern}` is an error.
      if (pat.stoppedAt !== "/") throw lexError("syntax error: missing '/' in ${}", this.text);
      const replacement = this.processPattern(["}"]).value;
      if (value === undefined && this.opts.skipUnsetEnv) return this.text.slice(start, this.pos);
      return replacePattern(value ?? "", pat.value, replacement, all, this.text);
    }
    throw lexError(`unsupported modifier (${ch}) in substitution`, this.text);
  }
}

/**
 * A `${v#pattern}` pattern as a regular expression source, with BuildKit's rules: `*` any
 * string (shortest unless greedy), `?` any character, `\*` `\?` `\\` literal, `\}` and `\/`
 * the character alone; no bracket expressions (`[` is literal).
 */
function patternSource(pattern: string, greedy: boolean, text: string): string {
  let out = "";
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "*") out += greedy ? "[\\s\\S]*" : "[\\s\\S]*?";
    else if (ch === "?") out += "[\\s\\S]";
    else if (ch === "\\") {
      const next = chars[i + 1];
      if (next === "}" || next === "/") continue;
      i++;
      if (next !== "*" && next !== "?" && next !== "\\") {
        throw lexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${next ?? ""}'`, text);
      }
      out += `\\${next}`;
    } else out += ch.replace(/[[\]{}.+()|^$/]/g, "\\$&");
  }
  return out;
}

function trimPrefix(value: string, pattern: string, greedy: boolean, text: string): string {
  const m = new RegExp(`^(?:${patternSource(pattern, greedy, text)})`, "u").exec(value);
  return m ? value.slice(m[0].length) : value;
}

function trimSuffix(value: string, pattern: string, greedy: boolean, text: string): string {
  // A suffix is a prefix of the reversed value, as BuildKit finds it.
  const reversedPattern = reversePattern(pattern);
  const reversed = [...value].reverse().join("");
  return [...trimPrefix(reversed, reversedPattern, greedy, text)].reverse().join("");
}

/** Reverses a pattern keeping each escape before the character it escapes. */
function reversePattern(pattern: string): string {
  const tokens: string[] = [];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === "\\" && i + 1 < chars.length) tokens.push(`\\${chars[++i]}`);
    else tokens.push(chars[i]!);
  }
  return tokens.reverse().join("");
}

function replacePattern(value: string, pattern: string, replacement: string, all: boolean, text: string): string {
  const re = new RegExp(patternSource(pattern, true, text), all ? "gu" : "u");
  return value.replace(re, () => replacement);
}

/** The variable-substitution lexer of Dockerfile instructions. */
export class ShellLex {
  private readonly opts: Required<ShellLexOptions>;

  constructor(options: ShellLexOptions = {}) {
    this.opts = {
      escapeToken: options.escapeToken ?? "\\",
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
    };
  }

  /** Expands `text` as one word (quotes and escapes removed) and reports the variables it used. */
  process(text: string, env: VariableSource): LexResult {
    const scanner = new Scanner(text, env, this.opts);
    const { value, words } = scanner.process();
    return { value, words, matched: scanner.matched, unmatched: scanner.unmatched };
  }

  /** Expands `text` as one word: `ENV`, `WORKDIR`, `USER`, a `LABEL` value... */
  processWord(text: string, env: VariableSource): string {
    return this.process(text, env).value;
  }

  /** Expands `text` and splits it into words as `COPY`, `EXPOSE`, `VOLUME` and `FROM` do. */
  processWords(text: string, env: VariableSource): string[] {
    return this.process(text, env).words;
  }
}

/**
 * The instructions whose arguments the builder itself expands (the Dockerfile reference's
 * list, plus ARG whose defaults BuildKit expands). RUN, CMD, ENTRYPOINT, SHELL and
 * HEALTHCHECK are left to the shell in the container.
 */
export const expandingInstructions: ReadonlySet<string> = new Set([
  "ADD",
  "ARG",
  "COPY",
  "ENV",
  "EXPOSE",
  "FROM",
  "LABEL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);
