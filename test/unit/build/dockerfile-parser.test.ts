import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { hasErrorCode, isBerthError } from "../../../src/common/berth-error.js";
import { parseDockerfile, parseGoDuration, type Instruction } from "../../../src/build/dockerfile-parser.js";

const fixtures = fileURLToPath(new URL("../../fixtures/dockerfiles/", import.meta.url));

/** A compact, readable rendering of a parse for snapshots (one line per instruction). */
function dump(instructions: Instruction[]): string {
  return instructions
    .map((i) => {
      let s = `${i.startLine}-${i.endLine} ${i.keyword}`;
      if (i.flags.length) s += ` flags=${JSON.stringify(i.flags.map((f) => (f.value === undefined ? f.name : `${f.name}=${f.value}`)))}`;
      s += `${i.json ? " json" : ""} ${JSON.stringify(i.args)}`;
      for (const h of i.heredocs) s += ` heredoc(${h.name}${h.chomp ? ",chomp" : ""}${h.expand ? "" : ",raw"}${h.fileDescriptor ? `,fd=${h.fileDescriptor}` : ""})=${JSON.stringify(h.content)}`;
      return s;
    })
    .join("\n");
}

function parse(text: string) {
  return parseDockerfile(text);
}

function syntaxErrorOf(text: string): { line: unknown; message: string } {
  try {
    parse(text);
  } catch (error) {
    expect(hasErrorCode(error, "BERTH_DOCKERFILE_SYNTAX")).toBe(true);
    if (!isBerthError(error)) throw error;
    return { line: error.context.line, message: error.message };
  }
  throw new Error("expected a syntax error");
}

describe("parseDockerfile fixtures", () => {
  for (const file of readdirSync(fixtures).filter((f) => f.endsWith(".Dockerfile")).sort()) {
    it(`parses ${file} as snapshotted`, () => {
      const parsed = parse(readFileSync(`${fixtures}${file}`, "utf8"));
      expect({ directives: parsed.directives, warnings: parsed.warnings, dump: dump(parsed.instructions) }).toMatchSnapshot();
    });
  }
});

describe("parser directives", () => {
  it("reads syntax, escape and check at the top, case-insensitively and with spaces", () => {
    const p = parse("#  SYNTAX = docker/dockerfile:1\n# escape=`\n#check=error=true\nFROM x\n");
    expect(p.directives).toEqual({ escape: "`", syntax: "docker/dockerfile:1", check: "error=true" });
  });
  it("stops looking after a comment, a blank line or an unknown directive", () => {
    expect(parse("# hello\n# escape=`\nFROM x").directives.escape).toBe("\\");
    expect(parse("\n# escape=`\nFROM x").directives.escape).toBe("\\");
    expect(parse("# unknowndirective=value\n# escape=`\nFROM x").directives.escape).toBe("\\");
    expect(parse("FROM x\n# escape=`\nRUN a").directives.escape).toBe("\\");
  });
  it("refuses a repeated directive and an invalid escape", () => {
    expect(syntaxErrorOf("# escape=`\n# escape=\\\nFROM x").message).toMatch(/only one escape parser directive/);
    expect(syntaxErrorOf("# escape=x\nFROM x").line).toBe(1);
  });
  it("does not keep directives as comments of the first instruction", () => {
    expect(parse("# syntax=x\n# about FROM\nFROM x").instructions[0]!.comments).toEqual(["about FROM"]);
  });
  it("strips a UTF-8 byte-order mark", () => {
    expect(parse("\uFEFF# escape=`\nFROM x").directives.escape).toBe("`");
  });
});

describe("comments, continuations and lines", () => {
  it("joins continuation lines, drops comments and empty lines inside them, and counts lines", () => {
    const p = parse("FROM x\nRUN a \\\n# comment\n\n  b \\\n    c\nRUN d");
    expect(p.instructions[1]).toMatchObject({ keyword: "RUN", args: ["a   b     c"], startLine: 2, endLine: 6 });
    expect(p.instructions[2]!.startLine).toBe(7);
    expect(p.warnings.some((w) => /Empty continuation line/.test(w.message))).toBe(true);
  });
  it("allows blanks after the escape character and uses the backtick with escape=`", () => {
    expect(parse("FROM x\nRUN a \\   \n b").instructions[1]!.args).toEqual(["a  b"]);
    const p = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /w");
    expect(p.instructions[1]!.args).toEqual(["dir c:\\   /w"]);
  });
  it("does not continue a line ending in an escaped escape character, as BuildKit", () => {
    const p = parse("FROM x\nRUN echo a\\\\\nRUN next \\\n\\\n  more");
    expect(p.instructions.map((i) => i.args)).toEqual([["x"], ["echo a\\\\"], ["next   more"]]);
  });
  it("ends a continuation at end of file", () => {
    expect(parse("FROM x\nRUN a \\").instructions[1]!.args).toEqual(["a"]);
  });
  it("ignores leading whitespace and CRLF line ends", () => {
    const p = parse("  FROM x\r\n\tRUN  echo hi\r\n");
    expect(p.instructions.map((i) => [i.keyword, i.args])).toEqual([
      ["FROM", ["x"]],
      ["RUN", ["echo hi"]],
    ]);
  });
  it("keeps a # that is not at the start of a line", () => {
    expect(parse("FROM x\nRUN echo # not a comment").instructions[1]!.args).toEqual(["echo # not a comment"]);
  });
  it("accepts lower-case keywords and upper-cases them", () => {
    expect(parse("from x\nrun y").instructions.map((i) => i.keyword)).toEqual(["FROM", "RUN"]);
  });
});

describe("errors", () => {
  it("names an unknown instruction and its line", () => {
    const e = syntaxErrorOf("FROM x\n\nFORM y");
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/unknown instruction: FORM/);
  });
  it("refuses a file with no instruction", () => {
    expect(syntaxErrorOf("# only a comment\n\n").message).toMatch(/file with no instructions/);
  });
  it("refuses bad arguments with the line", () => {
    const bad: [string, RegExp][] = [
      ["FROM", /FROM requires either one or three arguments/],
      ["FROM a b", /one or three/],
      ["FROM a AS 1bad", /invalid name for build stage/],
      ["ENV", /ENV requires at least one argument/],
      ["ENV a", /ENV must have two arguments/],
      ["ENV a=1 b", /can't find = in "b"/],
      ["ENV =x", /names can not be blank/],
      ["LABEL", /LABEL requires at least one argument/],
      ["ARG", /ARG requires at least one argument/],
      ["COPY a", /requires at least two arguments/],
      ["ADD [\"a\"]", /requires at least two arguments/],
      ["SHELL /bin/sh -c", /SHELL requires the arguments to be in JSON form/],
      ["WORKDIR", /WORKDIR requires exactly one argument/],
      ["USER", /USER requires exactly one argument/],
      ["STOPSIGNAL", /STOPSIGNAL requires exactly one argument/],
      ["EXPOSE", /EXPOSE requires at least one argument/],
      ["VOLUME", /VOLUME requires at least one argument/],
      ["HEALTHCHECK", /HEALTHCHECK requires at least one argument/],
      ["HEALTHCHECK NONE x", /HEALTHCHECK NONE takes no arguments/],
      ["HEALTHCHECK FOO x", /Unknown type "FOO"/],
      ["HEALTHCHECK CMD", /Missing command after HEALTHCHECK CMD/],
      ["HEALTHCHECK --interval=1us CMD x", /cannot be less than 1ms/],
      ["HEALTHCHECK --interval=abc CMD x", /invalid duration/],
      ["HEALTHCHECK --retries=-1 CMD x", /--retries cannot be negative/],
      ["ONBUILD ONBUILD RUN x", /Chaining ONBUILD/],
      ["ONBUILD FROM x", /FROM isn't allowed as an ONBUILD trigger/],
      ["ONBUILD MAINTAINER x", /MAINTAINER isn't allowed/],
      ["CMD [\"a\", 1]", /arrays must be comprised of strings only/],
      ["RUN --mount", /Missing a value on flag: --mount/],
      ["RUN --nope=1 x", /unknown flag: --nope/],
      ["COPY --from=a --from=b x y", /Duplicate flag specified: from/],
      ["COPY --link=maybe x y", /expecting boolean value for flag link/],
      ["ENV --x=1 a=b", /unknown flag/],
      ["COPY <<EOF <<EOT /dst\nx\nEOF\n", /unterminated heredoc EOT/],
      ["COPY x <<EOF\nEOF", /heredoc as a destination/],
    ];
    for (const [text, re] of bad) {
      const e = syntaxErrorOf(`FROM base\n${text}`);
      expect(e.message, text).toMatch(re);
      expect(e.line, text).toBe(2);
    }
  });
});

describe("exec and shell forms", () => {
  it("parses the JSON form and falls back to the shell form on invalid JSON", () => {
    const p = parse(`FROM x\nCMD ["a", "b c"]\nCMD [not json]\nCMD ["unterminated"\nENTRYPOINT  [ "x" ] \nRUN ['single']`);
    expect(p.instructions.slice(1).map((i) => [i.json, i.args])).toEqual([
      [true, ["a", "b c"]],
      [false, ["[not json]"]],
      [false, ['["unterminated"']],
      [true, ["x"]],
      [false, ["['single']"]],
    ]);
  });
  it("lets an empty JSON array through (ENTRYPOINT [] clears)", () => {
    expect(parse("FROM x\nENTRYPOINT []").instructions[1]).toMatchObject({ json: true, args: [] });
  });
  it("splits COPY and VOLUME in shell form on blanks, and takes JSON with spaces", () => {
    const p = parse(`FROM x\nCOPY a  b\tc /d/\nCOPY ["my file", "/dst dir/"]\nVOLUME /a /b\nVOLUME ["/c"]`);
    expect(p.instructions[1]).toMatchObject({ sources: ["a", "b", "c"], destination: "/d/" });
    expect(p.instructions[2]).toMatchObject({ json: true, sources: ["my file"], destination: "/dst dir/" });
    expect(p.instructions[3]!.args).toEqual(["/a", "/b"]);
    expect(p.instructions[4]).toMatchObject({ json: true, args: ["/c"] });
  });
});

describe("flags", () => {
  it("reads flags before the arguments, repeated --mount, booleans and quoted values", () => {
    const p = parse(`FROM x\nRUN --mount=type=cache,target=/a --mount=type=secret,id=s --network=none echo --not-a-flag\nCOPY --link --chown="a b" --from=st src dst`);
    expect(p.instructions[1]!.flags).toEqual([
      { name: "mount", value: "type=cache,target=/a" },
      { name: "mount", value: "type=secret,id=s" },
      { name: "network", value: "none" },
    ]);
    expect(p.instructions[1]!.args).toEqual(["echo --not-a-flag"]);
    expect(p.instructions[2]!.flags).toEqual([
      { name: "link", value: undefined },
      { name: "chown", value: "a b" },
      { name: "from", value: "st" },
    ]);
  });
  it("stops at a lone --", () => {
    expect(parse("FROM x\nCOPY --link -- --weird dst").instructions[1]).toMatchObject({ sources: ["--weird"], destination: "dst" });
  });
  it("reads FROM --platform and AS case-insensitively, lower-casing the stage name", () => {
    expect(parse("FROM --platform=linux/arm64 img:1 As Builder").instructions[0]!.stage).toEqual({
      base: "img:1",
      name: "builder",
      platform: "linux/arm64",
    });
  });
});

describe("ENV, LABEL and ARG", () => {
  it("parses k=v pairs keeping quotes for the expander, and the legacy form", () => {
    const p = parse(`FROM x\nENV a=1 b="2 3" c=four\\ five d=\nENV legacy  value  "with" spaces \nLABEL "quoted key"=v`);
    expect(p.instructions[1]!.keyValues).toEqual([
      { key: "a", value: "1" },
      { key: "b", value: '"2 3"' },
      { key: "c", value: "four\\ five" },
      { key: "d", value: "" },
    ]);
    expect(p.instructions[2]!.keyValues).toEqual([{ key: "legacy", value: 'value  "with" spaces' }]);
    expect(p.warnings.some((w) => w.line === 3 && /legacy/.test(w.message))).toBe(true);
    expect(p.instructions[3]!.keyValues).toEqual([{ key: '"quoted key"', value: "v" }]);
  });
  it("parses several ARGs per line with and without defaults", () => {
    expect(parse(`ARG a b=1 c="x y"\nFROM x`).instructions[0]!.argDefinitions).toEqual([
      { name: "a", value: undefined },
      { name: "b", value: "1" },
      { name: "c", value: '"x y"' },
    ]);
  });
});

describe("HEALTHCHECK", () => {
  it("converts durations to nanoseconds as Go does", () => {
    expect(parseGoDuration("1m30s")).toBe(90e9);
    expect(parseGoDuration("1.5h")).toBe(5400e9);
    expect(parseGoDuration("500ms")).toBe(5e8);
    expect(parseGoDuration("10us")).toBe(1e4);
    expect(parseGoDuration("0")).toBe(0);
    expect(() => parseGoDuration("10")).toThrow();
  });
  it("parses NONE, shell and exec forms", () => {
    const p = parse(`FROM x\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s --retries=2 CMD curl -f http://x/ || exit 1\nHEALTHCHECK cmd ["a","b"]`);
    expect(p.instructions[1]!.healthcheck).toEqual({ test: ["NONE"] });
    expect(p.instructions[2]!.healthcheck).toEqual({ test: ["CMD-SHELL", "curl -f http://x/ || exit 1"], interval: 5e9, retries: 2 });
    expect(p.instructions[3]!.healthcheck).toEqual({ test: ["CMD", "a", "b"] });
  });
});

describe("ONBUILD", () => {
  it("wraps the trigger instruction and keeps its text as Docker stores it", () => {
    const i = parse("FROM x\nonbuild  ADD --chown=1 . /app").instructions[1]!;
    expect(i.trigger).toMatchObject({ keyword: "ADD", sources: ["."], destination: "/app", flags: [{ name: "chown", value: "1" }] });
    expect(i.triggerText).toBe("ADD --chown=1 . /app");
  });
  it("takes heredocs for a RUN trigger and appends them to the text", () => {
    const i = parse("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\nRUN y").instructions[1]!;
    expect(i.trigger!.heredocs).toEqual([{ name: "EOF", content: "echo hi\n", expand: true, chomp: false, fileDescriptor: 0 }]);
    expect(i.triggerText).toBe("RUN <<EOF\necho hi\nEOF");
    expect(i.endLine).toBe(4);
  });
});

describe("heredocs", () => {
  it("reads one heredoc for RUN and keeps the body verbatim", () => {
    const i = parse("FROM x\nRUN <<EOF\n  indented $X\n\nEOF\nRUN after").instructions[1]!;
    expect(i.heredocs).toEqual([{ name: "EOF", content: "  indented $X\n\n", expand: true, chomp: false, fileDescriptor: 0 }]);
    expect(i.args).toEqual(["<<EOF"]);
    expect([i.startLine, i.endLine]).toEqual([2, 5]);
  });
  it("strips leading tabs with <<- and disables expansion for quoted delimiters", () => {
    const p = parse(`FROM x\nRUN <<-'A' cat\n\t\tone\n\tA\nRUN <<"B"\nb\nB\nRUN <<C"D"\nc\nCD`);
    expect(p.instructions[1]!.heredocs[0]).toMatchObject({ name: "A", content: "one\n", chomp: true, expand: false });
    expect(p.instructions[2]!.heredocs[0]).toMatchObject({ name: "B", expand: false });
    expect(p.instructions[3]!.heredocs[0]).toMatchObject({ name: "CD", expand: false });
  });
  it("keeps the body's own line endings and a last line without one", () => {
    const crlf = parse("FROM x\r\nRUN <<EOF\r\na\r\nb\r\nEOF\r\n").instructions[1]!;
    expect(crlf.heredocs[0]!.content).toBe("a\r\nb\r\n");
  });
  it("keeps a trigger's heredoc as written, tabs included, in the ONBUILD text", () => {
    const i = parse("FROM x\nONBUILD RUN <<-EOF\n\techo hi\n\tEOF").instructions[1]!;
    expect(i.trigger!.heredocs[0]!.content).toBe("echo hi\n");
    expect(i.triggerText).toBe("RUN <<-EOF\n\techo hi\n\tEOF".replace("\n\tEOF", "\nEOF"));
  });
  it("reads several heredocs in order, with file descriptors", () => {
    const i = parse("FROM x\nRUN cat <<A 3<<B\na\nA\nb\nB").instructions[1]!;
    expect(i.heredocs.map((h) => [h.name, h.content, h.fileDescriptor])).toEqual([
      ["A", "a\n", 0],
      ["B", "b\n", 3],
    ]);
  });
  it("gives COPY inline sources and keeps the destination", () => {
    const i = parse("FROM x\nCOPY <<one <<two /dst/\n1\none\n2\ntwo").instructions[1]!;
    expect(i.sources).toEqual([]);
    expect(i.destination).toBe("/dst/");
    expect(i.heredocs.map((h) => h.name)).toEqual(["one", "two"]);
  });
  it("does not look for heredocs in the exec form or other instructions", () => {
    const p = parse(`FROM x\nRUN ["sh", "-c", "cat <<EOF"]\nENV a=<<EOF\nLABEL x=y`);
    expect(p.instructions).toHaveLength(4);
    expect(p.instructions[1]!.heredocs).toEqual([]);
  });
  it("finds no heredoc on a line the lexer cannot split, as BuildKit", () => {
    expect(parse(`FROM x\nRUN echo "it's <<EOF\nRUN next`).instructions).toHaveLength(3);
  });
  it("does not treat quoted << or <<< as heredocs", () => {
    const p = parse(`FROM x\nRUN echo "<<EOF" && cat <<<word\nRUN next`);
    expect(p.instructions[1]!.heredocs).toEqual([]);
    expect(p.instructions).toHaveLength(3);
  });
});
