// A container's network release (issue 4: stop + remove ≤ 15 ms median): netns-delete returns
// once the kernel has taken the container's veths off every list ("detached", the default),
// against the delete that also waits for the kernel to free them, an RCU grace period later
// ("wait-freed", BERTH_NET_SYNC_LINK_DELETE=1). Alternating run by run, so both see the same
// load; the load average is printed with the figures.
// 1. BridgeAttachment.release after a prepare, on a user network.
// 2. Engine stop + remove of a running busybox container on that network, and on `none`.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Image } from "../src/harness/image.js";
import { BridgeAttachment } from "../src/network/bridge-attachment.js";
import { NetworkManager } from "../src/network/network-manager.js";
import { NetworkStore } from "../src/network/network-store.js";
import { Network } from "../src/network/network.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { OciRuntime } from "../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { quantile, summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 40);
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const modes = ["detached", "wait-freed"] as const;
type Mode = (typeof modes)[number];

/** Runs `fn` with netns-delete in `mode` (the switch is read per request). */
async function inMode<T>(mode: Mode, fn: () => Promise<T>): Promise<T> {
  const before = process.env.BERTH_NET_SYNC_LINK_DELETE;
  if (mode === "wait-freed") process.env.BERTH_NET_SYNC_LINK_DELETE = "1";
  else delete process.env.BERTH_NET_SYNC_LINK_DELETE;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.BERTH_NET_SYNC_LINK_DELETE;
    else process.env.BERTH_NET_SYNC_LINK_DELETE = before;
  }
}

export default async function networkReleaseBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (namespaces, bridges)");
    return;
  }
  const root = await mkdtemp(join(tmpdir(), "berth-netrelease-"));
  const manager = new NetworkManager({ store: new NetworkStore({ stateRoot: join(root, "net"), runRoot: join(root, "run", "net") }) });
  const engine = new ContainerEngine({ stateRoot: root, runtime: new OciRuntime({ root: join(root, "run", "runtime") }) });
  const [a, b] = randomBytes(2);
  let net: Network | undefined;
  try {
    net = await Network.create({ name: "release-bench", subnet: `10.${150 + (a! % 50)}.${b}.0/24`, manager });

    const release = { detached: [] as number[], "wait-freed": [] as number[] };
    for (let i = -3; i < runs; i++) {
      for (const mode of i % 2 ? [...modes].reverse() : modes) {
        const id = randomBytes(32).toString("hex");
        const attachment = new BridgeAttachment({ networks: [{ network: net }], manager });
        await attachment.prepare({ id, name: `r${i + 3}`, hostname: "" });
        const ms = await inMode(mode, () => time(() => attachment.release({ id, name: `r${i + 3}`, hostname: "" })));
        if (i >= 0) release[mode].push(ms);
      }
    }
    console.log(`BridgeAttachment.release on a user network, ${runs} runs each, alternating; load ${load()}`);
    console.log(`  detached     ${summary(release.detached)}`);
    console.log(`  wait-freed   ${summary(release["wait-freed"])}   (detached/wait-freed ${(quantile(release.detached, 0.5) / quantile(release["wait-freed"], 0.5)).toFixed(2)})`);

    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:bench", config: { Cmd: ["sh"] } });
    const stopRemove = { detached: [] as number[], "wait-freed": [] as number[], none: [] as number[] };
    const order = [...modes, "none"] as const;
    for (let i = -3; i < Math.min(runs, 30); i++) {
      for (const mode of order.map((_, k, all) => all[(k + i + 3) % all.length]!)) {
        const network = mode === "none" ? {} : { network: new BridgeAttachment({ manager, networks: [{ network: net }] }) };
        const id = await engine.create({ image: "busybox:bench", cmd: ["sleep", "300"], init: true, ...network });
        await engine.start(id);
        const ms = await inMode(mode === "none" ? "detached" : mode, () =>
          time(async () => {
            await engine.stop(id);
            await engine.remove(id);
          }),
        );
        if (i >= 0) stopRemove[mode].push(ms);
      }
    }
    console.log(`engine stop + remove of a running container, ${Math.min(runs, 30)} runs each, alternating; load ${load()}`);
    console.log(`  on the network, detached     ${summary(stopRemove.detached)}   (target ≤ 15 ms median)`);
    console.log(`  on the network, wait-freed   ${summary(stopRemove["wait-freed"])}`);
    console.log(`  on none                      ${summary(stopRemove.none)}`);
  } finally {
    engine.dispose();
    for (const c of await engine.list({ all: true }).catch(() => [])) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    await net?.remove().catch(() => {});
    // The namespace directory is a mount point of its own (a shared bind mount, see netns-create).
    spawnSync("umount", [manager.store.netnsDir], { stdio: "ignore" });
    await rm(root, { recursive: true, force: true });
  }
}
