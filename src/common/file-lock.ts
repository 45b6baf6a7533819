import { readFile, unlink } from "node:fs/promises";
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { BerthError } from "./berth-error.js";
import { logger } from "./logger.js";

const log = logger("lock");

/** Options of {@link acquireFileLock} and {@link withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for the lock before failing with `BERTH_LOCK_TIMEOUT`, in ms. @default 30000 */
  timeout?: number;
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
 * process start time. A lock whose owner is gone (crashed, SIGKILLed) is broken, under a
 * second O_EXCL file so that two waiters never both break it and delete a fresh lock.
 */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<FileLock> {
  const { timeout = 30_000 } = options;
  const deadline = Date.now() + timeout;
  const token = ownerToken(process.pid);
  let delay = 1;
  for (;;) {
    if (await tryCreate(path, token)) {
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

// Synchronous: a lock is taken and released on every engine operation, and the async form's
// four thread-pool round trips cost more (~0.4 ms) than the syscalls (~20 µs).
async function tryCreate(path: string, content: string): Promise<boolean> {
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

async function breakIfStale(path: string): Promise<void> {
  const content = await readFile(path, "utf8").catch(() => undefined);
  // Empty content means the owner is between create and write: it is alive.
  if (!content || isOwnerAlive(content)) return;
  const breaker = `${path}.break`;
  if (!(await tryCreate(breaker, ownerToken(process.pid)))) {
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
