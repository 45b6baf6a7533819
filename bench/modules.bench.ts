// The modules (issue 7), from a warm store (fixture images present, not timed): busybox
// started through GenericContainer; Redis started, ready and queried with the `redis`
// client (split into its phases, with the same client against a redis-server on the host,
// without berth, beside it); PostgreSQL started, ready and queried with `pg`; PostgreSQL restored from a
// template snapshot and queried (back to back, and with 300 ms of work between restores).
// Targets (medians): 20 / 60 / 500 / 100 ms. Beside each: the harness's own share of a busybox
// start (the total minus the engine's create and start), PostgreSQL's first start (initdb in a
// helper, committed as the cached cluster), and testcontainers-node's figures: measured side
// by side in this run where a Docker daemon and testcontainers are installed (see
// peer-testcontainers.ts), else the issue's reference figures.
// Redis's round is also taken without any container, a redis-server spawned on the host and
// queried with the same client in the same loop: the floor no container engine goes under on
// this machine at that moment, printed beside berth's figure with the difference round by round.
// Redis's start is also taken with the port proxy started after the namespace, as before
// (BERTH_NET_SERIAL_PROXY=1), alternating with the default order in the same run, and the
// garbage collector's pauses inside the client's phases are summed (Node's "gc" entries).
// Also printed: the time to restore the fixture images from their cached archives into an
// empty store (a cold build, minutes, happens only when the cache is empty).
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { execa } from "execa";
import pg from "pg";
import { createClient } from "redis";
import getPort from "get-port";
import { GenericContainer } from "../src/harness/generic-container.js";
import { Image } from "../src/harness/image.js";
import { SessionReaper } from "../src/harness/reaper/session-reaper.js";
import { PostgreSqlContainer, RedisContainer } from "../src/modules/index.js";
import { NetworkManager } from "../src/network/network-manager.js";
import { NetworkStore } from "../src/network/network-store.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { ensureFixtureImages, fixtureTags } from "../test/fixtures/fixture-images.js";
import { makeTempDir, removeTempDir } from "../test/helpers/temp-dir.js";
import { findPeer, runPeer, unloadImages, type PeerImages, type PeerSamples } from "./peer-testcontainers.js";
import { quantile, summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 10);

/** testcontainers-node 11 on Docker 20.10, reaper off, as issue 7 measured them (ms). */
const reference = { busybox: 240, redis: 335, postgres: 1040 };

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

/** Time spent inside the engine's create and start, summed: the engine's share of a start. */
function meterEngine(engine: ContainerEngine): { reset(): void; readonly ms: number } {
  let ms = 0;
  for (const method of ["create", "start"] as const) {
    const original = engine[method].bind(engine) as (...args: unknown[]) => Promise<unknown>;
    (engine as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await original(...args);
      } finally {
        ms += performance.now() - started;
      }
    };
  }
  return {
    reset: () => (ms = 0),
    get ms() {
      return ms;
    },
  };
}

async function pgQuery(uri: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: uri });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** One Redis start, ready and queried with the `redis` client, in phases (ms). */
interface RedisRound {
  container: { stop(o?: { timeout?: number }): Promise<unknown> };
  /** `start()`: created, started and ready by the module's wait. */
  ready: number;
  /** `createClient`: node-redis builds its client class again for every new URL (see the note below). */
  client: number;
  /** `connect()`: TCP through the published port's proxy, then HELLO and CLIENT SETINFO. */
  connect: number;
  /** One SET and one GET. */
  query: number;
  /** When createClient began and connect ended (performance.now()), to find the garbage collector's pauses between. */
  clientWindow: [number, number];
}

/**
 * The garbage collector's pauses, as Node reports them: node-redis allocates ~17 MB of
 * long-lived objects for each new client class, and the scavenges that move them to the old
 * generation land in createClient or in the connect after it, wherever the young generation
 * fills. Their share says how much of the client phases is the client's own allocation.
 */
function gcPauses(): { within(from: number, to: number): number; stop(): void } {
  const pauses: { start: number; duration: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push({ start: entry.startTime, duration: entry.duration });
  });
  observer.observe({ entryTypes: ["gc"] });
  return {
    within: (from, to) => pauses.filter((p) => p.start >= from && p.start < to).reduce((sum, p) => sum + p.duration, 0),
    stop: () => observer.disconnect(),
  };
}

/**
 * The baseline for /data: a tmpfs, as the module mounted there while an anonymous volume cost
 * tens of ms; the module now keeps the image's volume, as Docker does (see RedisContainer).
 */
class RedisOnTmpfs extends RedisContainer {
  protected override async beforeContainerCreated(): Promise<void> {
    await super.beforeContainerCreated();
    if (!this.options.tmpfs.some((t) => t.startsWith("/data"))) this.withTmpFs({ "/data": "rw" });
  }
}

/** The client's phases against a server that is ready: createClient, connect, one SET and one GET. */
async function queryRedis(url: string): Promise<Omit<RedisRound, "container" | "ready">> {
  const t1 = performance.now();
  const client = createClient({ url });
  const t2 = performance.now();
  await client.connect();
  const t3 = performance.now();
  await client.set("k", "v");
  if ((await client.get("k")) !== "v") throw new Error("redis answered wrongly");
  const t4 = performance.now();
  client.destroy();
  return { client: t2 - t1, connect: t3 - t2, query: t4 - t3, clientWindow: [t1, t3] };
}

/** A round's "ready and queried": the start and the client's phases. */
function roundTotal(r: Omit<RedisRound, "container">): number {
  return r.ready + r.client + r.connect + r.query;
}

/** The medians of rounds' phases, as one line's text. */
function phaseMedians(rounds: Omit<RedisRound, "container">[]): string {
  const median = (k: "ready" | "client" | "connect" | "query") => quantile(rounds.map((r) => r[k]), 0.5).toFixed(1);
  return `ready ${median("ready")} + createClient ${median("client")} + connect ${median("connect")} + set/get ${median("query")} ms`;
}

async function redisRound(env: ConstructorParameters<typeof RedisContainer>[1], onTmpfs = false): Promise<RedisRound> {
  const t0 = performance.now();
  const container = await new (onTmpfs ? RedisOnTmpfs : RedisContainer)(fixtureTags.redis, env).start();
  const ready = performance.now() - t0;
  return { container, ready, ...(await queryRedis(container.getConnectionUrl())) };
}

/** A redis-server started on the host, without berth or any container, on a port of its own. */
interface HostRedis {
  port: number;
  stop(): Promise<void>;
}

/** The redis-server binary for the rounds without a container: `BENCH_REDIS_SERVER`, else one on PATH. */
async function hostRedisBinary(): Promise<string> {
  return process.env.BENCH_REDIS_SERVER ?? (await execa("sh", ["-c", "command -v redis-server"], { reject: false })).stdout.trim();
}

/**
 * Spawns `binary` on a free loopback port and resolves once it logs that it is ready. Node's
 * own spawn, not execa's, so that the floor carries no more of the launcher than it must.
 */
async function startHostRedis(binary: string): Promise<HostRedis> {
  const port = await getPort({ host: "127.0.0.1" });
  const server = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "ignore"] });
  const exited = new Promise<void>((resolve) => server.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.kill("SIGKILL");
      reject(new Error("redis-server did not start within 10 s"));
    }, 10_000);
    server.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    server.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { port, stop: async () => void (server.kill("SIGKILL"), await exited) };
}

/**
 * The floor under "ready and queried": the same round with no container at all, a
 * redis-server spawned on the host and queried with the same client. Taken in the same loop
 * as berth's rounds, so both see the machine in the same phase: what no container engine can
 * go under on this machine at this moment.
 */
async function hostRedisRound(binary: string): Promise<Omit<RedisRound, "container">> {
  const t0 = performance.now();
  const server = await startHostRedis(binary);
  const ready = performance.now() - t0;
  try {
    return { ready, ...(await queryRedis(`redis://localhost:${server.port}`)) };
  } finally {
    await server.stop();
  }
}

/**
 * The same client against a redis-server run directly on the host, without berth: a new
 * server on a new port each time, as each test's container is, then the same URL again.
 * node-redis caches one client class keyed on the whole options object (the URL included),
 * so a new URL costs a rebuild of the class with every command of every module: this shows
 * that cost is the client's, not berth's.
 */
async function hostRedisPeer(runs: number, binary: string): Promise<void> {
  const startServer = () => startHostRedis(binary);
  const fixed = await startServer();
  try {
    // In blocks, not interleaved: alternating URLs would miss the client's one-entry cache every time.
    for (const fresh of [true, false]) {
      const created: number[] = [];
      const rest: number[] = [];
      for (let i = -1; i < runs; i++) {
        const server = fresh ? await startServer() : fixed;
        const t0 = performance.now();
        const client = createClient({ url: `redis://localhost:${server.port}` });
        const t1 = performance.now();
        await client.connect();
        await client.set("k", "v");
        await client.get("k");
        const t2 = performance.now();
        client.destroy();
        if (fresh) await server.stop();
        if (i >= 0) {
          created.push(t1 - t0);
          rest.push(t2 - t1);
        }
      }
      console.log(
        `  the redis client without berth (redis-server on the host, ${fresh ? "a new server and URL each time" : "the same URL again"}): createClient ${quantile(created, 0.5).toFixed(1)} + connect and set/get ${quantile(rest, 0.5).toFixed(1)} ms (medians)`,
      );
    }
  } finally {
    await fixed.stop();
  }
}

export default async function modulesBench(): Promise<void> {
  const root = await makeTempDir("berth-modules-bench-");
  const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), pull: async () => {} });
  const manager = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
  const env = { engine, networkManager: manager };
  const gc = gcPauses();
  try {
    let sources: Record<string, string> = {};
    const restoreMs = await time(async () => ({ sources } = await ensureFixtureImages({ stateRoot: root })));
    console.log(`fixture images into an empty store: ${restoreMs.toFixed(0)} ms (${JSON.stringify(sources)})`);
    const busybox = await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:bench", config: { Cmd: ["sh"] } });
    console.log(`load average at start: ${load()}`);
    const meter = meterEngine(engine);

    // The first start of an image + options runs initdb once and caches the cluster (not counted below).
    const first = await time(async () => {
      const postgres = await new PostgreSqlContainer(fixtureTags.postgres, env).start();
      await pgQuery(postgres.getConnectionUri(), "SELECT 1");
      await postgres.stop({ timeout: 0 });
    });
    console.log(`postgres first start (initdb, cluster cached) and queried: ${first.toFixed(0)} ms`);

    const noReaper = new SessionReaper({ disabled: true });
    const samples = { busybox: [] as number[], busyboxEngine: [] as number[], busyboxNoReaper: [] as number[], busyboxNoReaperHarness: [] as number[], postgres: [] as number[], postgresNoCache: [] as number[] };
    const redis: RedisRound[] = [];
    const redisOnTmpfs: number[] = [];
    const redisSerialProxy: number[] = [];
    const redisFloor: Omit<RedisRound, "container">[] = [];
    const redisBinary = await hostRedisBinary();
    // One warm-up round each (i = -1), not counted.
    for (let i = -1; i < runs; i++) {
      // Only start (+ query) is timed; each container is stopped and removed outside.
      let started: { stop(o?: { timeout?: number }): Promise<unknown> } | undefined;
      meter.reset();
      const b = await time(async () => {
        started = await new GenericContainer(busybox, env).withCommand(["sleep", "600"]).start();
      });
      const bEngine = meter.ms;
      await started?.stop({ timeout: 0 });
      // The same without the session reaper (BERTH_REAPER_DISABLED=1), as testcontainers' figure is taken.
      meter.reset();
      const bNoReaper = await time(async () => {
        started = await new GenericContainer(busybox, { ...env, reaper: noReaper }).withCommand(["sleep", "600"]).start();
      });
      const bNoReaperEngine = meter.ms;
      await started?.stop({ timeout: 0 });
      // The floor and berth's round take turns at going first: each new client class grows the
      // heap, so the second client of a pair meets more of the collector's work.
      let floor: Omit<RedisRound, "container"> | undefined;
      if (redisBinary && i % 2 === 1) floor = await hostRedisRound(redisBinary);
      const round = await redisRound(env);
      await round.container.stop({ timeout: 0 });
      if (redisBinary && i % 2 !== 1) floor = await hostRedisRound(redisBinary);
      const baseline = await redisRound(env, true);
      await baseline.container.stop({ timeout: 0 });
      // The order before (the port proxy after the namespace, recorded under a second lock).
      process.env.BERTH_NET_SERIAL_PROXY = "1";
      const serialProxy = await redisRound(env).finally(() => delete process.env.BERTH_NET_SERIAL_PROXY);
      await serialProxy.container.stop({ timeout: 0 });
      const p = await time(async () => {
        const postgres = await new PostgreSqlContainer(fixtureTags.postgres, env).start();
        started = postgres;
        await pgQuery(postgres.getConnectionUri(), "SELECT 1");
      });
      await started?.stop({ timeout: 0 });
      if (i >= 0) {
        samples.busybox.push(b);
        samples.busyboxEngine.push(b - bEngine);
        samples.busyboxNoReaper.push(bNoReaper);
        samples.busyboxNoReaperHarness.push(bNoReaper - bNoReaperEngine);
        redis.push(round);
        redisOnTmpfs.push(baseline.ready);
        redisSerialProxy.push(serialProxy.ready);
        if (floor) redisFloor.push(floor);
        samples.postgres.push(p);
      }
    }
    // Without the cache, as every start was before it: initdb each time.
    for (let i = 0; i < Math.min(3, runs); i++) {
      samples.postgresNoCache.push(
        await time(async () => {
          const postgres = await new PostgreSqlContainer(fixtureTags.postgres, env).withInitCache(false).start();
          await pgQuery(postgres.getConnectionUri(), "SELECT 1");
          await postgres.stop({ timeout: 0 });
        }),
      );
    }
    // The peer, in this run after berth's rounds, where a Docker daemon and testcontainers are
    // installed; else the issue's reference figures stand in.
    const found = await findPeer();
    let measured: PeerSamples | undefined;
    if (found.available) {
      const images: PeerImages = {
        busybox: { tag: "busybox:bench", image: busybox },
        redis: { tag: fixtureTags.redis, image: await Image.get(fixtureTags.redis, { root }) },
        postgres: { tag: fixtureTags.postgres, image: await Image.get(fixtureTags.postgres, { root }) },
      };
      try {
        measured = await runPeer(found, images, runs);
        const modules = [found.redis ? "@testcontainers/redis" : "", found.postgres ? "@testcontainers/postgresql" : ""].filter(Boolean).join(", ") || "GenericContainer only";
        console.log(`testcontainers ${found.version} (${modules}) on Docker ${found.daemon}, Ryuk off, the same images, measured in this run`);
      } catch (error) {
        // berth's figures are measured already: the reference stands in for the peer's.
        console.log(`testcontainers: failed (${error instanceof Error ? error.message.split("\n")[0] : String(error)}); issue 7's reference figures stand in`);
      } finally {
        await unloadImages(images);
      }
    } else {
      console.log(`testcontainers: not measured here (${found.why}); beside each figure, issue 7's reference (testcontainers-node 11 on Docker 20.10)`);
    }
    const peer = (key: keyof typeof reference) => {
      const ref = measured ? quantile(measured[key], 0.5) : reference[key];
      return (samples: number[]) => `testcontainers${measured ? "" : " (reference)"}: ${ref.toFixed(0)} ms, testcontainers/berth ${(ref / quantile(samples, 0.5)).toFixed(2)}`;
    };
    if (measured) {
      console.log(`testcontainers busybox started   ${summary(measured.busybox)}`);
      console.log(`testcontainers redis ready and queried ${summary(measured.redis)}`);
      console.log(`testcontainers postgres ready and queried ${summary(measured.postgres)}`);
    }
    console.log(`busybox started                  ${summary(samples.busybox)}   (target ≤ 20 ms; ${peer("busybox")(samples.busybox)})`);
    console.log(`  harness share (minus engine create+start) ${summary(samples.busyboxEngine)}`);
    console.log(`  reaper off: started ${summary(samples.busyboxNoReaper)}, harness share ${summary(samples.busyboxNoReaperHarness)}`);
    const total = redis.map(roundTotal);
    console.log(`redis ready and queried          ${summary(total)}   (target ≤ 60 ms; ${peer("redis")(total)})`);
    console.log(`  phases (medians): ${phaseMedians(redis)}`);
    // The observer's entries arrive a tick after each pause: all are in by now.
    const clientGc = redis.map((r) => gc.within(...r.clientWindow));
    console.log(`  garbage collection pauses inside createClient + connect ${summary(clientGc)}; ready and queried less those pauses ${summary(total.map((t, i) => t - clientGc[i]!))}`);
    console.log(`  ready with /data on the image's anonymous volume ${summary(redis.map((r) => r.ready))}; on a tmpfs (the module's default before, same run) ${summary(redisOnTmpfs)}`);
    console.log(`  ready with the port proxy started after the namespace (BERTH_NET_SERIAL_PROXY=1, the order before, same run) ${summary(redisSerialProxy)}`);
    if (redisBinary) {
      const floorTotal = redisFloor.map(roundTotal);
      console.log(`  without a container (redis-server spawned on the host, the same client, in the same loop) ${summary(floorTotal)}`);
      console.log(`    phases (medians): ${phaseMedians(redisFloor)}; berth's rounds less these, round by round: ${summary(total.map((t, i) => t - floorTotal[i]!))}`);
      await hostRedisPeer(runs, redisBinary);
    } else {
      console.log("  the redis client without berth or a container: n/a (no redis-server on the host; set BENCH_REDIS_SERVER)");
    }
    console.log(`postgres ready and queried       ${summary(samples.postgres)}   (target ≤ 500 ms; ${peer("postgres")(samples.postgres)})`);
    console.log(`postgres without the init cache  ${summary(samples.postgresNoCache)}   (withInitCache(false): initdb at every start)`);

    {
      await using postgres = await new PostgreSqlContainer(fixtureTags.postgres, env).start();
      const uri = postgres.getConnectionUri();
      await pgQuery(uri, "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 1000)");
      await postgres.snapshot();
      // Back to back (the copy made in the background after a restore is not ready yet),
      // then with 300 ms of other work before each, as between the tests of a suite.
      for (const pause of [0, 300]) {
        const samples: number[] = [];
        for (let i = -1; i < runs; i++) {
          await pgQuery(uri, "DELETE FROM t");
          if (pause) await new Promise((resolve) => setTimeout(resolve, pause));
          const ms = await time(async () => {
            await postgres.restoreSnapshot();
            await pgQuery(uri, "SELECT count(*) FROM t");
          });
          if (i >= 0) samples.push(ms);
        }
        console.log(`postgres restored and queried    ${summary(samples)}   (target ≤ 100 ms; ${pause ? `${pause} ms of test before each` : "back to back"})`);
      }
    }
    console.log(`load average at end: ${load()}`);
  } finally {
    gc.stop();
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    engine.dispose();
    await execa("umount", [manager.store.netnsDir], { reject: false });
    await removeTempDir(root);
  }
}
