// Run by rootless.test.ts as the unprivileged user, after rootless-scenario.ts (whose
// busybox:test image is in the user's store): the public API above the engine — the
// GenericContainer harness, the Container facade, a module (Redis, queried with node-redis),
// image removal and prune, a volume's first copy. Prints one JSON report on stdout, as the
// engine scenario does.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "redis";
import { isBerthError } from "../../../src/common/berth-error.js";
import { stateRoot } from "../../../src/common/paths.js";
import { Container } from "../../../src/harness/container.js";
import { GenericContainer } from "../../../src/harness/generic-container.js";
import { Image } from "../../../src/harness/image.js";
import { Wait } from "../../../src/harness/wait/wait.js";
import { RedisContainer } from "../../../src/modules/redis.js";
import { ImageStore } from "../../../src/image/image-store.js";
import { VolumeStore } from "../../../src/volume/volume-store.js";
import { ScenarioReport } from "./scenario-report.js";

const redisArchive = process.argv[2]!;
const scenario = new ScenarioReport();
const { results: report, step } = scenario;

/** GETs `url` once, with a time limit. */
async function get(url: string): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5_000);
  try {
    return (await (await fetch(url, { signal: controller.signal })).text()).trim();
  } finally {
    clearTimeout(timer);
  }
}

const root = stateRoot();
const containerDirs = () => readdirSync(join(root, "containers")).filter((n) => /^[0-9a-f]{64}$/.test(n));
const httpd = ["sh", "-c", "mkdir -p /www && echo from-harness > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www"];

await step("generic", async () => {
  const started = await new GenericContainer("busybox:test")
    .withCommand(httpd)
    .withExposedPorts(8080)
    .withCopyContentToContainer([{ content: "copied-in\n", target: "/www/before.txt" }])
    .withWaitStrategy(Wait.forListeningPorts())
    .start();
  const port = started.getMappedPort(8080);
  await started.copyContentToContainer([{ content: "copied-late\n", target: "/www/late.txt" }]);
  let logs = "";
  for await (const chunk of await started.logs()) logs += String(chunk);
  const result = {
    host: started.getHost(),
    samePort: started.getFirstMappedPort() === port,
    body: await get(`http://${started.getHost()}:${port}/`),
    bodyV4: await get(`http://127.0.0.1:${port}/`),
    copied: [await get(`http://127.0.0.1:${port}/before.txt`), await get(`http://127.0.0.1:${port}/late.txt`)],
    logs: logs.trim(),
    exec: (await started.exec(["id", "-u"])).stdout.trim(),
  };
  // A restart makes the network again; the harness reads the new host port.
  await started.restart({ timeout: 0 });
  let afterRestart = "";
  for (let i = 0; i < 40 && !afterRestart; i++) {
    afterRestart = await get(`http://127.0.0.1:${started.getMappedPort(8080)}/`).catch(async () => (await new Promise((r) => setTimeout(r, 100)), ""));
  }
  const id = started.getId();
  await started.stop();
  return { ...result, afterRestart, removedOnStop: !containerDirs().includes(id) };
});

await step("facade", async () => {
  {
    await using c = await Container.run({ image: "busybox:test", cmd: httpd, ports: ["8080"] });
    const ports = (await c.inspect()).NetworkSettings.Ports["8080/tcp"] ?? [];
    const port = Number(ports.find((p) => p.HostIp === "127.0.0.1")?.HostPort);
    // httpd may not listen yet: a few tries.
    let body = "";
    for (let i = 0; i < 40 && !body; i++) body = await get(`http://127.0.0.1:${port}/`).catch(async () => (await new Promise((r) => setTimeout(r, 100)), ""));
    const unsupported = await Container.create({ image: "busybox:test", networkMode: "some-network" }).then(
      () => "created",
      (e: unknown) => (isBerthError(e) ? e.code : String(e)),
    );
    return { id: c.id, hostIps: ports.map((p) => p.HostIp).sort(), body, unsupported };
  }
});
// `await using` removed it on leaving the block.
report.facadeRemoved = !containerDirs().includes((report.facade as { id?: string })?.id ?? "");

await step("volumeCopy", async () => {
  // busybox's /home/user is 1000:1000 in its layer: the first copy into an empty named
  // volume keeps that owner as the container sees it.
  await using c = await Container.run({ image: "busybox:test", cmd: ["sleep", "300"], networkMode: "none", mounts: ["rootless-copy:/home/user"] });
  const inside = (await c.exec(["stat", "-c", "%u:%g", "/home/user"])).stdout.trim();
  const data = join(root, "volumes", "rootless-copy", "_data");
  const onHost = statSync(data);
  await c.remove({ force: true });
  await new VolumeStore().remove("rootless-copy");
  return { inside, onHost: `${onHost.uid}:${onHost.gid}`, volumeRemoved: !existsSync(join(root, "volumes", "rootless-copy")) };
});

await step("redis", async () => {
  const image = await Image.import(redisArchive);
  const server = await new RedisContainer("berth-fixtures/redis:7").start();
  const client = createClient({ url: server.getConnectionUrl() });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.set("rootless", "works");
    const value = await client.get("rootless");
    const dataOwner = (await server.exec(["stat", "-c", "%U", "/data"])).stdout.trim();
    return { value, dataOwner, image: image.id };
  } finally {
    await client.quit().catch(() => {});
    await server.stop();
  }
});

await step("imageRemove", async () => {
  const store = new ImageStore();
  const record = await store.get("berth-fixtures/redis:7");
  const snapshots = record.layers.map((l) => store.snapshotDir(l.chainId));
  // The snapshot holds directories of the redis user (a subordinate id on the host) with files in them.
  const subordinateOwned = snapshots.some((dir) => {
    try {
      return statSync(join(dir, "fs", "etc", "redis")).uid !== process.getuid!();
    } catch {
      return false;
    }
  });
  const removed = await (await Image.get("berth-fixtures/redis:7")).remove();
  const pruned = await Image.prune();
  return { subordinateOwned, deleted: removed.deleted, prunedSnapshots: pruned.snapshots >= 1, left: snapshots.filter((d) => existsSync(d)) };
});

// A container the test never stops: the session reaper's watchdog removes it once this process ends.
await step("reaped", async () => {
  const started = await new GenericContainer("busybox:test").withCommand(["sleep", "300"]).start();
  return { id: started.getId() };
});

scenario.print();
// The shared engine and the reaper's pipe would keep the process alive.
process.exit(0);
