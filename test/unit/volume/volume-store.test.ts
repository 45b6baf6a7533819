import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { prepareBindSource } from "../../../src/volume/bind-source.js";
import { Volume } from "../../../src/volume/volume.js";
import { anonymousVolumeLabel, VolumeStore } from "../../../src/volume/volume-store.js";

let root: string;
let store: VolumeStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "berth-volumes-"));
  store = new VolumeStore(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

// Docker docs, `docker volume create|inspect|ls|rm|prune`.
describe("VolumeStore", () => {
  it("creates a named volume that inspects like Docker's", async () => {
    const info = await store.create({ name: "pgdata", labels: { app: "db" } });
    expect(info).toMatchObject({ Name: "pgdata", Driver: "local", Scope: "local", Labels: { app: "db" }, Options: null });
    expect(info.Mountpoint).toBe(join(root, "pgdata", "_data"));
    expect(info.CreatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect((await stat(info.Mountpoint)).isDirectory()).toBe(true);
    expect(await store.inspect("pgdata")).toEqual(info);
  });

  it("gives an anonymous volume a 64-hex name and Docker's anonymous label", async () => {
    const info = await store.create();
    expect(info.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(info.Labels).toEqual({ [anonymousVolumeLabel]: "" });
  });

  it("creating an existing name returns the existing volume, as Docker; ifExists error refuses", async () => {
    const first = await store.create({ name: "same", labels: { v: "1" } });
    const second = await store.create({ name: "same", labels: { v: "2" } });
    expect(second).toEqual(first);
    expect(hasErrorCode(await failure(store.create({ name: "same", ifExists: "error" })), "BERTH_VOLUME_EXISTS")).toBe(true);
  });

  it("refuses bad names, other drivers and unknown driver options", async () => {
    expect(hasErrorCode(await failure(store.create({ name: "a" })), "BERTH_MOUNT_INVALID")).toBe(true);
    expect(hasErrorCode(await failure(store.create({ name: "../x" })), "BERTH_MOUNT_INVALID")).toBe(true);
    expect(hasErrorCode(await failure(store.create({ name: "vv", driver: "nfs" })), "BERTH_UNSUPPORTED")).toBe(true);
    expect((await failure(store.create({ name: "vv", driverOptions: { color: "red" } })) as Error).message).toBe('invalid option: "color"');
    expect((await failure(store.create({ name: "vv", driverOptions: { type: "tmpfs" } })) as Error).message).toMatch(/"device"/);
  });

  it("names that could not exist, and bad container ids, never reach outside the store", async () => {
    expect(hasErrorCode(await failure(store.inspect("../etc")), "BERTH_VOLUME_NOT_FOUND")).toBe(true);
    expect(hasErrorCode(await failure(store.remove("../../x")), "BERTH_VOLUME_NOT_FOUND")).toBe(true);
    await store.remove("../../x", { force: true });
    await store.create({ name: "safe" });
    expect(hasErrorCode(await failure(store.addUser("safe", "../../escape")), "BERTH_INVALID_ARGUMENT")).toBe(true);
    expect((await readdir(root)).sort()).toEqual([".locks", "safe"]);
  });

  it("inspect and remove of a missing volume: BERTH_VOLUME_NOT_FOUND, unless remove is forced", async () => {
    expect(hasErrorCode(await failure(store.inspect("nope")), "BERTH_VOLUME_NOT_FOUND")).toBe(true);
    expect(hasErrorCode(await failure(store.remove("nope")), "BERTH_VOLUME_NOT_FOUND")).toBe(true);
    await store.remove("nope", { force: true });
  });

  it("lists with Docker's filters: name substring, label, dangling, driver", async () => {
    await store.create({ name: "web-data", labels: { app: "web", tier: "front" } });
    await store.create({ name: "db-data", labels: { app: "db" } });
    await store.create({ name: "scratch" });
    await store.addUser("db-data", "c1");
    const names = async (filters: Parameters<VolumeStore["list"]>[0]) => (await store.list(filters)).map((v) => v.Name);
    expect(await names({})).toEqual(["db-data", "scratch", "web-data"]);
    expect(await names({ name: "data" })).toEqual(["db-data", "web-data"]);
    expect(await names({ label: "app" })).toEqual(["db-data", "web-data"]);
    expect(await names({ label: ["app=web", "tier"] })).toEqual(["web-data"]);
    expect(await names({ dangling: true })).toEqual(["scratch", "web-data"]);
    expect(await names({ dangling: false })).toEqual(["db-data"]);
    expect(await names({ driver: "nfs" })).toEqual([]);
  });

  it("refuses to remove a volume in use, naming the containers; removes it once unused", async () => {
    await store.create({ name: "busy" });
    expect(await store.addUser("busy", "abc")).toBe(join(root, "busy", "_data"));
    const error = await failure(store.remove("busy", { force: true }));
    expect(hasErrorCode(error, "BERTH_VOLUME_IN_USE")).toBe(true);
    expect((error as Error).message).toBe("remove busy: volume is in use - [abc]");
    await store.removeUser("busy", "abc");
    await store.remove("busy");
    expect(await store.exists("busy")).toBe(false);
    expect((await readdir(root)).filter((n) => !n.startsWith(".locks"))).toEqual([]);
  });

  it("prune removes unused anonymous volumes only, unless all (Docker 23+)", async () => {
    const anon = await store.create();
    const used = await store.create();
    await store.create({ name: "named" });
    await writeFile(join(anon.Mountpoint, "f"), "12345");
    await store.addUser(used.Name, "c");
    const result = await store.prune();
    expect(result).toEqual({ volumesDeleted: [anon.Name], spaceReclaimed: 5 });
    expect((await store.prune({ all: true, labelNot: ["keep"] })).volumesDeleted).toEqual(["named"]);
    expect((await store.list()).map((v) => v.Name)).toEqual([used.Name]);
  });

  it("a crashed create's staging directory and a crashed remove's trash are cleaned up", async () => {
    await mkdir(join(root, ".tmp-crashy-deadbeef", "_data"), { recursive: true });
    await mkdir(join(root, ".trash-gone-cafe", "_data"), { recursive: true });
    await store.create({ name: "crashy" });
    await store.prune();
    expect((await readdir(root)).sort()).toEqual([".locks", "crashy"]);
  });

  it("prune label filters", async () => {
    await store.create({ name: "a1", labels: { env: "test" } });
    await store.create({ name: "a2", labels: { env: "prod" } });
    expect((await store.prune({ all: true, label: ["env=test"] })).volumesDeleted).toEqual(["a1"]);
  });

  it("copyUpIfEmpty copies once, only into an empty volume, and not from a missing path", async () => {
    const src = await mkdtemp(join(tmpdir(), "berth-src-"));
    await writeFile(join(src, "seed"), "x");
    const v = await store.create({ name: "seeded" });
    expect(await store.copyUpIfEmpty("seeded", join(src, "missing"))).toBe(false);
    expect(await store.copyUpIfEmpty("seeded", src)).toBe(true);
    expect(await store.copyUpIfEmpty("seeded", src)).toBe(false);
    expect(await readdir(v.Mountpoint)).toEqual(["seed"]);
    await rm(src, { recursive: true });
  });

  it("copyUpIfEmpty resolves a container path inside the rootfs, never following a link out of it", async () => {
    const rootfs = await mkdtemp(join(tmpdir(), "berth-rootfs-"));
    const outside = await mkdtemp(join(tmpdir(), "berth-outside-"));
    await writeFile(join(outside, "host-secret"), "x");
    await mkdir(join(rootfs, "srv", "real"), { recursive: true });
    await writeFile(join(rootfs, "srv", "real", "inside"), "y");
    await symlink("/srv/real", join(rootfs, "data"));
    await symlink(`../../../../../../../..${outside}`, join(rootfs, "escape"));
    await store.create({ name: "in-root" });
    await store.create({ name: "escaped" });
    expect(await store.copyUpIfEmpty("in-root", { rootfs, path: "/data" })).toBe(true);
    expect(await readdir(join(root, "in-root", "_data"))).toEqual(["inside"]);
    expect(await store.copyUpIfEmpty("escaped", { rootfs, path: "/escape" })).toBe(false);
    expect(await readdir(join(root, "escaped", "_data"))).toEqual([]);
    await rm(rootfs, { recursive: true });
    await rm(outside, { recursive: true });
  });
});

// Docker docs, "Bind mounts" → "Differences between -v and --mount behavior".
describe("prepareBindSource", () => {
  it("-v creates a missing source directory", async () => {
    const source = join(root, "made", "by", "v");
    await prepareBindSource({ source, createSource: true });
    expect((await stat(source)).isDirectory()).toBe(true);
  });
  it("--mount refuses a missing source with BERTH_BIND_SOURCE_NOT_FOUND", async () => {
    const error = await failure(prepareBindSource({ source: join(root, "missing"), createSource: false }));
    expect(hasErrorCode(error, "BERTH_BIND_SOURCE_NOT_FOUND")).toBe(true);
    expect((error as Error).message).toMatch(/bind source path does not exist/);
  });
});

describe("Volume (public API)", () => {
  it("create, get, list, inspect, remove, prune", async () => {
    const v = await Volume.create({ name: "api-vol", store });
    expect((await v.inspect()).Name).toBe("api-vol");
    expect((await Volume.get("api-vol", { store })).name).toBe("api-vol");
    expect((await Volume.list({}, { store })).map((x) => x.name)).toEqual(["api-vol"]);
    await v.remove();
    expect(hasErrorCode(await failure(Volume.get("api-vol", { store })), "BERTH_VOLUME_NOT_FOUND")).toBe(true);
    await Volume.create({ store });
    expect((await Volume.prune({ store })).volumesDeleted).toHaveLength(1);
  });
});
