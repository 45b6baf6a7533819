import { lstatSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join, posix } from "node:path";
import { BerthError } from "../common/index.js";

/**
 * `.dockerignore` with Docker's rules (moby's ignorefile reader and patternmatcher,
 * reimplemented): comments, `!` exceptions, leading `/` and `./` stripped, paths cleaned;
 * `*`, `?`, `[...]`, `**`; a pattern that matches a directory excludes everything below it;
 * the last matching pattern wins; exceptions re-include below an excluded directory.
 */

type MatchType = "exact" | "prefix" | "suffix" | "regexp";

/** One compiled pattern. */
export interface IgnorePattern {
  /** The pattern as cleaned (without `!`). */
  pattern: string;
  /** Whether it was an exception (`!pattern`). */
  exclusion: boolean;
  /** Path components of the pattern, used to decide whether a directory can be skipped. */
  dirs: string[];
  readonly matchType: MatchType;
  readonly regexp: RegExp | undefined;
}

/** Cleans a path as Go's `path.Clean` does (`a//b/./c/..` → `a/b`, `` → `.`). */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const normalized = posix.normalize(p);
  return normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized;
}

/** Reads `.dockerignore` text into patterns, as Docker's ignorefile reader does. */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const line of lines) {
    // Only a `#` in the first column starts a comment; the reader checks before trimming.
    if (line.startsWith("#")) continue;
    let pattern = line.trim();
    if (pattern === "") continue;
    const invert = pattern.startsWith("!");
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

const regexpSpecials = new Set([".", "+", "(", ")", "|", "{", "}", "$", "^"]);

/** Compiles one pattern (`!` allowed). Throws `BERTH_INVALID_ARGUMENT` for an invalid one. */
export function compilePattern(raw: string): IgnorePattern {
  let pattern = raw.trim();
  const exclusion = pattern.startsWith("!");
  if (exclusion) {
    pattern = pattern.slice(1);
    if (pattern.length === 0) throw new BerthError("BERTH_INVALID_ARGUMENT", `illegal exclusion pattern: "!"`, { field: raw });
  }
  pattern = cleanPath(pattern);
  let re = "^";
  let type: MatchType = "exact";
  const chars = [...pattern];
  let inClass = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (inClass) {
      // Inside `[...]` the characters are the class's own (`^` negates, `-` ranges).
      if (ch === "]") inClass = false;
      if (ch === "\\" && i + 1 < chars.length) re += `\\${chars[++i]}`;
      else re += ch === "/" ? "\\/" : ch;
      continue;
    }
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        i++;
        if (chars[i + 1] === "/") i++;
        if (i + 1 >= chars.length) {
          // A trailing `**` matches everything below, as .gitignore does.
          if (type === "exact") type = "prefix";
          else {
            re += "[\\s\\S]*";
            type = "regexp";
          }
        } else {
          re += "(?:[\\s\\S]*/)?";
          type = "regexp";
        }
        // A leading `**` is matched as a suffix, as moby's matcher does.
        if (i <= 2 && chars[0] === "*" && chars[1] === "*") type = "suffix";
      } else {
        re += "[^/]*";
        type = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      type = "regexp";
    } else if (regexpSpecials.has(ch)) {
      re += `\\${ch}`;
    } else if (ch === "\\") {
      if (i + 1 < chars.length) {
        re += `\\${chars[++i]}`;
        type = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" || ch === "]") {
      if (ch === "[") inClass = true;
      re += ch;
      type = "regexp";
    } else re += ch;
  }
  let regexp: RegExp | undefined;
  if (type === "regexp") {
    try {
      regexp = new RegExp(`${re}$`, "u");
    } catch (cause) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid .dockerignore pattern: ${JSON.stringify(raw)}`, { field: raw, cause });
    }
  }
  return { pattern, exclusion, dirs: pattern.split("/"), matchType: type, regexp };
}

function matchOne(p: IgnorePattern, path: string): boolean {
  switch (p.matchType) {
    case "exact":
      return path === p.pattern;
    case "prefix":
      return path.startsWith(p.pattern.slice(0, -2));
    case "suffix": {
      const suffix = p.pattern.slice(2);
      if (path.endsWith(suffix)) return true;
      // `**/foo` also matches `foo` at the top.
      return suffix.startsWith("/") && path === suffix.slice(1);
    }
    case "regexp":
      return p.regexp!.test(path);
  }
}

const componentCache = new WeakMap<IgnorePattern, IgnorePattern[]>();

/** Each path component of a pattern compiled on its own, once. */
function componentMatchers(p: IgnorePattern): IgnorePattern[] {
  let compiled = componentCache.get(p);
  if (!compiled) {
    compiled = p.dirs.map((d) => compilePattern(d));
    componentCache.set(p, compiled);
  }
  return compiled;
}

/** A compiled list of `.dockerignore` patterns. */
export class PatternMatcher {
  readonly patterns: IgnorePattern[];
  /** Whether any pattern is an exception (`!`); without one, an excluded directory is skipped whole. */
  readonly hasExclusions: boolean;

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.filter((p) => p.trim() !== "").map(compilePattern);
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  /**
   * Whether `path` (relative, `/`-separated) is excluded: the last pattern matching the path or
   * one of its parent directories wins.
   */
  matches(path: string): boolean {
    const file = cleanPath(path);
    const parents = file.split("/").slice(0, -1);
    let matched = false;
    for (const p of this.patterns) {
      // An include cannot change an already-excluded path, nor an exception a kept one.
      if (p.exclusion !== matched) continue;
      let m = matchOne(p, file);
      for (let i = 0; !m && i < parents.length; i++) m = matchOne(p, parents.slice(0, i + 1).join("/"));
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Whether an excluded directory must still be walked because an exception could re-include
   * something below it.
   */
  mayIncludeBelow(dir: string): boolean {
    if (!this.hasExclusions) return false;
    const parts = cleanPath(dir).split("/");
    for (const p of this.patterns) {
      if (!p.exclusion) continue;
      if (p.matchType === "suffix" || p.pattern.includes("**")) return true;
      if (p.dirs.length <= parts.length) continue;
      let possible = true;
      const components = componentMatchers(p);
      for (let i = 0; i < parts.length; i++) {
        if (!matchOne(components[i]!, parts[i]!)) {
          possible = false;
          break;
        }
      }
      if (possible) return true;
    }
    return false;
  }
}

/** Options of {@link readDockerignore}. */
export interface ReadDockerignoreOptions {
  /**
   * The Dockerfile's path relative to the context; its `<Dockerfile>.dockerignore` wins over the
   * context's `.dockerignore` when present.
   * @default "Dockerfile"
   */
  dockerfile?: string;
}

/** Reads the ignore patterns for a build: `<Dockerfile>.dockerignore` if present, else `.dockerignore`, else none. */
export async function readDockerignore(contextDir: string, options: ReadDockerignoreOptions = {}): Promise<string[]> {
  const dockerfile = options.dockerfile ?? "Dockerfile";
  const candidates = [`${dockerfile}.dockerignore`, ".dockerignore"];
  for (const candidate of candidates) {
    const full = candidate.startsWith("/") ? candidate : join(contextDir, candidate);
    let text: string;
    try {
      text = await readFile(full, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") continue;
      throw new BerthError("BERTH_IO", `cannot read ${full}`, { path: full, cause: error });
    }
    return parseDockerignore(text);
  }
  return [];
}

/** One entry of the build context. */
export interface ContextEntry {
  /** Path relative to the context, `/`-separated, no leading `./`. */
  path: string;
  /** `lstat` of the entry: symlinks are never followed. */
  stats: Stats;
}

/** Options of {@link walkContext}. */
export interface WalkContextOptions {
  /**
   * Paths relative to the context always included whatever the patterns say: Docker always
   * sends the Dockerfile and `.dockerignore`.
   * @default ["Dockerfile", ".dockerignore"]
   */
  alwaysInclude?: readonly string[];
  /**
   * Whether to list directories too (each before its contents).
   * @default true
   */
  includeDirectories?: boolean;
  /**
   * Walk only below this directory (relative to the context); patterns still apply to
   * context-relative paths. The directory itself is not listed.
   * @default "" (the whole context)
   */
  under?: string;
}

/**
 * Lists the context's included entries, sorted by path, without following symlinks. An
 * excluded directory is not read at all unless an exception could re-include something in it.
 * A directory that only holds re-included entries is listed too, as its parent must exist.
 */
export async function walkContext(dir: string, patterns: readonly string[], options: WalkContextOptions = {}): Promise<ContextEntry[]> {
  const always = options.alwaysInclude ?? ["Dockerfile", ".dockerignore"];
  const matcher = new PatternMatcher([...patterns, ...always.map((p) => `!${cleanPath(p.replace(/^\/+/, ""))}`)]);
  const withDirs = options.includeDirectories ?? true;

  // Returns the included entries below `rel` (an excluded directory with any is still listed).
  // Synchronous on purpose: 10 000 lstat calls through the thread pool cost several times
  // more than the calls themselves (measured in bench/context-hash.bench.ts).
  const visit = (abs: string, rel: string): ContextEntry[] => {
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot read directory ${abs}`, { path: abs, cause: error });
    }
    names.sort();
    const result: ContextEntry[] = [];
    for (const name of names) {
      const p = join(abs, name);
      let st: Stats;
      try {
        st = lstatSync(p);
      } catch (error) {
        // Removed while we walked: treat as absent.
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw new BerthError("BERTH_IO", `cannot stat ${p}`, { path: p, cause: error });
      }
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const excluded = matcher.patterns.length > 0 && matcher.matches(childRel);
      if (st.isDirectory()) {
        if (excluded && !matcher.mayIncludeBelow(childRel)) continue;
        const below = visit(p, childRel);
        if ((!excluded || below.length > 0) && withDirs) result.push({ path: childRel, stats: st });
        for (const e of below) result.push(e);
      } else if (!excluded) {
        result.push({ path: childRel, stats: st });
      }
    }
    return result;
  };

  const under = options.under ? cleanPath(options.under) : "";
  const start = under === "" || under === "." ? "" : under;
  return visit(start === "" ? dir : join(dir, start), start);
}
