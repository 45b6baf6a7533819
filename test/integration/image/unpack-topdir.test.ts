// With BR_UNPACK_TOPDIR=1, `berth-runtime unpack` marks its destination as the top of a
// directory hierarchy (FS_TOPDIR_FL, `chattr +T`), so ext4 spreads the layer's directories
// over fresh block groups instead of the state root's (see spread_top_dirs in
// native/src/unpack.c; off by default). The flag is a hint: it changes where inodes go, never
// what the snapshot holds.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nativeDecompresses, nativeUnpacker } from "../../../src/image/native-unpacker.js";
import { removeTempDir } from "../../helpers/temp-dir.js";
import { makeTar, tempDirPerTest } from "../../unit/image/fixtures.js";

const binary = await nativeUnpacker({ ...process.env, BERTH_UNPACKER: "" });
const capable = binary !== null && nativeDecompresses(binary, {});

const tmp = tempDirPerTest("berth-unpack-topdir-");

const fsType = (path: string): string => execFileSync("stat", ["-f", "-c", "%T", path], { encoding: "utf8" }).trim();
const hasLsattr = spawnSync("lsattr", ["-v"]).error === undefined;
/** The attribute letters of a directory, as lsattr prints them. */
const attributes = (path: string): string => execFileSync("lsattr", ["-d", path], { encoding: "utf8" }).split(" ")[0]!;

async function unpackInto(dest: string, env: NodeJS.ProcessEnv): Promise<number | null> {
  await mkdir(dest);
  const layer = await makeTar([
    { name: "usr", type: "directory", mode: 0o755 },
    { name: "usr/bin/tool", content: "#!/bin/sh\n", mode: 0o755 },
    { name: "etc/hostname", content: "x\n" },
  ]);
  return spawnSync(binary!, ["unpack", "--unprivileged", dest], { input: layer, env: { ...process.env, ...env } }).status;
}

describe.skipIf(!capable || !hasLsattr)("berth-runtime unpack on ext4 (skipped without a built berth-runtime or lsattr)", () => {
  it.skipIf(fsType("/tmp") !== "ext2/ext3")(
    "BR_UNPACK_TOPDIR=1 marks the destination FS_TOPDIR_FL (lsattr `T`), its subdirectories not; by default nothing is marked (skipped when /tmp is not ext4)",
    async () => {
      const spread = join(tmp.path, "spread");
      expect(await unpackInto(spread, { BR_UNPACK_TOPDIR: "1" })).toBe(0);
      expect(attributes(spread)).toContain("T");
      expect(attributes(join(spread, "usr"))).not.toContain("T");
      expect(execFileSync("cat", [join(spread, "usr/bin/tool")], { encoding: "utf8" })).toBe("#!/bin/sh\n");

      const packed = join(tmp.path, "packed");
      expect(await unpackInto(packed, {})).toBe(0);
      expect(attributes(packed)).not.toContain("T");
    },
  );

  it("unpacks on a file system without the flag (tmpfs) all the same", async () => {
    const onTmpfs = join("/dev/shm", `berth-unpack-topdir-${process.pid}`);
    await mkdir(onTmpfs, { recursive: true });
    try {
      expect(fsType(onTmpfs)).toBe("tmpfs");
      expect(await unpackInto(join(onTmpfs, "d"), { BR_UNPACK_TOPDIR: "1" })).toBe(0);
      expect(execFileSync("cat", [join(onTmpfs, "d/etc/hostname")], { encoding: "utf8" })).toBe("x\n");
    } finally {
      await removeTempDir(onTmpfs);
    }
  });
});
