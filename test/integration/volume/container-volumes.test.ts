// A container's volumes as the engine makes them (Docker docs, "Volumes": an anonymous volume
// for each VOLUME of the image, "Populate a volume using a container"), made in one step of
// the volume store each: created with the container recorded as its user and filled from the
// image before it appears, released (and, anonymous, removed) in one step at remove.
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { anonymousVolumeLabel, VolumeStore } from "../../../src/volume/volume-store.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useEngineContext } from "../engine/engine-context.js";

const worker = fileURLToPath(new URL("./fill-worker.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url));
const imageTime = new Date("2021-02-03T04:05:06Z");

/** What a volumes root holds besides volumes: a create or remove cut short would leave it. */
function halfMade(volumesRoot: string): string[] {
  return existsSync(volumesRoot) ? readdirSync(volumesRoot).filter((n) => n.startsWith(".") && n !== ".locks") : [];
}

describeAsRoot("a container's volumes (root: chown, overlay mounts)", () => {
  const ctx = useEngineContext();

  beforeAll(async () => {
    // redis's shape: an empty /data given to a service user, and a VOLUME with content.
    const rootfs = join(ctx.root, "rootfs-volumes");
    cpSync(await busyboxRootfs(), rootfs, { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(rootfs, "data"), { recursive: true });
    chownSync(join(rootfs, "data"), 999, 998);
    chmodSync(join(rootfs, "data"), 0o750);
    utimesSync(join(rootfs, "data"), imageTime, imageTime);
    mkdirSync(join(rootfs, "seed", "sub"), { recursive: true });
    writeFileSync(join(rootfs, "seed", "sub", "file"), "from the image");
    chownSync(join(rootfs, "seed", "sub", "file"), 1234, 1234);
    await Image.fromRootfs(rootfs, { root: ctx.root, tag: "volumes:test", config: { Cmd: ["sh"], Volumes: { "/data": {}, "/seed": {} } } });
  }, 120_000);

  it("an image's empty VOLUME gives its anonymous volume the directory's owner, mode and times; one with content is copied; both go with remove({ volumes: true })", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "volumes:test", cmd: ["sh", "-c", "echo written > /data/by-container"] });
    const mounts = (await engine.inspect(id)).Mounts;
    const data = mounts.find((m) => m.Destination === "/data")!;
    const seed = mounts.find((m) => m.Destination === "/seed")!;
    expect([data.Type, seed.Type]).toEqual(["volume", "volume"]);
    const top = statSync(data.Source);
    expect([top.uid, top.gid, top.mode & 0o7777, top.mtime.toISOString()]).toEqual([999, 998, 0o750, imageTime.toISOString()]);
    expect(readdirSync(data.Source)).toEqual([]);
    expect(statSync(join(seed.Source, "sub", "file")).uid).toBe(1234);
    for (const m of [data, seed]) {
      expect(await engine.volumes.users(m.Name!)).toEqual([id]);
      expect((await engine.volumes.inspect(m.Name!)).Labels).toEqual({ [anonymousVolumeLabel]: "" });
    }
    // The container sees them, and what it writes lands in the volume.
    await engine.start(id);
    expect(await engine.wait(id)).toBe(0);
    expect(readdirSync(data.Source)).toEqual(["by-container"]);
    await engine.remove(id, { volumes: true });
    for (const m of [data, seed]) expect(await engine.volumes.exists(m.Name!)).toBe(false);
    expect(halfMade(engine.volumes.root)).toEqual([]);
  });

  it("a named volume with content is not filled again and outlives its containers; an anonymous volume another container mounts by name outlives the first container's remove({ volumes: true })", async () => {
    const { engine } = ctx;
    const first = await engine.create({ image: "volumes:test", cmd: ["true"], mounts: ["keep-seed:/seed"] });
    const anon = (await engine.inspect(first)).Mounts.find((m) => m.Destination === "/data")!.Name!;
    const named = await engine.volumes.inspect("keep-seed");
    writeFileSync(join(named.Mountpoint, "sub", "file"), "changed");
    const second = await engine.create({ image: "volumes:test", cmd: ["true"], mounts: ["keep-seed:/seed", `${anon}:/data`] });
    expect(readdirSync(named.Mountpoint)).toEqual(["sub"]);
    expect(await engine.volumes.users("keep-seed")).toEqual([first, second].sort());
    await engine.remove(first, { volumes: true });
    // Still used by the second container: Docker's `rm -v` keeps it too.
    expect(await engine.volumes.users(anon)).toEqual([second]);
    await engine.remove(second, { volumes: true });
    expect(await engine.volumes.exists("keep-seed")).toBe(true);
    expect(await engine.volumes.users("keep-seed")).toEqual([]);
    // Named by the second container, so not its anonymous volume to remove.
    expect(await engine.volumes.exists(anon)).toBe(true);
    await engine.volumes.remove(anon);
    await engine.volumes.remove("keep-seed");
    expect(halfMade(engine.volumes.root)).toEqual([]);
  });

  it("a create that fails after planning its volumes leaves none of them", async () => {
    const { engine } = ctx;
    const before = (await engine.volumes.list()).length;
    // The bind source of `--mount` must exist: the create fails at the mounts, after the
    // record was written and the volume of /first was made.
    await expect(engine.create({ image: "volumes:test", cmd: ["true"], mounts: ["/first", { type: "bind", source: join(ctx.root, "missing"), target: "/x", readonly: false, createSource: false, recursive: true }] })).rejects.toMatchObject({
      code: "BERTH_BIND_SOURCE_NOT_FOUND",
    });
    expect((await engine.volumes.list()).length).toBe(before);
    expect(halfMade(engine.volumes.root)).toEqual([]);
    // Refused before anything is made: no container, no name, no volume.
    const containers = (await engine.list({ all: true })).length;
    await expect(engine.create({ image: "volumes:test", cmd: ["true"], name: "bad-mounts", mounts: ["/twice", "other:/twice"] })).rejects.toMatchObject({ code: "BERTH_MOUNT_INVALID" });
    expect((await engine.list({ all: true })).length).toBe(containers);
    expect((await engine.volumes.list()).length).toBe(before);
    await engine.remove(await engine.create({ image: "volumes:test", cmd: ["true"], name: "bad-mounts" }), { volumes: true });
  });
});

describe("VolumeStore: a container's volume in one step", () => {
  it("a staging directory a crashed create left is removed by the container's release and by prune; a missing volume's release is no error", async () => {
    const root = await mkdtemp(join(tmpdir(), "berth-volumes-release-"));
    try {
      const store = new VolumeStore(root);
      const name = "a".repeat(64);
      await mkdir(join(root, `.new-${name}`, "_data"), { recursive: true });
      await mkdir(join(root, ".new-other", "_data"), { recursive: true });
      await store.release(name, "c1", { remove: true });
      await store.release("never-made", "c1");
      expect((await readdir(root)).sort()).toEqual([".locks", ".new-other"]);
      await store.prune();
      expect((await readdir(root)).sort()).toEqual([".locks"]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("release with remove keeps a volume another container uses, and removes it with the last", async () => {
    const root = await mkdtemp(join(tmpdir(), "berth-volumes-release-"));
    try {
      const store = new VolumeStore(root);
      const info = await store.create({ user: "c1" });
      await store.addUser(info.Name, "c2");
      await writeFile(join(info.Mountpoint, "f"), "x");
      await store.release(info.Name, "c1", { remove: true });
      expect(await store.users(info.Name)).toEqual(["c2"]);
      await store.release(info.Name, "c2", { remove: true });
      expect(await store.exists(info.Name)).toBe(false);
      expect(await readdir(root)).toEqual([".locks"]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("two processes creating the same named volumes for their containers at once: each volume is made and filled once, with both users", async () => {
    const root = await mkdtemp(join(tmpdir(), "berth-volumes-fill-"));
    try {
      const source = join(root, "source");
      await mkdir(join(source, "sub"), { recursive: true });
      await writeFile(join(source, "sub", "file"), "seed");
      const volumesRoot = join(root, "volumes");
      const run = (container: string) => execa(tsx, [worker, volumesRoot, "10", container, source], { timeout: 60_000 });
      expect((await Promise.all([run("c1"), run("c2")])).map((r) => r.stdout)).toEqual(["ok", "ok"]);
      const store = new VolumeStore(volumesRoot);
      expect(await store.list()).toHaveLength(10);
      for (let i = 0; i < 10; i++) {
        expect(await store.users(`shared-${i}`)).toEqual(["c1", "c2"]);
        expect(readdirSync(join(volumesRoot, `shared-${i}`, "_data", "sub"))).toEqual(["file"]);
      }
      expect(halfMade(volumesRoot)).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
