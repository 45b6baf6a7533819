import { BerthError } from "../common/index.js";

/**
 * A parser and evaluator for the part of Go's `text/template` that people put in Docker's
 * `--format`: fields (`.State.Status`), methods with arguments (`.Label "k"`), pipelines,
 * functions, `if`/`else if`/`else`, `range` (with `$i, $v :=`), `with`, variables, string
 * and number literals, and `{{-`/`-}}` trimming. Errors read like Go's, since people paste
 * them into searches.
 */

type Operand =
  | { kind: "field"; base: "dot" | "var"; varName?: string; chain: string[]; pos: number; text: string }
  | { kind: "ident"; name: string; pos: number }
  | { kind: "literal"; value: unknown; pos: number }
  | { kind: "pipe"; pipe: Pipeline; pos: number; chain: string[] };

interface Pipeline {
  decl: string[];
  cmds: Operand[][];
  pos: number;
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipeline }
  | { kind: "if" | "with"; pipe: Pipeline; list: Node[]; elseList: Node[] }
  | { kind: "range"; pipe: Pipeline; list: Node[]; elseList: Node[] };

/** A template function: gets evaluated arguments, returns a value. */
export type TemplateFunction = (...args: unknown[]) => unknown;

/**
 * Raised for bad templates. Docker wraps parse and execution errors alike in
 * "template parsing error: ", so berth does too: people search for that text.
 */
export function templateError(message: string, phase: "parsing" | "executing"): BerthError {
  return new BerthError("BERTH_CLI_FORMAT", `template parsing error: ${message}`, { phase });
}

interface Token {
  t: "field" | "var" | "ident" | "string" | "number" | "lparen" | "rparen" | "pipe" | "declare" | "assign" | "comma" | "dot";
  v: string;
  pos: number;
}

/** A parsed template, ready to run many times. */
export class GoTemplate {
  private constructor(
    private readonly source: string,
    private readonly root: Node[],
    private readonly funcs: Record<string, TemplateFunction>,
  ) {}

  /** Parses `source`; `funcs` are the functions the template may call. */
  static parse(source: string, funcs: Record<string, TemplateFunction>): GoTemplate {
    const parser = new Parser(source, funcs);
    return new GoTemplate(source, parser.parseAll(), funcs);
  }

  /** Runs the template with `data` as dot; `funcs` overrides the parse-time functions (for headers). */
  execute(data: unknown, funcs?: Record<string, TemplateFunction>): string {
    const ex = new Executor(this.source, funcs ?? this.funcs);
    return ex.run(this.root, data);
  }
}

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly funcs: Record<string, TemplateFunction>,
  ) {}

  private line(pos: number): number {
    return this.src.slice(0, pos).split("\n").length;
  }

  fail(message: string, pos: number): BerthError {
    return templateError(`template: :${this.line(pos)}: ${message}`, "parsing");
  }

  parseAll(): Node[] {
    const [nodes, end] = this.parseList();
    if (end) throw this.fail(`unexpected {{${end.word}}}`, end.pos);
    return nodes;
  }

  /** Parses until `{{end}}`/`{{else}}` (returned) or the end of input. */
  private parseList(): [Node[], { word: string; pos: number; rest: string } | undefined] {
    const nodes: Node[] = [];
    while (this.i < this.src.length) {
      const open = this.src.indexOf("{{", this.i);
      let text = this.src.slice(this.i, open === -1 ? undefined : open);
      if (open === -1) {
        nodes.push({ kind: "text", text });
        this.i = this.src.length;
        break;
      }
      let start = open + 2;
      if (this.src.startsWith("- ", start) || this.src.startsWith("-\t", start) || this.src.startsWith("-\n", start)) {
        text = text.replace(/\s+$/, "");
        start += 1;
      }
      if (text) nodes.push({ kind: "text", text });
      const close = this.findClose(start);
      if (close === -1) throw this.fail("unclosed action", open);
      let inner = this.src.slice(start, close);
      let after = close + 2;
      if (/[ \t\n]-$/.test(inner)) {
        inner = inner.slice(0, -1);
        while (after < this.src.length && /\s/.test(this.src[after]!)) after++;
      }
      this.i = after;
      const trimmed = inner.trim();
      if (trimmed.startsWith("/*")) continue;
      const word = /^(if|else|end|range|with|define|template|block)\b/.exec(trimmed)?.[1];
      const innerPos = start + (inner.length - inner.trimStart().length);
      if (word === "end" || word === "else") return [nodes, { word, pos: open, rest: trimmed.slice(word.length).trim() }];
      if (word === "if" || word === "with" || word === "range") {
        nodes.push(this.parseControl(word, trimmed.slice(word.length), innerPos + word.length, open));
        continue;
      }
      if (word) throw this.fail(`{{${word}}} is not supported here`, open);
      if (trimmed === "") throw this.fail("missing value for command", open);
      nodes.push({ kind: "action", pipe: this.parsePipeline(inner, start) });
    }
    return [nodes, undefined];
  }

  private parseControl(word: "if" | "with" | "range", rest: string, pos: number, open: number): Node {
    if (rest.trim() === "") throw this.fail(`missing value for ${word}`, open);
    const pipe = this.parsePipeline(rest, pos);
    const [list, end] = this.parseList();
    if (!end) throw this.fail(`unexpected EOF`, this.src.length);
    let elseList: Node[] = [];
    if (end.word === "else") {
      if (end.rest.startsWith("if ") && word === "if") {
        // `{{else if x}}` is an `if` nested in the else branch, sharing the one `{{end}}`.
        elseList = [this.parseControl("if", end.rest.slice(2), end.pos + 7, end.pos)];
      } else if (end.rest !== "") {
        throw this.fail(`unexpected "${end.rest}" in else`, end.pos);
      } else {
        const [l, e2] = this.parseList();
        if (!e2 || e2.word !== "end") throw this.fail(`expected end; found ${e2 ? `{{${e2.word}}}` : "EOF"}`, e2?.pos ?? this.src.length);
        elseList = l;
      }
    } else if (end.rest !== "") {
      throw this.fail(`unexpected "${end.rest}" in end`, end.pos);
    }
    return { kind: word, pipe, list, elseList } as Node;
  }

  /** Finds the `}}` closing an action, skipping over quoted strings. */
  private findClose(from: number): number {
    let i = from;
    while (i < this.src.length) {
      const c = this.src[i]!;
      if (c === '"') {
        i++;
        while (i < this.src.length && this.src[i] !== '"') i += this.src[i] === "\\" ? 2 : 1;
      } else if (c === "`") {
        i = this.src.indexOf("`", i + 1);
        if (i === -1) return -1;
      } else if (c === "}" && this.src[i + 1] === "}") {
        return i;
      }
      i++;
    }
    return -1;
  }

  private tokenize(text: string, base: number): Token[] {
    const tokens: Token[] = [];
    let i = 0;
    while (i < text.length) {
      const c = text[i]!;
      const pos = base + i;
      if (/\s/.test(c)) {
        i++;
      } else if (c === '"') {
        let j = i + 1;
        while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
        if (j >= text.length) throw this.fail("unterminated quoted string", pos);
        tokens.push({ t: "string", v: unquote(text.slice(i, j + 1), () => this.fail(`invalid syntax in ${text.slice(i, j + 1)}`, pos)), pos });
        i = j + 1;
      } else if (c === "`") {
        const j = text.indexOf("`", i + 1);
        if (j === -1) throw this.fail("unterminated raw quoted string", pos);
        tokens.push({ t: "string", v: text.slice(i + 1, j), pos });
        i = j + 1;
      } else if (c === "(") {
        tokens.push({ t: "lparen", v: c, pos });
        i++;
      } else if (c === ")") {
        tokens.push({ t: "rparen", v: c, pos });
        i++;
      } else if (c === "|") {
        tokens.push({ t: "pipe", v: c, pos });
        i++;
      } else if (c === ",") {
        tokens.push({ t: "comma", v: c, pos });
        i++;
      } else if (text.startsWith(":=", i)) {
        tokens.push({ t: "declare", v: ":=", pos });
        i += 2;
      } else if (c === "=") {
        tokens.push({ t: "assign", v: "=", pos });
        i++;
      } else if (c === ".") {
        const m = /^(\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(text.slice(i));
        if (m) {
          tokens.push({ t: "field", v: m[0], pos });
          i += m[0].length;
        } else if (/^\.\d/.test(text.slice(i))) {
          const n = /^\.\d+/.exec(text.slice(i))![0];
          tokens.push({ t: "number", v: n, pos });
          i += n.length;
        } else {
          tokens.push({ t: "dot", v: ".", pos });
          i++;
        }
      } else if (c === "$") {
        const m = /^\$[A-Za-z0-9_]*((\.[A-Za-z_][A-Za-z0-9_]*)*)/.exec(text.slice(i))!;
        tokens.push({ t: "var", v: m[0], pos });
        i += m[0].length;
      } else if (/[-+0-9]/.test(c)) {
        const m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(text.slice(i));
        if (!m) throw this.fail(`bad number syntax: "${text.slice(i).split(/\s/)[0]}"`, pos);
        tokens.push({ t: "number", v: m[0], pos });
        i += m[0].length;
      } else if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*((\.[A-Za-z_][A-Za-z0-9_]*)*)/.exec(text.slice(i))!;
        tokens.push({ t: "ident", v: m[0], pos });
        i += m[0].length;
      } else {
        throw this.fail(`unexpected "${c}" in command`, pos);
      }
    }
    return tokens;
  }

  private parsePipeline(text: string, base: number): Pipeline {
    const tokens = this.tokenize(text, base);
    let k = 0;
    const pipeline = (inParen: boolean): Pipeline => {
      const pipe: Pipeline = { decl: [], cmds: [], pos: tokens[k]?.pos ?? base };
      // Variable declarations: `$x :=` or `$i, $v :=`.
      const save = k;
      const decl: string[] = [];
      while (tokens[k]?.t === "var" && !tokens[k]!.v.includes(".")) {
        decl.push(tokens[k]!.v);
        k++;
        if (tokens[k]?.t === "comma") k++;
        else break;
      }
      if (decl.length > 0 && (tokens[k]?.t === "declare" || tokens[k]?.t === "assign")) {
        pipe.decl = decl;
        k++;
      } else {
        k = save;
      }
      let cmd: Operand[] = [];
      while (k < tokens.length) {
        const tok = tokens[k]!;
        if (tok.t === "rparen") {
          if (!inParen) throw this.fail(`unexpected ")" in operand`, tok.pos);
          break;
        }
        if (tok.t === "pipe") {
          if (cmd.length === 0) throw this.fail("missing command", tok.pos);
          pipe.cmds.push(cmd);
          cmd = [];
          k++;
          continue;
        }
        cmd.push(operand());
      }
      if (cmd.length === 0) throw this.fail(pipe.cmds.length > 0 ? "missing command" : "missing value for command", tokens[k - 1]?.pos ?? base);
      pipe.cmds.push(cmd);
      return pipe;
    };
    const operand = (): Operand => {
      const tok = tokens[k++]!;
      switch (tok.t) {
        case "field":
          return { kind: "field", base: "dot", chain: tok.v.split(".").slice(1), pos: tok.pos, text: tok.v };
        case "dot":
          return { kind: "field", base: "dot", chain: [], pos: tok.pos, text: "." };
        case "var": {
          const [name, ...chain] = tok.v.split(".");
          return { kind: "field", base: "var", varName: name, chain, pos: tok.pos, text: tok.v };
        }
        case "string":
          return { kind: "literal", value: tok.v, pos: tok.pos };
        case "number":
          return { kind: "literal", value: Number(tok.v), pos: tok.pos };
        case "ident": {
          if (tok.v === "true" || tok.v === "false") return { kind: "literal", value: tok.v === "true", pos: tok.pos };
          if (tok.v === "nil") return { kind: "literal", value: null, pos: tok.pos };
          if (tok.v.includes(".")) throw this.fail(`unexpected <.> in operand`, tok.pos);
          if (!(tok.v in this.funcs)) throw this.fail(`function "${tok.v}" not defined`, tok.pos);
          return { kind: "ident", name: tok.v, pos: tok.pos };
        }
        case "lparen": {
          const inner = pipeline(true);
          if (tokens[k]?.t !== "rparen") throw this.fail("unclosed left paren", tok.pos);
          const close = tokens[k]!;
          k++;
          // `(index $x 0).HostPort`: a field chain right after the paren applies to its result.
          let chain: string[] = [];
          const next = tokens[k];
          if (next?.t === "field" && next.pos === close.pos + 1) {
            chain = next.v.split(".").slice(1);
            k++;
          }
          return { kind: "pipe", pipe: inner, pos: tok.pos, chain };
        }
        default:
          throw this.fail(`unexpected "${tok.v}" in operand`, tok.pos);
      }
    };
    const p = pipeline(false);
    if (k < tokens.length) throw this.fail(`unexpected "${tokens[k]!.v}" in operand`, tokens[k]!.pos);
    return p;
  }
}

function unquote(lit: string, fail: () => Error): string {
  try {
    return JSON.parse(lit.replace(/\\([abfv'])/g, (_, c: string) => ({ a: "\\u0007", b: "\\b", f: "\\f", v: "\\u000b", "'": "'" })[c]!)) as string;
  } catch {
    throw fail();
  }
}

class Executor {
  private vars: Array<[string, unknown]> = [];
  constructor(
    private readonly src: string,
    private readonly funcs: Record<string, TemplateFunction>,
  ) {}

  private fail(pos: number, what: string, message: string): BerthError {
    const before = this.src.slice(0, pos);
    const line = before.split("\n").length;
    const col = pos - (before.lastIndexOf("\n") + 1);
    return templateError(`template: :${line}:${col}: executing "" at <${what}>: ${message}`, "executing");
  }

  run(nodes: Node[], data: unknown): string {
    this.vars = [["$", data]];
    return this.list(nodes, data);
  }

  private list(nodes: Node[], dot: unknown): string {
    let out = "";
    for (const n of nodes) out += this.node(n, dot);
    return out;
  }

  private node(n: Node, dot: unknown): string {
    switch (n.kind) {
      case "text":
        return n.text;
      case "action": {
        const v = this.pipeline(n.pipe, dot);
        return n.pipe.decl.length > 0 ? "" : printValue(v);
      }
      case "if": {
        const mark = this.vars.length;
        const v = this.pipeline(n.pipe, dot);
        const out = truthy(v) ? this.list(n.list, dot) : this.list(n.elseList, dot);
        this.vars.length = mark;
        return out;
      }
      case "with": {
        const mark = this.vars.length;
        const v = this.pipeline(n.pipe, dot);
        const out = truthy(v) ? this.list(n.list, v) : this.list(n.elseList, dot);
        this.vars.length = mark;
        return out;
      }
      case "range": {
        const mark = this.vars.length;
        const decl = n.pipe.decl;
        const v = this.pipeline({ ...n.pipe, decl: [] }, dot);
        const entries: Array<[unknown, unknown]> = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === "object"
            ? Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]])
            : typeof v === "number"
              ? Array.from({ length: v }, (_, i) => [i, i])
              : v === undefined || v === null
                ? []
                : (() => {
                    throw this.fail(n.pipe.pos, "range", `range can't iterate over ${printValue(v)}`);
                  })();
        if (entries.length === 0) {
          const out = this.list(n.elseList, dot);
          this.vars.length = mark;
          return out;
        }
        let out = "";
        for (const [k, x] of entries) {
          this.vars.length = mark;
          if (decl.length === 1) this.vars.push([decl[0]!, x]);
          else if (decl.length === 2) this.vars.push([decl[0]!, k], [decl[1]!, x]);
          out += this.list(n.list, x);
        }
        this.vars.length = mark;
        return out;
      }
    }
  }

  private pipeline(p: Pipeline, dot: unknown): unknown {
    let value: unknown;
    let first = true;
    for (const cmd of p.cmds) {
      value = this.command(cmd, dot, first ? undefined : { value });
      first = false;
    }
    for (const name of p.decl) this.vars.push([name, value]);
    return value;
  }

  private command(cmd: Operand[], dot: unknown, piped: { value: unknown } | undefined): unknown {
    const head = cmd[0]!;
    if (head.kind === "ident") {
      const args = cmd.slice(1).map((o) => this.operand(o, dot));
      if (piped) args.push(piped.value);
      try {
        return this.funcs[head.name]!(...args);
      } catch (e) {
        if ((e as BerthError).code === "BERTH_CLI_FORMAT") throw e;
        throw this.fail(head.pos, head.name, `error calling ${head.name}: ${(e as Error).message}`);
      }
    }
    if (head.kind === "field" && (cmd.length > 1 || piped) && head.chain.length > 0) {
      // A method call such as `.Label "com.example"`: the last field is a function.
      const parent = this.resolve({ ...head, chain: head.chain.slice(0, -1) }, dot);
      const name = head.chain[head.chain.length - 1]!;
      const fn = parent && typeof parent === "object" ? (parent as Record<string, unknown>)[name] : undefined;
      if (typeof fn !== "function") throw this.fail(head.pos, head.text, `${name} has arguments but cannot be invoked as function`);
      const args = cmd.slice(1).map((o) => this.operand(o, dot));
      if (piped) args.push(piped.value);
      return (fn as TemplateFunction).apply(parent, args);
    }
    if (cmd.length > 1 || piped) throw this.fail(head.pos, "", `can't give argument to non-function ${describeOperand(head)}`);
    return this.operand(head, dot);
  }

  private operand(o: Operand, dot: unknown): unknown {
    switch (o.kind) {
      case "literal":
        return o.value;
      case "pipe": {
        const v = this.pipeline(o.pipe, dot);
        if (o.chain.length === 0) return v;
        return this.resolve({ kind: "field", base: "var", varName: "\0", chain: o.chain, pos: o.pos, text: `(...).${o.chain.join(".")}` }, dot, { value: v });
      }
      case "ident":
        return this.funcs[o.name]!();
      case "field": {
        const v = this.resolve(o, dot);
        return typeof v === "function" ? (v as TemplateFunction).call(this.parentOf(o, dot)) : v;
      }
    }
  }

  private parentOf(o: Extract<Operand, { kind: "field" }>, dot: unknown): unknown {
    return this.resolve({ ...o, chain: o.chain.slice(0, -1) }, dot);
  }

  private resolve(o: Extract<Operand, { kind: "field" }>, dot: unknown, start?: { value: unknown }): unknown {
    let v: unknown = dot;
    if (start) {
      v = start.value;
    } else if (o.base === "var") {
      const found = [...this.vars].reverse().find(([n]) => n === o.varName);
      if (!found) throw this.fail(o.pos, o.text, `undefined variable: ${o.varName}`);
      v = found[1];
    }
    for (const name of o.chain) {
      if (v === null || v === undefined) throw this.fail(o.pos, o.text, `nil pointer evaluating interface {}.${name}`);
      if (typeof v !== "object") throw this.fail(o.pos, o.text, `can't evaluate field ${name} in type ${goTypeName(v)}`);
      const obj = v as Record<string, unknown>;
      if (!(name in obj)) {
        // Maps give "<no value>" for a missing key; structs (class instances) have no such field.
        if (Object.getPrototypeOf(obj) !== Object.prototype && Object.getPrototypeOf(obj) !== null) {
          throw this.fail(o.pos, o.text, `can't evaluate field ${name} in type ${goTypeName(v)}`);
        }
        v = undefined;
        continue;
      }
      const next = obj[name];
      v = typeof next === "function" && name !== o.chain[o.chain.length - 1] ? (next as TemplateFunction).call(obj) : next;
    }
    return v;
  }
}

function describeOperand(o: Operand): string {
  if (o.kind === "field") return o.text;
  if (o.kind === "literal") return JSON.stringify(o.value);
  return "pipeline";
}

function goTypeName(v: unknown): string {
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "[]interface {}";
  const proto = v && typeof v === "object" ? Object.getPrototypeOf(v) : null;
  if (proto && proto !== Object.prototype && proto.constructor?.name) return `*formatter.${proto.constructor.name}`;
  return "map[string]interface {}";
}

/** Go's truth: false, 0, nil and empty strings, lists and maps are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) return Object.keys(v).length > 0;
  return true;
}

/** Prints a value as Go's `fmt` `%v` does (`[a b]`, `map[k:v]`, `<no value>`). */
export function printValue(v: unknown): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map(printInner).join(" ")}]`;
  if (typeof v === "object") {
    if (typeof (v as { toString?: unknown }).toString === "function" && (v as object).toString !== Object.prototype.toString) return String(v);
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${printInner((v as Record<string, unknown>)[k])}`).join(" ")}]`;
  }
  return String(v);
}

function printInner(v: unknown): string {
  return v === undefined || v === null ? "<nil>" : printValue(v);
}
