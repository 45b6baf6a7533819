// Compose: what `up` costs over starting the same containers by hand.
// - `up` of a three-service busybox project (api ← worker ← web, the middle one health-gated),
//   its network created, then `down -v`;
// - an `up` with nothing changed (the hash check: every container found and left alone);
// - as the floor, the same three containers created and started with Container.run on one
//   network made with Network.create, then removed.
// docker compose runs the same project when a docker daemon is there.
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { composeContext } from "../src/compose/compose-context.js";
import { composeDown } from "../src/compose/compose-lifecycle.js";
import { composeUp } from "../src/compose/compose-up.js";
import { loadComposeProject } from "../src/compose/load-project.js";
import { Container } from "../src/harness/container.js";
import { Image } from "../src/harness/image.js";
import { BridgeAttachment } from "../src/network/bridge-attachment.js";
import { NetworkManager } from "../src/network/network-manager.js";
import { NetworkStore } from "../src/network/network-store.js";
import { Network } from "../src/network/network.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { summary, time } from "./stats.js";

const RUNS = 8;

const file = `services:
  api:
    image: busybox
    command: ["sleep", "300"]
    init: true
  worker:
    image: busybox
    command: ["sleep", "300"]
    init: true
    healthcheck: { test: ["CMD", "true"], interval: 100ms, start_interval: 100ms, start_period: 5s }
    depends_on: [api]
  web:
    image: busybox
    command: ["sleep", "300"]
    init: true
    depends_on:
      worker: { condition: service_healthy }
`;

export default async function composeBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root");
    return;
  }
  const root = await mkdtemp(join(tmpdir(), "berth-bench-compose-"));
  const runRoot = join(root, "run");
  const engine = new ContainerEngine({ stateRoot: root, runRoot });
  const networks = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot }) });
  const context = composeContext({ engine, networks });
  try {
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:latest", config: { Cmd: ["sh"] } });
    const dir = join(root, "benchapp");
    await mkdir(dir);
    await writeFile(join(dir, "compose.yaml"), file);
    const project = await loadComposeProject({ cwd: dir, environment: {} });
    console.log(`  load average: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${cpus().length} CPUs)`);

    const up: number[] = [];
    const again: number[] = [];
    const down: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      up.push(await time(() => composeUp(context, project)));
      again.push(await time(() => composeUp(context, project)));
      down.push(await time(() => composeDown(context, project, { volumes: true, timeout: 0 })));
    }
    const byHand: number[] = [];
    const byHandDown: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let net: Network | undefined;
      const started: Container[] = [];
      byHand.push(
        await time(async () => {
          net = await Network.create({ manager: networks, name: `bench-hand-${i}` });
          for (const name of ["api", "worker", "web"]) {
            started.push(
              await Container.run({
                engine,
                image: "busybox",
                name: `bench-hand-${i}-${name}`,
                cmd: ["sleep", "300"],
                init: true,
                network: new BridgeAttachment({ manager: networks, networks: [{ network: net.name, aliases: [name] }] }),
              }),
            );
          }
        }),
      );
      byHandDown.push(
        await time(async () => {
          for (const c of started.reverse()) await c.remove({ force: true });
          await net!.remove();
        }),
      );
    }
    console.log(`  compose up (3 services, 1 health-gated):  ${summary(up)}`);
    console.log(`  compose up, nothing changed:              ${summary(again)}`);
    console.log(`  compose down -v:                          ${summary(down)}`);
    console.log(`  by hand: network + 3 × Container.run:     ${summary(byHand)}`);
    console.log(`  by hand: 3 × remove + network remove:     ${summary(byHandDown)}`);
    const docker = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
    console.log(docker.status === 0 ? "  docker compose: present, not driven by this bench yet" : "  docker compose: not installed here");
    console.log(`  load average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  } finally {
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    for (const n of await networks.store.list()) if (n.name !== "bridge") await networks.removeNetwork(n.id).catch(() => {});
    spawnSync("umount", [networks.store.netnsDir]);
    engine.dispose();
    await rm(root, { recursive: true, force: true });
  }
}
