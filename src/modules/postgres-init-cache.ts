import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { BerthError, isBerthError } from "../common/berth-error.js";
import { withFileLock } from "../common/file-lock.js";
import { logger } from "../common/logger.js";
import { GenericContainer, type GenericContainerEnvironment } from "../harness/generic-container.js";
import { Wait } from "../harness/wait/wait.js";
import type { ImageConfig } from "../image/oci.js";
import type { ContainerEngine } from "../runtime/engine/container-engine.js";

const log = logger("postgres-init-cache");

/** Bump when what goes into a cached image changes: it is part of every key. */
const cacheVersion = 1;

/** The repository of the cached images; `localhost/` so that no registry is ever asked for one. */
export const initCacheRepository = "localhost/berth-cache/postgres-init";

/** The label carrying a cached image's key and the image it was made from. */
export const initCacheKeyLabel = "org.berth.postgres-init-key";
const initCacheBaseLabel = "org.berth.postgres-init-base";

/** Where the cluster goes when the image's default PGDATA is inside one of its declared volumes. */
export const relocatedPgdata = "/var/lib/berth-postgresql/data";

/** What an initialised cluster depends on: the image and everything the entrypoint's initdb reads. */
export interface InitCacheInput {
  engine: ContainerEngine;
  environment: GenericContainerEnvironment;
  /** The reference or id the container was given. */
  image: string;
  imageId: string | undefined;
  /** The container's environment as it will be created (POSTGRES_*, PGDATA...). */
  env: Readonly<Record<string, string>>;
  cmd: readonly string[] | undefined;
  user: string | undefined;
  pullPolicy: "missing" | "always" | "never" | undefined;
  /** For the helper container's wait. */
  startupTimeout: number;
}

/** A cached image ready to start from, and the PGDATA it was made with (to set on the container). */
export interface InitCacheHit {
  imageId: string;
  reference: string;
  /** Set when the image's own PGDATA lies in a volume, where a commit would not keep it. */
  pgdata: string | undefined;
  /**
   * The image's VOLUME that was exactly its PGDATA, when the cluster was moved out of it: it
   * holds nothing now, so a tmpfs there spares each start an anonymous volume.
   */
  vacatedVolume: string | undefined;
}

async function imageConfig(engine: ContainerEngine, id: string): Promise<ImageConfig> {
  return JSON.parse((await engine.images.readBlob(id)).toString("utf8")) as ImageConfig;
}

/**
 * The PGDATA to use, or undefined to keep the image's: a commit does not keep what a volume
 * holds (as Docker's), and the official image declares `VOLUME /var/lib/postgresql/data`
 * (`/var/lib/postgresql` from 18 on), so its cluster is moved beside it. A PGDATA the user set
 * is kept as it is: inside a volume, the cache then cannot work and is not used.
 */
function pgdataFor(config: ImageConfig, env: Readonly<Record<string, string>>): { pgdata: string | undefined; usable: boolean; vacatedVolume?: string } {
  const volumes = Object.keys(config.config?.Volumes ?? {}).map((v) => posix.normalize(v).replace(/\/+$/, ""));
  const inVolume = (path: string) => volumes.some((v) => path === v || path.startsWith(`${v}/`));
  if (env.PGDATA !== undefined) return { pgdata: undefined, usable: !inVolume(posix.normalize(env.PGDATA)) };
  const imagePgdata = config.config?.Env?.find((e) => e.startsWith("PGDATA="))?.slice("PGDATA=".length) ?? "/var/lib/postgresql/data";
  const normalised = posix.normalize(imagePgdata).replace(/\/+$/, "");
  if (!inVolume(normalised)) return { pgdata: undefined, usable: true };
  // Only a volume that was the data directory itself: a parent one (PostgreSQL 18's
  // /var/lib/postgresql) may hold other things the image put there.
  return { pgdata: relocatedPgdata, usable: !inVolume(relocatedPgdata), ...(volumes.includes(normalised) ? { vacatedVolume: normalised } : {}) };
}

function cacheKey(baseId: string, input: InitCacheInput, pgdata: string | undefined): string {
  const env = Object.entries({ ...input.env, ...(pgdata ? { PGDATA: pgdata } : {}) }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = JSON.stringify({ v: cacheVersion, baseId, env, user: input.user ?? null });
  return createHash("sha256").update(parts).digest("hex").slice(0, 32);
}

/**
 * An image whose data directory holds the cluster the entrypoint would make at this start,
 * so that it finds `PG_VERSION` and skips initdb: the one cached for this image and these
 * options, else one made now by running the image once (initdb, init scripts, clean
 * shutdown) and committing the container. One per image and options, kept across sessions;
 * made under a file lock, so parallel processes wait for the first instead of each running
 * initdb. Undefined when the image cannot be cached (a PGDATA the user put in a volume) or is
 * not in the store yet (the start pulls it and initialises as usual; the next start caches).
 */
export async function initialisedImage(input: InitCacheInput): Promise<InitCacheHit | undefined> {
  const { engine } = input;
  if (input.pullPolicy === "always") return undefined;
  const base = input.imageId !== undefined ? await engine.images.readRecord(input.imageId) : await engine.images.find(input.image).catch(() => undefined);
  if (!base) return undefined;
  const config = await imageConfig(engine, base.id);
  const { pgdata, usable, vacatedVolume } = pgdataFor(config, input.env);
  if (!usable) {
    log("%s: PGDATA is in a volume, not cached", input.image);
    return undefined;
  }
  const key = cacheKey(base.id, input, pgdata);
  const reference = `${initCacheRepository}:${key}`;
  const found = async (): Promise<InitCacheHit | undefined> => {
    const record = await engine.images.find(reference);
    return record ? { imageId: record.id, reference, pgdata, vacatedVolume } : undefined;
  };
  const hit = await found();
  if (hit) return hit;
  const lockDir = join(engine.stateRoot, "locks");
  await mkdir(lockDir, { recursive: true });
  // initdb takes seconds on a loaded machine; the lock waits for the first process's.
  return withFileLock(join(lockDir, `postgres-init-${key}.lock`), async () => (await found()) ?? { ...(await make(input, base.id, config, pgdata, reference)), vacatedVolume }, {
    timeout: input.startupTimeout + 60_000,
  });
}

async function make(input: InitCacheInput, baseId: string, config: ImageConfig, pgdata: string | undefined, reference: string): Promise<Omit<InitCacheHit, "vacatedVolume">> {
  const { engine } = input;
  const started = Date.now();
  // No network: initdb needs none, and a bridge endpoint is work for nothing.
  const init = new GenericContainer({ id: baseId, reference: input.image }, input.environment)
    .withEnvironment({ ...input.env, ...(pgdata ? { PGDATA: pgdata } : {}) })
    .withNetworkMode("none")
    // Stopped once the real server is up, not at the entrypoint's "init process complete":
    // until it execs postgres, PID 1 is the entrypoint's shell, which as PID 1 ignores the
    // stop signal, and the stop would wait for its timeout.
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .withStartupTimeout(input.startupTimeout);
  if (input.cmd) init.withCommand(input.cmd);
  if (input.user !== undefined) init.withUser(input.user);
  const container = await init.start().catch((error: unknown) => {
    const reason = String((error as Error)?.message ?? error).split("\n")[0];
    throw new BerthError("BERTH_MODULE_COMMAND_FAILED", `could not initialise a PostgreSQL cluster in ${input.image} to cache (withInitCache(false) skips the cache): ${reason}`, {
      image: input.image,
      ...(isBerthError(error) && error.lastLines ? { lastLines: error.lastLines } : {}),
      cause: error,
    });
  });
  try {
    // The image's stop signal (SIGINT, a fast shutdown) ends with a checkpoint, so the cluster
    // is consistent on disk and the next start does no recovery.
    await container.stop({ remove: false, timeout: 60_000 });
    const parent = config.config ?? {};
    const id = await engine.commit(container.getId(), {
      tag: reference,
      comment: "berth: an initialised PostgreSQL cluster",
      changes: {
        // The helper's own settings stay out of the image: the containers made from it get theirs.
        Env: [...(parent.Env ?? []).filter((e) => !e.startsWith("PGDATA=")), ...(pgdata ? [`PGDATA=${pgdata}`] : [])],
        Cmd: parent.Cmd ?? null,
        User: parent.User ?? "",
        WorkingDir: parent.WorkingDir ?? "",
        Labels: { ...(parent.Labels ?? {}), [initCacheKeyLabel]: reference.slice(reference.lastIndexOf(":") + 1), [initCacheBaseLabel]: baseId },
      },
    });
    log("%s: cached an initialised cluster as %s in %d ms", input.image, reference, Date.now() - started);
    return { imageId: id, reference, pgdata };
  } finally {
    await container.stop({ remove: true, timeout: 0 }).catch((error: unknown) => log("removing the init container: %O", error));
  }
}
