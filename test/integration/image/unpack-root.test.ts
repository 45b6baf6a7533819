import { lstat, mkdir, readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { execa } from "execa";
import { afterEach, beforeEach, expect, it } from "vitest";
import { unpackLayer } from "../../../src/image/layer-unpack.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { makeTar, ustarHeader } from "../../unit/image/fixtures.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeTree } from "./tree.js";

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir("berth-unpack-root-");
});
afterEach(async () => {
  await execa("umount", [join(dir, "merged")], { reject: false });
  await removeTempDir(dir);
});

/** A PAX-headed file entry whose xattr value is raw bytes (tar-stream would re-encode it). */
function paxFile(name: string, xattrs: Record<string, Buffer>, content: Buffer): Buffer {
  const records = Object.entries(xattrs).map(([k, v]) => {
    const body = Buffer.concat([Buffer.from(` SCHILY.xattr.${k}=`), v, Buffer.from("\n")]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  });
  const pax = Buffer.concat(records);
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  return Buffer.concat([header(`PaxHeaders/${name}`, pax.length, "x"), pad(pax), header(name, content.length, "0", 0o755), pad(content)]);
}

function header(name: string, size: number, type: string, mode = 0o644): Buffer {
  return ustarHeader(name, size, type, { mode, mtime: 1_700_790_272 });
}

for (const extractor of ["native", "js"] as const) describeAsRoot(`layer unpack as root with the ${extractor} extractor`, () => {
  it("keeps device nodes, fifos, ownership, setuid after chown, and security.capability", async () => {
    const cap = Buffer.from("0100000200200000000000000000000000000000", "hex"); // cap_net_bind_service, effective
    const tar = Buffer.concat([
      (await makeTar([
        { name: "dev", type: "directory", mode: 0o755 },
        { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
        { name: "dev/loop9", type: "block-device", devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
        { name: "run/fifo", type: "fifo", mode: 0o600 },
        { name: "home/user", type: "directory", uid: 1234, gid: 2345, mode: 0o750 },
        { name: "home/user/file", content: "mine", uid: 1234, gid: 2345, mode: 0o600 },
        { name: "usr/bin/su", content: "su", uid: 0, gid: 0, mode: 0o4755 },
        { name: "usr/bin/sg", content: "sg", uid: 0, gid: 42, mode: 0o2755 },
        { name: "link", type: "symlink", linkname: "home/user/file", uid: 1234, gid: 2345 },
      ])).subarray(0, -1024),
      paxFile("usr/bin/ping", { "security.capability": cap }, Buffer.from("ping")),
      Buffer.alloc(1024),
    ]);
    const root = join(dir, "root");
    await unpackLayer(Readable.from([tar]), { dest: root, compression: "none", privileged: true, extractor });
    const nul = await stat(join(root, "dev/null"));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.rdev).toBe((1 << 8) | 3);
    expect(nul.mode & 0o7777).toBe(0o666);
    const loop = await stat(join(root, "dev/loop9"));
    expect(loop.isBlockDevice()).toBe(true);
    expect(loop.gid).toBe(6);
    expect((await stat(join(root, "run/fifo"))).isFIFO()).toBe(true);
    const home = await stat(join(root, "home/user"));
    expect([home.uid, home.gid, home.mode & 0o7777]).toEqual([1234, 2345, 0o750]);
    const file = await stat(join(root, "home/user/file"));
    expect([file.uid, file.gid]).toEqual([1234, 2345]);
    expect((await stat(join(root, "usr/bin/su"))).mode & 0o7777).toBe(0o4755);
    const sg = await stat(join(root, "usr/bin/sg"));
    expect([sg.gid, sg.mode & 0o7777]).toEqual([42, 0o2755]);
    const link = await lstat(join(root, "link"));
    expect([link.uid, link.gid]).toEqual([1234, 2345]);
    const { stdout } = await execa("getfattr", ["--only-values", "-n", "security.capability", join(root, "usr/bin/ping")], {
      encoding: "buffer",
    });
    expect(Buffer.from(stdout).equals(cap)).toBe(true);
  });

  it("turns whiteouts and opaque directories into what overlayfs hides", async () => {
    const lower = join(dir, "lower");
    const upper = join(dir, "upper");
    await unpackLayer(
      Readable.from([
        await makeTar([
          { name: "etc/keep", content: "keep" },
          { name: "etc/gone", content: "gone" },
          { name: "var/cache/a", content: "a" },
          { name: "var/cache/b", content: "b" },
        ]),
      ]),
      { dest: lower, compression: "none", privileged: true, extractor },
    );
    await unpackLayer(
      Readable.from([
        await makeTar([
          { name: "etc/.wh.gone", content: "" },
          { name: "var/cache/.wh..wh..opq", content: "" },
          { name: "var/cache/new", content: "new" },
        ]),
      ]),
      { dest: upper, compression: "none", privileged: true, extractor },
    );
    const whiteout = await stat(join(upper, "etc/gone"));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
    const { stdout } = await execa("getfattr", ["--only-values", "-n", "trusted.overlay.opaque", join(upper, "var/cache")]);
    expect(stdout).toBe("y");
    await expect(lstat(join(upper, "etc/.wh.gone"))).rejects.toThrow();

    // The real check: stacked by overlayfs, the whiteout hides and the opaque dir masks.
    const merged = join(dir, "merged");
    await mkdir(merged);
    await mkdir(join(dir, "work-upper"));
    await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${upper}:${lower}`, merged]);
    try {
      expect((await readdir(join(merged, "etc"))).sort()).toEqual(["keep"]);
      expect((await readdir(join(merged, "var/cache"))).sort()).toEqual(["new"]);
      expect(await readFile(join(merged, "etc/keep"), "utf8")).toBe("keep");
    } finally {
      await execa("umount", [merged]);
    }
  });
});

describeAsRoot("the native and JavaScript extractors agree", () => {
  it("unpack a GNU tar of the busybox rootfs to the same tree as the source, mtimes included", async () => {
    const rootfs = await busyboxRootfs();
    const { stdout: tar } = await execa("tar", ["--numeric-owner", "--xattrs", "-C", rootfs, "-cf", "-", "."], { encoding: "buffer" });
    const trees: string[][] = [];
    const mtimes: string[][] = [];
    for (const extractor of ["native", "js"] as const) {
      const dest = join(dir, extractor);
      await unpackLayer(Readable.from([Buffer.from(tar)]), { dest, compression: "none", privileged: true, extractor });
      trees.push(await describeTree(dest));
      mtimes.push(await mtimesOf(dest));
    }
    expect(trees[0]).toEqual(await describeTree(rootfs));
    expect(trees[1]).toEqual(trees[0]);
    expect(mtimes[0]).toEqual(await mtimesOf(rootfs));
    expect(mtimes[1]).toEqual(mtimes[0]);
  });
});

/** `path mtime-in-seconds` of every entry but symlinks (whose mtime GNU tar does not restore either). */
async function mtimesOf(root: string): Promise<string[]> {
  const { stdout } = await execa("find", [root, "-mindepth", "1", "!", "-type", "l", "-printf", "%P %T@\\n"]);
  return stdout
    .split("\n")
    .map((line) => line.replace(/\.\d+$/, ""))
    .sort();
}
