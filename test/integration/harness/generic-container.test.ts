import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { execaNode } from "execa";
import tarStream from "tar-stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode, type BerthError } from "../../../src/common/berth-error.js";
import { GenericContainer } from "../../../src/harness/generic-container.js";
import { Wait } from "../../../src/harness/wait/wait.js";
import type { NetworkManager } from "../../../src/network/network-manager.js";
import { Network } from "../../../src/network/network.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { failure } from "../../helpers/failure.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { readAll } from "../../helpers/stream-text.js";
import { isProxyAlive, testSubnet } from "../network/net-fixture.js";
import { createBusyboxWorld, type BusyboxWorld } from "./harness-world.js";

let root: string;
let engine: ContainerEngine;
let manager: NetworkManager;
let world: BusyboxWorld | undefined;

const busybox = (...command: string[]): GenericContainer => world!.busybox(...command);

/** A busybox httpd serving `body` from /www on port 80. */
function httpd(body: string): GenericContainer {
  return busybox("httpd", "-f", "-v", "-p", "80", "-h", "/www")
    .withCopyContentToContainer([{ content: body, target: "/www/index.html" }])
    .withExposedPorts(80);
}

/** The content of the single file in a tar stream. */
async function fileInTar(tar: Readable): Promise<string> {
  const extract = tarStream.extract();
  let content = "";
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      stream.on("data", (c: unknown) => (content += header.type === "file" ? String(c) : ""));
      stream.on("end", next);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  tar.pipe(extract as unknown as NodeJS.WritableStream);
  await done;
  return content;
}

/** The start of a child session script: berth's sources, the engine and the image of this file's root. */
function childPrelude(): string {
  const src = (path: string) => JSON.stringify(fileURLToPath(new URL(path, import.meta.url)));
  return `import { join } from "node:path";
import { GenericContainer } from ${src("../../../src/harness/generic-container.ts")};
import { Image } from ${src("../../../src/harness/image.ts")};
import { NetworkManager } from ${src("../../../src/network/network-manager.ts")};
import { NetworkStore } from ${src("../../../src/network/network-store.ts")};
import { ContainerEngine } from ${src("../../../src/runtime/engine/index.ts")};
const root = process.env.BERTH_ROOT;
const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), pull: async () => {} });
const image = await Image.get("busybox:test", { root });`;
}

describeAsRoot("GenericContainer (busybox)", () => {
  beforeAll(async () => {
    world = await createBusyboxWorld("berth-generic-");
    ({ root, engine, networkManager: manager } = world);
  });
  afterAll(async () => {
    await world?.dispose();
  });

  it("serves busybox httpd on the mapped port over 127.0.0.1 and ::1 after the default (listening ports) wait; exec, logs, copy; await using removes it", async () => {
    let id: string;
    {
      await using web = await httpd("hello from berth\n").withLabels({ app: "web" }).start();
      id = web.getId();
      const port = web.getMappedPort(80);
      expect(web.getFirstMappedPort()).toBe(port);
      expect(web.getHost()).toBe("localhost");
      // Ready means listening: no retry loop is needed here.
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("hello from berth\n");
      expect(await (await fetch(`http://[::1]:${port}/`)).text()).toBe("hello from berth\n");
      expect(web.getLabels().app).toBe("web");
      expect(web.getNetworkNames()).toEqual(["bridge"]);
      expect(web.getIpAddress("bridge")).toMatch(/^10\.88\./);

      const notExposed = (() => {
        try {
          web.getMappedPort("81/udp");
        } catch (error) {
          return error as BerthError;
        }
      })();
      expect(hasErrorCode(notExposed, "BERTH_PORT_NOT_EXPOSED")).toBe(true);
      expect(notExposed?.message).toContain("81/udp");

      const exec = await web.exec(["sh", "-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'], { env: { GREETING: "hi" }, workingDir: "/www" });
      expect(exec).toMatchObject({ exitCode: 3, stdout: "hi from /www\n", stderr: "oops\n" });
      expect(exec.output).toContain("hi from /www");
      expect((await web.exec(["id", "-u"], { user: "nobody" })).stdout.trim()).toBe("65534");

      await web.copyContentToContainer([{ content: "copied in", target: "/www/notes/note.txt", mode: 0o600 }]);
      expect(await fileInTar(await web.copyArchiveFromContainer("/www/notes/note.txt"))).toBe("copied in");
      expect(await (await fetch(`http://localhost:${port}/notes/note.txt`)).text()).toBe("copied in");
      expect((await web.exec(["stat", "-c", "%a", "/www/notes/note.txt"])).stdout.trim()).toBe("600");
      // httpd -v logs each response to stderr: one per request made above.
      await expect.poll(async () => (await readAll(await web.logs())).match(/response:200/g)?.length, { timeout: 10_000 }).toBe(3);
      expect((await readAll(await web.logs({ tail: 1 }))).trim().split("\n")).toHaveLength(1);
    }
    expect((await engine.list({ all: true })).map((c) => c.Id)).not.toContain(id);
    expect(await manager.container(id)).toBeUndefined();
  });

  it("waits for a log message", async () => {
    await using c = await busybox("sh", "-c", "echo starting; sleep 0.3; echo ready to serve; exec sleep 300").withWaitStrategy(Wait.forLogMessage(/ready to serve/)).start();
    expect(await readAll(await c.logs())).toContain("ready to serve");
  });

  it("removes the container when the wait fails, and the error names the strategy and has the last log lines", async () => {
    const error = await failure(
      busybox("sh", "-c", "echo line-one; echo line-two; exec sleep 300").withName("never-ready").withWaitStrategy(Wait.forLogMessage("never printed")).withStartupTimeout(1_500).start(),
    );
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
    expect(error.message).toContain("never printed");
    expect(error.lastLines).toEqual(expect.arrayContaining(["line-one", "line-two"]));
    expect((await engine.list({ all: true, name: ["never-ready"] })).length).toBe(0);
  });

  it("two containers on a Network talk by alias", async () => {
    const net = await Network.create({ name: "generic-app", subnet: testSubnet().subnet, manager });
    try {
      await using web = await httpd("by alias\n").withNetwork(net).withNetworkAliases("web-alias").start();
      await using client = await busybox("sleep", "300").withNetwork(net).withWaitStrategy(Wait.forSuccessfulCommand(["true"])).start();
      const fetched = await client.exec(["wget", "-qO-", "http://web-alias/"]);
      expect(fetched).toMatchObject({ exitCode: 0, stdout: "by alias\n" });
      expect(web.getNetworkNames()).toEqual(["generic-app"]);
      expect((await client.exec(["ping", "-c", "1", "-W", "2", web.getIpAddress("generic-app")])).exitCode).toBe(0);
    } finally {
      await net.remove();
    }
  });

  it("stop({ remove: false }) gives a StoppedTestContainer that still gives its logs and files", async () => {
    const started = await busybox("sh", "-c", "echo before stop; echo kept > /left.txt; echo written; exec sleep 300").withWaitStrategy(Wait.forLogMessage("written")).start();
    const stopped = await started.stop({ timeout: 0, remove: false });
    expect(stopped.getId()).toBe(started.getId());
    expect(await readAll(await stopped.logs())).toContain("before stop");
    expect(await fileInTar(await stopped.copyArchiveFromContainer("/left.txt"))).toBe("kept\n");
    expect((await engine.inspect(stopped.getId())).State.Running).toBe(false);
    await engine.remove(stopped.getId(), { force: true, volumes: true });
  });

  it("registers with the session reaper before create: a SIGKILLed session's container is removed", async () => {
    const script = join(root, "reaped-child.mts");
    await writeFile(
      script,
      `${childPrelude()}
const c = await new GenericContainer(image, { engine }).withCommand(["httpd", "-f", "-p", "80"]).withExposedPorts(80).start();
const proxy = (await new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) }).container(c.getId()))?.proxy?.pid;
process.stdout.write(JSON.stringify({ id: c.getId(), name: c.getName(), proxy }) + "\\n");
setInterval(() => {}, 1000);
`,
    );
    const proc = execaNode(script, [], { nodeOptions: ["--import", "tsx"], env: { BERTH_ROOT: root, BERTH_SESSION_ID: `generic-${process.pid}` }, reject: false, timeout: 60_000, buffer: { stdout: false } });
    const reg = await new Promise<{ id: string; name: string; proxy: number }>((resolve, reject) => {
      proc.stdout!.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { id: string; name: string; proxy: number }));
      void proc.then((r) => reject(new Error(`session exited early: ${String(r.stderr)}`)));
    });
    expect(reg.name).toMatch(/^berth-[0-9a-f]{12}$/);
    expect((await engine.inspect(reg.id)).Config.Labels?.["org.berth.session-id"]).toBe(`generic-${process.pid}`);
    expect(isProxyAlive(reg.proxy)).toBe(true);
    proc.kill("SIGKILL");
    await proc;
    await expect.poll(async () => (await engine.list({ all: true })).some((c) => c.Id === reg.id), { timeout: 10_000, interval: 20 }).toBe(false);
    // The reaper loads the network layer, so the container's port proxy goes with it.
    await expect.poll(() => isProxyAlive(reg.proxy), { timeout: 5_000, interval: 20 }).toBe(false);
    expect(await manager.container(reg.id)).toBeUndefined();
  });

  it("withReuse from two processes gives one container", async () => {
    const script = join(root, "reuse-child.mts");
    await writeFile(
      script,
      `${childPrelude()}
const c = await new GenericContainer(image, { engine }).withCommand(["httpd", "-f", "-p", "80"]).withExposedPorts(80).withReuse().start();
process.stdout.write(JSON.stringify({ id: c.getId(), reused: c.reused, port: c.getMappedPort(80) }));
engine.dispose();
`,
    );
    const run = () => execaNode(script, [], { nodeOptions: ["--import", "tsx"], env: { BERTH_ROOT: root }, timeout: 60_000 });
    const [a, b] = await Promise.all([run(), run()]);
    const results = [JSON.parse(a.stdout), JSON.parse(b.stdout)] as { id: string; reused: boolean; port: number }[];
    expect(results[0]!.id).toBe(results[1]!.id);
    expect(results.map((r) => r.reused).sort()).toEqual([false, true]);
    expect(results[0]!.port).toBe(results[1]!.port);
    const running = await engine.list({ label: ["org.berth.reuse-hash"] });
    expect(running.map((c) => c.Id)).toEqual([results[0]!.id]);
    await engine.remove(results[0]!.id, { force: true, volumes: true });
  });
});
