import { readdir, readFile, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../../common/berth-error.js";
import { logger } from "../../common/logger.js";
import { runRoot } from "../../common/paths.js";
import { processStartTime, reaperHandlers, type ReaperHandler } from "./reaper-handlers.js";
import { reaperKinds, type ReaperKind, type ReaperResource, type SessionFile } from "./reaper-resource.js";

const log = logger("reaper");

/** How long one removal may take before the reaper gives up on it, in ms. */
const removalTimeout = 30_000;

/** The directory of session files: `<runRoot>/sessions`. */
export function sessionsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(runRoot(env), "sessions");
}

/** What {@link reapResources} could not remove. */
export interface ReapFailure {
  resource: ReaperResource;
  error: unknown;
}

/**
 * Removes resources kind by kind in {@link reaperKinds} order (containers before the
 * networks and volumes they use), each kind's resources at once and newest first. Never
 * throws: a failure is reported and the rest still go.
 */
export async function reapResources(
  resources: readonly ReaperResource[],
  handlers: Record<ReaperKind, ReaperHandler> = reaperHandlers,
): Promise<ReapFailure[]> {
  const failures: ReapFailure[] = [];
  for (const kind of reaperKinds) {
    const ofKind = resources.filter((r) => r.kind === kind).reverse();
    await Promise.all(
      ofKind.map(async (resource) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            handlers[kind](resource),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new BerthError("BERTH_TIMEOUT", `removing ${kind} ${resource.id} took over ${removalTimeout} ms`)), removalTimeout);
            }),
          ]);
          log("removed %s %s", kind, resource.id);
        } catch (error) {
          log("cannot remove %s %s: %O", kind, resource.id, error);
          failures.push({ resource, error });
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }
  return failures;
}

/** The result of {@link reapStaleSessions}. */
export interface ReapStaleResult {
  /** Session files whose watchdog was gone and whose resources were removed. */
  sessions: string[];
  failures: ReapFailure[];
}

/**
 * Finishes the work of watchdogs that died themselves (a reboot-less OOM kill, a `kill -9`
 * of the whole process group): removes what their session files list, then the files. A
 * session whose watchdog still runs is left to it.
 */
export async function reapStaleSessions(options: { dir?: string } = {}): Promise<ReapStaleResult> {
  const dir = options.dir ?? sessionsDir();
  const result: ReapStaleResult = { sessions: [], failures: [] };
  const sessions = await readdir(dir).catch(() => [] as string[]);
  for (const session of sessions) {
    const files = await readdir(join(dir, session)).catch(() => [] as string[]);
    for (const name of files.filter((f) => f.endsWith(".json"))) {
      const path = join(dir, session, name);
      const file = await readFile(path, "utf8").then((t) => JSON.parse(t) as SessionFile).catch(() => undefined);
      if (!file) continue;
      if (processStartTime(file.watchdog.pid) === file.watchdog.startTime) continue;
      const failures = await reapResources(file.resources);
      result.failures.push(...failures);
      // Kept for the next try.
      if (failures.length > 0) continue;
      await rm(path, { force: true });
      await rm(path.replace(/\.json$/, ".log"), { force: true });
      result.sessions.push(path);
    }
    await rmdirIfEmpty(join(dir, session));
  }
  return result;
}

async function rmdirIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => {});
}
