// Run by rootless.test.ts as an unprivileged user (runuser + tsx): the same API as root, in
// rootless mode. Prints one JSON report on stdout; every step records its result or its error,
// so one failing step does not hide the others.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { hasErrorCode, isBerthError } from "../../../src/common/berth-error.js";
import { runRoot, stateRoot } from "../../../src/common/paths.js";
import { Image } from "../../../src/harness/image.js";
import { RootlessNetworkAttachment } from "../../../src/network/rootless-network.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { ScenarioReport, strayProcesses } from "./scenario-report.js";

const rootfs = process.argv[2]!;
const udpEcho = process.argv[3]!;
const scenario = new ScenarioReport();
const { results: report, warnings, step } = scenario;

/** GETs `url`, again until it answers (the server in the container may not listen yet). */
async function fetchText(url: string): Promise<string> {
  let last: unknown;
  for (let attempt = 0; attempt < 40; attempt++) {
    const controller = new AbortController();
    // A ref'd timer: AbortSignal.timeout's would not keep the process alive while it waits.
    const timer = setTimeout(() => controller.abort(), 3_000);
    try {
      return (await (await fetch(url, { signal: controller.signal })).text()).trim();
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      clearTimeout(timer);
    }
  }
  throw last;
}

/** How many slirp4netns processes of ours run (children of this process included). */
function slirpProcesses(): number {
  let count = 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").startsWith("slirp4netns\0") && !/^State:\s+Z/m.test(readFileSync(`/proc/${name}/status`, "utf8"))) count++;
    } catch {
      // Exited meanwhile.
    }
  }
  return count;
}

const engine = new ContainerEngine({ pull: async () => {} });
const containersDir = join(engine.stateRoot, "containers");
const containerDirs = () => readdirSync(containersDir).filter((n) => /^[0-9a-f]{64}$/.test(n));

await step("paths", async () => ({ stateRoot: stateRoot(), runRoot: runRoot(), rootless: engine.rootless !== undefined }));
await step("import", async () => (await Image.fromRootfs(rootfs, { tag: "busybox:test", config: { Cmd: ["sh"] } })).id);

await step("run", async () => {
  const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo hello-out; echo hello-err >&2; exec sleep 300"], network: "none" });
  await engine.start(id);
  const inspect = await engine.inspect(id);
  const sh = async (script: string) => engine.exec(id, ["sh", "-c", script]);
  const result = {
    status: inspect.State.Status,
    idInside: (await sh("id -u")).stdout.trim(),
    uidMapInside: (await sh("cat /proc/self/uid_map")).stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number)),
    uidMapOutside: readFileSync(`/proc/${inspect.State.Pid}/uid_map`, "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number)),
    imageOwner: (await sh("stat -c %u:%g /home/user")).stdout.trim(),
    overlayWrite: (await sh("echo data > /etc/added && cat /etc/added")).stdout.trim(),
    rootfsType: (await sh("awk '$2 == \"/\" {print $3}' /proc/mounts")).stdout.trim(),
    chown: (await sh("touch /tmp/owned && chown 1000:1000 /tmp/owned && stat -c %u /tmp/owned")).stdout.trim(),
    ownedOnHost: statSync(join(engine.upperDir(id), "tmp/owned")).uid,
    addedOnHost: readFileSync(join(engine.upperDir(id), "etc/added"), "utf8").trim(),
    logs: [] as string[],
    execMissing: (await engine.exec(id, ["no-such-command"])).exitCode,
    execAsUser: (await engine.exec(id, ["id", "-u"], { user: "user" })).stdout.trim(),
  };
  await new Promise((r) => setTimeout(r, 200));
  for await (const entry of engine.logs(id)) result.logs.push(`${entry.stream}: ${entry.log.trim()}`);
  await engine.stop(id, { timeout: 2 });
  const stopped = (await engine.inspect(id)).State;
  // A stopped container's root is read through the helper's mount namespace.
  const chunks: Buffer[] = [];
  for await (const chunk of await engine.copyFromContainer(id, "/etc/added")) chunks.push(chunk as Buffer);
  const copied = Buffer.concat(chunks).includes(Buffer.from("data\n"));
  await engine.remove(id);
  return { ...result, stoppedStatus: stopped.Status, exitCode: stopped.ExitCode, copiedFromStopped: copied, removed: !containerDirs().includes(id) };
});

await step("volume", async () => {
  const volume = "rootless-data";
  const writer = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo kept > /data/f && chown 1000:1000 /data/f"], network: "none", mounts: [`${volume}:/data`] });
  await engine.start(writer);
  const wrote = await engine.wait(writer);
  await engine.remove(writer);
  const reader = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "cat /data/f; stat -c %u /data/f"], network: "none", mounts: [`${volume}:/data`] });
  await engine.start(reader);
  await engine.wait(reader);
  const lines: string[] = [];
  for await (const entry of engine.logs(reader)) lines.push(entry.log.trim());
  await engine.remove(reader);
  await engine.volumes.remove(volume);
  return { wrote, lines };
});

await step("ports", async () => {
  const network = new RootlessNetworkAttachment({ ports: ["80", "5353/udp"] });
  // httpd answers TCP; udp-echo (busybox has no UDP server) answers UDP.
  const cmd = "mkdir -p /www && echo from-container > /www/index.html && (httpd -f -p 80 -h /www &) && exec /udp-echo 5353";
  const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", cmd], network, mounts: [`${udpEcho}:/udp-echo:ro`] });
  try {
    await engine.start(id);
    const published = network.publishedPorts;
    const tcp = published.filter((p) => p.proto === "tcp");
    const answers: Record<string, string> = {};
    for (const p of tcp) {
      const url = p.hostIp.includes(":") ? `http://[${p.hostIp}]:${p.hostPort}/` : `http://${p.hostIp}:${p.hostPort}/`;
      answers[p.hostIp] = await fetchText(url);
    }
    const udp = published.find((p) => p.proto === "udp" && p.hostIp === "127.0.0.1")!;
    const udpAnswer = await new Promise<string>((resolve) => {
      const socket = createSocket("udp4");
      const timer = setTimeout(() => {
        socket.close();
        resolve("timeout");
      }, 10_000);
      socket.on("message", (m) => {
        clearTimeout(timer);
        socket.close();
        resolve(m.toString().trim());
      });
      // nc may not be listening yet: send until answered.
      const send = () => socket.send("ping\n", udp.hostPort, "127.0.0.1");
      send();
      const again = setInterval(send, 300);
      socket.on("close", () => clearInterval(again));
    });
    return { published: published.map((p) => `${p.proto}:${p.hostIp}:${p.hostPort}->${p.targetPort}`), answers, udpAnswer };
  } finally {
    await engine.remove(id, { force: true });
  }
});

await step("outbound", async () => {
  const server = createServer((_req, res) => res.end("from-host\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], network: new RootlessNetworkAttachment() });
  try {
    await engine.start(id);
    const r = await engine.exec(id, ["wget", "-qO-", `http://host.berth.internal:${port}/`]);
    // A restart releases the network (its helpers end) and makes it again.
    await engine.restart(id, { timeout: 0 });
    const again = await engine.exec(id, ["wget", "-qO-", `http://host.berth.internal:${port}/`]);
    const resolv = (await engine.exec(id, ["cat", "/etc/resolv.conf"])).stdout;
    const hosts = (await engine.exec(id, ["cat", "/etc/hosts"])).stdout;
    return { exitCode: r.exitCode, body: r.stdout.trim(), stderr: r.stderr.trim(), afterRestart: again.stdout.trim(), resolv, hosts, slirpAfterRestart: slirpProcesses() };
  } finally {
    await engine.remove(id, { force: true });
    server.close();
  }
});

await step("limits", async () => {
  const before = warnings.length;
  const id = await engine.create({ image: "busybox:test", cmd: ["true"], network: "none", resources: { memory: 64 * 1024 * 1024 } });
  try {
    await engine.start(id);
    const exitCode = await engine.wait(id);
    return { exitCode, warnings: warnings.slice(before), kept: engine.rootless?.warnings(id) ?? [] };
  } finally {
    await engine.remove(id, { force: true });
  }
});

await step("failedStart", async () => {
  const id = await engine.create({ image: "busybox:test", cmd: ["/no/such/command"], network: new RootlessNetworkAttachment({ ports: ["80"] }) });
  const error = await engine.start(id).then(
    () => undefined,
    (e: unknown) => e,
  );
  const left = { code: hasErrorCode(error, "BERTH_CONTAINER_START_FAILED") ? "BERTH_CONTAINER_START_FAILED" : String(error), processes: strayProcesses("rootless-scenario") };
  await engine.remove(id, { force: true });
  return { ...left, removed: !containerDirs().includes(id) };
});

await step("portInUse", async () => {
  const blocker = createTcpServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as { port: number }).port;
  const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], network: new RootlessNetworkAttachment({ ports: [`${port}:80`] }) });
  try {
    const error = await engine.start(id).then(
      () => undefined,
      (e: unknown) => e,
    );
    return {
      code: isBerthError(error) ? error.code : String(error),
      causeCode: isBerthError(error) && isBerthError(error.cause) ? error.cause.code : undefined,
      message: error instanceof Error ? error.message : "",
      port,
      processes: strayProcesses("rootless-scenario"),
    };
  } finally {
    await engine.remove(id, { force: true });
    blocker.close();
  }
});

await step("leftovers", async () => ({
  containers: containerDirs(),
  slirp: slirpProcesses(),
  networkFiles: (() => {
    try {
      return readdirSync(join(engine.runRoot, "rootless-net"));
    } catch {
      return [];
    }
  })(),
  processes: strayProcesses("rootless-scenario"),
  mounts: readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(engine.stateRoot) || l.includes(engine.runRoot)),
}));

engine.dispose();
scenario.print();
