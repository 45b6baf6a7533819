import { chmod, chown, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hasErrorCode, isRoot } from "../../../src/common/index.js";
import { VolumeStore } from "../../../src/volume/volume-store.js";

const worker = fileURLToPath(new URL("./create-worker.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url));

let root: string;
let store: VolumeStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "berth-volumes-it-"));
  store = new VolumeStore(join(root, "volumes"));
});
afterEach(async () => {
  // A failed test must not leave a mount behind under the temp root.
  const mounts = await readFile("/proc/self/mountinfo", "utf8");
  for (const line of mounts.split("\n")) {
    const point = line.split(" ")[4];
    if (point?.startsWith(root)) await execa("umount", ["-l", point]).catch(() => {});
  }
  await rm(root, { recursive: true, force: true });
});

async function isMounted(path: string): Promise<boolean> {
  return (await readFile("/proc/self/mountinfo", "utf8")).split("\n").some((l) => l.split(" ")[4] === path);
}

// Docker docs, "Volumes" → "Populate a volume using a container": the image's content at the
// mount point is copied into an empty volume.
describe.skipIf(!isRoot())("VolumeStore copy-up (root: chown and xattrs need it)", () => {
  it("keeps ownership, modes, times, symlinks, hard links and xattrs, and the source dir's owner and mode", async () => {
    const src = join(root, "image", "var", "lib", "app");
    await mkdir(join(src, "sub"), { recursive: true });
    await writeFile(join(src, "config"), "secret");
    await chown(join(src, "config"), 1234, 5678);
    await chmod(join(src, "config"), 0o640);
    await writeFile(join(src, "sub", "tool"), "#!/bin/sh\n");
    await chmod(join(src, "sub", "tool"), 0o4755);
    await chown(join(src, "sub"), 70, 70);
    await chmod(join(src, "sub"), 0o700);
    await symlink("/etc/does-not-matter", join(src, "abs-link"));
    await symlink("config", join(src, "rel-link"));
    await link(join(src, "config"), join(src, "hardlink"));
    await utimes(join(src, "config"), new Date("2020-01-02T03:04:05Z"), new Date("2020-01-02T03:04:05Z"));
    await execa("setfattr", ["-n", "user.berth", "-v", "kept", join(src, "config")]);
    await chown(src, 999, 999);
    await chmod(src, 0o750);

    const volume = await store.create({ name: "seeded" });
    expect(await store.copyUpIfEmpty("seeded", src)).toBe(true);
    const data = volume.Mountpoint;

    const config = await stat(join(data, "config"));
    expect([config.uid, config.gid, config.mode & 0o7777]).toEqual([1234, 5678, 0o640]);
    expect(config.mtime.toISOString()).toBe("2020-01-02T03:04:05.000Z");
    expect((await stat(join(data, "sub", "tool"))).mode & 0o7777).toBe(0o4755);
    const sub = await stat(join(data, "sub"));
    expect([sub.uid, sub.mode & 0o7777]).toEqual([70, 0o700]);
    expect(await readlink(join(data, "abs-link"))).toBe("/etc/does-not-matter");
    expect((await lstat(join(data, "rel-link"))).isSymbolicLink()).toBe(true);
    expect((await stat(join(data, "hardlink"))).ino).toBe(config.ino);
    expect((await execa("getfattr", ["--only-values", "-n", "user.berth", join(data, "config")])).stdout).toBe("kept");
    const top = await stat(data);
    expect([top.uid, top.gid, top.mode & 0o7777]).toEqual([999, 999, 0o750]);

    // Once: a second container mounting the now non-empty volume copies nothing.
    await writeFile(join(src, "later"), "x");
    expect(await store.copyUpIfEmpty("seeded", src)).toBe(false);
    expect(await readdir(data)).not.toContain("later");
  });

  it("two copy-ups at once copy once", async () => {
    const src = join(root, "src");
    await mkdir(src);
    await writeFile(join(src, "a"), "a");
    await store.create({ name: "once" });
    const results = await Promise.all([store.copyUpIfEmpty("once", src), store.copyUpIfEmpty("once", src)]);
    expect(results.sort()).toEqual([false, true]);
  });
});

// Docker docs, `docker volume create`: creating an existing name returns it ("If you specify
// a volume name already in use on the current driver, Docker assumes you want to re-use the
// existing volume and does not return an error").
describe("VolumeStore across processes", () => {
  it("concurrent creates of the same names from two processes: one creates each, both get the same volume", async () => {
    const volumesRoot = join(root, "volumes");
    const run = (label: string) => execa(tsx, [worker, volumesRoot, "15", label], { timeout: 60_000 });
    const [a, b] = await Promise.all([run("a"), run("b")]);
    const ra = JSON.parse(a.stdout) as { name: string; createdAt: string; labels: Record<string, string> }[];
    const rb = JSON.parse(b.stdout) as typeof ra;
    for (let i = 0; i < 15; i++) {
      // Whoever won, both processes were handed the same volume (same labels, same time).
      expect(ra[i]).toEqual(rb[i]);
    }
    const listed = await store.list();
    expect(listed).toHaveLength(15);
    // Every meta.json is whole and nothing half-made is left beside the volumes.
    expect((await readdir(volumesRoot)).filter((n) => n.startsWith(".tmp-") || n.startsWith(".trash-"))).toEqual([]);
  });
});

// Docker docs, `docker volume create` → "Driver-specific options" of the local driver.
describe.skipIf(!isRoot())("VolumeStore driver options (root: mount)", () => {
  it("a tmpfs volume is mounted for its first user and unmounted when the last leaves", async () => {
    const v = await store.create({ name: "fast", driverOptions: { type: "tmpfs", device: "tmpfs", o: "size=1m,uid=1000" } });
    expect(v.Options).toEqual({ type: "tmpfs", device: "tmpfs", o: "size=1m,uid=1000" });
    expect(await isMounted(v.Mountpoint)).toBe(false);
    await store.addUser("fast", "c1");
    await store.addUser("fast", "c2");
    expect(await isMounted(v.Mountpoint)).toBe(true);
    expect((await stat(v.Mountpoint)).uid).toBe(1000);
    await store.removeUser("fast", "c1");
    expect(await isMounted(v.Mountpoint)).toBe(true);
    await store.removeUser("fast", "c2");
    expect(await isMounted(v.Mountpoint)).toBe(false);
    await store.remove("fast");
  });

  it("a bind-backed volume shows the device's files; a missing device is BERTH_BIND_SOURCE_NOT_FOUND", async () => {
    const device = join(root, "device");
    await mkdir(device);
    await writeFile(join(device, "hello"), "hi");
    await store.create({ name: "bound", driverOptions: { type: "none", device, o: "bind" } });
    const data = await store.addUser("bound", "c1");
    expect(await readFile(join(data, "hello"), "utf8")).toBe("hi");
    await store.removeUser("bound", "c1");
    expect(await isMounted(data)).toBe(false);

    await store.create({ name: "dangling", driverOptions: { type: "none", device: join(root, "nope"), o: "bind" } });
    const error = await store.addUser("dangling", "c1").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_BIND_SOURCE_NOT_FOUND")).toBe(true);
    expect(await store.users("dangling")).toEqual([]);
  });

  it("removing a volume a crashed engine left mounted unmounts it first", async () => {
    await store.create({ name: "leftover", driverOptions: { type: "tmpfs", device: "tmpfs" } });
    const data = await store.addUser("leftover", "gone");
    await rm(join(root, "volumes", "leftover", "users", "gone"));
    await store.remove("leftover");
    expect(await isMounted(data)).toBe(false);
  });
});
