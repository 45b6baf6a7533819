// Whiteouts where the kernel refuses a 0/0 character device: a directory on overlayfs (as a
// state root is when rootless berth runs in a container on overlayfs). overlayfs refuses the
// device to everyone, root included, so these tests make it real as root. There the
// unprivileged unpack writes the form fuse-overlayfs reads (an empty `.wh.NAME` file), which
// a real fuse-overlayfs then reads; commit's diff reads that form back out of an upper
// directory fuse-overlayfs wrote.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import tar from "tar-stream";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { RootfsView } from "../../../src/build/rootfs-view.js";
import { isBerthError } from "../../../src/common/berth-error.js";
import { unpackLayer } from "../../../src/image/layer-unpack.js";
import { diffUpperDir } from "../../../src/runtime/engine/container-commit.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { makeTar } from "../../unit/image/fixtures.js";
import { describeTree } from "./tree.js";

/** A layer deleting lower files and a directory, replacing one name twice, and an opaque directory. */
const layer = () =>
  makeTar([
    { name: "etc", type: "directory", mode: 0o755 },
    { name: "etc/keep", content: "k" },
    // Made, then deleted by this layer's own whiteout: the whiteout replaces it, as a device would.
    { name: "etc/gone", content: "g" },
    { name: "etc/.wh.gone" },
    { name: "etc/.wh.lower" },
    // A whiteout, then the name again: the later entry replaces the whiteout.
    { name: "etc/back", content: "1" },
    { name: "etc/.wh.back" },
    { name: "etc/back", content: "2" },
    { name: ".wh.gonedir" },
    { name: "opq", type: "directory", mode: 0o755 },
    { name: "opq/.wh..wh..opq" },
    { name: "opq/new", content: "n" },
  ]);

/** What a lower layer holds that the layer above hides. */
async function lowerLayer(path: string): Promise<void> {
  for (const d of ["etc", "opq", "gonedir"]) await mkdir(join(path, d), { recursive: true });
  for (const f of ["etc/lower", "etc/kept-lower", "etc/gone", "etc/back", "opq/old", "gonedir/file"]) await writeFile(join(path, f), f);
}

let dir: string;
/** Mounted by a test, unmounted after it. */
const mounts: string[] = [];

/** Mounts fuse-overlayfs (as root, in the foreground's stead: it detaches, and exits at unmount). */
async function fuseOverlay(lowers: string[], at: string, env: Record<string, string> = {}): Promise<string> {
  for (const d of ["upper", "work", "merged"]) await mkdir(join(at, d), { recursive: true });
  const merged = join(at, "merged");
  await execa("fuse-overlayfs", ["-o", `lowerdir=${lowers.join(":")},upperdir=${join(at, "upper")},workdir=${join(at, "work")}`, merged], { timeout: 30_000, env });
  mounts.push(merged);
  return merged;
}

async function unmountAll(): Promise<void> {
  for (const m of mounts.splice(0).reverse()) await execa("umount", [m], { reject: false, timeout: 30_000 });
}

const fuseOverlayfsPids = async () => (await execa("pgrep", ["-f", `fuse-overlayfs.*${dir}`], { reject: false })).stdout.split("\n").filter(Boolean);

describeAsRoot("whiteouts of an unprivileged unpack where the kernel refuses a 0/0 device (a directory on overlayfs)", () => {
  let onOverlay: string;

  beforeAll(async () => {
    await execa("sh", ["-c", "command -v fuse-overlayfs && command -v getfattr"]).catch(() => {
      throw new Error("fuse-overlayfs or getfattr is missing: install fuse-overlayfs and attr (.ci/packages.txt)");
    });
    dir = await makeTempDir("berth-wh-files-");
    const ovl = join(dir, "ovl");
    for (const d of ["l", "u", "w", "m"]) await mkdir(join(ovl, d), { recursive: true });
    await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${ovl}/l,upperdir=${ovl}/u,workdir=${ovl}/w`, `${ovl}/m`]);
    onOverlay = join(ovl, "m");
    await lowerLayer(join(dir, "lower"));
  });

  afterEach(unmountAll);

  afterAll(async () => {
    await unmountAll();
    if (dir) {
      await execa("umount", [join(dir, "ovl", "m")], { reject: false, timeout: 30_000 });
      await removeTempDir(dir);
    }
  });

  for (const extractor of ["native", "js"] as const) {
    it(`${extractor} extractor: .wh.NAME empty files and the opaque xattr, no probe left behind; fuse-overlayfs over the snapshot hides the deleted files and the opaque directory's lower content`, async () => {
      const dest = join(onOverlay, `snap-${extractor}`);
      await unpackLayer(Readable.from([await layer()]), { dest, compression: "none", privileged: false, extractor });
      expect((await describeTree(dest)).map((l) => l.replace(/ [0-9a-f]{16}$/, ""))).toEqual([
        ".wh.gonedir f 0 0:0",
        "etc d 755 0:0",
        "etc/.wh.gone f 0 0:0",
        "etc/.wh.lower f 0 0:0",
        "etc/back f 644 0:0",
        "etc/keep f 644 0:0",
        "opq d 755 0:0",
        "opq/new f 644 0:0",
      ]);
      expect(await readFile(join(dest, "etc/back"), "utf8")).toBe("2");
      expect((await execa("getfattr", ["--only-values", "-n", "user.overlay.opaque", join(dest, "opq")])).stdout).toBe("y");

      const merged = await fuseOverlay([dest, join(dir, "lower")], join(dir, `fuse-${extractor}`));
      expect((await readdir(merged)).sort()).toEqual(["etc", "opq"]);
      expect((await readdir(join(merged, "etc"))).sort()).toEqual(["back", "keep", "kept-lower"]);
      expect(await readFile(join(merged, "etc/back"), "utf8")).toBe("2");
      expect(await readdir(join(merged, "opq"))).toEqual(["new"]);
      expect(existsSync(join(merged, "etc/.wh.lower"))).toBe(false);
      await unmountAll();
      expect(await fuseOverlayfsPids()).toEqual([]);

      // The builder's view of an image's snapshots (COPY's destination rules) reads them alike.
      const image = new RootfsView([join(dir, "lower"), dest]);
      for (const gone of ["/etc/lower", "/etc/gone", "/gonedir", "/gonedir/file"]) expect(await image.stat(gone), gone).toBeUndefined();
      expect(await image.readFile("/etc/lower")).toBeUndefined();
      expect(await image.readFile("/gonedir/file")).toBeUndefined();
      expect(await image.readFile("/etc/kept-lower")).toBe("etc/kept-lower");
      expect(await image.readFile("/etc/back")).toBe("2");
      expect((await image.stat("/opq/new"))?.isFile()).toBe(true);
    });

    it(`${extractor} extractor: root keeps the device (a privileged unpack there fails with BERTH_IO), and where the device can be made the unprivileged unpack makes it`, async () => {
      const failed = await unpackLayer(Readable.from([await layer()]), { dest: join(onOverlay, `priv-${extractor}`), compression: "none", privileged: true, extractor }).then(
        () => "unpacked",
        (e: unknown) => e,
      );
      expect(isBerthError(failed) ? failed.code : failed).toBe("BERTH_IO");

      const plain = join(dir, `plain-${extractor}`);
      await unpackLayer(Readable.from([await layer()]), { dest: plain, compression: "none", privileged: false, extractor });
      expect((await describeTree(plain)).filter((l) => /\.wh\.| c /.test(l))).toEqual(["etc/gone c 0 0:0 0", "etc/lower c 0 0:0 0", "gonedir c 0 0:0 0"]);
    });
  }

  for (const form of ["files", "devices"] as const) {
    it(`commit's diff of an upper directory where fuse-overlayfs kept whiteouts as ${form}: each deletion once${form === "files" ? " (a device beside the file too)" : ""}, the opaque directory once; that layer, unpacked unprivileged on overlayfs, hides the same`, async () => {
      const base = join(dir, `commit-lower-${form}`);
      await lowerLayer(base);
      // FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT: fuse-overlayfs's own switch for a host where it
      // cannot make the device (it finds that out by itself where mknod is refused).
      const at = join(dir, `commit-${form}`);
      const merged = await fuseOverlay([base], at, form === "files" ? { FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT: "1" } : {});
      await execa("sh", ["-c", `cd '${merged}' && rm etc/gone etc/lower && rm -r gonedir opq && mkdir opq && echo x > opq/x`]);
      await unmountAll();
      const upper = join(at, "upper");
      const kinds = (await describeTree(upper)).map((l) => l.split(" ").slice(0, 2).join(" "));
      if (form === "files") {
        expect(kinds).toEqual([".wh.gonedir f", "etc d", "etc/.wh.gone f", "etc/.wh.lower f", "opq d", "opq/.wh..wh..opq f", "opq/x f"]);
        // The kernel's form beside fuse-overlayfs's for the same name: one whiteout in the layer.
        await execa("mknod", ["-m", "000", join(upper, "etc/gone"), "c", "0", "0"]);
      } else {
        // Beside its `.wh..wh..opq`, fuse-overlayfs whites out the name `.wh..opq` too.
        expect(kinds).toEqual(["etc d", "etc/gone c", "etc/lower c", "gonedir c", "opq d", "opq/.wh..opq c", "opq/.wh..wh..opq f", "opq/x f"]);
      }

      const diff = await diffUpperDir(upper);
      const names: string[] = [];
      const extract = tar.extract();
      extract.on("entry", (header, body, next) => {
        names.push(header.name);
        body.on("end", () => next());
        body.resume();
      });
      await pipeline(Readable.from([diff]), extract);
      const expected = ["etc/", "etc/.wh.gone", "etc/.wh.lower", "opq/", "opq/.wh..wh..opq", "opq/x"];
      expect(names.filter((n) => n !== ".wh.gonedir")).toEqual(expected);
      expect(names.filter((n) => n === ".wh.gonedir")).toEqual([".wh.gonedir"]);

      const snapshot = join(onOverlay, `committed-${form}`);
      await unpackLayer(Readable.from([diff]), { dest: snapshot, compression: "none", privileged: false });
      const view = await fuseOverlay([snapshot, base], join(dir, `committed-view-${form}`));
      expect((await readdir(view)).sort()).toEqual(["etc", "opq"]);
      expect((await readdir(join(view, "etc"))).sort()).toEqual(["back", "kept-lower"]);
      expect(await readdir(join(view, "opq"))).toEqual(["x"]);
      await unmountAll();
      expect(await fuseOverlayfsPids()).toEqual([]);
    });
  }
});
