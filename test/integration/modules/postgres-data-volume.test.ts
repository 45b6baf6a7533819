// An image that declares its data directory a VOLUME, as the official postgres (≤ 17) does
// (`VOLUME /var/lib/postgresql/data`; the fixture image has none): the init cache moves the
// cluster out of it, and the emptied VOLUME gets a tmpfs instead of an anonymous volume at
// every start.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { PostgreSqlContainer } from "../../../src/modules/index.js";
import { relocatedPgdata } from "../../../src/modules/postgres-init-cache.js";
import { fixtureTags } from "../../fixtures/fixture-images.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createModuleWorld, queryPostgres, type ModuleWorld } from "./module-world.js";

const tag = "berth-test/postgres-volume:15";

describeAsRoot("PostgreSqlContainer on an image whose PGDATA is a VOLUME", () => {
  let world: ModuleWorld;
  const postgres = () => new PostgreSqlContainer(tag, { engine: world.engine, networkManager: world.networkManager });
  const fsType = async (c: { exec(cmd: string[]): Promise<{ stdout: string }> }, path: string) => (await c.exec(["stat", "-f", "-c", "%T", path])).stdout.trim();
  const volumeCount = async () => (await world.engine.volumes.list()).length;

  beforeAll(async () => {
    world = await createModuleWorld("berth-postgres-volume-", ["postgres"]);
    const context = await mkdtemp(join(tmpdir(), "berth-postgres-volume-ctx-"));
    try {
      await writeFile(join(context, "Dockerfile"), `FROM ${fixtureTags.postgres}\nVOLUME /var/lib/postgresql/data\n`);
      await Image.fromDockerfile(context, { root: world.root }).build(tag);
    } finally {
      await rm(context, { recursive: true, force: true });
    }
    // The first start runs initdb in a helper and caches the cluster; not what is tested here.
    await (await postgres().start()).stop({ timeout: 0 });
  }, 600_000);
  afterAll(async () => {
    await world?.dispose();
  });

  it("a cached start puts a tmpfs on the emptied VOLUME, creates no volume, and a second start() of the builder does the same", async () => {
    const before = await volumeCount();
    const builder = postgres();
    for (let i = 0; i < 2; i++) {
      await using server = await builder.start();
      expect(await fsType(server, "/var/lib/postgresql/data")).toBe("tmpfs");
      expect(await queryPostgres(server, "SHOW data_directory")).toEqual([{ data_directory: relocatedPgdata }]);
      expect(await volumeCount()).toBe(before);
    }
    expect(await volumeCount()).toBe(before);
  });

  // Also a regression: the cached start's one-line wait and relocated PGDATA stayed on the
  // builder, so this start connected during initdb's restart (ECONNRESET).
  it("without the cache (withInitCache(false) on the same builder after a cached start) the VOLUME is a volume again, holds the cluster, and the wait covers initdb", async () => {
    const builder = postgres();
    {
      await using cached = await builder.start();
      expect(await fsType(cached, "/var/lib/postgresql/data")).toBe("tmpfs");
    }
    await using server = await builder.withInitCache(false).start();
    expect(await fsType(server, "/var/lib/postgresql/data")).not.toBe("tmpfs");
    expect(await queryPostgres(server, "SHOW data_directory")).toEqual([{ data_directory: "/var/lib/postgresql/data" }]);
  });
});
