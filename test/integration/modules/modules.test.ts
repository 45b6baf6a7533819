import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { createClient } from "redis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { PostgreSqlContainer, RedisContainer } from "../../../src/modules/index.js";
import type { NetworkManager } from "../../../src/network/network-manager.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { ensureFixtureImages, fixtureTags } from "../../fixtures/fixture-images.js";
import { failure } from "../../helpers/failure.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createModuleWorld, queryPostgres, type ModuleWorld } from "./module-world.js";

let root: string;
let engine: ContainerEngine;
let manager: NetworkManager;

/** Sends `request` to a Redis server on localhost:`port` and returns its first reply. */
async function rawRedis(port: number, request: string): Promise<string> {
  const socket = connect(port, "localhost");
  socket.setTimeout(10_000, () => socket.destroy(new Error("no reply from redis")));
  socket.write(request);
  try {
    for await (const chunk of socket) return String(chunk);
    return "";
  } finally {
    socket.destroy();
  }
}

describeAsRoot("modules on the fixture images (postgres, redis)", () => {
  let world: ModuleWorld | undefined;
  beforeAll(async () => {
    world = await createModuleWorld("berth-modules-");
    ({ root, engine, networkManager: manager } = world);
  }, 600_000);
  afterAll(async () => {
    await world?.dispose();
  });

  it("PostgreSqlContainer: pg creates, inserts and selects; snapshot, change, restoreSnapshot brings the snapshot back", async () => {
    await using postgres = await new PostgreSqlContainer(fixtureTags.postgres, { engine, networkManager: manager })
      .withDatabase("app")
      .withUsername("alice")
      .withPassword("s3cret:/@")
      .start();
    expect(postgres.getDatabase()).toBe("app");
    expect(postgres.getUsername()).toBe("alice");
    expect(postgres.getPassword()).toBe("s3cret:/@");
    expect(postgres.getHost()).toBe("localhost");
    expect(postgres.getConnectionUri()).toBe(`postgres://alice:s3cret%3A%2F%40@localhost:${postgres.getPort()}/app`);

    const query = (sql: string) => queryPostgres(postgres, sql);
    expect(await query("SELECT current_user AS u, current_database() AS d")).toEqual([{ u: "alice", d: "app" }]);
    await query("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)");
    await query("INSERT INTO notes (body) VALUES ('first')");
    expect(await query("SELECT body FROM notes")).toEqual([{ body: "first" }]);

    // A client kept open across the snapshot: it is disconnected, not a reason to fail.
    const held = new pg.Client({ connectionString: postgres.getConnectionUri() });
    held.on("error", () => {});
    await held.connect();
    await postgres.snapshot();
    await held.end().catch(() => {});

    await query("INSERT INTO notes (body) VALUES ('second')");
    await query("CREATE TABLE scratch (x int)");
    expect(await query("SELECT count(*)::int AS n FROM notes")).toEqual([{ n: 2 }]);
    await postgres.restoreSnapshot();
    expect(await query("SELECT body FROM notes")).toEqual([{ body: "first" }]);
    expect(await query("SELECT to_regclass('scratch') AS t")).toEqual([{ t: null }]);

    // Restoring twice from the same snapshot works: the template is left as it was.
    await query("DELETE FROM notes");
    await postgres.restoreSnapshot();
    expect(await query("SELECT count(*)::int AS n FROM notes")).toEqual([{ n: 1 }]);

    const missing = await failure(postgres.restoreSnapshot("no_such_snapshot"));
    expect(hasErrorCode(missing, "BERTH_MODULE_COMMAND_FAILED")).toBe(true);
    expect(missing.message).toContain("no_such_snapshot");
    const bad = await failure(postgres.snapshot("bad name; DROP"));
    expect(hasErrorCode(bad, "BERTH_INVALID_ARGUMENT")).toBe(true);
    // The wrong password is refused: the fixture uses password auth over TCP, as upstream.
    const wrong = new pg.Client({ connectionString: postgres.getConnectionUri().replace("s3cret", "wrong") });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
  });

  it("restoreSnapshot swaps in a copy made ahead (renames, not a copy, even with a client connected); replaced databases and copies do not pile up", async () => {
    await using postgres = await new PostgreSqlContainer(fixtureTags.postgres, { engine, networkManager: manager }).withDatabase("swap").start();
    const admin = new pg.Client({ connectionString: postgres.getConnectionUri().replace(/\/swap$/, "/postgres") });
    await admin.connect();
    try {
      const spares = async () => (await admin.query("SELECT oid::int AS oid FROM pg_database WHERE datname LIKE 'migrated_template_b%'")).rows.map((r: { oid: number }) => r.oid);
      const current = async () => (await admin.query("SELECT oid::int AS oid FROM pg_database WHERE datname = 'swap'")).rows[0]?.oid as number | undefined;
      const waitForSpares = async () => {
        for (let i = 0; i < 600 && (await spares()).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
        return spares();
      };
      await admin.query("SELECT 1");
      const app = new pg.Client({ connectionString: postgres.getConnectionUri() });
      await app.connect();
      await app.query("CREATE TABLE items (v int); INSERT INTO items VALUES (1)");
      await app.end();
      await postgres.snapshot();
      for (let round = 0; round < 3; round++) {
        const ready = await waitForSpares();
        expect(ready).toHaveLength(2);
        const held = new pg.Client({ connectionString: postgres.getConnectionUri() });
        held.on("error", () => {});
        await held.connect();
        await held.query("INSERT INTO items VALUES (2)");
        await postgres.restoreSnapshot();
        expect(ready).toContain(await current());
        await held.end().catch(() => {});
        const check = new pg.Client({ connectionString: postgres.getConnectionUri() });
        await check.connect();
        expect((await check.query("SELECT count(*)::int AS n FROM items")).rows).toEqual([{ n: 1 }]);
        await check.end();
      }
      await waitForSpares();
      // Dropped in the background: give the last drop a moment.
      for (let i = 0; i < 200 && (await admin.query("SELECT 1 FROM pg_database WHERE datname LIKE 'berth_trash_%'")).rowCount! > 0; i++) await new Promise((r) => setTimeout(r, 50));
      const names = (await admin.query("SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY datname")).rows.map((r: { datname: string }) => r.datname);
      expect(names.filter((n) => n.startsWith("berth_trash_"))).toEqual([]);
      expect(names.filter((n) => n.startsWith("migrated_template_b"))).toHaveLength(2);
    } finally {
      await admin.end();
    }
  });

  it("ensureFixtureImages: a second call finds both images in the store with their cache keys", async () => {
    expect((await ensureFixtureImages({ stateRoot: root })).sources).toEqual({ postgres: "store", redis: "store" });
  });

  it("PostgreSqlContainer defaults (test/test/test) and the image's /docker-entrypoint-initdb.d scripts, as upstream", async () => {
    await using postgres = await new PostgreSqlContainer(fixtureTags.postgres, { engine, networkManager: manager })
      .withCopyContentToContainer([{ content: "CREATE TABLE seeded (v text); INSERT INTO seeded VALUES ('from init');\n", target: "/docker-entrypoint-initdb.d/seed.sql" }])
      .start();
    expect(postgres.getConnectionUri()).toBe(`postgres://test:test@localhost:${postgres.getPort()}/test`);
    expect(await queryPostgres(postgres, "SELECT v FROM seeded")).toEqual([{ v: "from init" }]);
  });

  it("RedisContainer: the redis client sets and gets with the password; executeCliCmd; no password refused", async () => {
    await using redis = await new RedisContainer(fixtureTags.redis, { engine, networkManager: manager }).withPassword("p@ss word").start();
    expect(redis.getConnectionUrl()).toBe(`redis://:p%40ss%20word@localhost:${redis.getPort()}`);
    const client = createClient({ url: redis.getConnectionUrl() });
    await client.connect();
    try {
      await client.set("greeting", "hello");
      expect(await client.get("greeting")).toBe("hello");
    } finally {
      client.destroy();
    }
    expect((await redis.executeCliCmd("GET", ["greeting"])).trim()).toBe("hello");
    expect((await redis.executeCliCmd("PING")).trim()).toBe("PONG");

    // Raw RESP over TCP: node-redis 6 starts with HELLO and retries a refused one forever.
    expect(await rawRedis(redis.getPort(), "PING\r\n")).toMatch(/^-NOAUTH/);
  });

  it("RedisContainer.withPersistence(dir): data written with appendonly is found by a new container on the same directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-redis-data-"));
    try {
      {
        await using first = await new RedisContainer(fixtureTags.redis, { engine, networkManager: manager }).withPersistence(dir).start();
        expect((await first.executeCliCmd("SET", ["kept", "yes"])).trim()).toBe("OK");
        expect((await first.executeCliCmd("CONFIG", ["GET", "appendonly"])).trim()).toBe("appendonly\nyes");
      }
      await using second = await new RedisContainer(fixtureTags.redis, { engine, networkManager: manager }).withPersistence(dir).start();
      expect((await second.executeCliCmd("GET", ["kept"])).trim()).toBe("yes");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
