import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, execaNode } from "execa";
import getPort from "get-port";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { ComposeEnvironment } from "../../../src/index.js";
import { Image } from "../../../src/harness/image.js";
import { Wait } from "../../../src/harness/wait/wait.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { VolumeStore } from "../../../src/volume/volume-store.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { ensureFixtureImages, fixtureTags } from "../../fixtures/fixture-images.js";
import { findLeaks } from "../../helpers/leaks.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const webapp = fileURLToPath(new URL("../../fixtures/compose/webapp/", import.meta.url));
const child = fileURLToPath(new URL("./fixtures/compose-env-child.ts", import.meta.url));

let root: string;
let engine: ContainerEngine;
let networks: NetworkManager;
let volumes: VolumeStore;

/** The project's containers, networks and volumes still in the store. */
async function leftovers(project: string): Promise<string[]> {
  const out = (await engine.list({ all: true, label: [`com.docker.compose.project=${project}`] })).map((c) => `container ${c.Names[0]}`);
  for (const n of await networks.store.list()) if (n.labels["com.docker.compose.project"] === project) out.push(`network ${n.name}`);
  for (const v of await volumes.list({ label: `com.docker.compose.project=${project}` })) out.push(`volume ${v.Name}`);
  return out;
}

describeAsRoot("ComposeEnvironment (testcontainers' DockerComposeEnvironment surface)", () => {
  beforeAll(async () => {
    root = await makeTempDir("berth-compose-env-");
    await ensureFixtureImages({ stateRoot: root });
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:latest", config: { Cmd: ["sh"] } });
    engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run") });
    networks = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
    volumes = new VolumeStore(join(root, "volumes"));
  }, 600_000);

  afterAll(async () => {
    if (engine) {
      for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
      engine.dispose();
    }
    if (networks) {
      for (const n of await networks.store.list()) if (n.name !== "bridge") await networks.removeNetwork(n.id).catch(() => {});
      await execa("umount", [networks.store.netnsDir], { reject: false });
    }
    if (root) await removeTempDir(root);
  }, 120_000);

  it("brings the webapp up with a wait strategy, gives its containers with mapped ports, stops and goes down leaving nothing", async () => {
    const webPort = await getPort();
    const environment = await new ComposeEnvironment(webapp, "compose.yaml", { engine, networks, volumes })
      .withProjectName("envtest")
      .withEnvironment({ POSTGRES_PASSWORD: "env-pw", DB_IMAGE: fixtureTags.postgres, CACHE_IMAGE: fixtureTags.redis, WEB_HOST_PORT: String(webPort) })
      .withBuild()
      .withWaitStrategy("web-1", Wait.forHttp("/", 8080).forResponsePredicate((body) => body === "ok db cache"))
      .withStartupTimeout(120_000)
      .up();
    const web = environment.getContainer("web-1");
    expect(web.getMappedPort(8080)).toBe(webPort);
    expect(await (await fetch(`http://${web.getHost()}:${web.getMappedPort(8080)}/`)).text()).toBe("ok db cache");
    expect(environment.getContainer("envtest-db-1").getName()).toBe("envtest-db-1");
    const ready = await environment.getContainer("db-1").exec(["pg_isready", "-U", "app", "-d", "app"]);
    expect(ready.exitCode, ready.output).toBe(0);
    expect(web.getIpAddress("envtest_default")).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    let missing: unknown;
    try {
      environment.getContainer("nope-1");
    } catch (error) {
      missing = error;
    }
    expect(hasErrorCode(missing, "BERTH_COMPOSE_NO_CONTAINER")).toBe(true);
    expect(String((missing as Error).message)).toContain("cache-1, db-1, web-1");

    await environment.stop();
    const states = (await engine.list({ all: true, label: ["com.docker.compose.project=envtest"] })).map((c) => c.State);
    expect(states).toEqual(["exited", "exited", "exited"]);

    await environment.down({ removeVolumes: true });
    expect(await leftovers("envtest")).toEqual([]);
    expect(findLeaks({ match: "envtest-", paths: [join(root, "containers")] })).toEqual([]);
  }, 300_000);

  it("removes what it started when a wait strategy fails", async () => {
    const dir = join(root, "projects", "waitfail");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "compose.yaml"), 'services:\n  web:\n    image: busybox\n    command: ["sleep", "300"]\n');
    const up = new ComposeEnvironment(dir, ["compose.yaml"], { engine, networks, volumes })
      .withProjectName("waitfail")
      .withWaitStrategy("web-1", Wait.forLogMessage("never printed").withStartupTimeout(1_000))
      .up();
    await expect(up).rejects.toMatchObject({ code: "BERTH_WAIT_TIMEOUT" });
    expect(await leftovers("waitfail")).toEqual([]);
  });

  it("leaves nothing when the test process is SIGKILLed: the session reaper removes containers, networks and volumes", async () => {
    const reaperRoot = await makeTempDir("berth-compose-reaper-");
    const dir = join(reaperRoot, "project");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "compose.yaml"), 'services:\n  web:\n    image: busybox\n    command: ["sleep", "300"]\n    volumes: [data:/data]\nvolumes:\n  data:\n');
    await Image.fromRootfs(await busyboxRootfs(), { root: reaperRoot, tag: "busybox:latest", config: { Cmd: ["sh"] } });
    const proc = execaNode(child, [dir, "reaped"], {
      nodeOptions: ["--import", "tsx"],
      env: { BERTH_ROOT: reaperRoot, BERTH_SESSION_ID: `compose-reaper-${process.pid}` },
      reject: false,
      timeout: 120_000,
      buffer: { stdout: false },
    });
    try {
      const reg = await new Promise<{ id: string; sessionFile: string }>((resolve, reject) => {
        proc.stdout!.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { id: string; sessionFile: string }));
        void proc.then((r) => reject(new Error(`session exited early: ${r.stderr}`)));
      });
      await expect.poll(async () => (await readFile(reg.sessionFile, "utf8").catch(() => "")).includes('"volume"'), { timeout: 10_000 }).toBe(true);
      proc.kill("SIGKILL");
      await proc;
      const e = new ContainerEngine({ stateRoot: reaperRoot, runRoot: join(reaperRoot, "run") });
      const n = new NetworkStore({ stateRoot: reaperRoot, runRoot: join(reaperRoot, "run") });
      const v = new VolumeStore(join(reaperRoot, "volumes"));
      const left = async () => [
        ...(await e.list({ all: true })).map((c) => c.Names[0]),
        ...(await n.list()).filter((x) => x.name !== "bridge").map((x) => x.name),
        ...(await v.list({})).map((x) => x.Name),
      ];
      await expect.poll(left, { timeout: 20_000, interval: 100 }).toEqual([]);
      e.dispose();
      expect(findLeaks({ match: reg.id, paths: [join(reaperRoot, "containers")] })).toEqual([]);
    } finally {
      proc.kill("SIGKILL");
      await proc;
      await execa("umount", [new NetworkStore({ stateRoot: reaperRoot, runRoot: join(reaperRoot, "run") }).netnsDir], { reject: false });
      await removeTempDir(reaperRoot);
    }
  }, 180_000);
});
