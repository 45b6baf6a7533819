import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Image } from "../../../src/harness/image.js";
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from "../../../src/modules/index.js";
import { initCacheKeyLabel, initCacheRepository, relocatedPgdata } from "../../../src/modules/postgres-init-cache.js";
import type { NetworkManager } from "../../../src/network/network-manager.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { fixtureTags } from "../../fixtures/fixture-images.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createModuleWorld, queryPostgres as query, type ModuleWorld } from "./module-world.js";

let root: string;
let engine: ContainerEngine;
let manager: NetworkManager;

async function logText(container: StartedPostgreSqlContainer): Promise<string> {
  let text = "";
  for await (const chunk of await container.logs()) text += String(chunk);
  return text;
}

async function cacheImages(): Promise<string[]> {
  const tags: string[] = [];
  for (const record of await engine.images.list()) for (const tag of await engine.images.tagsOf(record.id)) if (tag.startsWith(initCacheRepository)) tags.push(tag);
  return tags.sort();
}

describeAsRoot("PostgreSqlContainer's initialised-cluster cache", () => {
  let world: ModuleWorld | undefined;
  beforeAll(async () => {
    world = await createModuleWorld("berth-pg-cache-", ["postgres"]);
    ({ root, engine, networkManager: manager } = world);
  }, 600_000);
  afterAll(async () => {
    await world?.dispose();
  });

  it("the first start caches one image per image and options; later starts skip initdb, and the store does not grow per start", async () => {
    const env = { engine, networkManager: manager };
    const before = (await engine.images.list()).length;
    {
      await using first = await new PostgreSqlContainer(fixtureTags.postgres, env).withDatabase("shop").withUsername("bob").withPassword("pw").start();
      expect(await query(first, "SELECT current_user AS u, current_database() AS d")).toEqual([{ u: "bob", d: "shop" }]);
      await query(first, "CREATE TABLE written_by_first (x int)");
    }
    const cached = await cacheImages();
    expect(cached).toHaveLength(1);
    const image = await engine.images.get(cached[0]!);
    const config = JSON.parse((await engine.images.readBlob(image.id)).toString("utf8")) as { config: { Labels: Record<string, string>; Env: string[] } };
    expect(config.config.Labels[initCacheKeyLabel]).toMatch(/^[0-9a-f]{32}$/);
    // The helper's secrets are not baked into the image's config.
    expect(config.config.Env.some((e) => e.startsWith("POSTGRES_PASSWORD="))).toBe(false);

    for (let i = 0; i < 2; i++) {
      await using again = await new PostgreSqlContainer(fixtureTags.postgres, env).withDatabase("shop").withUsername("bob").withPassword("pw").start();
      const logs = await logText(again);
      expect(logs).not.toContain("init process complete");
      expect(logs.match(/ready to accept connections/g)).toHaveLength(1);
      expect(await query(again, "SELECT current_user AS u, current_database() AS d")).toEqual([{ u: "bob", d: "shop" }]);
      // Each start gets the cluster as initdb left it, not what an earlier container wrote.
      expect(await query(again, "SELECT to_regclass('written_by_first') AS t")).toEqual([{ t: null }]);
      await expect(new pg.Client({ connectionString: again.getConnectionUri().replace(":pw@", ":nope@") }).connect()).rejects.toThrow(/password authentication failed/);
    }
    // Other options: another cached image; the base image, one cache image each, nothing per start.
    {
      await using other = await new PostgreSqlContainer(fixtureTags.postgres, env).withPassword("other").start();
      expect(await query(other, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    }
    expect(await cacheImages()).toHaveLength(2);
    expect((await engine.images.list()).length).toBe(before + 2);
    expect(await engine.list({ all: true })).toEqual([]);
  });

  it("parallel first starts with the same options run initdb once (file lock) and both work", async () => {
    const env = { engine, networkManager: manager };
    const start = () => new PostgreSqlContainer(fixtureTags.postgres, env).withDatabase("parallel").start();
    const before = (await cacheImages()).length;
    const [a, b] = await Promise.all([start(), start()]);
    try {
      expect(await query(a, "SELECT current_database() AS d")).toEqual([{ d: "parallel" }]);
      expect(await query(b, "SELECT current_database() AS d")).toEqual([{ d: "parallel" }]);
      expect((await cacheImages()).length).toBe(before + 1);
    } finally {
      await a.stop({ timeout: 0 });
      await b.stop({ timeout: 0 });
    }
  });

  it("withInitCache(false) and BERTH_POSTGRES_INIT_CACHE=0 run initdb at every start and add no image", async () => {
    const env = { engine, networkManager: manager };
    const before = await cacheImages();
    {
      await using off = await new PostgreSqlContainer(fixtureTags.postgres, env).withDatabase("nocache").withInitCache(false).start();
      expect(await logText(off)).toContain("init process complete");
      expect(await query(off, "SELECT current_database() AS d")).toEqual([{ d: "nocache" }]);
    }
    process.env.BERTH_POSTGRES_INIT_CACHE = "0";
    try {
      await using off = await new PostgreSqlContainer(fixtureTags.postgres, env).withDatabase("nocache2").start();
      expect(await logText(off)).toContain("init process complete");
    } finally {
      delete process.env.BERTH_POSTGRES_INIT_CACHE;
    }
    expect(await cacheImages()).toEqual(before);
  });

  it("an image that declares its PGDATA a volume, as the official one: the cluster moves beside it and is cached", async () => {
    const context = await mkdtemp(join(tmpdir(), "berth-pg-volume-"));
    try {
      await writeFile(join(context, "Dockerfile"), `FROM ${fixtureTags.postgres}\nVOLUME /var/lib/postgresql/data\n`);
      await Image.fromDockerfile(context, { root }).build("berth-test/postgres-with-volume:1");
    } finally {
      await rm(context, { recursive: true, force: true });
    }
    const env = { engine, networkManager: manager };
    for (let i = 0; i < 2; i++) {
      await using container = await new PostgreSqlContainer("berth-test/postgres-with-volume:1", env).withDatabase("official").start();
      expect(await query(container, "SHOW data_directory")).toEqual([{ data_directory: relocatedPgdata }]);
      expect(await query(container, "SELECT current_database() AS d")).toEqual([{ d: "official" }]);
      if (i === 1) expect(await logText(container)).not.toContain("init process complete");
    }
  });

  it("a first start whose initdb fails rejects with the entrypoint's words, and leaves no container and no cached image", async () => {
    const env = { engine, networkManager: manager };
    const before = await cacheImages();
    const error = await new PostgreSqlContainer(fixtureTags.postgres, env).withPassword("").withStartupTimeout(60_000).start().catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_MODULE_COMMAND_FAILED")).toBe(true);
    expect(String((error as Error).message)).toMatch(/superuser password is not specified/);
    expect(await cacheImages()).toEqual(before);
    expect(await engine.list({ all: true })).toEqual([]);
  });
});
