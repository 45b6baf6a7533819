import { fstatSync, readSync, watch, type FSWatcher } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { BerthError } from "../../common/berth-error.js";
import { logger } from "../../common/logger.js";
import { rfc3339ToNanos, toNanos } from "./log-time.js";

const log = logger("logs");

/** One line of a container's output, as the native monitor recorded it. */
export interface LogEntry {
  /** Which stream the line came from. */
  stream: "stdout" | "stderr";
  /** The RFC 3339 time with nanoseconds, exactly as recorded. */
  time: string;
  /** The text, with its trailing newline when the line had one. */
  log: string;
}

/** Options of {@link readLogs}. */
export interface ReadLogsOptions {
  /** Include stdout. @default true */
  stdout?: boolean;
  /** Include stderr. @default true */
  stderr?: boolean;
  /** Only entries at or after this time (RFC 3339, Unix seconds, a duration back from now, a Date). @default all */
  since?: string | number | Date;
  /** Only entries at or before this time. @default all */
  until?: string | number | Date;
  /**
   * Only the last N lines of the file, counted before the stream and time filters as
   * Docker's json-file driver does. @default "all"
   */
  tail?: number | "all";
  /** Keep reading as the container writes, until `exited` resolves and the file is drained, or `signal` aborts. @default false */
  follow?: boolean;
  /** Settles when the container has exited; with `follow`, reading stops after the file is drained. @default never */
  exited?: Promise<unknown>;
  /** Stops reading (the iterator returns). @default none */
  signal?: AbortSignal;
  /** With `follow`, how often the file is polled besides fs.watch events, in ms. @default 200 */
  pollInterval?: number;
}

/** Block size for reading a file backwards to find the last lines. */
const tailBlock = 64 * 1024;

/**
 * Formats an entry as `docker logs` prints it, with `--timestamps` when `timestamps` is set.
 */
export function formatLogEntry(entry: LogEntry, timestamps = false): string {
  return timestamps ? `${entry.time} ${entry.log}` : entry.log;
}

/**
 * Reads a container's json-file log (one `{"log","stream","time"}` record per line) as an
 * async iterable of entries. `tail` reads the file backwards in blocks, so the last lines of
 * a large log cost what they weigh. With `follow` it keeps reading new lines (fs.watch, with
 * a poll as fallback where events are lost) until the container has exited and every
 * written line has been returned, or until `signal` aborts. A missing file fails with
 * `BERTH_IO`.
 */
export async function* readLogs(path: string, options: ReadLogsOptions = {}): AsyncGenerator<LogEntry, void, undefined> {
  const { stdout = true, stderr = true, tail = "all", follow = false, signal, pollInterval = 200 } = options;
  const since = options.since === undefined ? undefined : toNanos(options.since);
  const until = options.until === undefined ? undefined : toNanos(options.until);
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot open log ${path}`, { path, cause: error });
  }
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  signal?.addEventListener("abort", onAbort);
  try {
    let offset = tail === "all" ? 0 : await tailOffset(handle, tail);
    let pending = "";
    let exited = !follow;
    if (follow) {
      options.exited?.then(
        () => {
          exited = true;
          wake?.();
        },
        () => {
          exited = true;
          wake?.();
        },
      );
      try {
        watcher = watch(path, () => wake?.());
        watcher.on("error", () => {});
        // A follower waits for output, it is not work of its own: like a socket read, it must
        // not keep Node alive after everything else is done (the container may run for hours).
        watcher.unref();
      } catch {
        // Polling alone still works (some filesystems have no inotify).
      }
    }
    for (;;) {
      if (signal?.aborted) return;
      // Read `exited` before draining: a line written before the exit is then surely read.
      const exitedBeforeRead = exited;
      const { text, bytes } = await readFrom(handle, offset);
      offset += bytes;
      if (bytes < 0) {
        pending = "";
        continue;
      }
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        const entry = parse(line);
        if (!entry) continue;
        if (entry.stream === "stdout" ? !stdout : !stderr) continue;
        if (since !== undefined || until !== undefined) {
          const time = rfc3339ToNanos(entry.time);
          if (since !== undefined && time !== undefined && time < since) continue;
          if (until !== undefined && time !== undefined && time > until) return;
        }
        yield entry;
        if (signal?.aborted) return;
      }
      if (bytes > 0) continue;
      if (!follow || exitedBeforeRead) return;
      // The exit came in during the read: nobody will wake the poll below, whose timer does not
      // keep Node alive, so a caller awaiting this reader (a build's RUN) could see Node exit
      // with its await unsettled. Read once more instead; that read drains and returns.
      if (exited) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollInterval);
        timer.unref();
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    watcher?.close();
    await handle.close();
  }
}

function parse(line: string): LogEntry | undefined {
  if (line.trim() === "") return undefined;
  try {
    const record = JSON.parse(line) as Partial<LogEntry>;
    if (typeof record.log !== "string" || typeof record.time !== "string") throw new Error("missing log or time");
    return { stream: record.stream === "stderr" ? "stderr" : "stdout", time: record.time, log: record.log };
  } catch (error) {
    // A torn record (a monitor killed mid-write) must not hide the lines after it.
    log("skipping malformed log line %o: %s", line.slice(0, 200), (error as Error).message);
    return undefined;
  }
}

/** Up to this many new bytes are read synchronously; more (a log read from its beginning) without blocking the loop. */
const syncReadLimit = 64 * 1024;

/**
 * What was written after `offset`, up to 1 MB. The common case of a follower is a few new
 * lines: a stat and a read of a few kB cost microseconds on the event loop, while each awaited
 * one is a round trip through the thread pool that costs more than the syscall, and a wait
 * strategy sees its line that much later.
 */
async function readFrom(handle: FileHandle, offset: number): Promise<{ text: string; bytes: number }> {
  const { size } = fstatSync(handle.fd);
  // A file truncated under us (a log cleared by copytruncate) starts over from its beginning.
  if (size < offset) return { text: "", bytes: -offset };
  if (size === offset) return { text: "", bytes: 0 };
  const buffer = Buffer.allocUnsafe(Math.min(size - offset, 1024 * 1024));
  const bytesRead = buffer.length <= syncReadLimit ? readSync(handle.fd, buffer, 0, buffer.length, offset) : (await handle.read(buffer, 0, buffer.length, offset)).bytesRead;
  return cutAtNewline(buffer, bytesRead);
}

/** The text read up to its last newline, so that a UTF-8 sequence is never split across reads. */
function cutAtNewline(buffer: Buffer, bytesRead: number): { text: string; bytes: number } {
  // A file truncated between the stat and the read: nothing new (lastIndexOf from -1 would
  // search the whole buffer).
  if (bytesRead <= 0) return { text: "", bytes: 0 };
  const end = buffer.lastIndexOf(0x0a, bytesRead - 1);
  const used = end < 0 ? bytesRead : end + 1;
  return { text: buffer.toString("utf8", 0, used), bytes: used };
}

/** The offset where the last `count` complete lines start, found reading backwards in blocks. */
async function tailOffset(handle: FileHandle, count: number): Promise<number> {
  if (!Number.isInteger(count) || count < 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid tail: ${count}`, { field: "tail" });
  }
  const { size } = await handle.stat();
  if (count === 0) return size;
  const buffer = Buffer.alloc(tailBlock);
  let position = size;
  let newlines = 0;
  // The newline ending the last line does not start a line; skip it.
  let skipFinal = true;
  while (position > 0) {
    const length = Math.min(tailBlock, position);
    position -= length;
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (buffer[i] !== 0x0a) {
        skipFinal = false;
        continue;
      }
      if (skipFinal) {
        skipFinal = false;
        continue;
      }
      if (++newlines === count) return position + i + 1;
    }
  }
  return 0;
}
