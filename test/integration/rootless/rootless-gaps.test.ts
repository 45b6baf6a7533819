// Rootless mode beyond the basics (rootless.test.ts): limits in a delegated cgroup v2 subtree,
// the fuse-overlayfs root, a start killed before its record names the network's helpers, and
// what the harness says of user networks. A real unprivileged user (made here, removed after)
// runs rootless-gaps-scenario.ts; the checks from outside its namespaces are made here as root.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { commandOf, createRootlessUser, shareDevice, type RootlessUser, type RunOptions } from "../../helpers/rootless-user.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { runScenario, settle } from "./scenario-run.js";

const here = dirname(fileURLToPath(import.meta.url));
const user = `berthrg${process.pid % 100000}`;
const scenario = join(here, "rootless-gaps-scenario.ts");
const unified = "/sys/fs/cgroup/unified";
// This hybrid host's cgroup2 hierarchy holds one controller, hugetlb; a pure v2 host has it too.
const hasV2Hugetlb = (() => {
  try {
    return readFileSync(join(unified, "cgroup.controllers"), "utf8").split(/\s+/).includes("hugetlb");
  } catch {
    return false;
  }
})();

describeAsRoot("rootless mode: delegated limits, fuse-overlayfs, a killed start, user networks", () => {
  let dir: string;
  let account: RootlessUser | undefined;
  // The delegated subtree, made as systemd makes a user's (Delegate=yes).
  const delegated = join(unified, `berth-rootless-test-${process.pid}`);
  let enabledHugetlb = false;
  let rootfs: string;
  const stackMounts: string[] = [];

  const run = async (mode: string, arg = "", options: Partial<RunOptions> = {}) => {
    return runScenario(account!, scenario, [mode, arg], { timeout: 180_000, ...options });
  };
  const ok = (report: Record<string, any>, name: string) => {
    expect(report[name]?.error, `step ${name} failed`).toBeUndefined();
    return report[name];
  };

  beforeAll(async () => {
    for (const tool of ["unshare", "newuidmap", "slirp4netns", "fuse-overlayfs"]) {
      await execa("sh", ["-c", `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is missing: install uidmap, slirp4netns and fuse-overlayfs (.ci/packages.txt)`);
      });
    }
    dir = await makeTempDir("berth-rootless-gaps-");
    chmodSync(dir, 0o755);
    account = await createRootlessUser(user);
    // fuse-overlayfs opens /dev/fuse as the user.
    shareDevice("/dev/fuse");
    rootfs = await busyboxRootfs({ cacheDir: join(dir, "fixtures") });
    await execa("chmod", ["-R", "a+rX", join(dir, "fixtures")]);
    const imported = await run("import", rootfs);
    ok(imported, "import");
  }, 300_000);

  afterAll(async () => {
    for (const m of stackMounts.reverse()) await execa("umount", ["-l", m], { reject: false });
    await account?.remove();
    if (existsSync(delegated)) {
      // Deepest first: a cgroup directory goes with rmdir once it has no children or processes.
      const dirs: string[] = [];
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
        dirs.push(d);
      };
      walk(delegated);
      for (const d of dirs) {
        try {
          rmdirSync(d);
        } catch {
          // Reported by the test below.
        }
      }
    }
    if (enabledHugetlb) {
      try {
        writeFileSync(join(unified, "cgroup.subtree_control"), "-hugetlb");
      } catch {
        // EBUSY: another cgroup enabled it below meanwhile; it stays.
      }
    }
    if (dir) await removeTempDir(dir);
  });

  it.skipIf(!hasV2Hugetlb)("applies a hugetlb limit in the container's own cgroup of a delegated v2 subtree, and warns that the memory limit (v1 here) is not applied", async () => {
    if (!readFileSync(join(unified, "cgroup.subtree_control"), "utf8").split(/\s+/).includes("hugetlb")) {
      writeFileSync(join(unified, "cgroup.subtree_control"), "+hugetlb");
      enabledHugetlb = true;
    }
    const engineDir = join(delegated, "engine");
    mkdirSync(engineDir, { recursive: true });
    // What systemd hands a user with Delegate=yes: the directories and the files that let it
    // make, populate and give controllers to cgroups below, not its own limits.
    for (const d of [delegated, engineDir]) {
      for (const f of ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]) chownSync(join(d, f), account!.uid, account!.uid);
    }
    const report = await run("cgroup", "", { cgroup: engineDir });
    const cg = ok(report, "cgroup");
    const relative = delegated.slice(unified.length);
    expect(cg.delegated).toBe(relative);
    expect(cg.controllers).toContain("hugetlb");
    expect(cg.cgroup).toMatch(new RegExp(`^${relative}/berth/[0-9a-f]{64}$`));
    expect(cg.hugetlbMax).toBe(String(4 * 1024 * 1024));
    expect(cg.memoryFile).toBe(false);
    expect(cg.warnings.map((w: { code: string }) => w.code)).toEqual(["BERTH_ROOTLESS_NO_CGROUP"]);
    expect(cg.warnings[0].message).toMatch(/limits of container .* \(memory\) are not applied: the delegated cgroup v2 subtree .* offers only hugetlb, not memory/);
    expect(cg.kept).toHaveLength(1);
    expect(cg.removedCgroup).toBe(true);
    // Nothing is left in the subtree but the shared parent the runtime made.
    expect(readdirSync(join(delegated, "berth"), { withFileTypes: true }).filter((e) => e.isDirectory())).toEqual([]);
  });

  it("runs, execs (Docker's 127 and 126 for a missing or non-executable command), logs and copies out on a fuse-overlayfs root", async () => {
    const report = await run("fuse", "", { env: { BERTH_ROOTLESS_OVERLAY: "fuse-overlayfs" } });
    const fuse = ok(report, "fuse");
    expect(fuse.overlay).toBe("fuse-overlayfs");
    expect(fuse.rootfsType).toBe("fuse.fuse-overlayfs");
    expect(fuse.read).toBe("data");
    expect(fuse.missing).toEqual({ exitCode: 127, stderr: expect.stringContaining('exec: "no-such-command": executable file not found in $PATH') });
    expect(fuse.notExecutable.exitCode).toBe(126);
    expect(fuse.asUser).toBe("1000");
    // A command's own 127 is its own: its message is kept.
    expect(fuse.commandFailing).toBe("own-message");
    expect(fuse.logs).toEqual(["stdout: hello-out", "stderr: hello-err"]);
    expect(fuse.copiedRunning).toBe(true);
    expect(fuse.copiedStopped).toBe(true);
    expect(fuse.stopped).toBe(137);
    expect(ok(report, "fuseHarness")).toEqual({ body: "from-fuse", exec: "from-fuse" });
    expect(await settle(() => account!.processes(), (p) => p.length === 0, 20_000)).toEqual([]);
  });

  it("a Node process killed after the network's helpers started, before the record names them, leaves nothing once another engine removes the container", async () => {
    const marker = join(dir, "paused");
    chmodSync(dir, 0o777);
    const starting = run("crash-start", marker, { env: { BERTH_TEST_PAUSE_AFTER_NETWORK: marker } }).catch((e: unknown) => e);
    const paused = await settle(() => existsSync(marker), Boolean, 120_000);
    expect(paused, "the start never reached the pause").toBe(true);
    const pid = Number(readFileSync(marker, "utf8"));
    process.kill(pid, "SIGKILL");
    await starting;
    // Left behind: slirp4netns and the namespaces' holder, detached from the killed process.
    const left = await settle(
      () => account!.processes().map(commandOf),
      (cmds) => !cmds.some((c) => /tsx|rootless-gaps-scenario/.test(c)),
      20_000,
    );
    expect(left.some((c) => c.startsWith("slirp4netns "))).toBe(true);
    expect(left).toContain("sleep infinity");
    // The namespaces the holder keeps: checked for on the whole host after the clean-up.
    const holder = account!.processes().find((p) => commandOf(p) === "sleep infinity")!;
    const namespaces = ["net", "user"].map((ns) => readlinkSync(`/proc/${holder}/ns/${ns}`));
    const runDir = `/tmp/berth-${account!.uid}/rootless-net`;
    expect(readdirSync(runDir).some((f) => f.endsWith(".sock"))).toBe(true);

    const clean = ok(await run("crash-clean", marker), "clean");
    // Docker's word for a container whose start never finished.
    expect(clean.before).toBe("created");
    expect(clean.cli).toBe("crashed");
    expect(clean).toMatchObject({ removed: true, netFiles: [], processes: [], mounts: [] });
    expect(await settle(() => account!.processes(), (p) => p.length === 0, 20_000)).toEqual([]);
    expect(readdirSync(runDir)).toEqual([]);
    const holders = readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .filter((n) => {
        try {
          return ["net", "user"].some((ns) => namespaces.includes(readlinkSync(`/proc/${n}/ns/${ns}`)));
        } catch {
          return false;
        }
      });
    expect(holders).toEqual([]);
    // No mount of the user's (a namespace of its would show none here: none is left).
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.includes(`/home/${user}`) || l.includes(`/tmp/berth-${account!.uid}`));
    expect(mounts).toEqual([]);
  });

  it("auto: berth-runtime falls back to fuse-overlayfs when the kernel refuses the overlay (layers on an overlay of an overlay: the kernel's stacking limit)", async () => {
    // A real refusal: rootless berth whose layers live on a filesystem that is already two
    // overlays deep (inside a container on overlayfs, say). The kernel's limit is two
    // (FILESYSTEM_MAX_STACK_DEPTH); fuse-overlayfs, in user space, has none. The runtime alone
    // here; the whole engine on such a state root is rootless-fuse.test.ts's.
    const stack = join(dir, "stack");
    for (const d of ["u1", "w1", "m1", "u2", "w2", "m2"]) mkdirSync(join(stack, d), { recursive: true });
    await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${rootfs},upperdir=${stack}/u1,workdir=${stack}/w1`, `${stack}/m1`]);
    stackMounts.push(`${stack}/m1`);
    await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${stack}/m1,upperdir=${stack}/u2,workdir=${stack}/w2`, `${stack}/m2`]);
    stackMounts.push(`${stack}/m2`);
    const runtime = join(here, "../../../native/build/berth-runtime");
    const asUser = (args: string[]) =>
      execa("runuser", ["-u", user, "--", "env", "-i", `PATH=${process.env.PATH}`, `HOME=/home/${user}`, ...args], { reject: false, timeout: 60_000 });
    const run = async (driver: string) => {
      const bundle = join(`/home/${user}`, `auto-${driver}`);
      expect((await asUser(["mkdir", "-p", `${bundle}/rootfs`, `${bundle}/upper`, `${bundle}/work`, `${bundle}/state`])).exitCode).toBe(0);
      expect((await asUser([runtime, "spec", "--rootless", "--bundle", bundle])).exitCode).toBe(0);
      const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
      config.root = { path: "rootfs", readonly: false };
      config.process.terminal = false;
      config.process.args = ["sh", "-c", "awk '$2 == \"/\" {print $3}' /proc/mounts"];
      config.annotations = {
        "org.berth.overlay": `lowerdir=${stack}/m2,upperdir=${bundle}/upper,workdir=${bundle}/work,index=off`,
        "org.berth.overlay.driver": driver,
      };
      writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
      return asUser([runtime, "--root", `${bundle}/state`, "run", "--bundle", bundle, `berth-auto-${driver}`]);
    };
    const kernel = await run("overlay");
    expect(kernel.exitCode).not.toBe(0);
    expect(kernel.stderr).toMatch(/mount the rootfs overlay .*Invalid argument/);
    const auto = await run("auto");
    expect(auto.stderr).toBe("");
    expect(auto.stdout.trim()).toBe("fuse.fuse-overlayfs");
    expect(auto.exitCode).toBe(0);
    // The container, its fuse-overlayfs daemon and its mounts went with it.
    expect(await settle(() => account!.processes(), (p) => p.length === 0, 20_000)).toEqual([]);
  });

  it("user networks and network aliases fail with BERTH_UNSUPPORTED, saying what to do instead, which works: one container reaches another's published port at host.berth.internal", async () => {
    const report = await run("unsupported");
    for (const name of ["aliases", "networkMode", "networkCreate"]) {
      const message = ok(report, name);
      expect(message, name).toMatch(/^BERTH_UNSUPPORTED: /);
      expect(message, name).toMatch(/host\.berth\.internal/);
    }
    expect(ok(report, "instead")).toBe("from-db");
  });
});

