/**
 * The session watchdog: a detached process that removes what a session registered once the
 * session ends, however it ends. The session holds the write end of this process's stdin;
 * the kernel closes it when the session exits, crashes or is SIGKILLed, and end-of-file here
 * is the signal to clean up. It runs in its own process group so a Ctrl-C meant for the
 * test run does not reach it.
 */
import { createInterface } from "node:readline";
import { mkdir, rm, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic } from "../../common/atomic-file.js";
import { processStartTime } from "./reaper-handlers.js";
import { reapResources } from "./reap.js";
import { resourceKey, type ReaperMessage, type ReaperResource, type SessionFile } from "./reaper-resource.js";

const sessionId = process.env.BERTH_REAPER_SESSION ?? "unknown";
const sessionFile = process.env.BERTH_REAPER_FILE;
const logFile = process.env.BERTH_REAPER_LOG;
const owner = Number(process.env.BERTH_REAPER_OWNER);
const ownerStart = processStartTime(owner);
const table = new Map<string, ReaperResource>();
let persisting: Promise<void> = Promise.resolve();
let dirty = false;
let reaping = false;

// A Ctrl-C or hangup aimed at the session must not stop the one process that cleans up after it.
for (const signal of ["SIGINT", "SIGHUP", "SIGPIPE"] as const) process.on(signal, () => {});

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} berth-reaper[${process.pid}] ${message}\n`);
}

/** Coalesces writes: the file is rewritten at most once per turn of registrations. */
function persist(): void {
  if (!sessionFile) return;
  dirty = true;
  persisting = persisting.then(async () => {
    if (!dirty || reaping) return;
    dirty = false;
    const file: SessionFile = {
      sessionId,
      watchdog: { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 },
      owner,
      resources: [...table.values()],
    };
    await mkdir(dirname(sessionFile), { recursive: true });
    await writeFileAtomic(sessionFile, JSON.stringify(file), { fsync: false });
  }).catch((error: unknown) => log(`cannot write ${sessionFile}: ${String(error)}`));
}

async function reap(why: string): Promise<void> {
  if (reaping) return;
  reaping = true;
  await persisting;
  const resources = [...table.values()];
  log(`session ${sessionId} ended (${why}): removing ${resources.length} resources`);
  const failures = await reapResources(resources);
  for (const { resource, error } of failures) log(`cannot remove ${resource.kind} ${resource.id}: ${String(error)}`);
  // A failure keeps the session file, so `reapStaleSessions` can try again later.
  if (sessionFile && failures.length === 0) {
    await rm(sessionFile, { force: true });
    if (logFile) await rm(logFile, { force: true });
    // The session's directory goes with its last process's file.
    await rmdir(dirname(sessionFile)).catch(() => {});
  }
  process.exit(failures.length === 0 ? 0 : 1);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  let message: ReaperMessage;
  try {
    message = JSON.parse(line) as ReaperMessage;
  } catch {
    log(`ignoring malformed line ${JSON.stringify(line.slice(0, 200))}`);
    return;
  }
  if (message.op === "register") {
    table.set(resourceKey(message.resource), message.resource);
    warmUp(message.resource.kind);
  }
  else if (message.op === "unregister") table.delete(resourceKey(message.resource));
  persist();
});
lines.on("close", () => void reap("pipe closed"));

// Belt and braces: should anything else hold the pipe's write end open, the owner's death
// still ends the session. A pid is reused, so its start time identifies it.
setInterval(() => {
  if (ownerStart === undefined || processStartTime(owner) !== ownerStart) void reap("owner gone");
}, 1_000).unref();

/**
 * Loads a kind's module when its first resource is registered, while the session still runs,
 * so that removal after a SIGKILL is not slowed by imports.
 */
const warm: Partial<Record<string, () => Promise<unknown>>> = {
  container: () => import("../../runtime/engine/index.js"),
  network: () => import("../../network/network.js"),
  volume: () => import("../../volume/volume-store.js"),
  image: () => import("../../image/image-store.js"),
};
function warmUp(kind: string): void {
  const load = warm[kind];
  if (!load) return;
  delete warm[kind];
  load().catch((error: unknown) => log(`cannot load the ${kind} handler: ${String(error)}`));
}
