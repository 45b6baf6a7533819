// The modules' default images are upstream's (`postgres:17`, `redis:7`), pulled through
// BERTH_REGISTRY_MIRROR. Docker Hub is out of reach here, so a real registry on 127.0.0.1
// plays the mirror, holding the fixture images pushed as library/postgres:17 and
// library/redis:7, and a fresh state root pulls them from it.
import { join } from "node:path";
import { execa } from "execa";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { PostgreSqlContainer, RedisContainer, defaultPostgresImage, defaultRedisImage } from "../../../src/modules/index.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { ensureFixtureImages, fixtureTags } from "../../fixtures/fixture-images.js";
import { startRegistry, type StartedRegistry } from "../../helpers/registry-server.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

let source: string;
let root: string;
let registry: StartedRegistry;
let engine: ContainerEngine;
let manager: NetworkManager;
const savedMirror = process.env.BERTH_REGISTRY_MIRROR;

describeAsRoot("module default images through BERTH_REGISTRY_MIRROR", () => {
  beforeAll(async () => {
    source = await makeTempDir("berth-mirror-source-");
    root = await makeTempDir("berth-mirror-root-");
    registry = await startRegistry({ mode: "plain" });
    await ensureFixtureImages({ stateRoot: source });
    await (await Image.get(fixtureTags.redis, { root: source })).push(`${registry.host}/library/redis:7`);
    await (await Image.get(fixtureTags.postgres, { root: source })).push(`${registry.host}/library/postgres:17`);
    process.env.BERTH_REGISTRY_MIRROR = registry.url;
    // The engine's own pull (a RegistryClient reading the environment): nothing stubbed.
    engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run") });
    manager = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
  }, 600_000);

  afterAll(async () => {
    if (savedMirror === undefined) delete process.env.BERTH_REGISTRY_MIRROR;
    else process.env.BERTH_REGISTRY_MIRROR = savedMirror;
    if (engine) {
      for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true });
      engine.dispose();
    }
    if (manager) await execa("umount", [manager.store.netnsDir], { reject: false });
    await registry?.stop();
    if (root) await removeTempDir(root);
    if (source) await removeTempDir(source);
  });

  it("new RedisContainer() runs redis:7, pulled from the mirror into an empty store", async () => {
    expect(defaultRedisImage).toBe("redis:7");
    expect(await engine.images.find("redis:7")).toBeUndefined();
    await using redis = await new RedisContainer(undefined, { engine, networkManager: manager }).start();
    expect((await redis.executeCliCmd("PING")).trim()).toBe("PONG");
    expect(await engine.images.find("docker.io/library/redis:7")).toBeDefined();
  });

  it("new PostgreSqlContainer() runs postgres:17 from the mirror: the pulling start runs initdb, the next starts from the cached cluster", async () => {
    expect(defaultPostgresImage).toBe("postgres:17");
    for (const expectInitdb of [true, false]) {
      await using postgres = await new PostgreSqlContainer(undefined, { engine, networkManager: manager }).start();
      let logs = "";
      for await (const chunk of await postgres.logs()) logs += String(chunk);
      expect(logs.includes("init process complete")).toBe(expectInitdb);
      const client = new pg.Client({ connectionString: postgres.getConnectionUri() });
      await client.connect();
      try {
        expect((await client.query("SELECT current_database() AS d")).rows).toEqual([{ d: "test" }]);
      } finally {
        await client.end();
      }
    }
  });
});
