// Where RedisContainer keeps /data: the image's anonymous volume by default, as `docker run
// redis` and testcontainers do (the RDB file saved at shutdown survives restart(), and the
// volume goes with the container), the same volume with an append-only file under
// withPersistence(), and whatever the user mounted there when they did.
import { existsSync } from "node:fs";
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
  /** The filesystem type of /data, as the container sees it. */
  const dataMount = async (c: { exec(cmd: string[]): Promise<{ stdout: string }> }) => (await c.exec(["stat", "-f", "-c", "%T", "/data"])).stdout.trim();
  const owner = async (c: { exec(cmd: string[]): Promise<{ stdout: string }> }) => (await c.exec(["stat", "-c", "%U", "/data"])).stdout.trim();
  const volumeOf = async (id: string) => (await world.engine.inspect(id)).Mounts.find((m) => m.Destination === "/data");

  beforeAll(async () => {
    world = await createModuleWorld("berth-redis-data-", ["redis"]);
  }, 600_000);
  afterAll(async () => {
    await world?.dispose();
  });

  it("by default /data is the image's anonymous volume, owned by redis: data saved at shutdown survives restart(), and the volume goes with the container", async () => {
    const before = (await world.engine.volumes.list()).length;
    let id: string;
    let mountpoint: string;
    {
      await using server = await redis().start();
      id = server.getId();
      const mount = await volumeOf(id);
      expect(mount).toMatchObject({ Type: "volume", Destination: "/data" });
      mountpoint = (await world.engine.volumes.inspect(mount!.Name!)).Mountpoint;
      expect(await dataMount(server)).not.toBe("tmpfs");
      expect(await owner(server)).toBe("redis");
      expect((await server.executeCliCmd("SET", ["kept", "yes"])).trim()).toBe("OK");
      // As with `docker restart`: redis saves its RDB file on SIGTERM (its default save
      // points), into the volume, and loads it again at start.
      await server.restart();
      expect((await server.executeCliCmd("GET", ["kept"])).trim()).toBe("yes");
      expect(await readdir(mountpoint)).toContain("dump.rdb");
      expect((await world.engine.volumes.list()).length).toBe(before + 1);
    }
    expect((await world.engine.volumes.list()).length).toBe(before);
    expect(existsSync(mountpoint)).toBe(false);
    expect((await readFile("/proc/self/mountinfo", "utf8")).includes(id)).toBe(false);
  });

  it("withPersistence() writes an append-only file into the same volume, so the data survives restart()", async () => {
    await using server = await redis().withPersistence().start();
    expect((await volumeOf(server.getId()))?.Type).toBe("volume");
    expect(await owner(server)).toBe("redis");
    expect((await server.executeCliCmd("SET", ["kept", "yes"])).trim()).toBe("OK");
    await server.restart();
    expect((await server.executeCliCmd("GET", ["kept"])).trim()).toBe("yes");
  });

  it("a mount the user put on /data wins over the volume, and a second start() of the same builder adds no duplicate", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-redis-bind-"));
    const before = (await world.engine.volumes.list()).length;
    try {
      const builder = redis().withBindMounts([{ source: dir, target: "/data", mode: "rw" }]);
      for (let i = 0; i < 2; i++) {
        await using server = await builder.start();
        expect((await volumeOf(server.getId()))?.Type).toBe("bind");
        expect((await server.executeCliCmd("SAVE")).trim()).toBe("OK");
        expect((await world.engine.volumes.list()).length).toBe(before);
      }
      expect(await readdir(dir)).toContain("dump.rdb");
      const tmpfs = redis().withTmpFs({ "/data": "rw" });
      for (let i = 0; i < 2; i++) {
        await using server = await tmpfs.start();
        expect(await dataMount(server)).toBe("tmpfs");
      }
      // Each start of a default builder gets a volume of its own, gone with its container.
      const plain = redis();
      for (let i = 0; i < 2; i++) {
        await using server = await plain.start();
        expect((await server.exec(["ls", "/data"])).stdout.trim()).toBe("");
      }
      expect((await world.engine.volumes.list()).length).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
