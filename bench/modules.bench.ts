// The modules (issue 7), from a warm store (fixture images present, not timed): busybox
// started through GenericContainer; Redis started, ready and queried with the `redis`
// client; PostgreSQL started, ready and queried with `pg`; PostgreSQL restored from a
// template snapshot and queried (back to back, and with 300 ms of work between restores).
// Targets (medians): 20 / 60 / 500 / 100 ms.
// Also printed: the time to restore the fixture images from their cached archives into an
// empty store (a cold build, minutes, happens only when the cache is empty).
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
import { summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 10);

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

    const samples = { busybox: [] as number[], redis: [] as number[], postgres: [] as number[] };
    // One warm-up round each (i = -1), not counted.
    for (let i = -1; i < runs; i++) {
      // Only start (+ query) is timed; each container is stopped and removed outside.
      let started: { stop(o?: { timeout?: number }): Promise<unknown> } | undefined;
      const b = await time(async () => {
        started = await new GenericContainer(busybox, env).withCommand(["sleep", "600"]).start();
      });
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
        samples.redis.push(r);
        samples.postgres.push(p);
      }
    }
    console.log(`busybox started                  ${summary(samples.busybox)}   (target ≤ 20 ms)`);
    console.log(`redis ready and queried          ${summary(samples.redis)}   (target ≤ 60 ms)`);
    console.log(`postgres ready and queried       ${summary(samples.postgres)}   (target ≤ 500 ms)`);

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
  } finally {
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    engine.dispose();
    await execa("umount", [manager.store.netnsDir], { reject: false });
    await removeTempDir(root);
  }
}
