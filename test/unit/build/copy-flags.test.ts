import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { applyChmod, isGitSource, isRemoteSource, parseChmod, parseChown, parseCopyFlags } from "../../../src/build/copy-flags.js";
import { parseDockerfile } from "../../../src/build/dockerfile-parser.js";

function flagsOf(line: string, expand?: (v: string) => string) {
  return parseCopyFlags(parseDockerfile(`FROM x\n${line}`).instructions[1]!, expand);
}

describe("parseCopyFlags", () => {
  it("reads every COPY flag", () => {
    expect(flagsOf("COPY --from=build --chown=app:staff --chmod=0640 --link --exclude=*.md --exclude=tmp --parents a b /dst/")).toEqual({
      from: "build",
      chown: { user: "app", group: "staff" },
      chmod: { kind: "octal", mode: 0o640, text: "0640" },
      link: true,
      exclude: ["*.md", "tmp"],
      parents: true,
      checksum: undefined,
      keepGitDir: false,
      unpack: undefined,
    });
  });

  it("uses Docker's defaults when flags are absent, and --link=false", () => {
    expect(flagsOf("COPY --link=false a b")).toMatchObject({ from: undefined, chown: undefined, chmod: undefined, link: false, exclude: [], parents: false });
  });

  it("reads ADD's own flags", () => {
    expect(flagsOf(`ADD --checksum=sha256:${"a".repeat(64)} https://example.invalid/x.tgz /x`).checksum).toBe(`sha256:${"a".repeat(64)}`);
    expect(flagsOf("ADD --keep-git-dir https://example.invalid/r.git#main /src").keepGitDir).toBe(true);
    expect(flagsOf("ADD --unpack=false a.tar /x").unpack).toBe(false);
  });

  it("expands flag values with the given expander", () => {
    const env: Record<string, string> = { U: "1000", M: "755" };
    const f = flagsOf("COPY --chown=$U --chmod=$M a b", (v) => v.replace(/\$(\w+)/g, (_, n: string) => env[n] ?? ""));
    expect(f.chown).toEqual({ user: "1000", group: undefined });
    expect(f.chmod).toMatchObject({ kind: "octal", mode: 0o755 });
  });

  it("refuses ADD-only flags on COPY and COPY-only flags on ADD", () => {
    expect(() => flagsOf("COPY --checksum=sha256:aa a b")).toThrow(/unknown flag: --checksum/);
    expect(() => flagsOf("ADD --from=x a b")).toThrow(/unknown flag: --from/);
  });

  it("refuses invalid values with the line", () => {
    const bad: [string, RegExp][] = [
      ["COPY --chmod=999 a b", /invalid chmod parameter/],
      ["COPY --chmod=17777 a b", /between 0 and 07777/],
      ["COPY --chmod=u+q a b", /invalid chmod parameter/],
      ["COPY --chown=:grp a b", /expected user\[:group\]/],
      ["COPY --from= a b", /--from requires a value/],
      ["COPY --exclude= a b", /non-empty pattern/],
      ["ADD --checksum=md5:abc https://x.invalid/a /a", /invalid checksum digest format/],
      [`ADD --checksum=sha256:${"b".repeat(64)} local.tar /a`, /non-HTTP\(S\) sources/],
      ["ADD --keep-git-dir local /a", /only valid for git sources/],
    ];
    for (const [line, re] of bad) {
      let caught: unknown;
      try {
        flagsOf(line);
      } catch (error) {
        caught = error;
      }
      expect(hasErrorCode(caught, "BERTH_BUILD_INVALID_FLAG"), line).toBe(true);
      expect((caught as Error).message, line).toMatch(re);
      expect((caught as Error).message, line).toMatch(/line 2/);
    }
  });
});

describe("chmod", () => {
  it("accepts octal and symbolic modes", () => {
    expect(parseChmod("755")).toEqual({ kind: "octal", mode: 0o755, text: "755" });
    expect(parseChmod("u=rwx,go=rx")).toEqual({ kind: "symbolic", text: "u=rwx,go=rx" });
    expect(parseChmod("+x").kind).toBe("symbolic");
  });
  it("applies symbolic modes as chmod(1) does, X for directories and executables only", () => {
    const s = (t: string): ReturnType<typeof parseChmod> => parseChmod(t);
    expect(applyChmod(s("u=rwx,go=rx"), 0o600, false)).toBe(0o755);
    expect(applyChmod(s("+x"), 0o644, false)).toBe(0o755);
    expect(applyChmod(s("go-w"), 0o777, false)).toBe(0o755);
    expect(applyChmod(s("a=rX"), 0o600, false)).toBe(0o444);
    expect(applyChmod(s("a=rX"), 0o700, false)).toBe(0o555);
    expect(applyChmod(s("a=rX"), 0o600, true)).toBe(0o555);
    expect(applyChmod(s("u+s,o+t"), 0o755, false)).toBe(0o5755);
    expect(applyChmod(s("g=u"), 0o740, false)).toBe(0o770);
    expect(applyChmod(s("0644"), 0o777, true)).toBe(0o644);
  });
});

describe("helpers", () => {
  it("parses --chown", () => {
    expect(parseChown("1000")).toEqual({ user: "1000", group: undefined });
    expect(parseChown("app:0")).toEqual({ user: "app", group: "0" });
  });
  it("tells remote and git sources", () => {
    expect(isRemoteSource("https://example.invalid/a.tgz")).toBe(true);
    expect(isRemoteSource("./a.tgz")).toBe(false);
    expect(isGitSource("git@github.com:moby/buildkit.git")).toBe(true);
    expect(isGitSource("https://example.invalid/r.git#v1")).toBe(true);
    expect(isGitSource("https://example.invalid/r.tar.gz")).toBe(false);
  });
});
