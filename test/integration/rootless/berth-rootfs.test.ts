// berth-rootfs (native/rootfs/berth-rootfs.c) answers what the engine asks of a root it cannot
// read itself; its answers must be the ones the engine gets from a root it reads directly.
// Asked here of a root directory as root, in this process's own user namespace (which it then
// does not join): the chroot and the symlink rules are the same as in a container's.
import { chmod, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { bundledRuntime } from "../../../src/common/bundled-runtime.js";
import { directRootfsView, workerRootfsView } from "../../../src/runtime/rootless/rootfs-view.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const probe = join(bundledRuntime() ?? "native/build/berth-runtime", "..", "berth-rootfs");

describeAsRoot("berth-rootfs", () => {
  let dir: string;
  beforeEach(async () => {
    if (!existsSync(probe)) throw new Error(`${probe} is missing: run make -C native`);
    dir = await makeTempDir("berth-rootfs-");
    await mkdir(join(dir, "bin"), { recursive: true });
    await mkdir(join(dir, "etc"), { recursive: true });
    await mkdir(join(dir, "data", "seed"), { recursive: true });
    await writeFile(join(dir, "bin", "tool"), "#!/bin/sh\n");
    await chmod(join(dir, "bin", "tool"), 0o755);
    await writeFile(join(dir, "bin", "data"), "x");
    // Absolute and climbing links resolve inside the root, never to the host's files.
    await symlink("/bin/tool", join(dir, "bin", "linked"));
    await symlink("/bin/sh", join(dir, "bin", "hostsh"));
    await symlink("../../../../../../bin/tool", join(dir, "bin", "climbing"));
    await symlink("/data", join(dir, "volume"));
    await symlink("/etc/passwd", join(dir, "etc", "passwd-link"));
    await writeFile(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n");
    await writeFile(join(dir, "etc", "group"), "root:x:0:\nusers:x:100:user\n");
  });
  afterEach(async () => {
    if (dir) await removeTempDir(dir);
  });

  it("gives the command check and the user the engine finds in a root it reads itself (symlinks resolved inside the root)", async () => {
    const direct = directRootfsView(dir);
    const probed = workerRootfsView(process.pid, dir, { container: "c", probe });
    const env = ["PATH=/usr/bin:/bin"];
    for (const command of ["tool", "linked", "climbing", "/bin/tool", "nope", "hostsh", "data", "/bin", "/missing", "bin/tool"]) {
      expect(await probed.check(command, env), command).toEqual(await direct.check(command, env));
    }
    expect((await probed.check("hostsh", env)).problem?.exitCode).toBe(127);
    for (const user of ["user", "1000", "0:100", "user:users"]) {
      expect(await probed.check("tool", env, user, ["users"]), user).toEqual(await direct.check("tool", env, user, ["users"]));
    }
    const failed = await probed.check("tool", env, "nobody").catch((e: unknown) => e);
    expect(hasErrorCode(failed, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("prepare makes the working directory through the root's symlinks, resolves the user and finds the volumes' source directories", async () => {
    const probed = workerRootfsView(process.pid, dir, { container: "c", probe });
    const found = await probed.prepare("/volume/work/dir", "user", [], ["/volume/seed", "/etc/passwd", "/missing", "/volume"]);
    expect(found.workdirCreated).toBe(true);
    expect(await readdir(join(dir, "data", "work"))).toEqual(["dir"]);
    expect(found.user).toMatchObject({ uid: 1000, gid: 1000, home: "/home/user", name: "user" });
    // Only directories, named by their resolved path under the root.
    expect(found.sources).toEqual([join(dir, "data/seed"), undefined, undefined, join(dir, "data")]);
    expect((await probed.prepare("/volume/work/dir", "user", [], [])).workdirCreated).toBe(false);
    // A working directory over a file fails, with the container.
    const failed = await probed.prepare("/etc/passwd/x", "user", [], []).catch((e: unknown) => e);
    expect(hasErrorCode(failed, "BERTH_IO") && failed.context.container).toBe("c");
  });

  it("a FIFO where /etc/passwd should be does not hang it, and a missing root fails with BERTH_ROOTLESS_FAILED", async () => {
    await execa("rm", [join(dir, "etc", "passwd")]);
    await execa("mkfifo", [join(dir, "etc", "passwd")]);
    const probed = workerRootfsView(process.pid, dir, { container: "c", probe, timeout: 10_000 });
    // No passwd file to read: a numeric user resolves, a name does not.
    expect((await probed.check("tool", [], "1000")).user).toMatchObject({ uid: 1000 });
    const missing = workerRootfsView(process.pid, join(dir, "nope"), { container: "c", probe });
    const failed = await missing.check("tool", []).catch((e: unknown) => e);
    expect(hasErrorCode(failed, "BERTH_ROOTLESS_FAILED")).toBe(true);
    expect((failed as Error).message).toMatch(/container c .*enter the root/);
  });
});
