// The modules (issue 7), from a warm store (fixture images present, not timed): busybox
// started through GenericContainer; Redis started, ready and queried with the `redis`
// client; PostgreSQL started, ready and queried with `pg`; PostgreSQL restored from a
// template snapshot and queried (back to back, and with 300 ms of work between restores).
// Targets (medians): 20 / 60 / 500 / 100 ms. Beside each: the harness's own share of a busybox
// start (the total minus the engine's create and start), PostgreSQL's first start (initdb in a
// helper, committed as the cached cluster), and testcontainers-node's figures: measured side
// by side where dockerd and testcontainers are installed, else the issue's reference figures.
// Also printed: the time to restore the fixture images from their cached archives into an
// empty store (a cold build, minutes, happens only when the cache is empty).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pg from "pg";
import { createClient } from "redis";
import { GenericContainer } from "../src/harness/generic-container.js";
import { Image } from "../src/harness/image.js";
import { PostgreSqlContainer, RedisContainer } from "../src/modules/index.js";
import { NetworkManager } from "../src/network/network-manager.js";
import { NetworkStore } from "../src/network/network-store.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { ensureFixtureImages, fixtureTags } from "../test/fixtures/fixture-images.js";
import { makeTempDir, removeTempDir } from "../test/helpers/temp-dir.js";
import { quantile, summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 10);

/** testcontainers-node 11 on Docker 20.10, reaper off, as issue 7 measured them (ms). */
const reference = { busybox: 240, redis: 335, postgres: 1040 };

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

/** Whether the peer can run here: a Docker daemon binary and the testcontainers package. */
function peerAvailable(): boolean {
  const dockerd = ["/usr/bin/dockerd", "/usr/local/bin/dockerd"].some((p) => existsSync(p));
  let testcontainers = false;
  try {
    createRequire(import.meta.url).resolve("testcontainers");
    testcontainers = true;
  } catch {
    // Not installed: the reference figures stand in.
  }
  return dockerd && testcontainers;
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

export default async function modulesBench(): Promise<void> {
  const root = await makeTempDir("berth-modules-bench-");
  const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), pull: async () => {} });
  const manager = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
  const env = { engine, networkManager: manager };
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

    const samples = { busybox: [] as number[], busyboxEngine: [] as number[], redis: [] as number[], postgres: [] as number[], postgresNoCache: [] as number[] };
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
      const r = await time(async () => {
        const redis = await new RedisContainer(fixtureTags.redis, env).start();
        started = redis;
        const client = createClient({ url: redis.getConnectionUrl() });
        await client.connect();
        await client.set("k", "v");
        if ((await client.get("k")) !== "v") throw new Error("redis answered wrongly");
        client.destroy();
      });
      await started?.stop({ timeout: 0 });
      const p = await time(async () => {
        const postgres = await new PostgreSqlContainer(fixtureTags.postgres, env).start();
        started = postgres;
        await pgQuery(postgres.getConnectionUri(), "SELECT 1");
      });
      await started?.stop({ timeout: 0 });
      if (i >= 0) {
        samples.busybox.push(b);
        samples.busyboxEngine.push(b - bEngine);
        samples.redis.push(r);
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
    // No Docker daemon can run here (and none is installed); were one found, its figures would
    // belong beside these, measured in the same run.
    const peer = peerAvailable() ? "dockerd + testcontainers installed, side-by-side run not wired yet; issue 7's reference" : "n/a here (no dockerd/testcontainers); issue 7's reference";
    const ratio = (samples: number[], ref: number) => `testcontainers/berth ${(ref / quantile(samples, 0.5)).toFixed(2)}`;
    console.log(`busybox started                  ${summary(samples.busybox)}   (target ≤ 20 ms; testcontainers ${peer}: ${reference.busybox} ms, ${ratio(samples.busybox, reference.busybox)})`);
    console.log(`  harness share (minus engine create+start) ${summary(samples.busyboxEngine)}`);
    console.log(`redis ready and queried          ${summary(samples.redis)}   (target ≤ 60 ms; testcontainers: ${reference.redis} ms, ${ratio(samples.redis, reference.redis)})`);
    console.log(`postgres ready and queried       ${summary(samples.postgres)}   (target ≤ 500 ms; testcontainers: ${reference.postgres} ms, ${ratio(samples.postgres, reference.postgres)})`);
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
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    engine.dispose();
    await execa("umount", [manager.store.netnsDir], { reject: false });
    await removeTempDir(root);
  }
}
