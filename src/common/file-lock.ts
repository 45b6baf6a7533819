import { readFile, unlink } from "node:fs/promises";
import { closeSync, linkSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { BerthError } from "./berth-error.js";
import { logger } from "./logger.js";

const log = logger("lock");

/** Options of {@link acquireFileLock} and {@link withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for the lock before failing with `BERTH_LOCK_TIMEOUT`, in ms. @default 30000 */
  timeout?: number;
  /**
   * Take the lock as a hard link to a file this process keeps in the lock's directory while
   * it runs (`.owner-<pid>-<start>`, removed at exit), rather than as a new file: no inode
   * is made or freed per lock. For berth's own state directories, where a stray dot file is
   * harmless; not for directories a user reads or archives. Falls back to a new file where
   * the file system refuses hard links. @default false
   */
  ownerLink?: boolean;
}

/** A held lock; release it exactly once. */
export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * A cross-process lock on `path` (a file that exists only while the lock is held).
 *
 * Node has no flock, so the lock is a file created with O_EXCL holding the owner's pid and
 * process start time (or, with `ownerLink`, a hard link to a file holding them). A lock
 * whose owner is gone (crashed, SIGKILLed) is broken, under a second O_EXCL file so that two
 * waiters never both break it and delete a fresh lock.
 */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<FileLock> {
  const { timeout = 30_000, ownerLink = false } = options;
  const deadline = Date.now() + timeout;
  const token = ownerToken(process.pid);
  let delay = 1;
  for (;;) {
    if (ownerLink ? tryLink(path, token) : tryCreate(path, token)) {
      let released = false;
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          try {
            unlinkSync(path);
          } catch {
            // Broken by a waiter that took us for dead: nothing left to release.
          }
        },
      };
    }
    await breakIfStale(path);
    if (Date.now() > deadline) {
      const holder = await readFile(path, "utf8").catch(() => "");
      throw new BerthError("BERTH_LOCK_TIMEOUT", `timed out after ${timeout} ms waiting for lock ${path}`, {
        path,
        holder: holder.trim(),
      });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 25);
  }
}

/** Runs `fn` while holding the lock on `path`. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options?: FileLockOptions): Promise<T> {
  const lock = await acquireFileLock(path, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * {@link withFileLock} for berth's own state directories (containers, volumes, images,
 * networks), which take a lock on every operation: as a link (see `ownerLink`).
 */
export function withStateLock<T>(path: string, fn: () => Promise<T>, options: Omit<FileLockOptions, "ownerLink"> = {}): Promise<T> {
  return withFileLock(path, fn, { ...options, ownerLink: true });
}

// Synchronous: a lock is taken and released on every engine operation, and the async form's
// four thread-pool round trips cost more (~0.4 ms) than the syscalls (~20 µs).
function tryCreate(path: string, content: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o644);
    try {
      writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new BerthError("BERTH_IO", `cannot create lock ${path}`, { path, cause: error });
  }
}

/**
 * The owner files this process keeps, by directory. A lock taken by creating a file makes an
 * inode and frees it at release; on an ext4 without a journal, each new inode then skips
 * every one freed in its block group in the last minutes, so a host that starts and removes
 * containers all day pays ~0.2 ms per create, and a container start takes several locks.
 */
const ownerFiles = new Map<string, string>();
let exitHooked = false;

/** `.owner-<pid>-<start>`: the name a process's owner file has, from its token. */
function ownerFileName(token: string): string {
  return `.owner-${token.trim().replace(" ", "-")}`;
}

/** This process's owner file in `dir`, made (and the dead's swept) at its first lock there. */
function ownerFileIn(dir: string, token: string): string {
  const known = ownerFiles.get(dir);
  if (known) return known;
  const path = join(dir, ownerFileName(token));
  const fd = openSync(path, "w", 0o644);
  try {
    writeSync(fd, token);
  } finally {
    closeSync(fd);
  }
  if (!exitHooked) {
    process.once("exit", removeOwnerFiles);
    exitHooked = true;
  }
  ownerFiles.set(dir, path);
  // A process killed with SIGKILL left its file: the next process here removes it.
  for (const name of readdirSync(dir)) {
    const match = /^\.owner-(\d+)-(\d+)$/.exec(name);
    if (match && !isOwnerAlive(`${match[1]} ${match[2]}`)) removeQuietly(join(dir, name));
  }
  return path;
}

function removeOwnerFiles(): void {
  for (const path of ownerFiles.values()) removeQuietly(path);
  ownerFiles.clear();
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already (removed with its directory, or swept): nothing to do.
  }
}

/** {@link tryCreate} by a hard link to this process's owner file in the lock's directory. */
function tryLink(path: string, token: string): boolean {
  const dir = dirname(path);
  for (let attempt = 0; attempt < 2; attempt++) {
    let owner: string;
    try {
      owner = ownerFileIn(dir, token);
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot create lock ${path}`, { path, cause: error });
    }
    try {
      linkSync(owner, path);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return false;
      // Our file went with its directory (removed and made again): make it anew, once.
      if (code === "ENOENT" && attempt === 0) {
        ownerFiles.delete(dir);
        continue;
      }
      // No hard links here (EPERM, ENOTSUP…) or too many (EMLINK): a file of its own.
      if (code !== "ENOENT") return tryCreate(path, token);
      throw new BerthError("BERTH_IO", `cannot create lock ${path}`, { path, cause: error });
    }
  }
  return false;
}

async function breakIfStale(path: string): Promise<void> {
  const content = await readFile(path, "utf8").catch(() => undefined);
  // Empty content means the owner is between create and write: it is alive.
  if (!content || isOwnerAlive(content)) return;
  const breaker = `${path}.break`;
  if (!tryCreate(breaker, ownerToken(process.pid))) {
    const breakerContent = await readFile(breaker, "utf8").catch(() => undefined);
    if (breakerContent && !isOwnerAlive(breakerContent)) await unlink(breaker).catch(() => {});
    return;
  }
  try {
    // Only a breaker removes another's lock, and we are the only breaker: if the content is
    // still the dead owner's, nobody can have replaced it since we read it.
    const again = await readFile(path, "utf8").catch(() => undefined);
    if (again === content) {
      log("breaking stale lock %s held by %s", path, content.trim());
      await unlink(path).catch(() => {});
      // Held by a link: the dead owner's own file goes too.
      await unlink(join(dirname(path), ownerFileName(content))).catch(() => {});
    }
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

let ownToken: string | undefined;

function ownerToken(pid: number): string {
  // This process's start time never changes: read /proc once.
  if (pid === process.pid) return (ownToken ??= `${pid} ${processStartTime(pid) ?? 0}\n`);
  return `${pid} ${processStartTime(pid) ?? 0}\n`;
}

function isOwnerAlive(content: string): boolean {
  const [pidText, startText] = content.trim().split(" ");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const start = processStartTime(pid);
  // A pid reused by another process has another start time.
  return start !== undefined && String(start) === startText;
}

/** The start time of `pid` in clock ticks since boot (field 22 of /proc/pid/stat). */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}
