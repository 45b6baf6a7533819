import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { FileHashCache, cleanSource, defaultFileHashCachePath, hashCopySources, resolveCopySources } from "../../../src/build/context-hash.js";
import { parseChmod } from "../../../src/build/copy-flags.js";

let root: string;
let ctx: string;

async function put(rel: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(join(ctx, rel, ".."), { recursive: true });
  await writeFile(join(ctx, rel), content);
  await chmod(join(ctx, rel), mode);
}

async function hashOf(sources: string[], opts: Parameters<typeof resolveCopySources>[2] = {}, hashOpts: Parameters<typeof hashCopySources>[1] = {}) {
  return hashCopySources(await resolveCopySources(ctx, sources, opts), hashOpts);
}

function codeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  return fn().then(
    () => undefined,
    (error: unknown) => (hasErrorCode(error, "BERTH_BUILD_SOURCE_NOT_FOUND") ? "NOT_FOUND" : hasErrorCode(error, "BERTH_BUILD_SOURCE_OUTSIDE_CONTEXT") ? "OUTSIDE" : String(error)),
  );
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "berth-context-hash-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  ctx = await mkdtemp(join(root, "ctx-"));
  await put("a.txt", "A");
  await put("b.txt", "B");
  await put("c.md", "C");
  await put("dir/x.js", "X");
  await put("dir/sub/y.js", "Y", 0o755);
  await put("dir/README.md", "R");
  await put("other/z.txt", "Z");
  await symlink("x.js", join(ctx, "dir/link"));
  await symlink("dir", join(ctx, "dirlink"));
  await symlink("../../outside", join(ctx, "escape"));
});

describe("cleanSource", () => {
  it("makes sources context-relative and refuses climbing out", () => {
    expect(cleanSource("./a/../b/")).toBe("b");
    expect(cleanSource("/abs/x")).toBe("abs/x");
    expect(cleanSource(".")).toBe(".");
    expect(() => cleanSource("../x")).toThrow(/outside the build context/);
    expect(() => cleanSource("a/../../x")).toThrow(/outside the build context/);
  });
});

describe("resolveCopySources", () => {
  it("copies a file by its base name and a directory by its contents, sorted", async () => {
    const r = await resolveCopySources(ctx, ["a.txt", "dir"]);
    expect(r[0]).toMatchObject({ source: "a.txt", path: "a.txt", isDirectory: false });
    expect(r[0]!.entries.map((e) => e.path)).toEqual(["a.txt"]);
    expect(r[1]!.isDirectory).toBe(true);
    expect(r[1]!.entries.map((e) => e.path)).toEqual(["README.md", "link", "sub", "sub/y.js", "x.js"]);
    expect(r[1]!.entries.find((e) => e.path === "link")!.stats.isSymbolicLink()).toBe(true);
  });

  it("expands wildcards per path component, dotfiles included, sorted", async () => {
    await put(".hidden.txt", "H");
    const r = await resolveCopySources(ctx, ["*.txt", "dir/*/y.js", "[ab].txt"]);
    expect(r.map((s) => s.path)).toEqual([".hidden.txt", "a.txt", "b.txt", "dir/sub/y.js", "a.txt", "b.txt"]);
  });

  it("accepts a wildcard that matches nothing, as BuildKit does, unless told not to", async () => {
    expect(await resolveCopySources(ctx, ["*.none"])).toEqual([]);
    expect(await codeOf(() => resolveCopySources(ctx, ["*.none"], { allowEmptyWildcard: false }))).toBe("NOT_FOUND");
  });

  it("names a missing source and refuses one outside the context", async () => {
    const missing = await resolveCopySources(ctx, ["nope.txt"]).catch((e: Error) => e);
    expect(hasErrorCode(missing, "BERTH_BUILD_SOURCE_NOT_FOUND")).toBe(true);
    expect((missing as Error).message).toMatch(/nope\.txt/);
    expect(await codeOf(() => resolveCopySources(ctx, ["../x"]))).toBe("OUTSIDE");
  });

  it("follows a named symlink inside the context only", async () => {
    const r = await resolveCopySources(ctx, ["dirlink"]);
    expect(r[0]!.isDirectory).toBe(true);
    expect(r[0]!.entries.map((e) => e.path)).toContain("x.js");
    // `escape` points above the context: resolved inside it, where nothing exists.
    expect(await codeOf(() => resolveCopySources(ctx, ["escape"]))).toBe("NOT_FOUND");
    const noFollow = await resolveCopySources(ctx, ["dirlink"], { followSymlinks: false });
    expect(noFollow[0]!.entries[0]!.stats.isSymbolicLink()).toBe(true);
  });

  it("treats files the .dockerignore excludes as absent", async () => {
    expect(await codeOf(() => resolveCopySources(ctx, ["c.md"], { excludes: ["*.md"] }))).toBe("NOT_FOUND");
    const r = await resolveCopySources(ctx, ["dir"], { excludes: ["dir/sub", "**/*.md"] });
    expect(r[0]!.entries.map((e) => e.path)).toEqual(["link", "x.js"]);
    const w = await resolveCopySources(ctx, ["*"], { excludes: ["*.txt", "dir", "other", "dirlink", "escape"] });
    expect(w.map((s) => s.path)).toEqual(["c.md"]);
  });

  it("applies --exclude relative to each source", async () => {
    const r = await resolveCopySources(ctx, ["dir", "a.txt", "c.md"], { copyExcludes: ["*.md", "sub"] });
    expect(r.map((s) => s.path)).toEqual(["dir", "a.txt"]);
    expect(r[0]!.entries.map((e) => e.path)).toEqual(["link", "x.js"]);
  });

  it("keeps paths with --parents, relative to a /./ pivot when one is written", async () => {
    const r = await resolveCopySources(ctx, ["dir/sub/y.js", "./dir/./sub", "other"], { parents: true });
    expect(r.map((s) => s.entries.map((e) => e.path))).toEqual([["dir/sub/y.js"], ["sub", "sub/y.js"], ["other", "other/z.txt"]]);
  });

  it("copies the context itself for `.`", async () => {
    const r = await resolveCopySources(ctx, ["."], { excludes: ["dir", "other"] });
    expect(r[0]!.entries.map((e) => e.path)).toEqual(["a.txt", "b.txt", "c.md", "dirlink", "escape"]);
  });
});

describe("hashCopySources", () => {
  it("is stable and ignores mtime", async () => {
    const first = await hashOf(["dir", "a.txt"]);
    await utimes(join(ctx, "a.txt"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await hashOf(["dir", "a.txt"])).toBe(first);
    expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("changes with content, mode, names, link targets, chown and chmod", async () => {
    const base = await hashOf(["dir"]);
    const seen = new Set([base]);
    const expectNew = async (label: string, h: Promise<string>): Promise<void> => {
      const v = await h;
      expect(seen.has(v), label).toBe(false);
      seen.add(v);
    };
    await expectNew("chown", hashOf(["dir"], {}, { chown: "1000:1000" }));
    await expectNew("chmod", hashOf(["dir"], {}, { chmod: parseChmod("600") }));
    await writeFile(join(ctx, "dir/x.js"), "X2");
    await expectNew("content", hashOf(["dir"]));
    await chmod(join(ctx, "dir/x.js"), 0o600);
    await expectNew("mode", hashOf(["dir"]));
    await rm(join(ctx, "dir/link"));
    await symlink("sub/y.js", join(ctx, "dir/link"));
    await expectNew("link target", hashOf(["dir"]));
    await rm(join(ctx, "dir/README.md"));
    await put("dir/README2.md", "R");
    await expectNew("rename", hashOf(["dir"]));
  });

  it("does not depend on where the context is on disk", async () => {
    const a = await hashOf(["dir"]);
    const copy = await mkdtemp(join(root, "copy-"));
    const prev = ctx;
    ctx = copy;
    await put("dir/x.js", "X");
    await put("dir/sub/y.js", "Y", 0o755);
    await put("dir/README.md", "R");
    await symlink("x.js", join(ctx, "dir/link"));
    expect(await hashOf(["dir"])).toBe(a);
    ctx = prev;
  });

  it("distinguishes a file copied alone from the same file in a directory", async () => {
    await put("only/a.txt", "A");
    expect(await hashOf(["a.txt"])).not.toBe(await hashOf(["only"]));
  });

  it("uses and persists the file digest cache, keyed so that a rewrite is noticed", async () => {
    const file = join(root, "cache.json");
    const old = new Date(Date.now() - 60_000);
    for (const f of ["a.txt", "b.txt"]) await utimes(join(ctx, f), old, old);
    const cache = await new FileHashCache(file, 0).load();
    const first = await hashOf(["a.txt", "b.txt"], {}, { cache });
    await cache.save();
    expect(JSON.parse(await readFile(file, "utf8")).version).toBe(1);
    const again = await new FileHashCache(file, 0).load();
    expect(await hashOf(["a.txt", "b.txt"], {}, { cache: again })).toBe(first);
    expect(again.size).toBe(2);
    await writeFile(join(ctx, "a.txt"), "changed");
    const third = await new FileHashCache(file, 0).load();
    expect(await hashOf(["a.txt", "b.txt"], {}, { cache: third })).not.toBe(first);
  });

  it("keeps the persistent cache under the state root", () => {
    expect(defaultFileHashCachePath({ BERTH_ROOT: "/tmp/r" })).toBe("/tmp/r/build/file-hashes.json");
  });

  it("does not store digests of files modified within the racy window", async () => {
    const cache = new FileHashCache(undefined, 60_000);
    await hashOf(["a.txt"], {}, { cache });
    expect(cache.size).toBe(0);
  });
});
