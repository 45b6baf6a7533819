// Rootless mode where the engine cannot read a container's root itself: a fuse-overlayfs root
// serves only its mounter's user namespace, so the engine's file work (create's working
// directory, user and volume copy, the command check, copy in and out) runs in a worker there
// (src/runtime/rootless/rootfs-view.ts). First on a kernel that refuses overlayfs in a user
// namespace: made real by a state root that is already an overlay of an overlay (the kernel's
// stacking limit is two), as inside a container on overlayfs; then with fuse-overlayfs asked
// for on an ordinary state root. A real unprivileged user runs rootless-fuse-scenario.ts.
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { commandOf, createRootlessUser, shareDevice, type RootlessUser } from "../../helpers/rootless-user.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { runScenario, settle } from "./scenario-run.js";

const here = dirname(fileURLToPath(import.meta.url));
const user = `berthfu${process.pid % 100000}`;
const scenario = join(here, "rootless-fuse-scenario.ts");

describeAsRoot("rootless mode on a fuse-overlayfs root the engine cannot read itself", () => {
  let dir: string;
  let account: RootlessUser | undefined;
  let rootfs: string;
  const stackMounts: string[] = [];

  const ok = (report: Record<string, any>, name: string) => {
    expect(report[name]?.error, `step ${name} failed`).toBeUndefined();
    return report[name];
  };

  /** The user's mounts visible on the host (a namespace's would not be: none may be left). */
  const hostMounts = () =>
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.includes(`/home/${user}`) || l.includes(`/tmp/berth-${account!.uid}`) || l.includes(join(dir, "stack", "m2", "state")));

  beforeAll(async () => {
    for (const tool of ["unshare", "nsenter", "newuidmap", "fuse-overlayfs"]) {
      await execa("sh", ["-c", `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is missing: install util-linux, uidmap and fuse-overlayfs (.ci/packages.txt)`);
      });
    }
    dir = await makeTempDir("berth-rootless-fuse-");
    chmodSync(dir, 0o755);
    account = await createRootlessUser(user);
    // fuse-overlayfs opens /dev/fuse as the user.
    shareDevice("/dev/fuse");
    const busybox = await busyboxRootfs({ cacheDir: join(dir, "fixtures") });
    // The image: busybox with content under its VOLUME (owned by its USER), a file the
    // container deletes (a whiteout for commit) and a directory it replaces (an opaque one).
    rootfs = join(dir, "rootfs");
    cpSync(busybox, rootfs, { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(rootfs, "seed"));
    writeFileSync(join(rootfs, "seed", "hello.txt"), "seed-content\n");
    chownSync(join(rootfs, "seed"), 1000, 1000);
    chownSync(join(rootfs, "seed", "hello.txt"), 1000, 1000);
    writeFileSync(join(rootfs, "etc", "remove-me"), "x\n");
    mkdirSync(join(rootfs, "opaque-me"));
    writeFileSync(join(rootfs, "opaque-me", "old"), "old\n");
    await execa("chmod", ["-R", "a+rX", dir]);
  }, 300_000);

  afterAll(async () => {
    await account?.remove();
    for (const m of stackMounts.reverse()) await execa("umount", ["-l", m], { reject: false });
    if (dir) await removeTempDir(dir);
  });

  const checkRun = (report: Record<string, any>, rootfsType = "fuse.fuse-overlayfs") => {
    expect(ok(report, "import")).toMatch(/^sha256:/);
    const { running, stopped } = ok(report, "run");
    expect(running.rootfsType).toBe(rootfsType);
    // USER by name, WORKDIR made at create, the VOLUME filled from the image.
    expect(running.logs).toEqual(["stdout: started", "stdout: user", "stdout: /app/work", "stdout: seed-content"]);
    expect(running.execUser).toBe("user");
    expect(running.execAsRoot).toBe("0");
    expect(running.missing).toEqual({ exitCode: 127, stderr: expect.stringContaining('exec: "no-such-command": executable file not found in $PATH') });
    expect(running.notExecutable).toEqual({ exitCode: 126, stderr: expect.stringContaining('exec: "/seed/hello.txt": permission denied') });
    // Copied into the running container, through its own mount and into its volume.
    expect(running.copiedIn).toBe("running-in");
    expect(running.copiedInOwner).toBe("0");
    expect(running.toolInVolume).toBe("tool-ran");
    expect(running.copiedOut).toEqual({ "in-running.txt": "running-in\n" });
    expect(running.copiedOutVolume).toEqual({ "hello.txt": "seed-content\n" });
    expect(running.copiedOutLink).toEqual({ link: "-> /app/work" });
    // Readable by the container's user 1000 only: copied as the container's root, as Docker does.
    expect(running.copiedOutPrivate).toEqual({ private: "<dir>", "private/f": "hidden\n" });
    expect(running.missingCopy).toMatchObject({ code: "BERTH_INVALID_ARGUMENT", container: expect.any(String) });
    expect(running.missingCopy.message).toMatch(/Could not find the file \/nope in container/);
    expect(stopped.exitCode).toBe(137);
    expect(stopped.copiedOut).toEqual({ "./": "<dir>", "in-running.txt": "running-in\n", "in-stopped.txt": "stopped-in\n" });
    // `/etc/made/link/` follows the container's symlink to /app/work, inside its root.
    expect(stopped.copiedOutLink).toEqual({ work: "<dir>", "work/in-running.txt": "running-in\n", "work/in-stopped.txt": "stopped-in\n" });
    expect(stopped.missingCopy).toMatchObject({ code: "BERTH_INVALID_ARGUMENT" });
    expect(ok(report, "badUser")).toEqual({
      failed: expect.objectContaining({ code: "BERTH_INVALID_ARGUMENT", message: expect.stringContaining("unable to find user no-such-user"), container: expect.any(String) }),
      left: 0,
    });
    // The missing working directory under /private (0700, the USER's) was made, root's, 0755.
    expect(ok(report, "workdirUnderPrivate")).toEqual({ exit: 0, out: ["/private/new", "0 755"] });
    expect(ok(report, "startMissing")).toMatchObject({ code: "BERTH_CONTAINER_START_FAILED", exitCode: 127 });
    expect(ok(report, "remove")).toEqual({ containers: [], volumes: [], processes: [], mounts: [] });
    // The layer records the owners the container sees (read in its user namespace).
    expect(ok(report, "commit").owners).toEqual({ "private/": 1000, "private/f": 1000, "app/work/in-stopped.txt": 0 });
  };

  const checkLeftovers = async () => {
    expect(await settle(() => account!.processes(), (p) => p.length === 0, 20_000)).toEqual([]);
    expect(hostMounts()).toEqual([]);
  };

  /** A commit of a container that deleted /etc/remove-me and replaced /opaque-me: its image hides both, in a run and in a copy out. */
  const checkDeletions = (commit: Record<string, any>, snapshotForm: Record<string, string[]>) => {
    expect(commit.names).toEqual(expect.arrayContaining(["etc/.wh.remove-me", "opaque-me/", "opaque-me/.wh..wh..opq", "opaque-me/x"]));
    expect(commit.names.filter((n: string) => n.includes("remove-me") || n.startsWith("opaque-me/.wh."))).toEqual(["etc/.wh.remove-me", "opaque-me/.wh..wh..opq"]);
    // No /etc/remove-me, and the image's /opaque-me/old hidden: only the new x; no `.wh.` name in `ls -a`.
    expect(commit).toMatchObject({ layers: 2, exit: 0, out: ["stopped-in", "x"] });
    expect(commit.snapshotForm).toEqual(snapshotForm);
    expect(commit.copiedOut).toEqual({ etc: [], "opaque-me": ["opaque-me", "opaque-me/x"] });
  };

  it("the kernel refuses overlayfs for the whole state root (an overlay of an overlay): auto falls back to fuse-overlayfs, and create (WORKDIR, VOLUME copy, USER name), start, exec (127/126), logs, copy in and out running and stopped, commit of a deletion and an opaque directory (kept as .wh. files: no 0/0 device on overlayfs) and a run and copy out of its image, and remove work, leaving nothing", async () => {
    const stack = join(dir, "stack");
    for (const d of ["base", "u1", "w1", "m1", "u2", "w2", "m2"]) mkdirSync(join(stack, d), { recursive: true });
    await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${stack}/base,upperdir=${stack}/u1,workdir=${stack}/w1`, `${stack}/m1`]);
    stackMounts.push(`${stack}/m1`);
    await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${stack}/m1,upperdir=${stack}/u2,workdir=${stack}/w2`, `${stack}/m2`]);
    stackMounts.push(`${stack}/m2`);
    const state = join(stack, "m2", "state");
    mkdirSync(state);
    chownSync(state, account!.uid, account!.uid);
    const report = await runScenario(account!, scenario, ["engine", rootfs, "with-deletion"], { timeout: 300_000, env: { BERTH_ROOT: state } });
    expect(ok(report, "kernelOverlay")).toMatch(/mount/);
    expect(ok(report, "kernelOverlay")).not.toBe("mounted");
    checkRun(report);
    const commit = ok(report, "commit");
    expect(commit.names).toEqual(expect.arrayContaining(["app/work/in-running.txt", "app/work/in-stopped.txt", "etc/made/link"]));
    // The new layer's snapshot (on the overlay) keeps the deletion as an empty .wh. file, and
    // the opaque directory with its xattr, which the overlay below lets the user set.
    checkDeletions(commit, { etc: [".wh.remove-me f 0"], "opaque-me": ["x"] });
    // Both extractors, as the user, on this state root: deletions as empty `.wh.` files.
    const unpacked = { etc: [".wh.gone f 0", "keep f 1"], opq: ["new"], opaque: "y" };
    expect(ok(await runScenario(account!, scenario, ["unpack"], { timeout: 120_000, env: { BERTH_ROOT: state } }), "unpack")).toEqual({ native: unpacked, js: unpacked });
    await checkLeftovers();
    expect(readdirSync(join(state, "containers")).filter((n) => /^[0-9a-f]{64}$/.test(n))).toEqual([]);
    // The kernel's overlay asked for where it is refused: a clear error, and nothing left.
    const refused = ok(await runScenario(account!, scenario, ["refused"], { timeout: 120_000, env: { BERTH_ROOT: state, BERTH_ROOTLESS_OVERLAY: "overlay" } }), "refused");
    expect(refused).toMatchObject({ left: 0, processes: [], mounts: [] });
    expect(refused.failed).toMatchObject({ code: "BERTH_ROOTLESS_FAILED", container: expect.any(String) });
    expect(refused.failed.message).toMatch(/cannot mount the root filesystem of container .* in a user namespace .*this is overlay/);
    await checkLeftovers();
    expect(readdirSync(join(state, "containers")).filter((n) => /^[0-9a-f]{64}$/.test(n))).toEqual([]);
  });

  it("BERTH_ROOTLESS_OVERLAY=fuse-overlayfs on an ordinary state root, every question asked of the Node worker (no berth-rootfs): the same, and commit keeps a deletion as a whiteout", async () => {
    const env = { BERTH_ROOTLESS_OVERLAY: "fuse-overlayfs", BERTH_TEST_NO_PROBE: "1" };
    const report = await runScenario(account!, scenario, ["engine", rootfs, "with-deletion"], { timeout: 300_000, env });
    expect(ok(report, "kernelOverlay")).toBe("mounted");
    checkRun(report);
    const commit = ok(report, "commit");
    expect(commit.names).toEqual(expect.arrayContaining(["app/work/in-running.txt", "app/work/in-stopped.txt", "etc/.wh.remove-me", "etc/made/link"]));
    // The committed image runs with the change, without the deleted file, and with the new
    // /opaque-me only (opaque: the image's /opaque-me/old is hidden). The user may make a
    // 0/0 device on this state root: the snapshot keeps the kernel's form.
    checkDeletions(commit, { etc: ["remove-me c 0"], "opaque-me": ["x"] });
    await checkLeftovers();
    expect(existsSync(`/home/${user}/.local/share/berth/containers`) ? readdirSync(`/home/${user}/.local/share/berth/containers`).filter((n) => /^[0-9a-f]{64}$/.test(n)) : []).toEqual([]);
  });

  it("a kernel overlay root: a copy into a directory of the image's USER (its volume) is made as the container's root, in its user namespace, running and stopped", async () => {
    const report = await runScenario(account!, scenario, ["engine", rootfs, "with-deletion"], { timeout: 300_000, env: { BERTH_ROOTLESS_OVERLAY: "overlay" } });
    checkRun(report, "overlay");
    // The kernel's overlay marks the new /opaque-me opaque with user.overlay.opaque (userxattr).
    checkDeletions(ok(report, "commit"), { etc: ["remove-me c 0"], "opaque-me": ["x"] });
    await checkLeftovers();
  });

  it("a Node process killed in the middle of a copy into a stopped fuse-overlayfs container leaves no worker, fuse-overlayfs, mount or namespace holder, and the container is removable", async () => {
    const marker = join(dir, "killed");
    chmodSync(dir, 0o777);
    const env = { BERTH_ROOTLESS_OVERLAY: "fuse-overlayfs" };
    const copying = runScenario(account!, scenario, ["kill-mid-copy", marker, rootfs], { timeout: 120_000, env }).catch((e: unknown) => e);
    expect(await settle(() => existsSync(marker), Boolean, 90_000), "the copy never started").toBe(true);
    // The worker is up (in the helper's user namespace) and waiting for the rest of the tar.
    // A process can exit between the listing and the read of its command line.
    const commands = () => account!.processes().map(commandOf);
    const during = await settle(commands, (c) => c.some((l) => l.includes("rootfs-worker")) && c.some((l) => l.startsWith("fuse-overlayfs")), 30_000);
    expect(during.some((l) => l.includes("rootfs-worker"))).toBe(true);
    expect(during.some((l) => l.startsWith("fuse-overlayfs"))).toBe(true);
    process.kill(Number(readFileSync(marker, "utf8")), "SIGKILL");
    await copying;
    expect(await settle(() => account!.processes(), (p) => p.length === 0, 20_000)).toEqual([]);
    expect(hostMounts()).toEqual([]);
    expect(ok(await runScenario(account!, scenario, ["kill-clean", marker], { timeout: 120_000, env }), "clean")).toEqual({ containers: [], processes: [] });
    await checkLeftovers();
  });
});
