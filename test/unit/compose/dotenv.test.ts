import { describe, expect, it } from "vitest";
import { parseEnvFile } from "../../../src/compose/dotenv.js";

describe("parseEnvFile (.env as Compose reads it)", () => {
  it("reads KEY=VALUE lines, comments, export, quotes and inline comments", () => {
    const text = [
      "# a comment",
      "",
      "A=1",
      "export B=two",
      "C = spaced  ",
      "D='single $A quoted'",
      'E="double ${A}\\nline"',
      "F=value # inline comment",
      "G=value#not-a-comment",
      "H=",
      'I="multi',
      'line"',
      "J=${A}-${UNSET:-dflt}",
      "K=a=b=c",
    ].join("\n");
    expect(parseEnvFile(text, ".env")).toEqual({
      A: "1",
      B: "two",
      C: "spaced",
      D: "single $A quoted",
      E: "double 1\nline",
      F: "value",
      G: "value#not-a-comment",
      H: "",
      I: "multi\nline",
      J: "1-dflt",
      K: "a=b=c",
    });
  });

  it("a bare KEY takes the value from the lookup, or is left out", () => {
    expect(parseEnvFile("HOME_DIR\nMISSING\n", ".env", (k) => (k === "HOME_DIR" ? "/root" : undefined))).toEqual({ HOME_DIR: "/root" });
  });

  it("CRLF line endings are read like LF", () => {
    expect(parseEnvFile("A=1\r\nB=2\r\n", ".env")).toEqual({ A: "1", B: "2" });
  });

  it("an unterminated quote names the file and line", () => {
    expect(() => parseEnvFile('A=1\nB="open\n', "/p/.env")).toThrow(/\/p\/\.env:\d+: unterminated quoted value for B/);
  });

  it("a bad variable name names the line", () => {
    expect(() => parseEnvFile("A B=1", "x.env")).toThrow(/x\.env:1: unexpected character/);
  });
});

describe("dollars in env files", () => {
  it("a $ that starts no variable stays, as Compose keeps it in passwords", () => {
    expect(parseEnvFile("PW=pa$$w0rd$\nQ=cost: $5\nR='lit $HOME'\n", ".env", () => "x")).toEqual({ PW: "pa$$w0rd$", Q: "cost: $5", R: "lit $HOME" });
  });

  it("\\$ is a literal dollar and ${VAR:-d} defaults work", () => {
    expect(parseEnvFile('A=\\$HOME\nB="${U:-d}/\\$x"\nC=${U-}\n', ".env", () => undefined)).toEqual({ A: "$HOME", B: "d/$x", C: "" });
  });
});
