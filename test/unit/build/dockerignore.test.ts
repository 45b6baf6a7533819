import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PatternMatcher, compilePattern, parseDockerignore, readDockerignore, walkContext } from "../../../src/build/dockerignore.js";

describe("parseDockerignore", () => {
  it("drops comments and blank lines, trims, cleans, and strips leading / and ./", () => {
    const text = "# comment\n\n  node_modules  \n/abs/path\n./rel//a/../b/\n!  keep.md\n!/root-keep\n \t\n#!not-an-exception\nx # not a comment\n";
    expect(parseDockerignore(text)).toEqual(["node_modules", "abs/path", "rel/b", "!keep.md", "!root-keep", "x # not a comment"]);
  });
  it("keeps a # that is not in the first column as part of the pattern", () => {
    expect(parseDockerignore("  # spaced")).toEqual(["# spaced"]);
  });
  it("handles CRLF and a byte-order mark", () => {
    expect(parseDockerignore("\uFEFFa\r\nb\r\n")).toEqual(["a", "b"]);
  });
});

// Cases in the spirit of moby/patternmatcher's tests, written anew.
const matchCases: [string, string, boolean][] = [
  ["fileutils", "fileutils", true],
  ["fileutils", "fileutils/x", true],
  ["*.go", "main.go", true],
  ["*.go", "pkg/main.go", false],
  ["*/*.go", "pkg/main.go", true],
  ["**/*.go", "main.go", true],
  ["**/*.go", "a/b/c/main.go", true],
  ["**", "anything/at/all", true],
  ["a/**", "a/b/c", true],
  ["a/**", "a", false],
  ["a/**/c", "a/c", true],
  ["a/**/c", "a/b/x/c", true],
  ["a/**/c", "a/b/x/cd", false],
  ["**/node_modules", "node_modules", true],
  ["**/node_modules", "x/y/node_modules/z", true],
  ["**foo", "barfoo", true],
  ["dir/", "dir/file", true],
  ["?.txt", "a.txt", true],
  ["?.txt", "ab.txt", false],
  ["?", "/", false],
  ["[abc].md", "b.md", true],
  ["[abc].md", "d.md", false],
  ["[a-c].md", "c.md", true],
  ["[^a].md", "b.md", true],
  ["[^a].md", "a.md", false],
  ["*.md", "docs/a.md", false],
  ["[a-]x", "-x", true],
  ["a\\*b", "a*b", true],
  ["a\\*b", "axb", false],
  ["file.(x)", "file.(x)", true],
  ["a+b", "a+b", true],
  ["a+b", "aab", false],
  ["*", "dir/file", true],
  [".*", ".git", true],
  [".git", ".gitignore", false],
  ["docs", "docsx", false],
];

describe("PatternMatcher", () => {
  for (const [pattern, path, expected] of matchCases) {
    it(`${pattern} ${expected ? "matches" : "does not match"} ${path}`, () => {
      expect(new PatternMatcher([pattern]).matches(path)).toBe(expected);
    });
  }

  it("lets the last matching pattern win", () => {
    const m = new PatternMatcher(["*.md", "!README.md", "README*.md"]);
    expect(m.matches("README.md")).toBe(true);
    expect(m.matches("CHANGES.md")).toBe(true);
    const n = new PatternMatcher(["*.md", "!README.md"]);
    expect(n.matches("README.md")).toBe(false);
  });

  it("re-includes a file below an excluded directory with an exception", () => {
    const m = new PatternMatcher(["docs", "!docs/keep.md"]);
    expect(m.matches("docs/other.md")).toBe(true);
    expect(m.matches("docs/keep.md")).toBe(false);
  });

  it("knows when an excluded directory can be skipped whole", () => {
    expect(new PatternMatcher(["node_modules"]).mayIncludeBelow("node_modules")).toBe(false);
    const m = new PatternMatcher(["docs", "!docs/api/keep.md", "build"]);
    expect(m.mayIncludeBelow("docs")).toBe(true);
    expect(m.mayIncludeBelow("docs/api")).toBe(true);
    expect(m.mayIncludeBelow("docs/guides")).toBe(false);
    expect(m.mayIncludeBelow("build")).toBe(false);
    expect(new PatternMatcher(["*", "!**/keep"]).mayIncludeBelow("any/dir")).toBe(true);
  });

  it("refuses an exception with nothing after the !", () => {
    expect(() => compilePattern("!")).toThrow(/illegal exclusion pattern/);
  });
});

describe("walkContext and readDockerignore", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-dockerignore-"));
    const files = [
      "Dockerfile",
      ".dockerignore",
      "app.js",
      "README.md",
      "docs/a.md",
      "docs/keep.md",
      "node_modules/x/index.js",
      "src/main.go",
      "src/util/helper.go",
      "src/util/helper_test.go",
      "build/out.bin",
      "sub/sub.Dockerfile",
      "sub/sub.Dockerfile.dockerignore",
    ];
    for (const f of files) {
      await mkdir(join(dir, f, ".."), { recursive: true });
      await writeFile(join(dir, f), f);
    }
    await symlink("/etc/passwd", join(dir, "link-out"));
    await writeFile(join(dir, ".dockerignore"), "node_modules\n*.md\ndocs\n!docs/keep.md\nbuild\n**/*_test.go\nDockerfile\n.dockerignore\n");
    await writeFile(join(dir, "sub/sub.Dockerfile.dockerignore"), "src\n");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prefers <Dockerfile>.dockerignore and falls back to .dockerignore", async () => {
    expect(await readDockerignore(dir, { dockerfile: "sub/sub.Dockerfile" })).toEqual(["src"]);
    expect(await readDockerignore(dir)).toContain("node_modules");
    expect(await readDockerignore(join(dir, "docs"))).toEqual([]);
  });

  it("lists included entries sorted, re-included files with their directory, and never follows symlinks", async () => {
    const patterns = await readDockerignore(dir);
    const entries = await walkContext(dir, patterns);
    expect(entries.map((e) => e.path)).toEqual([
      ".dockerignore",
      "Dockerfile",
      "app.js",
      "docs",
      "docs/keep.md",
      "link-out",
      "src",
      "src/main.go",
      "src/util",
      "src/util/helper.go",
      "sub",
      "sub/sub.Dockerfile",
      "sub/sub.Dockerfile.dockerignore",
    ]);
    expect(entries.find((e) => e.path === "link-out")!.stats.isSymbolicLink()).toBe(true);
  });

  it("always sends the Dockerfile and .dockerignore, unless told otherwise", async () => {
    const entries = await walkContext(dir, ["*"], { includeDirectories: false });
    expect(entries.map((e) => e.path)).toEqual([".dockerignore", "Dockerfile"]);
    const none = await walkContext(dir, ["*"], { alwaysInclude: [] });
    expect(none).toEqual([]);
  });

  it("walks below a directory only, with context-relative paths", async () => {
    const entries = await walkContext(dir, ["**/*_test.go"], { under: "src", alwaysInclude: [] });
    expect(entries.map((e) => e.path)).toEqual(["src/main.go", "src/util", "src/util/helper.go"]);
  });
});
