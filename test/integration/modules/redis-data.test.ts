// Where RedisContainer keeps /data: a tmpfs by default (no anonymous volume to create, copy up
// and remove at every start), the image's volume with withPersistence(), and whatever the user
// mounted there when they did.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RedisContainer } from "../../../src/modules/index.js";
import { fixtureTags } from "../../fixtures/fixture-images.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createModuleWorld, type ModuleWorld } from "./module-world.js";

describeAsRoot("RedisContainer's /data", () => {
  let world: ModuleWorld;
  const redis = () => new RedisContainer(fixtureTags.redis, { engine: world.engine, networkManager: world.networkManager });
  /** The filesystem type of /data and its owner, as the container sees them. */
  const dataMount = async (c: { exec(cmd: string[]): Promise<{ stdout: string }> }) => (await c.exec(["stat", "-f", "-c", "%T", "/data"])).stdout.trim();
  const owner = async (c: { exec(cmd: string[]): Promise<{ stdout: string }> }) => (await c.exec(["stat", "-c", "%U", "/data"])).stdout.trim();

  beforeAll(async () => {
    world = await createModuleWorld("berth-redis-data-", ["redis"]);
  }, 600_000);
  afterAll(async () => {
    await world?.dispose();
  });

  it("by default /data is a tmpfs owned by redis, SAVE writes into it, and no volume or mount is created or left", async () => {
    const before = (await world.engine.volumes.list()).length;
    let id: string;
    {
      await using server = await redis().start();
      id = server.getId();
      expect(await dataMount(server)).toBe("tmpfs");
      expect(await owner(server)).toBe("redis");
      expect((await server.executeCliCmd("SET", ["k", "v"])).trim()).toBe("OK");
      expect((await server.executeCliCmd("SAVE")).trim()).toBe("OK");
      expect((await server.exec(["ls", "/data"])).stdout.trim()).toBe("dump.rdb");
      expect((await world.engine.volumes.list()).length).toBe(before);
    }
    expect((await world.engine.volumes.list()).length).toBe(before);
    // The tmpfs lived in the container's mount namespace: nothing of it is left on the host.
    expect((await readFile("/proc/self/mountinfo", "utf8")).includes(id)).toBe(false);
  });

  it("withPersistence() keeps the image's /data volume, so the data survives restart()", async () => {
    await using server = await redis().withPersistence().start();
    expect(await dataMount(server)).not.toBe("tmpfs");
    expect(await owner(server)).toBe("redis");
    expect((await server.executeCliCmd("SET", ["kept", "yes"])).trim()).toBe("OK");
    // The append-only file is written at once with --appendonly yes; SIGTERM lets redis flush it.
    await server.restart();
    expect((await server.executeCliCmd("GET", ["kept"])).trim()).toBe("yes");
  });

  it("a mount the user put on /data wins over the tmpfs, and a second start() of the same builder adds no duplicate", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-redis-bind-"));
    try {
      const builder = redis().withBindMounts([{ source: dir, target: "/data", mode: "rw" }]);
      for (let i = 0; i < 2; i++) {
        await using server = await builder.start();
        expect(await dataMount(server)).not.toBe("tmpfs");
        expect((await server.executeCliCmd("SAVE")).trim()).toBe("OK");
      }
      expect(await readdir(dir)).toContain("dump.rdb");
      const tmpfsBuilder = redis();
      for (let i = 0; i < 2; i++) {
        await using server = await tmpfsBuilder.start();
        expect(await dataMount(server)).toBe("tmpfs");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
