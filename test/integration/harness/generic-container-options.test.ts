import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import getPort from "get-port";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { parsePortToExpose } from "../../../src/harness/container-options.js";
import { GenericContainer } from "../../../src/harness/generic-container.js";
import type { Image } from "../../../src/harness/image.js";
import { StartedTestContainer } from "../../../src/harness/started-container.js";
import { Wait } from "../../../src/harness/wait/wait.js";
import type { NetworkManager } from "../../../src/network/network-manager.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { failure } from "../../helpers/failure.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { readAll } from "../../helpers/stream-text.js";
import { createBusyboxWorld, type BusyboxWorld } from "./harness-world.js";

let root: string;
let engine: ContainerEngine;
let manager: NetworkManager;
let image: Image;
let world: BusyboxWorld | undefined;

const busybox = (...command: string[]): GenericContainer => world!.busybox(...command);

describe("GenericContainer options without a container", () => {
  it("parses exposed ports as testcontainers takes them and refuses bad ones with BERTH_INVALID_ARGUMENT", () => {
    expect(parsePortToExpose(6379)).toEqual({ port: 6379, protocol: "tcp" });
    expect(parsePortToExpose("53/udp")).toEqual({ port: 53, protocol: "udp" });
    expect(parsePortToExpose({ container: 80, host: 8080 })).toEqual({ port: 80, protocol: "tcp", host: 8080 });
    for (const bad of [0, 70000, "http", "80/sctp", { container: 80, host: -1 }]) {
      expect(() => parsePortToExpose(bad)).toThrow(expect.objectContaining({ code: "BERTH_INVALID_ARGUMENT" }));
    }
  });

  it("every with* returns the container itself", () => {
    const c = new GenericContainer("busybox");
    const chained = c
      .withCommand(["true"])
      .withEntrypoint(["/bin/sh", "-c"])
      .withName("n")
      .withLabels({ a: "b" })
      .withEnvironment({ A: "B" })
      .withExposedPorts(80, "53/udp")
      .withTmpFs({ "/t": "" })
      .withNetworkMode("none")
      .withNetworkAliases("x")
      .withExtraHosts([{ host: "h", ipAddress: "10.0.0.1" }])
      .withStartupTimeout(1_000)
      .withPullPolicy("never")
      .withReuse()
      .withAutoRemove(false)
      .withAutoCleanup(false)
      .withPrivilegedMode()
      .withUser("nobody")
      .withWorkingDir("/tmp")
      .withResourcesQuota({ memory: 0.5, cpu: 1 })
      .withSharedMemorySize(1 << 20)
      .withHostname("h")
      .withAddedCapabilities("NET_ADMIN")
      .withDroppedCapabilities("MKNOD")
      .withUlimits({ nofile: { soft: 1024, hard: 2048 } })
      .withPlatform("linux/amd64");
    expect(chained).toBe(c);
  });

  it("refuses a platform it cannot run with BERTH_UNSUPPORTED before creating anything", async () => {
    const error = await failure(new GenericContainer("busybox").withPlatform("linux/s390x").start());
    expect(hasErrorCode(error, "BERTH_UNSUPPORTED")).toBe(true);
  });
});

describeAsRoot("GenericContainer options (busybox)", () => {
  let hostDir: string;
  beforeAll(async () => {
    world = await createBusyboxWorld("berth-generic-opts-");
    ({ root, engine, networkManager: manager, image } = world);
    hostDir = join(root, "host");
    await mkdir(join(hostDir, "tree", "sub"), { recursive: true });
    await writeFile(join(hostDir, "tree", "sub", "deep.txt"), "deep\n");
    await writeFile(join(hostDir, "single.txt"), "single\n");
  });

  afterAll(async () => {
    await world?.dispose();
  });

  it("applies environment, user, working dir, hostname, extra hosts, tmpfs, binds, copied files and directories", async () => {
    await using c = await busybox("sleep", "300")
      .withEnvironment({ GREETING: "hello" })
      .withUser("nobody")
      .withWorkingDir("/work")
      .withHostname("gc-host")
      .withExtraHosts([{ host: "db.example", ipAddress: "10.1.2.3" }])
      .withTmpFs({ "/scratch": "size=1m" })
      .withBindMounts([{ source: hostDir, target: "/host", mode: "ro" }])
      .withCopyFilesToContainer([{ source: join(hostDir, "single.txt"), target: "/etc/app/single.txt", mode: 0o640 }])
      .withCopyDirectoriesToContainer([{ source: join(hostDir, "tree"), target: "/opt/tree" }])
      .withNetworkMode("none")
      .start();
    const sh = async (cmd: string) => (await c.exec(["sh", "-c", cmd])).stdout.trim();
    expect(await sh("echo $GREETING $(id -u) $(pwd) $(hostname)")).toBe("hello 65534 /work gc-host");
    expect(await sh("grep db.example /etc/hosts")).toMatch(/^10\.1\.2\.3\s+db\.example/);
    expect(await sh("grep ' /scratch ' /proc/mounts")).toMatch(/^tmpfs \/scratch tmpfs/);
    expect(await sh("cat /host/single.txt; touch /host/x 2>/dev/null || echo read-only")).toBe("single\nread-only");
    // 0640 and root's: nobody (the container's user) cannot read it, root can.
    expect((await c.exec(["cat", "/etc/app/single.txt"])).exitCode).not.toBe(0);
    expect((await c.exec(["sh", "-c", "cat /etc/app/single.txt; stat -c %a /etc/app/single.txt"], { user: "root" })).stdout).toBe("single\n640\n");
    expect(await sh("cat /opt/tree/sub/deep.txt")).toBe("deep");
    expect(c.getNetworkNames()).toEqual([]);
  });

  it("shares a named volume between containers", async () => {
    {
      await using writer = await busybox("sh", "-c", "echo persisted > /data/v.txt; echo done; exec sleep 300").withVolume("gc-data", "/data").withWaitStrategy(Wait.forLogMessage("done")).start();
      expect(writer.getId()).toMatch(/^[0-9a-f]{64}$/);
    }
    await using reader = await busybox("sleep", "300").withVolume("gc-data", "/data", { readOnly: true }).start();
    expect((await reader.exec(["cat", "/data/v.txt"])).stdout).toBe("persisted\n");
    expect((await reader.exec(["sh", "-c", "touch /data/y"])).exitCode).not.toBe(0);
  });

  it("waits for the health check by default when one is given, and hands the output to log consumers", async () => {
    let consumed = "";
    await using c = await busybox("sh", "-c", "echo booting; sleep 0.3; touch /tmp/ready; echo up; exec sleep 300")
      .withHealthCheck({ test: ["CMD-SHELL", "test -f /tmp/ready"], interval: 100, retries: 50 })
      .withLogConsumer((stream) => stream.on("data", (chunk: Buffer) => (consumed += String(chunk))))
      .start();
    expect((await engine.inspect(c.getId())).State.Health?.Status).toBe("healthy");
    await expect.poll(() => consumed, { timeout: 5_000 }).toContain("up");
  });

  it("publishes a fixed host port and a UDP port; a restart publishes again; commit makes an image", async () => {
    const fixed = await getPort();
    await using c = await busybox("sh", "-c", "mkdir -p /www; echo v1 > /www/index.html; exec httpd -f -p 80 -h /www")
      .withExposedPorts({ container: 80, host: fixed }, "53/udp")
      .withWaitStrategy(Wait.forListeningPorts([80]))
      .start();
    expect(c.getMappedPort(80)).toBe(fixed);
    expect(c.getMappedPort("53/udp")).toBeGreaterThan(0);
    expect(() => c.getMappedPort(53)).toThrow(expect.objectContaining({ code: "BERTH_PORT_NOT_EXPOSED" }));
    expect(await (await fetch(`http://127.0.0.1:${fixed}/`)).text()).toBe("v1\n");

    await c.restart({ timeout: 0 });
    expect(c.getMappedPort(80)).toBe(fixed);
    // The wait strategy ran again: the port listens when restart() returns.
    expect(await (await fetch(`http://127.0.0.1:${fixed}/`)).text()).toBe("v1\n");

    await c.exec(["sh", "-c", "echo committed > /marker"]);
    const imageId = await c.commit({ repo: "gc-committed", tag: "v1" });
    expect(imageId).toMatch(/^(sha256:)?[0-9a-f]{64}$/);
    await using fromCommit = await new GenericContainer("gc-committed:v1", { engine, networkManager: manager }).withCommand(["sleep", "300"]).withNetworkMode("none").start();
    expect((await fromCommit.exec(["cat", "/marker"])).stdout).toBe("committed\n");
  });

  it("restart() waits again, counting only the new run's output, as testcontainers' restart does", async () => {
    // Several rounds: the restart comes within a millisecond of the old line that ended the
    // first wait, and a boundary at millisecond precision let that line count as the new
    // run's in about one restart in seven.
    for (let round = 0; round < 8; round++) {
      await using c = await busybox("sh", "-c", "sleep 0.1; echo ready; exec sleep 300").withNetworkMode("none").withWaitStrategy(Wait.forLogMessage("ready")).start();
      await c.restart({ timeout: 0 });
      // Both runs' lines are in the log when restart() returns: the old line alone did not end the wait.
      const lines = (await readAll(await c.logs())).split("\n").filter((l) => l === "ready");
      expect(lines, `round ${round}`).toHaveLength(2);
    }
  });

  it("on the host network a port is its own mapping", async () => {
    const port = await getPort();
    await using c = await busybox("sh", "-c", `mkdir -p /w; echo host > /w/index.html; exec httpd -f -p 127.0.0.1:${port} -h /w`).withNetworkMode("host").withExposedPorts(port).start();
    expect(c.getMappedPort(port)).toBe(port);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("host\n");
  });

  it("calls the lifecycle hooks of a subclass in order, and lets beforeContainerCreated change the options", async () => {
    const calls: string[] = [];
    class Traced extends GenericContainer {
      protected override async beforeContainerCreated() {
        calls.push("beforeContainerCreated");
        this.withEnvironment({ FROM_HOOK: "yes" });
      }
      protected override async containerCreated(id: string) {
        calls.push(`containerCreated ${id.length}`);
      }
      protected override async containerStarting(_inspect: unknown, reused: boolean) {
        calls.push(`containerStarting ${reused}`);
      }
      protected override async containerStarted(started: { getId(): string }, _inspect: unknown, reused: boolean) {
        calls.push(`containerStarted ${reused} ${started.getId().length}`);
      }
      protected override async containerStopping() {
        calls.push("containerStopping");
      }
      protected override async containerStopped() {
        calls.push("containerStopped");
      }
    }
    const started = await new Traced(image, { engine, networkManager: manager }).withCommand(["sleep", "300"]).withNetworkMode("none").start();
    expect((await started.exec(["sh", "-c", "echo $FROM_HOOK"])).stdout).toBe("yes\n");
    await started.stop({ timeout: 0 });
    expect(calls).toEqual(["beforeContainerCreated", "containerCreated 64", "containerStarting false", "containerStarted false 64", "containerStopping", "containerStopped"]);
    expect((await engine.list({ all: true })).map((c) => c.Id)).not.toContain(started.getId());
  });

  it("a module subclasses GenericContainer and wraps the started container (new StartedX(await super.start())): one container, one shared state", async () => {
    class Web extends GenericContainer {
      constructor() {
        super(image, { engine, networkManager: manager });
        this.withExposedPorts(8080).withWaitStrategy(Wait.forListeningPorts());
      }
      protected override async beforeContainerCreated() {
        this.withCommand(["httpd", "-f", "-p", "8080", "-h", "/"]);
      }
      override async start(): Promise<StartedWeb> {
        return new StartedWeb(await super.start(), "/index");
      }
    }
    class StartedWeb extends StartedTestContainer {
      readonly #path: string;
      constructor(started: StartedTestContainer, path: string) {
        super(started);
        this.#path = path;
      }
      url(): string {
        return `http://${this.getHost()}:${this.getMappedPort(8080)}${this.#path}`;
      }
    }
    const web = await new Web().start();
    expect(web).toBeInstanceOf(StartedWeb);
    expect(web.url()).toMatch(/^http:\/\/localhost:\d+\/index$/);
    expect(web.getId()).toMatch(/^[0-9a-f]{64}$/);
    await web.restart({ timeout: 0 });
    // The getters follow the restart's new port, in the wrapper as in what it wraps.
    expect(web.url()).toBe(`http://localhost:${web.getMappedPort(8080)}/index`);
    await web.stop({ timeout: 0 });
    await web[Symbol.asyncDispose](); // already stopped: nothing to do, no error
    expect((await engine.list({ all: true })).map((c) => c.Id)).not.toContain(web.getId());
  });

  it("refuses aliases without a user network and ports without a network of their own (BERTH_INVALID_ARGUMENT), creating nothing", async () => {
    const before = (await engine.list({ all: true })).length;
    for (const c of [
      busybox("sleep", "300").withNetworkAliases("lonely"),
      busybox("sleep", "300").withNetworkMode("none").withExposedPorts(80),
      busybox("sleep", "300").withNetworkMode("host").withNetworkAliases("h"),
    ]) {
      expect(hasErrorCode(await failure(c.start()), "BERTH_INVALID_ARGUMENT")).toBe(true);
    }
    expect((await engine.list({ all: true })).length).toBe(before);
  });

  it("withAutoCleanup(false) registers nothing: no session label, the engine's own name", async () => {
    await using c = await busybox("sleep", "300").withNetworkMode("none").withAutoCleanup(false).start();
    expect(c.getLabels()["org.berth.session-id"]).toBeUndefined();
    expect(c.getName()).not.toMatch(/^berth-/);
    expect(await readAll(await c.logs())).toBe("");
  });
});
