// Run by rootless-gaps.test.ts as an unprivileged user (runuser + tsx), one mode per run:
//   cgroup        — in a delegated cgroup v2 subtree: a hugetlb limit applied, a memory limit warned about
//   fuse          — BERTH_ROOTLESS_OVERLAY=fuse-overlayfs: run, exec, logs, copy out
//   crash-start   — a start paused (BERTH_TEST_PAUSE_AFTER_NETWORK) once the network's helpers run; killed there
//   crash-clean   — what the killed start left, found and removed by another process's engine
//   unsupported   — user networks and aliases: BERTH_UNSUPPORTED, saying what to do instead
// Prints one JSON report on stdout; every step records its result or its error.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { isBerthError } from "../../../src/common/berth-error.js";
import { Container } from "../../../src/harness/container.js";
import { GenericContainer } from "../../../src/harness/generic-container.js";
import { Image } from "../../../src/harness/image.js";
import { Network } from "../../../src/network/network.js";
import { RootlessNetworkAttachment } from "../../../src/network/rootless-network.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { ScenarioReport, strayProcesses } from "./scenario-report.js";

const [mode, arg] = [process.argv[2]!, process.argv[3]!];
const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
const scenario = new ScenarioReport();
const { results: report, warnings, step } = scenario;

const engine = new ContainerEngine({ pull: async () => {} });
const text = async (chunks: AsyncIterable<unknown>) => {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
};

if (mode === "import") {
  await step("import", async () => (await Image.fromRootfs(arg, { tag: "busybox:test", config: { Cmd: ["sh"] } })).id);
}

if (mode === "cgroup") {
  await step("cgroup", async () => {
    const delegation = engine.rootless!.delegation;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "300"],
      network: "none",
      resources: { memory: "64m", hugepageLimits: [{ pageSize: "2MB", limit: 4 * 1024 * 1024 }] },
    });
    try {
      await engine.start(id);
      const pid = (await engine.inspect(id)).State.Pid;
      const own = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::"))!.slice(3);
      const dir = join("/sys/fs/cgroup/unified", own);
      const result = {
        delegated: delegation.relative,
        controllers: delegation.controllers,
        cgroup: own,
        hugetlbMax: readFileSync(join(dir, "hugetlb.2MB.max"), "utf8").trim(),
        // The memory limit is not applied: the cgroup has no memory controller (v1 here).
        memoryFile: existsSync(join(dir, "memory.max")),
        warnings: [...warnings],
        kept: engine.rootless!.warnings(id),
        removedCgroup: false,
      };
      await engine.remove(id, { force: true });
      result.removedCgroup = !existsSync(dir);
      return result;
    } finally {
      await engine.remove(id, { force: true }).catch(() => {});
    }
  });
}

if (mode === "fuse") {
  await step("fuse", async () => {
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo hello-out; echo hello-err >&2; echo data > /etc/added; exec sleep 300"], network: "none" });
    try {
      await engine.start(id);
      const sh = (script: string) => engine.exec(id, ["sh", "-c", script]);
      // The command writes /etc/added: waited for before it is read back.
      for (let i = 0; i < 50 && (await sh("test -f /etc/added")).exitCode !== 0; i++) await new Promise((r) => setTimeout(r, 100));
      const missing = await engine.exec(id, ["no-such-command"]);
      const notExecutable = await engine.exec(id, ["/etc/added"]);
      const result = {
        overlay: engine.rootless!.overlayDriver,
        rootfsType: (await sh("awk '$2 == \"/\" {print $3}' /proc/mounts")).stdout.trim(),
        read: (await engine.exec(id, ["cat", "/etc/added"])).stdout.trim(),
        missing: { exitCode: missing.exitCode, stderr: missing.stderr.trim() },
        notExecutable: { exitCode: notExecutable.exitCode, stderr: notExecutable.stderr.trim() },
        asUser: (await engine.exec(id, ["id", "-u"], { user: "user" })).stdout.trim(),
        commandFailing: (await sh("echo own-message >&2; exit 127")).stderr.trim(),
        logs: [] as string[],
        copiedRunning: (await text(await engine.copyFromContainer(id, "/etc/added"))).includes(Buffer.from("data\n")),
        copiedStopped: false,
        stopped: 0,
      };
      for await (const entry of engine.logs(id)) result.logs.push(`${entry.stream}: ${entry.log.trim()}`);
      await engine.stop(id, { timeout: 1 });
      result.stopped = (await engine.inspect(id)).State.ExitCode;
      result.copiedStopped = (await text(await engine.copyFromContainer(id, "/etc/added"))).includes(Buffer.from("data\n"));
      return result;
    } finally {
      await engine.remove(id, { force: true });
    }
  });
  await step("fuseHarness", async () => {
    // The harness over the fuse-overlayfs root: copy in before the start, exec, published port.
    const started = await new GenericContainer("busybox:test")
      .withCommand(["sh", "-c", "echo serving && exec httpd -f -p 8080 -h /www"])
      .withExposedPorts(8080)
      .withCopyContentToContainer([{ content: "from-fuse\n", target: "/www/index.html" }])
      .start();
    try {
      let body = "";
      for (let i = 0; i < 50 && !body; i++) {
        body = await fetch(`http://127.0.0.1:${started.getMappedPort(8080)}/`).then(
          async (r) => (await r.text()).trim(),
          async () => (await new Promise((r) => setTimeout(r, 100)), ""),
        );
      }
      return { body, exec: (await started.exec(["cat", "/www/index.html"])).stdout.trim() };
    } finally {
      await started.stop({ timeout: 0 });
    }
  });
}

if (mode === "crash-start") {
  await step("crash", async () => {
    const id = await engine.create({ image: "busybox:test", name: "crashed", cmd: ["sleep", "300"], network: new RootlessNetworkAttachment({ ports: ["80"] }) });
    writeFileSync(`${arg}.id`, id);
    // Pauses once the network's helpers run (the test kills this process there).
    await engine.start(id);
    return { notPaused: true };
  });
}

if (mode === "crash-clean") {
  await step("clean", async () => {
    const id = readFileSync(`${arg}.id`, "utf8").trim();
    const before = (await engine.inspect(id)).State.Status;
    // `berth rm -f`, the CLI, as a user would clean up.
    const cli = await execa(process.execPath, [join(repo, "node_modules/tsx/dist/cli.mjs"), join(repo, "src/cli/main.ts"), "rm", "-f", "crashed"], { reject: false, timeout: 60_000 });
    if (cli.exitCode !== 0) throw new Error(`berth rm -f failed (exit ${cli.exitCode}): ${cli.stderr}`);
    let netFiles: string[] = [];
    try {
      netFiles = readdirSync(join(engine.runRoot, "rootless-net"));
    } catch {
      // None made.
    }
    return {
      before,
      cli: cli.stdout.trim(),
      removed: !existsSync(join(engine.stateRoot, "containers", id)),
      netFiles,
      processes: strayProcesses("rootless-gaps-scenario"),
      mounts: readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(engine.stateRoot) || l.includes(engine.runRoot)),
    };
  });
}

if (mode === "unsupported") {
  const messageOf = (e: unknown) => (isBerthError(e) ? `${e.code}: ${e.message}` : String(e));
  await step("aliases", async () =>
    new GenericContainer("busybox:test")
      .withCommand(["sleep", "1"])
      .withNetworkAliases("db")
      .start()
      .then(async (c) => (await c.stop(), "started"), messageOf),
  );
  await step("networkMode", async () => Container.create({ image: "busybox:test", networkMode: "some-network" }).then(() => "created", messageOf));
  await step("networkCreate", async () => Network.create({ name: "rootless-net-test" }).then(async (n) => (await n.remove(), "created"), messageOf));
  // What the message says to do instead: one container reaches the other's published port
  // through host.berth.internal.
  await step("instead", async () => {
    const server = await new GenericContainer("busybox:test")
      .withCommand(["sh", "-c", "mkdir -p /www && echo from-db > /www/index.html && exec httpd -f -p 80 -h /www"])
      .withExposedPorts(80)
      .start();
    try {
      const client = await new GenericContainer("busybox:test").withCommand(["sleep", "300"]).start();
      try {
        const url = `http://host.berth.internal:${server.getMappedPort(80)}/`;
        let r = await client.exec(["wget", "-qO-", url]);
        for (let i = 0; i < 30 && r.exitCode !== 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          r = await client.exec(["wget", "-qO-", url]);
        }
        return r.stdout.trim();
      } finally {
        await client.stop({ timeout: 0 });
      }
    } finally {
      await server.stop({ timeout: 0 });
    }
  });
}

engine.dispose();
scenario.print();
// A harness's reaper pipe would keep the process alive.
process.exit(0);
