import { execFile } from "node:child_process";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { formatLogEntry, readLogs, type LogEntry } from "../../../src/runtime/container-config/log-reader.js";
import { rfc3339ToNanos, toNanos } from "../../../src/runtime/container-config/log-time.js";

function record(i: number, stream: "stdout" | "stderr" = i % 2 === 0 ? "stdout" : "stderr"): string {
  const ns = String(i).padStart(9, "0");
  return `${JSON.stringify({ log: `line ${i}\n`, stream, time: `2026-11-22T16:41:18.${ns}Z` })}\n`;
}

async function collect(iterable: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-logs-"));
  path = join(dir, "container.log");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Docker docs, `docker logs`: --tail, --since, --until, --timestamps, --follow; json-file format.
describe("readLogs", () => {
  it("reads every record, streams apart, nanosecond times kept as written", async () => {
    await writeFile(path, record(1) + record(2) + record(3));
    const all = await collect(readLogs(path));
    expect(all.map((e) => e.log)).toEqual(["line 1\n", "line 2\n", "line 3\n"]);
    expect(all[0]).toEqual({ log: "line 1\n", stream: "stderr", time: "2026-11-22T16:41:18.000000001Z" });
    expect((await collect(readLogs(path, { stderr: false }))).map((e) => e.log)).toEqual(["line 2\n"]);
    expect((await collect(readLogs(path, { stdout: false }))).map((e) => e.log)).toEqual(["line 1\n", "line 3\n"]);
  });

  it("tail reads the last N lines of a large file from the end", async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => record(i)).join("");
    await writeFile(path, lines);
    const last = await collect(readLogs(path, { tail: 3 }));
    expect(last.map((e) => e.log)).toEqual(["line 4997\n", "line 4998\n", "line 4999\n"]);
    expect(await collect(readLogs(path, { tail: 0 }))).toEqual([]);
    expect(await collect(readLogs(path, { tail: 10_000 }))).toHaveLength(5000);
  });

  it("tail counts lines before the stream filter, as Docker's json-file driver", async () => {
    await writeFile(path, record(1) + record(2) + record(3) + record(4));
    expect((await collect(readLogs(path, { tail: 2, stdout: false }))).map((e) => e.log)).toEqual(["line 3\n"]);
  });

  it("since and until compare to the nanosecond", async () => {
    await writeFile(path, record(1) + record(2) + record(3) + record(4));
    const got = await collect(readLogs(path, { since: "2026-11-22T16:41:18.000000002Z", until: "2026-11-22T16:41:18.000000003Z" }));
    expect(got.map((e) => e.log)).toEqual(["line 2\n", "line 3\n"]);
  });

  it("skips a torn record and keeps the lines after it", async () => {
    await writeFile(path, record(1) + '{"log":"par\n' + record(2));
    expect((await collect(readLogs(path))).map((e) => e.log)).toEqual(["line 1\n", "line 2\n"]);
  });

  it("a missing file is BERTH_IO", async () => {
    const error = await collect(readLogs(join(dir, "nope"))).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_IO")).toBe(true);
  });

  it("follow returns lines as they are written and stops once the container exited and the file is drained", async () => {
    await writeFile(path, record(1));
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    const seen: string[] = [];
    const reading = (async () => {
      for await (const e of readLogs(path, { follow: true, exited, pollInterval: 20 })) {
        seen.push(e.log);
        if (seen.length === 1) await appendFile(path, record(2));
        if (seen.length === 2) {
          // A line written just before the exit must still be read.
          await appendFile(path, record(3));
          exit();
        }
      }
    })();
    await reading;
    expect(seen).toEqual(["line 1\n", "line 2\n", "line 3\n"]);
  });

  it("follow stops when the signal aborts", async () => {
    await writeFile(path, record(1));
    const controller = new AbortController();
    const seen: string[] = [];
    setTimeout(() => controller.abort(), 50);
    for await (const e of readLogs(path, { follow: true, signal: controller.signal, pollInterval: 10 })) seen.push(e.log);
    expect(seen).toEqual(["line 1\n"]);
  });

  it("a partial last line is returned only once complete", async () => {
    const full = record(1);
    await writeFile(path, full.slice(0, 10));
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    const got: LogEntry[] = [];
    const reading = (async () => {
      for await (const e of readLogs(path, { follow: true, exited, pollInterval: 10 })) got.push(e);
    })();
    await new Promise((r) => setTimeout(r, 30));
    await appendFile(path, full.slice(10));
    exit();
    await reading;
    expect(got.map((e) => e.log)).toEqual(["line 1\n"]);
  });

  it("follow starts over when the file is truncated under it", async () => {
    await writeFile(path, record(1) + record(2));
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    const seen: string[] = [];
    for await (const e of readLogs(path, { follow: true, exited, pollInterval: 10 })) {
      seen.push(e.log);
      if (seen.length === 2) await writeFile(path, record(3));
      if (seen.length === 3) exit();
    }
    expect(seen).toEqual(["line 1\n", "line 2\n", "line 3\n"]);
  });

  it("follow reads a backlog larger than one read, then the lines appended after it, each once and in order", async () => {
    // ~3 MB: read in 1 MB steps without blocking the event loop; the appends after it are a few
    // bytes each, read at once.
    const backlog = 40_000;
    await writeFile(path, Array.from({ length: backlog }, (_, i) => record(i)).join(""));
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    const seen: string[] = [];
    for await (const e of readLogs(path, { follow: true, exited, pollInterval: 10 })) {
      seen.push(e.log);
      if (seen.length === backlog) await appendFile(path, record(backlog));
      if (seen.length === backlog + 1) await appendFile(path, record(backlog + 1) + record(backlog + 2));
      if (seen.length === backlog + 3) exit();
    }
    expect(seen).toHaveLength(backlog + 3);
    expect(seen.every((log, i) => log === `line ${i}\n`)).toBe(true);
  });

  it("formats with --timestamps", () => {
    expect(formatLogEntry({ log: "x\n", stream: "stdout", time: "2026-11-22T16:41:18.123456789Z" }, true)).toBe("2026-11-22T16:41:18.123456789Z x\n");
  });
});

describe("log times", () => {
  it("keeps nanoseconds exact", () => {
    expect(rfc3339ToNanos("2026-11-22T16:41:18.123456789Z")! - rfc3339ToNanos("2026-11-22T16:41:18.123456788Z")!).toBe(1n);
    expect(rfc3339ToNanos("2026-11-22T17:41:18+01:00")).toBe(rfc3339ToNanos("2026-11-22T16:41:18Z"));
  });
  it("reads --since as Docker: Unix seconds, dates, relative durations", () => {
    expect(toNanos("1700000000.5")).toBe(1_700_000_000_500_000_000n);
    expect(toNanos("2026-11-22")).toBe(rfc3339ToNanos("2026-11-22T00:00:00Z"));
    const now = new Date("2026-11-22T16:41:18Z");
    expect(toNanos("10m", now)).toBe(rfc3339ToNanos("2026-11-22T16:31:18Z"));
    expect(() => toNanos("yesterday")).toThrowError(/invalid time value/);
  });
});

describe("readLogs follow, with nothing else keeping Node alive", () => {
  it("finishes when the exit arrives during a read (was: a poll nobody woke, Node exited 13)", async () => {
    const script = fileURLToPath(new URL("./fixtures/follow-until-exit.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, "50"], { timeout: 60_000 });
    expect(stdout.trim()).toBe("50");
  });
});
