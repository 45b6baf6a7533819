import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, isBerthError } from "../common/berth-error.js";
import { withFileLock } from "../common/file-lock.js";
import { logger } from "../common/logger.js";
import { runRoot } from "../common/paths.js";
import type { ContainerEngine, ContainerSummary } from "../runtime/engine/index.js";

const log = logger("reuse");

/** The label holding a reusable container's options hash. */
export const reuseHashLabel = "org.berth.reuse-hash";

/**
 * Options that change nothing in the container that runs, only how this process waits for it,
 * cleans it up or reports on it; two containers differing only in these are the same one.
 */
export const nonSemanticOptions: readonly string[] = [
  "waitStrategy",
  "startupTimeout",
  "logConsumer",
  "logConsumers",
  "autoCleanup",
  "reuse",
  "pullPolicy",
  "autoRemove",
];

/** Labels berth sets per session or per process: they must not split one reusable container in two. */
const volatileLabels = [reuseHashLabel, "org.berth.session-id"];

/** Options of {@link reuseHash}. */
export interface ReuseHashOptions {
  /** Top-level option names left out of the hash. @default {@link nonSemanticOptions} */
  exclude?: readonly string[];
}

/**
 * A hash of the options a container is created with: the same for the same container in any
 * process, whatever the order keys were written in. `undefined` and empty collections are
 * dropped, since `withLabels({})` and no labels make the same container; arrays keep their
 * order, since `["a", "b"]` and `["b", "a"]` are different commands.
 */
export function reuseHash(options: Readonly<Record<string, unknown>>, hashOptions: ReuseHashOptions = {}): string {
  const exclude = new Set(hashOptions.exclude ?? nonSemanticOptions);
  const top: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!exclude.has(key)) top[key] = value;
  if (isPlainObject(top.labels)) {
    top.labels = Object.fromEntries(Object.entries(top.labels).filter(([k]) => !volatileLabels.includes(k)));
  }
  return createHash("sha256").update(canonicalJson(top) ?? "{}").digest("hex");
}

/** JSON with sorted keys and no empties; undefined when the value itself is empty. */
function canonicalJson(value: unknown): string | undefined {
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return undefined;
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value instanceof RegExp) return JSON.stringify(String(value));
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return JSON.stringify(createHash("sha256").update(value).digest("hex"));
  if (value instanceof Map) return canonicalJson(Object.fromEntries(value));
  if (value instanceof Set) return canonicalJson([...value].map((v) => canonicalJson(v)).sort());
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    return `[${value.map((v) => canonicalJson(v) ?? "null").join(",")}]`;
  }
  if (!isPlainObject(value)) {
    // A class instance (a Network, a Volume): its identity is its name or id.
    const named = value as { name?: unknown; id?: unknown };
    return canonicalJson({ $kind: value.constructor?.name ?? "object", name: named.name, id: named.id });
  }
  const entries = Object.keys(value)
    .sort()
    .map((k) => [k, canonicalJson((value as Record<string, unknown>)[k])] as const)
    .filter(([, v]) => v !== undefined);
  if (entries.length === 0) return undefined;
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** What {@link findOrCreateReusable} needs from the engine: find a running container by label. */
export interface ContainerFinder<T> {
  /** A running container carrying `label` = `value`, if any. */
  findRunning(label: string, value: string): Promise<T | undefined>;
}

/** Options of {@link findOrCreateReusable}. */
export interface FindOrCreateOptions<T> {
  /** The hash from {@link reuseHash}. */
  hash: string;
  finder: ContainerFinder<T>;
  /** Creates and starts the container, with `labels` added to its labels, and waits until it is ready. */
  create: (labels: Record<string, string>) => Promise<T>;
  /** Where the per-hash locks live. @default `<runRoot()>/reuse` */
  lockDir?: string;
  /**
   * How long to wait for another process creating the same container, in ms: as long as
   * that process's start may take. @default 120000
   */
  lockTimeout?: number;
}

/** The result of {@link findOrCreateReusable}. */
export interface Reusable<T> {
  container: T;
  /** Whether an existing container was found rather than one created. */
  reused: boolean;
}

/**
 * Finds a running container with this options hash, or creates one, with a file lock per
 * hash held across the lookup and the whole creation, so that parallel test workers asking
 * for the same database wait for the first instead of each starting their own. The lock is
 * a file, so it holds across processes (testcontainers' is in memory, one per worker) and a
 * crashed creator's lock is broken, not waited out.
 */
export async function findOrCreateReusable<T>(options: FindOrCreateOptions<T>): Promise<Reusable<T>> {
  const { hash, finder, create, lockTimeout = 120_000 } = options;
  if (!/^[a-f0-9]{16,128}$/.test(hash)) throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid reuse hash ${JSON.stringify(hash)}`, { field: "hash" });
  const lockDir = options.lockDir ?? join(runRoot(), "reuse");
  await mkdir(lockDir, { recursive: true });
  try {
    return await withFileLock(
      join(lockDir, `${hash}.lock`),
      async () => {
        const found = await finder.findRunning(reuseHashLabel, hash);
        if (found !== undefined) {
          log("reusing the container with hash %s", hash);
          return { container: found, reused: true };
        }
        log("creating a reusable container with hash %s", hash);
        return { container: await create({ [reuseHashLabel]: hash }), reused: false };
      },
      { timeout: lockTimeout },
    );
  } catch (error) {
    if (isBerthError(error) && error.code !== "BERTH_LOCK_TIMEOUT") throw error;
    throw new BerthError("BERTH_REUSE_FAILED", isBerthError(error) ? `another process held the reuse lock of ${hash} for over ${lockTimeout} ms` : `finding or creating the reusable container ${hash} failed`, {
      hash,
      cause: error,
    });
  }
}

/**
 * The engine as a {@link ContainerFinder}: the running container with the label, newest
 * first, as its summary. Several can exist only when created without the lock (an older
 * berth, by hand); the newest is the one most likely to be healthy.
 */
export function engineContainerFinder(engine: Pick<ContainerEngine, "list">): ContainerFinder<ContainerSummary> {
  return {
    async findRunning(label, value) {
      const running = await engine.list({ label: [`${label}=${value}`], status: ["running"] });
      return running[0];
    },
  };
}
