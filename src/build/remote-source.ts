import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { BerthError } from "../common/index.js";
import { resolveCopySources, type ResolvedSource } from "./context-hash.js";
import { isGitSource } from "./copy-flags.js";

/**
 * ADD's remote sources, as BuildKit's Dockerfile frontend treats them:
 *
 * - an HTTP(S) URL is downloaded to one file named after the URL path's last component
 *   (`__unnamed__` when the path is empty), mode 0600, its mtime taken from `Last-Modified`;
 *   it is never unpacked (unless `--unpack=true`). `--checksum=sha256:…` is verified, and
 *   then is the cache key, so a cached step needs no request at all;
 * - a git address (`https://host/repo.git#ref:subdir`, `git@host:repo.git`, `git://`,
 *   `ssh://`) is fetched with the `git` command at `ref` (a branch, tag or commit; the
 *   remote's HEAD by default) and `subdir` of the checkout is copied like a directory,
 *   without `.git` unless `--keep-git-dir`. The resolved commit is the cache key, so an
 *   unchanged ref costs one `git ls-remote`.
 *
 * Everything is fetched into one private temporary directory, removed by `release`.
 */

/** A fetched (or keyed, not yet fetched) remote source. */
export interface RemoteSource {
  /** What identifies the content for the cache key. */
  digest: string;
  /** Fetches (when not done yet) and resolves the source as COPY resolves a context path. */
  resolve(): Promise<ResolvedSource[]>;
}

/** Options of {@link RemoteSources}. */
export interface RemoteSourceOptions {
  /** Longest time one download or git command may take, in ms. */
  timeout: number;
  /** The instruction's line, for errors. */
  line: number;
  /** ADD `--checksum`. */
  checksum: string | undefined;
  /** ADD `--keep-git-dir`. */
  keepGitDir: boolean;
  /** Environment of the git commands. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** The remote sources of one ADD, sharing one temporary directory. */
export class RemoteSources {
  #dir: string | undefined;
  #count = 0;

  async #workDir(): Promise<string> {
    if (this.#dir === undefined) {
      this.#dir = await mkdtemp(join(tmpdir(), "berth-build-remote-"));
      await chmod(this.#dir, 0o700);
    }
    const sub = join(this.#dir, String(this.#count++));
    await mkdir(sub);
    return sub;
  }

  /** Prepares `source` (a URL or git address): computes its digest, fetching only when the key needs the content. */
  async open(source: string, options: RemoteSourceOptions): Promise<RemoteSource> {
    return isGitSource(source) ? this.#openGit(source, options) : this.#openUrl(source, options);
  }

  /** Removes everything fetched. */
  async release(): Promise<void> {
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }

  async #openUrl(url: string, options: RemoteSourceOptions): Promise<RemoteSource> {
    let fetched: Promise<{ dir: string; name: string; digest: string }> | undefined;
    const fetchOnce = () => (fetched ??= this.#download(url, options));
    // With a checksum the content is known before any request: a cache hit fetches nothing.
    const digest = options.checksum ?? (await fetchOnce()).digest;
    return {
      digest,
      resolve: async () => {
        const { dir, name } = await fetchOnce();
        return (await resolveCopySources(dir, [name], { allowWildcards: false, followSymlinks: false })).map((r) => ({ ...r, source: url }));
      },
    };
  }

  async #download(url: string, options: RemoteSourceOptions): Promise<{ dir: string; name: string; digest: string }> {
    const dir = await this.#workDir();
    const name = urlFileName(url);
    const path = join(dir, name);
    const fail = (message: string, cause?: unknown, extra: Record<string, unknown> = {}) =>
      new BerthError("BERTH_BUILD_SOURCE_NOT_FOUND", `ADD on line ${options.line}: ${message}`, { url, line: options.line, ...extra, ...(cause ? { cause } : {}) });
    let response: Response;
    try {
      response = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(options.timeout) });
    } catch (error) {
      throw fail(`cannot download ${url}: ${(error as Error).message}`, error);
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => {});
      throw fail(`cannot download ${url}: HTTP ${response.status} ${response.statusText}`, undefined, { status: response.status });
    }
    const algorithm = (options.checksum?.split(":")[0] ?? "sha256") as "sha256" | "sha384" | "sha512";
    const hash = createHash(algorithm);
    const sha256 = algorithm === "sha256" ? hash : createHash("sha256");
    try {
      await pipeline(
        Readable.fromWeb(response.body as import("node:stream/web").ReadableStream),
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            if (sha256 !== hash) sha256.update(chunk);
            callback(null, chunk);
          },
        }),
        createWriteStream(path, { mode: 0o600 }),
      );
    } catch (error) {
      throw fail(`download of ${url} failed: ${(error as Error).message}`, error);
    }
    const actual = `${algorithm}:${hash.digest("hex")}`;
    if (options.checksum !== undefined && actual !== options.checksum) {
      throw new BerthError("BERTH_BUILD_CHECKSUM_MISMATCH", `ADD on line ${options.line}: the content of ${url} has digest ${actual}, not ${options.checksum}`, {
        url,
        line: options.line,
        expected: options.checksum,
        actual,
      });
    }
    // BuildKit writes downloads 0600 and dates them from Last-Modified when the server sends it.
    await chmod(path, 0o600);
    const modified = Date.parse(response.headers.get("last-modified") ?? "");
    if (!Number.isNaN(modified)) await utimes(path, new Date(modified), new Date(modified));
    const digest = algorithm === "sha256" ? actual : `sha256:${sha256.digest("hex")}`;
    return { dir, name, digest: options.checksum ?? digest };
  }

  async #openGit(source: string, options: RemoteSourceOptions): Promise<RemoteSource> {
    const { remote, ref, subdir } = parseGitSource(source);
    const git = (args: string[], cwd?: string) =>
      execa("git", args, {
        ...(cwd ? { cwd } : {}),
        timeout: options.timeout,
        reject: false,
        stdin: "ignore",
        // Never ask for credentials on a terminal: a build must fail, not wait.
        env: { ...(options.env ?? process.env), GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true", SSH_ASKPASS: "true", GIT_SSH_COMMAND: "ssh -o BatchMode=yes" },
        extendEnv: false,
      });
    const fail = (message: string, result?: { stderr?: unknown; exitCode?: number }) =>
      new BerthError("BERTH_BUILD_SOURCE_NOT_FOUND", `ADD on line ${options.line}: ${message}${result?.stderr ? `: ${String(result.stderr).trim()}` : ""}`, {
        url: remote,
        ...(ref ? { ref } : {}),
        line: options.line,
        ...(result ? { exitCode: result.exitCode, cause: result } : {}),
      });
    if (options.checksum !== undefined) {
      // The only checksum a git source could have is its commit; say so rather than ignore it.
      throw new BerthError("BERTH_BUILD_INVALID_FLAG", `ADD on line ${options.line}: --checksum applies to HTTP(S) downloads, not to the git source ${remote}; pin a commit with #<sha> instead`, {
        url: remote,
        line: options.line,
      });
    }
    let commit: string | undefined = /^[0-9a-f]{40}$/.test(ref ?? "") ? ref : undefined;
    if (commit === undefined) {
      const listed = await git(["ls-remote", "--", remote, ...(ref ? [ref, `${ref}^{}`] : ["HEAD"])]);
      if (listed.exitCode !== 0) throw fail(`cannot reach the git repository ${remote}`, listed);
      commit = pickRef(String(listed.stdout), ref);
      if (commit === undefined && (ref === undefined || !/^[0-9a-f]{4,40}$/.test(ref))) throw fail(`git repository ${remote} has no ref ${ref ?? "HEAD"}`);
    }
    let checkedOut: Promise<string> | undefined;
    const checkout = async (): Promise<string> => {
      const dir = join(await this.#workDir(), "checkout");
      await mkdir(dir);
      const must = async (args: string[], what: string) => {
        const r = await git(args, dir);
        if (r.exitCode !== 0) throw fail(`${what} of ${remote} failed`, r);
      };
      await must(["init", "-q"], "git init");
      await must(["remote", "add", "origin", remote], "git remote add");
      const want = commit ?? ref!;
      // A shallow fetch of exactly the wanted commit is enough with smart servers; the dumb
      // HTTP protocol (and servers refusing unadvertised commits) needs the whole history.
      const shallow = await git(["fetch", "-q", "--depth=1", "origin", want], dir);
      if (shallow.exitCode === 0) await must(["checkout", "-q", "FETCH_HEAD"], "git checkout");
      else {
        await must(["fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"], "git fetch");
        await must(["checkout", "-q", want], "git checkout");
      }
      const sub = await git(["submodule", "update", "--init", "--recursive", "--depth=1"], dir);
      if (sub.exitCode !== 0) throw fail(`fetching the submodules of ${remote} failed`, sub);
      if (commit === undefined) {
        const head = await git(["rev-parse", "HEAD"], dir);
        commit = String(head.stdout).trim();
      }
      return dir;
    };
    if (commit === undefined) checkedOut = checkout();
    await checkedOut;
    return {
      // Part of the key with the source as written (so the subdir) and --keep-git-dir.
      digest: `git:${commit}`,
      resolve: async () => {
        const dir = await (checkedOut ??= checkout());
        const path = subdir === "" ? "." : subdir;
        const st = await lstat(join(dir, path)).catch(() => undefined);
        if (!st) throw fail(`git repository ${remote} has no ${subdir} at ${commit}`);
        const resolved = await resolveCopySources(dir, [path], { allowWildcards: false, excludes: options.keepGitDir ? [] : [".git"] });
        return resolved.map((r) => ({ ...r, source }));
      },
    };
  }
}

/** The file name BuildKit gives a downloaded URL: the path's last component, or `__unnamed__`. */
export function urlFileName(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return "__unnamed__";
  }
  const base = posix.basename(decodeURIComponent(path));
  return path === "" || path === "/" || base === "" || base === "." || base === ".." ? "__unnamed__" : base;
}

/** Splits `remote#ref:subdir` (the fragment is optional, as is each part of it). */
export function parseGitSource(source: string): { remote: string; ref: string | undefined; subdir: string } {
  const hash = source.indexOf("#");
  const remote = hash < 0 ? source : source.slice(0, hash);
  const fragment = hash < 0 ? "" : source.slice(hash + 1);
  const colon = fragment.indexOf(":");
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? "" : posix.normalize(fragment.slice(colon + 1)).replace(/^\/+|\/+$/g, "");
  if (subdir.startsWith("..")) {
    throw new BerthError("BERTH_BUILD_SOURCE_OUTSIDE_CONTEXT", `the subdirectory of ${source} climbs out of the repository`, { url: remote });
  }
  return { remote, ref: ref === "" ? undefined : ref, subdir: subdir === "." ? "" : subdir };
}

/** The commit `ls-remote` gives for `ref`: a peeled tag first, then the tag, then the branch, then any match. */
function pickRef(listing: string, ref: string | undefined): string | undefined {
  const rows = listing
    .split("\n")
    .map((l) => l.split("\t"))
    .filter((r): r is [string, string] => r.length === 2);
  if (ref === undefined) return rows.find((r) => r[1] === "HEAD")?.[0];
  const order = [`refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`, ref];
  for (const name of order) {
    const row = rows.find((r) => r[1] === name);
    if (row) return row[0];
  }
  return rows.find((r) => r[1].endsWith(`/${ref}`))?.[0];
}
