// Rootless mode end to end: a real unprivileged user (made here, with its own /etc/subuid and
// /etc/subgid ranges, removed after) runs rootless-scenario.ts through the public engine API.
// The scenario reports what it saw; the assertions, and the checks for leftovers from
// outside the user's namespaces, are made here as root.
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { ensureFixtureImages } from "../../fixtures/fixture-images.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createRootlessUser, type RootlessUser } from "../../helpers/rootless-user.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { runScenario, settle } from "./scenario-run.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const user = `berthrl${process.pid % 100000}`;

describeAsRoot("rootless mode (an unprivileged user with subordinate ids)", () => {
  let dir: string;
  let uid: number;
  let subuid: { start: number; count: number };
  let account: RootlessUser | undefined;
  // What the scenarios reported, step by step (see rootless-scenario.ts, rootless-harness-scenario.ts).
  let report: Record<string, any>;
  let harness: Record<string, any>;

  beforeAll(async () => {
    for (const tool of ["unshare", "newuidmap", "newgidmap", "slirp4netns", "cc"]) {
      await execa("sh", ["-c", `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is missing: install util-linux, uidmap, slirp4netns and build-essential (.ci/packages.txt)`);
      });
    }
    dir = await makeTempDir("berth-rootless-");
    chmodSync(dir, 0o755);
    account = await createRootlessUser(user);
    uid = account.uid;
    subuid = account.subuid;
    const rootfs = await busyboxRootfs({ cacheDir: join(dir, "fixtures") });
    await execa("chmod", ["-R", "a+rX", join(dir, "fixtures")]);
    await execa("cc", ["-static", "-O2", "-o", join(dir, "udp-echo"), join(here, "udp-echo.c")]);
    const readable = await execa("runuser", ["-u", user, "--", "test", "-r", join(repo, "package.json")], { reject: false });
    if (readable.exitCode !== 0) throw new Error(`the checkout ${repo} must be readable by other users for this test`);
    report = await runScenario(account, join(here, "rootless-scenario.ts"), [rootfs, join(dir, "udp-echo")], { timeout: 240_000 });
    // The Redis fixture image, built (or cached) as root, handed to the user as an archive.
    const fixtures = await ensureFixtureImages({ stateRoot: join(dir, "fixture-root"), images: ["redis"] });
    await fixtures.redis!.export(join(dir, "redis.tar"), { format: "docker" });
    chmodSync(join(dir, "redis.tar"), 0o644);
    harness = await runScenario(account, join(here, "rootless-harness-scenario.ts"), [join(dir, "redis.tar")], { timeout: 240_000 });
  }, 600_000);

  afterAll(async () => {
    // Whatever the scenario left running (it should be nothing: checked below) must not
    // outlive the test: each process of the test user is killed, by pid.
    await account?.remove();
    if (dir) await removeTempDir(dir);
  });

  const ok = (name: string) => {
    const value = report[name];
    expect(value?.error, `step ${name} failed`).toBeUndefined();
    return value;
  };

  it("keeps its state under $XDG_DATA_HOME (~/.local/share/berth) and runs under /tmp/berth-<uid> without a session", () => {
    expect(ok("paths")).toEqual({ stateRoot: `/home/${user}/.local/share/berth`, runRoot: `/tmp/berth-${uid}`, rootless: true });
    expect(ok("import")).toMatch(/^sha256:/);
  });

  it("runs the container in a user namespace: root inside, the user and its subordinate ids outside", () => {
    const run = ok("run");
    expect(run.status).toBe("running");
    expect(run.idInside).toBe("0");
    const expected = [
      [0, uid, 1],
      [1, subuid.start, subuid.count],
    ];
    expect(run.uidMapInside).toEqual(expected);
    expect(run.uidMapOutside).toEqual(expected);
  });

  it("mounts the rootfs overlay inside the user namespace; the container's writes land in its upper directory", () => {
    const run = ok("run");
    expect(run.rootfsType).toBe("overlay");
    expect(run.overlayWrite).toBe("data");
    expect(run.addedOnHost).toBe("data");
  });

  it("shows files the image gives to another uid with that owner, stored under the matching subordinate id", () => {
    const run = ok("run");
    // busybox's /home/user is 1000:1000 in the layer.
    expect(run.imageOwner).toBe("1000:1000");
    expect(run.chown).toBe("1000");
    expect(run.ownedOnHost).toBe(subuid.start + 999);
  });

  it("execs (as another user too), keeps stdout and stderr apart in the logs, stops (SIGKILL after the timeout), copies from the stopped container and removes", () => {
    const run = ok("run");
    expect(run.logs).toEqual(["stdout: hello-out", "stderr: hello-err"]);
    expect(run.execMissing).toBe(127);
    expect(run.execAsUser).toBe("1000");
    expect(run.copiedFromStopped).toBe(true);
    expect(run.stoppedStatus).toBe("exited");
    expect(run.exitCode).toBe(137);
    expect(run.removed).toBe(true);
  });

  it("keeps a named volume's files, with their owners, from one container to the next, and removes it", () => {
    expect(ok("volume")).toEqual({ wrote: 0, lines: ["kept", "1000"] });
  });

  it("publishes ports on 127.0.0.1 and ::1 with free host ports, TCP and UDP", () => {
    const ports = ok("ports");
    expect(ports.published).toHaveLength(4);
    expect(ports.answers).toEqual({ "127.0.0.1": "from-container", "::1": "from-container" });
    expect(ports.udpAnswer).toBe("pong:ping");
  });

  it("reaches a server on the host's loopback through host.berth.internal, and resolves through slirp4netns's forwarder", () => {
    const outbound = ok("outbound");
    expect(outbound).toMatchObject({ exitCode: 0, body: "from-host", stderr: "", afterRestart: "from-host" });
    // The first start's slirp4netns ended with the restart.
    expect(outbound.slirpAfterRestart).toBe(1);
    expect(outbound.hosts).toMatch(/^10\.0\.2\.2\s+host\.berth\.internal$/m);
    expect(outbound.resolv).toMatch(/^nameserver 10\.0\.2\.3$/m);
  });

  it("runs a container with a memory limit without applying it, and says so (no delegated cgroup v2 here)", () => {
    const limits = ok("limits");
    expect(limits.exitCode).toBe(0);
    expect(limits.warnings.map((w: { code: string }) => w.code)).toEqual(["BERTH_ROOTLESS_NO_CGROUP"]);
    expect(limits.warnings[0].message).toMatch(/limits .* \(memory\) are not applied/);
    expect(limits.kept).toHaveLength(1);
  });

  it("a failed start leaves no process behind, and remove leaves no state directory", () => {
    const failed = ok("failedStart");
    expect(failed.code).toBe("BERTH_CONTAINER_START_FAILED");
    expect(failed.processes).toEqual([]);
    expect(failed.removed).toBe(true);
  });

  it("a host port already in use fails the start with BERTH_PORT_IN_USE naming the port, and leaves no helper running", () => {
    const inUse = ok("portInUse");
    expect(inUse.code).toBe("BERTH_CONTAINER_START_FAILED");
    expect(inUse.causeCode).toBe("BERTH_PORT_IN_USE");
    expect(inUse.message).toContain(String(inUse.port));
    expect(inUse.processes).toEqual([]);
  });

  const done = (name: string) => {
    const value = harness[name];
    expect(value?.error, `harness step ${name} failed`).toBeUndefined();
    return value;
  };

  it("GenericContainer: publishes its exposed port (getMappedPort, getHost), waits for listening ports, copies in, logs, execs, restarts, and stop removes it", () => {
    expect(done("generic")).toEqual({
      host: "localhost",
      samePort: true,
      body: "from-harness",
      bodyV4: "from-harness",
      copied: ["copied-in", "copied-late"],
      logs: "serving",
      exec: "0",
      afterRestart: "from-harness",
      removedOnStop: true,
    });
  });

  it("Container facade: the default network is slirp4netns with ports on 127.0.0.1 and ::1, a user network is BERTH_UNSUPPORTED, `await using` removes", () => {
    expect(done("facade")).toMatchObject({ hostIps: ["127.0.0.1", "::1"], body: "from-harness", unsupported: "BERTH_UNSUPPORTED" });
    expect(harness.facadeRemoved).toBe(true);
  });

  it("a named volume's first copy keeps the image's owners as the container sees them", () => {
    expect(done("volumeCopy")).toEqual({ inside: "1000:1000", onHost: `${subuid.start + 999}:${subuid.start + 999}`, volumeRemoved: true });
  });

  it("RedisContainer (the fixture image imported by the user) answers node-redis through its mapped port", () => {
    expect(done("redis")).toMatchObject({ value: "works", dataOwner: "redis" });
  });

  it("removes and prunes an image whose snapshots hold subordinate-owned directories, leaving no snapshot directory", () => {
    expect(done("imageRemove")).toEqual({ subordinateOwned: true, deleted: true, prunedSnapshots: true, left: [] });
  });

  it("the session reaper removes a container the test left running once the test process ends", async () => {
    const { id } = done("reaped");
    const containers = join(`/home/${user}/.local/share/berth/containers`);
    const left = await settle(() => readdirSync(containers).filter((n) => /^[0-9a-f]{64}$/.test(n)), (l) => l.length === 0, 20_000);
    expect(left).not.toContain(id);
    expect(left).toEqual([]);
  });

  it("leaves no container, process, mount or network file behind", async () => {
    expect(ok("leftovers")).toEqual({ containers: [], slirp: 0, networkFiles: [], processes: [], mounts: [] });
    // The session watchdog ends once it has removed what the harness scenario left.
    expect(await settle(() => account!.processes(), (p) => p.length === 0, 20_000)).toEqual([]);
    expect(readdirSync(`/home/${user}/.local/share/berth/volumes`).filter((n) => !n.startsWith("."))).toEqual([]);
    expect(readdirSync(`/tmp/berth-${uid}/rootless-net`)).toEqual([]);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.includes(`/home/${user}`) || l.includes(`/tmp/berth-${uid}`));
    expect(mounts).toEqual([]);
  });
});
