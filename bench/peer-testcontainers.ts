// testcontainers-node on a Docker daemon: the peer issue 7 measures the modules against, run
// in the same bench process as berth so that the ratios compare one machine in one state.
//
// It runs where a daemon answers `docker info` (the CLI honours DOCKER_HOST, and so does
// testcontainers) and the `testcontainers` package resolves, from this repository or from the
// directory named by BENCH_TESTCONTAINERS (one whose node_modules holds it, so that berth's own
// dependencies need not carry it). `@testcontainers/redis` and `@testcontainers/postgresql`
// are used when they resolve too; otherwise GenericContainer with the same wait strategies
// those modules use. The daemon cannot pull here, so berth exports the fixture images as
// archives and `docker load` reads them: both run the same image bytes. Ryuk (the reaper
// container) is off, as in the reference figures.
import { createRequire } from "node:module";
import { join } from "node:path";
import { execa } from "execa";
import pg from "pg";
import { createClient } from "redis";
import type { Image } from "../src/harness/image.js";
import { makeTempDir, removeTempDir } from "../test/helpers/temp-dir.js";
import { time } from "./stats.js";

/** What the peer measured, in ms, one sample per round. */
export interface PeerSamples {
  busybox: number[];
  redis: number[];
  postgres: number[];
}

/** The images both sides run, as berth holds them, by the tag docker will know them by. */
export interface PeerImages {
  busybox: { tag: string; image: Image };
  redis: { tag: string; image: Image };
  postgres: { tag: string; image: Image };
}

interface Started {
  getConnectionUrl?(): string;
  getConnectionUri?(): string;
  getHost(): string;
  getMappedPort(port: number): number;
  stop(options?: { timeout?: number }): Promise<unknown>;
}
interface Builder {
  withCommand(command: string[]): Builder;
  withExposedPorts(...ports: number[]): Builder;
  withEnvironment(env: Record<string, string>): Builder;
  withWaitStrategy(strategy: unknown): Builder;
  withHealthCheck(check: unknown): Builder;
  withStartupTimeout(ms: number): Builder;
  start(): Promise<Started>;
}
type BuilderClass = new (image: string) => Builder;
interface TestcontainersApi {
  GenericContainer: BuilderClass;
  Wait: {
    forLogMessage(message: string): unknown;
    forAll(strategies: unknown[]): unknown;
    forHealthCheck(): unknown;
    forListeningPorts(): unknown;
  };
}

/** Why the peer cannot run here, or the loaded packages and the daemon's version. */
export type PeerAvailability =
  | { available: false; why: string }
  | { available: true; daemon: string; version: string; api: TestcontainersApi; redis?: BuilderClass; postgres?: BuilderClass };

/** A `require` that looks in this repository, then in BENCH_TESTCONTAINERS. */
function resolvers(): NodeRequire[] {
  const found = [createRequire(import.meta.url)];
  if (process.env.BENCH_TESTCONTAINERS) found.push(createRequire(join(process.env.BENCH_TESTCONTAINERS, "package.json")));
  return found;
}

function load<T>(name: string): T | undefined {
  for (const require of resolvers()) {
    try {
      return require(name) as T;
    } catch {
      // Not installed there: the next place, or none.
    }
  }
  return undefined;
}

/** Finds a daemon and the package; loads nothing into the daemon yet. */
export async function findPeer(): Promise<PeerAvailability> {
  // Before the package loads: it reads the setting when it first reaches the daemon.
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  const info = await execa("docker", ["info", "--format", "{{.ServerVersion}}"], { reject: false, timeout: 10_000 }).catch(() => undefined);
  if (!info || info.exitCode !== 0) return { available: false, why: "no Docker daemon answers `docker info`" };
  const api = load<TestcontainersApi>("testcontainers");
  if (!api) return { available: false, why: "the testcontainers package is not installed (here or in BENCH_TESTCONTAINERS)" };
  const version = (load<{ version: string }>("testcontainers/package.json") ?? { version: "?" }).version;
  const redis = load<{ RedisContainer: BuilderClass }>("@testcontainers/redis")?.RedisContainer;
  const postgres = load<{ PostgreSqlContainer: BuilderClass }>("@testcontainers/postgresql")?.PostgreSqlContainer;
  return { available: true, daemon: info.stdout.trim(), version, api, ...(redis ? { redis } : {}), ...(postgres ? { postgres } : {}) };
}

/** Exports each image from berth's store and loads it into the daemon under its tag. */
async function loadImages(images: PeerImages): Promise<void> {
  const dir = await makeTempDir("berth-peer-images-");
  try {
    for (const { tag, image } of Object.values(images)) {
      const archive = join(dir, "image.tar");
      await image.export(archive, { format: "docker", tags: [tag] });
      await execa("docker", ["load", "-i", archive], { timeout: 120_000 });
    }
  } finally {
    await removeTempDir(dir);
  }
}

/**
 * Runs `runs` rounds (after one not counted) of: busybox started; Redis started, ready and
 * queried with the `redis` client; PostgreSQL started, ready and queried with `pg`. Each
 * container is stopped and removed outside the timed part, as berth's rounds do.
 */
export async function runPeer(peer: Extract<PeerAvailability, { available: true }>, images: PeerImages, runs: number): Promise<PeerSamples> {
  await loadImages(images);
  const { GenericContainer, Wait } = peer.api;
  // What @testcontainers/redis and @testcontainers/postgresql (11) set, where they are absent.
  const redisBuilder = () =>
    peer.redis
      ? new peer.redis(images.redis.tag)
      : new GenericContainer(images.redis.tag).withExposedPorts(6379).withWaitStrategy(Wait.forLogMessage("Ready to accept connections")).withStartupTimeout(120_000);
  const postgresBuilder = () =>
    peer.postgres
      ? new peer.postgres(images.postgres.tag)
      : new GenericContainer(images.postgres.tag)
          .withExposedPorts(5432)
          .withEnvironment({ POSTGRES_DB: "test", POSTGRES_USER: "test", POSTGRES_PASSWORD: "test" })
          .withHealthCheck({ test: ["CMD-SHELL", "PGPASSWORD=test pg_isready --host localhost --username test --dbname test"], interval: 250, timeout: 1000, retries: 1000 })
          .withWaitStrategy(Wait.forAll([Wait.forHealthCheck(), Wait.forListeningPorts()]))
          .withStartupTimeout(120_000);
  const samples: PeerSamples = { busybox: [], redis: [], postgres: [] };
  /** Starts and uses one container, timed; stops and removes it outside the time, even on failure. */
  const round = async (start: () => Promise<Started>, use: (container: Started) => Promise<void>) => {
    let started: Started | undefined;
    try {
      return await time(async () => {
        started = await start();
        await use(started);
      });
    } finally {
      await started?.stop({ timeout: 0 }).catch(() => {});
    }
  };
  for (let i = -1; i < runs; i++) {
    const busybox = await round(
      () => new GenericContainer(images.busybox.tag).withCommand(["sleep", "600"]).start(),
      async () => {},
    );
    const redis = await round(
      () => redisBuilder().start(),
      async (started) => {
        const client = createClient({ url: started.getConnectionUrl?.() ?? `redis://${started.getHost()}:${started.getMappedPort(6379)}` });
        await client.connect();
        await client.set("k", "v");
        if ((await client.get("k")) !== "v") throw new Error("redis answered wrongly");
        client.destroy();
      },
    );
    const postgres = await round(
      () => postgresBuilder().start(),
      async (started) => {
        const client = new pg.Client({ connectionString: started.getConnectionUri?.() ?? `postgres://test:test@${started.getHost()}:${started.getMappedPort(5432)}/test` });
        await client.connect();
        await client.query("SELECT 1");
        await client.end();
      },
    );
    if (i >= 0) {
      samples.busybox.push(busybox);
      samples.redis.push(redis);
      samples.postgres.push(postgres);
    }
  }
  return samples;
}

/** Removes the loaded images from the daemon (its containers are already gone). */
export async function unloadImages(images: PeerImages): Promise<void> {
  await execa("docker", ["rmi", "--force", ...Object.values(images).map((i) => i.tag)], { reject: false, timeout: 60_000 });
}
