import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { closeSync, openSync, readlinkSync, readSync } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { BerthError, resolveInRoot, stateRoot, writeFileAtomic } from "../common/index.js";
import { applyChmod, type ChmodSpec } from "./copy-flags.js";
import { PatternMatcher, walkContext } from "./dockerignore.js";

/**
 * COPY/ADD source resolution and the content hash of a selection, for the build cache. The
 * hash covers each selected file's path relative to its source root, type, mode (after
 * `--chmod`), owner (after `--chown`), symlink target and content; never mtime, so a touched
 * but unchanged file still hits the cache.
 */

/** Options of {@link resolveCopySources}. */
export interface ResolveCopySourcesOptions {
  /**
   * The context's `.dockerignore` patterns: excluded files are not in the context at all.
   * @default []
   */
  excludes?: readonly string[];
  /**
   * `--exclude` patterns of the instruction, matched against paths relative to each source.
   * @default []
   */
  copyExcludes?: readonly string[];
  /**
   * Whether a source that is itself a symlink is followed (inside the context), as BuildKit
   * does for the named sources. Symlinks inside a copied directory are always copied as links.
   * @default true
   */
  followSymlinks?: boolean;
  /**
   * Whether `*`, `?` and `[...]` in a source are wildcards.
   * @default true
   */
  allowWildcards?: boolean;
  /**
   * Whether a wildcard source matching nothing is accepted (it then copies nothing), as
   * BuildKit accepts it; the classic builder refused it ("no source files were specified").
   * A source without wildcards must always exist.
   * @default true
   */
  allowEmptyWildcard?: boolean;
  /**
   * `COPY --parents`: keep each source's path relative to the context, or to the pivot written
   * as `/./` in the source (`./src/./pkg/a.go` copies as `pkg/a.go`), instead of its base name.
   * @default false
   */
  parents?: boolean;
}

/** One file, directory or link that a COPY would write. */
export interface CopyEntry {
  /** Path relative to the destination: a file source's base name, or a path inside a directory source. */
  path: string;
  /** Absolute path on disk. */
  absolutePath: string;
  /** `lstat` of the entry (for a followed source symlink, of its target). */
  stats: Stats;
}

/** One source of a COPY after wildcard expansion. */
export interface ResolvedSource {
  /** The source as written in the Dockerfile. */
  source: string;
  /** The matched path relative to the context (`.` for the context itself). */
  path: string;
  /** Whether it is a directory, whose contents (not itself) are copied. */
  isDirectory: boolean;
  /** What it copies, sorted by path. */
  entries: CopyEntry[];
}

const globMeta = /[*?[\\]/;

/** Whether a COPY source contains wildcard characters. */
export function hasWildcards(source: string): boolean {
  return globMeta.test(source);
}

/** Go's `path.Match` for one path component, as a RegExp. */
function componentMatcher(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) throw new BerthError("BERTH_INVALID_ARGUMENT", `syntax error in pattern: ${pattern}`, { field: pattern });
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("^")) body = `^${body.slice(1).replace(/\\/g, "\\\\")}`;
      else body = body.replace(/\\/g, "\\\\");
      re += `[${body}]`;
      i = end;
    } else re += ch.replace(/[.+(){}|$^]/g, "\\$&");
  }
  return new RegExp(`${re}$`, "su");
}

function outside(source: string): BerthError {
  return new BerthError("BERTH_BUILD_SOURCE_OUTSIDE_CONTEXT", `forbidden path outside the build context: ${source}`, {
    path: source,
  });
}

function notFound(source: string, detail?: string): BerthError {
  return new BerthError("BERTH_BUILD_SOURCE_NOT_FOUND", `COPY source not found in the build context: ${source}${detail ? ` (${detail})` : ""}`, {
    path: source,
  });
}

/** The context-relative, cleaned form of a source; refuses `..` that climbs out. */
export function cleanSource(source: string): string {
  // Normalising from the root would hide a climb (`/../x` is `/x`): check the parts as written.
  const parts: string[] = [];
  for (const part of source.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) throw outside(source);
      parts.pop();
    } else parts.push(part);
  }
  return parts.length === 0 ? "." : parts.join("/");
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new BerthError("BERTH_IO", `cannot stat ${path}`, { path, cause: error });
  }
}

/** Expands one wildcard source into the context-relative paths it matches (sorted). */
async function expandWildcard(contextDir: string, pattern: string, ignore: PatternMatcher): Promise<string[]> {
  const parts = pattern === "." ? [] : pattern.split("/");
  let current: string[] = [""];
  for (const part of parts) {
    const next: string[] = [];
    if (!globMeta.test(part)) {
      for (const base of current) next.push(base === "" ? part : `${base}/${part}`);
    } else {
      const re = componentMatcher(part);
      for (const base of current) {
        let names: string[];
        try {
          names = await readdir(base === "" ? contextDir : resolveInRoot(contextDir, base, { followLast: true }));
        } catch {
          continue;
        }
        for (const name of names.sort()) if (re.test(name)) next.push(base === "" ? name : `${base}/${name}`);
      }
    }
    current = next;
  }
  const found: string[] = [];
  for (const rel of current) {
    if (ignore.patterns.length > 0 && ignore.matches(rel)) continue;
    if (await lstatOrUndefined(join(contextDir, rel))) found.push(rel);
  }
  return found;
}

/**
 * Resolves COPY/ADD sources against the context as BuildKit does: wildcards expanded, a
 * directory copies its contents, a named symlink is followed inside the context, files the
 * `.dockerignore` excludes do not exist. Throws `BERTH_BUILD_SOURCE_OUTSIDE_CONTEXT` for a
 * source that climbs out with `..`, and `BERTH_BUILD_SOURCE_NOT_FOUND` naming a missing one.
 */
export async function resolveCopySources(
  contextDir: string,
  sources: readonly string[],
  options: ResolveCopySourcesOptions = {},
): Promise<ResolvedSource[]> {
  const ignore = new PatternMatcher(options.excludes ?? []);
  const copyExcludes = new PatternMatcher(options.copyExcludes ?? []);
  const follow = options.followSymlinks ?? true;
  const wildcards = options.allowWildcards ?? true;
  const out: ResolvedSource[] = [];
  for (const source of sources) {
    const rel = cleanSource(source);
    const cut = options.parents ? source.indexOf("/./") : -1;
    const pivot = cut >= 0 ? cleanSource(source.slice(0, cut)) : ".";
    const kept = (match: string): string => {
      const r = posix.relative(pivot === "." ? "" : pivot, match === "." ? "" : match);
      return r.startsWith("..") ? match : r;
    };
    const matches = wildcards && hasWildcards(rel) ? await expandWildcard(contextDir, rel, ignore) : [rel];
    if (matches.length === 0 && !(options.allowEmptyWildcard ?? true)) throw notFound(source, "no file matches the pattern");
    for (const match of matches) {
      if (match !== "." && ignore.patterns.length > 0 && ignore.matches(match)) throw notFound(source, "excluded by .dockerignore");
      const absolute = match === "." ? contextDir : resolveInRoot(contextDir, match, { followLast: follow });
      const resolvedRel = posix.relative(contextDir, absolute) || ".";
      if (resolvedRel !== match && resolvedRel !== "." && ignore.patterns.length > 0 && ignore.matches(resolvedRel)) {
        throw notFound(source, "its symlink target is excluded by .dockerignore");
      }
      const stats = await lstatOrUndefined(absolute);
      if (!stats) throw notFound(source);
      if (stats.isDirectory()) {
        const listed = await walkContext(contextDir, options.excludes ?? [], {
          under: resolvedRel,
          alwaysInclude: [],
        });
        const prefix = resolvedRel === "." ? "" : `${resolvedRel}/`;
        const entries: CopyEntry[] = [];
        const under = options.parents ? kept(match) : "";
        if (under !== "") entries.push({ path: under, absolutePath: absolute, stats });
        for (const e of listed) {
          const inner = e.path.slice(prefix.length);
          if (copyExcludes.patterns.length > 0 && copyExcludes.matches(inner)) continue;
          entries.push({ path: under === "" ? inner : `${under}/${inner}`, absolutePath: join(contextDir, e.path), stats: e.stats });
        }
        out.push({ source, path: match, isDirectory: true, entries });
      } else {
        const name = basename(match);
        if (copyExcludes.patterns.length > 0 && (copyExcludes.matches(name) || copyExcludes.matches(match))) continue;
        out.push({ source, path: match, isDirectory: false, entries: [{ path: options.parents ? kept(match) : name, absolutePath: absolute, stats }] });
      }
    }
  }
  return out;
}

/** Options of {@link hashCopySources}. */
export interface HashCopySourcesOptions {
  /**
   * `--chown` as written; without it COPY writes files owned by 0:0, whatever they are on disk.
   * @default undefined (0:0)
   */
  chown?: string;
  /** `--chmod`. @default undefined (modes as in the context) */
  chmod?: ChmodSpec;
  /**
   * A per-file digest cache keyed by (path, device, inode, size, mtime, ctime), as BuildKit's
   * contenthash keeps; the digests stay content digests.
   * @default undefined (hash every file)
   */
  cache?: FileHashCache;
}

function fileType(st: Stats): string {
  if (st.isFile()) return "f";
  if (st.isDirectory()) return "d";
  if (st.isSymbolicLink()) return "l";
  if (st.isFIFO()) return "p";
  if (st.isCharacterDevice()) return "c";
  if (st.isBlockDevice()) return "b";
  return "s";
}

const readBufferSize = 1 << 20;

/**
 * The sha256 of a file's content, hex. Synchronous reads into one reused buffer: for the many
 * small files of a build context this is several times faster than the promise API
 * (bench/context-hash.bench.ts).
 */
export function hashFileContent(path: string, buffer: Buffer = Buffer.allocUnsafe(readBufferSize)): string {
  const hash = createHash("sha256");
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot read ${path}`, { path, cause: error });
  }
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot read ${path}`, { path, cause: error });
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * The content hash (`sha256:<hex>`) of resolved COPY sources: stable across machines and
 * mtimes, changed by any change of path, type, mode, owner, link target or content.
 */
export async function hashCopySources(resolved: readonly ResolvedSource[], options: HashCopySourcesOptions = {}): Promise<string> {
  const owner = options.chown ?? "0:0";
  const all: { entry: CopyEntry; digest: string }[] = [];
  for (const r of resolved) for (const entry of r.entries) all.push({ entry, digest: "" });
  const buffer = Buffer.allocUnsafe(readBufferSize);
  let sinceYield = 0;
  for (const item of all) {
    const st = item.entry.stats;
    if (st.isFile()) {
      const cached = options.cache?.get(item.entry.absolutePath, st);
      if (cached) item.digest = cached;
      else {
        item.digest = hashFileContent(item.entry.absolutePath, buffer);
        options.cache?.set(item.entry.absolutePath, st, item.digest);
        // Let timers and I/O callbacks run now and then during a long hash.
        sinceYield += st.size;
        if (sinceYield > 16 * readBufferSize) {
          sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    } else if (st.isSymbolicLink()) {
      try {
        item.digest = readlinkSync(item.entry.absolutePath);
      } catch (error) {
        throw new BerthError("BERTH_IO", `cannot read link ${item.entry.absolutePath}`, { path: item.entry.absolutePath, cause: error });
      }
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      item.digest = String(st.rdev);
    }
  }

  const hash = createHash("sha256");
  let index = 0;
  for (const r of resolved) {
    hash.update(`source\0${r.isDirectory ? "d" : "f"}\0`);
    for (const entry of r.entries) {
      const item = all[index++]!;
      const st = entry.stats;
      const isDir = st.isDirectory();
      let mode = st.mode & 0o7777;
      // Links have no mode of their own on Linux; chmod never applies to them.
      if (options.chmod && !st.isSymbolicLink()) mode = applyChmod(options.chmod, mode, isDir);
      if (st.isSymbolicLink()) mode = 0o777;
      hash.update(`${entry.path}\0${fileType(st)}\0${mode.toString(8)}\0${owner}\0${item.digest}\n`);
    }
  }
  return `sha256:${hash.digest("hex")}`;
}

/** Where the builder keeps its {@link FileHashCache}: `build/file-hashes.json` under the state root. */
export function defaultFileHashCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateRoot(env), "build", "file-hashes.json");
}

/**
 * A persistent cache of file content digests keyed by what changes when a file is written:
 * path, device, inode, size, mtime and ctime. Entries for files modified within the last
 * `racyWindowMs` before they were read are not stored (their timestamp could still be shared
 * with a later write), so a stale digest can never be returned.
 */
export class FileHashCache {
  private entries = new Map<string, string>();
  private readonly fresh = new Map<string, string>();
  private readonly startedAt = Date.now();

  /**
   * @param file where the cache is persisted; `undefined` keeps it in memory only.
   * @param racyWindowMs how recent a modification may be for the digest to be stored.
   */
  constructor(
    readonly file: string | undefined,
    readonly racyWindowMs = 2000,
    readonly maxEntries = 200_000,
  ) {}

  /** Loads the persisted cache; a missing or unreadable file is an empty cache. */
  async load(): Promise<this> {
    if (!this.file) return this;
    try {
      const parsed = JSON.parse(await readFile(this.file, "utf8")) as { version?: number; entries?: Record<string, string> };
      if (parsed.version === 1 && parsed.entries) this.entries = new Map(Object.entries(parsed.entries));
    } catch {
      // A cache that cannot be read is rebuilt; it holds nothing that is not recomputable.
    }
    return this;
  }

  private key(path: string, st: Stats): string {
    return `${path}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  }

  get(path: string, st: Stats): string | undefined {
    const k = this.key(path, st);
    const v = this.fresh.get(k) ?? this.entries.get(k);
    if (v !== undefined) this.fresh.set(k, v);
    return v;
  }

  set(path: string, st: Stats, digest: string): void {
    if (Math.max(st.mtimeMs, st.ctimeMs) > this.startedAt - this.racyWindowMs) return;
    this.fresh.set(this.key(path, st), digest);
  }

  /** The number of entries used or added since this cache was made. */
  get size(): number {
    return this.fresh.size;
  }

  /** Persists the cache atomically: entries used this time first, then older ones up to `maxEntries`. */
  async save(): Promise<void> {
    if (!this.file) return;
    const merged = new Map(this.fresh);
    for (const [k, v] of this.entries) {
      if (merged.size >= this.maxEntries) break;
      if (!merged.has(k)) merged.set(k, v);
    }
    await writeFileAtomic(this.file, JSON.stringify({ version: 1, entries: Object.fromEntries(merged) }), { fsync: false });
  }
}
