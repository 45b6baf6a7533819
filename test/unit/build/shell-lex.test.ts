import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { ShellLex, expandingInstructions } from "../../../src/build/shell-lex.js";

const env = {
  PWD: "/home",
  SHELL: "bash",
  KOREAN: "한국어",
  EMPTY: "",
  SPACED: "a b  c",
  FILE: "archive.tar.gz",
  PATHV: "/usr/local/bin/app",
};

const lex = new ShellLex();
const word = (text: string, e: Record<string, string> = env): string => lex.processWord(text, e);
const words = (text: string, e: Record<string, string> = env): string[] => lex.processWords(text, e);

describe("ShellLex.processWord", () => {
  // Cases in the spirit of BuildKit's envVarTest table, written anew.
  const cases: [string, string][] = [
    ["hello", "hello"],
    ["he'll'o", "hello"],
    ["he'llo", "ERROR"],
    ["he\\'llo", "he'llo"],
    ['he\\\\"ll"o', 'he\\llo'],
    ["abc\\\\def", "abc\\def"],
    ['"abc\\\\def"', "abc\\def"],
    ['"abc\\"def"', 'abc"def'],
    ["'abc\\\\def'", "abc\\\\def"],
    ['"a\\b"', "a\\b"],
    ["$PWD", "/home"],
    ["${PWD}", "/home"],
    ["\\$PWD", "$PWD"],
    ["'$PWD'", "$PWD"],
    ['"$PWD"', "/home"],
    ['"\\$PWD"', "$PWD"],
    ["$PWD/x", "/home/x"],
    ["${PWD}x", "/homex"],
    ["$PWDx", ""],
    ["$NOPE", ""],
    ["${NOPE}", ""],
    ["$", "$"],
    ["a$", "a$"],
    ["$ x", "$ x"],
    ["$.", "$."],
    ["${KOREAN}", "한국어"],
    ["${PWD:-def}", "/home"],
    ["${NOPE:-def}", "def"],
    ["${EMPTY:-def}", "def"],
    ["${EMPTY-def}", ""],
    ["${NOPE-def}", "def"],
    ["${PWD:+set}", "set"],
    ["${EMPTY:+set}", ""],
    ["${EMPTY+set}", "set"],
    ["${NOPE+set}", ""],
    ["${NOPE:-$PWD}", "/home"],
    ["${NOPE:-${SHELL:-x}}", "bash"],
    ["${NOPE:-'quoted $x'}", "quoted $x"],
    ['${NOPE:-"a b"}', "a b"],
    ["${PWD:?must}", "/home"],
    ["${FILE#*.}", "tar.gz"],
    ["${FILE##*.}", "gz"],
    ["${FILE%.*}", "archive.tar"],
    ["${FILE%%.*}", "archive"],
    ["${PATHV##*/}", "app"],
    ["${PATHV%/*}", "/usr/local/bin"],
    ["${FILE/a/A}", "Archive.tar.gz"],
    ["${FILE//a/A}", "Archive.tAr.gz"],
    ["${FILE/.tar/}", "archive.gz"],
    ["${NOPE#x}", ""],
    ["${FILE#a?c}", "hive.tar.gz"],
    ["${FILE#[a]}", "archive.tar.gz"],
    ["${PATHV#/usr/local}", "/bin/app"],
    ["${FILE%.t*}", "archive"],
    ["${FILE%\\*}", "archive.tar.gz"],
    ["${FILE//[a]/x}", "archive.tar.gz"],
    ["${FILE/r*/}", "a"],
    ["$1", ""],
    ["${1}", ""],
    ["$@", ""],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => {
      if (expected === "ERROR") {
        expect(() => word(input)).toThrow();
        return;
      }
      expect(word(input)).toBe(expected);
    });
  }

  it("errors for ${v:?msg} when unset or empty, with the message", () => {
    expect(() => word("${NOPE:?is required}")).toThrow(/NOPE: is required/);
    expect(() => word("${EMPTY:?}")).toThrow(/EMPTY: is not allowed to be empty/);
    expect(word("${EMPTY?x}")).toBe("");
    expect(() => word("${NOPE?}")).toThrow(/NOPE: is not allowed to be unset/);
    try {
      word("${NOPE:?x}");
    } catch (error) {
      expect(hasErrorCode(error, "BERTH_BUILD_VARIABLE")).toBe(true);
    }
  });

  it("refuses bad substitutions", () => {
    for (const bad of ["${}", "${PWD", "${PWD:=x}", "${PWD!}", "${:-x}", '"unterminated', "${PWD/x}", "${PWD:#x}", "${PWD#\\x}"]) {
      expect(() => word(bad), bad).toThrow();
    }
  });

  it("uses the backtick as escape character when told to", () => {
    const tick = new ShellLex({ escapeToken: "`" });
    expect(tick.processWord("`$PWD", env)).toBe("$PWD");
    expect(tick.processWord("c:\\dir\\$SHELL", env)).toBe("c:\\dir\\bash");
  });

  it("reports the variables it used, set and unset", () => {
    const r = lex.process("$PWD ${NOPE:-x} ${SHELL}", env);
    expect([...r.matched].sort()).toEqual(["PWD", "SHELL"]);
    expect([...r.unmatched]).toEqual(["NOPE"]);
  });

  it("keeps unset references as written with skipUnsetEnv", () => {
    const keep = new ShellLex({ skipUnsetEnv: true });
    expect(keep.processWord("$NOPE-${NOPE}-$PWD", env)).toBe("$NOPE-${NOPE}-/home");
  });

  it("keeps quotes and escapes when raw", () => {
    const raw = new ShellLex({ rawQuotes: true, rawEscapes: true });
    expect(raw.processWord(`"a b" 'c' \\d`, env)).toBe(`"a b" 'c' \\d`);
  });

  it("accepts a function or a Map as the variable source", () => {
    expect(lex.processWord("$A-$B", new Map([["A", "1"]]))).toBe("1-");
    expect(lex.processWord("$A", (n) => (n === "A" ? "fn" : undefined))).toBe("fn");
  });
});

describe("ShellLex.processWords", () => {
  it("splits on unquoted blanks and keeps quoted ones", () => {
    expect(words(`a "b c" 'd e' f\\ g`)).toEqual(["a", "b c", "d e", "f g"]);
  });
  it("splits the value of an unquoted variable but not of a quoted one", () => {
    expect(words("$SPACED")).toEqual(["a", "b", "c"]);
    expect(words('"$SPACED"')).toEqual(["a b  c"]);
    expect(words("x${SPACED}y")).toEqual(["xa", "b", "cy"]);
  });
  it("drops an unset unquoted variable but keeps an empty quoted string", () => {
    expect(words("$NOPE a")).toEqual(["a"]);
    expect(words('"" a')).toEqual(["", "a"]);
  });
  it("expands ports for EXPOSE", () => {
    expect(words("${P:-80} 443/udp", { P: "8080 8081" })).toEqual(["8080", "8081", "443/udp"]);
  });
});

describe("expandingInstructions", () => {
  it("lists the instructions the reference says the builder expands, and not RUN/CMD/ENTRYPOINT", () => {
    for (const k of ["ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "ARG"]) {
      expect(expandingInstructions.has(k), k).toBe(true);
    }
    for (const k of ["RUN", "CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK"]) expect(expandingInstructions.has(k), k).toBe(false);
  });
});
