// The TypeScript network layer (src/network/): what a container start and removal cost on a
// user network through BridgeAttachment.prepare/release — lock, IPAM, the one-spawn
// namespace + veth, records, and the hosts files of the containers already there — beside
// the bare native spawn it wraps, in one run. Target (issue 5): setup ≤ 5 ms median. The
// hosts file is written as the engine writes it, synchronously after prepare (not timed).
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { BridgeAttachment } from "../src/network/bridge-attachment.js";
import { NetworkManager } from "../src/network/network-manager.js";
import { NetworkStore } from "../src/network/network-store.js";
import { Network } from "../src/network/network.js";
import { summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 40);
const peersOnNetwork = Number(process.env.BENCH_NET_PEERS ?? 5);

export default async function networkLayerBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (namespaces, bridges)");
    return;
  }
  const root = await mkdtemp(join(tmpdir(), "berth-netlayer-"));
  const store = new NetworkStore({ stateRoot: join(root, "state"), runRoot: join(root, "run") });
  const manager = new NetworkManager({ store });
  const [a, b] = randomBytes(2);
  const net = await Network.create({ name: "bench", subnet: `10.${150 + (a! % 50)}.${b}.0/24`, manager });
  const started: { id: string; attachment: BridgeAttachment }[] = [];
  const start = async (name: string) => {
    const id = randomBytes(32).toString("hex");
    await mkdir(join(store.stateRoot, "containers", id), { recursive: true });
    const attachment = new BridgeAttachment({ networks: [{ network: net, aliases: [`${name}-alias`] }], manager });
    const prep = await attachment.prepare({ id, name, hostname: id.slice(0, 12) });
    // What the engine does next: write the hosts file prepare's entries go into.
    writeFileSync(join(store.stateRoot, "containers", id, "hosts"), (prep.extraHosts ?? []).map((h) => `${h.ip}\t${h.name}\n`).join(""));
    started.push({ id, attachment });
    return { id, attachment, name };
  };
  try {
    for (let i = 0; i < peersOnNetwork; i++) await start(`peer${i}`);
    const setup: number[] = [];
    const teardown: number[] = [];
    const bare: number[] = [];
    const noop: number[] = [];
    for (let i = 0; i < runs; i++) {
      let c: Awaited<ReturnType<typeof start>> | undefined;
      setup.push(await time(async () => (c = await start(`c${i}`))));
      teardown.push(await time(() => c!.attachment.release({ id: c!.id, name: c!.name, hostname: "" })));
      started.pop();
      const addr = `${net.subnet.split(".").slice(0, 3).join(".")}.250/24`;
      bare.push(await time(() => manager.native.netnsCreate(`bare${i}`, store.netnsDir, { bridge: net.bridge, addrs: [addr], gateways: [net.gateway] })));
      await manager.native.netnsDelete(join(store.netnsDir, `bare${i}`));
      noop.push(await time(() => manager.native.netnsDelete("/nonexistent/berth-bench")));
    }
    console.log(`  load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}; ${peersOnNetwork} containers already on the network`);
    console.log(`  prepare (namespace, veth, address, names), from Node   ${summary(setup)}`);
    console.log(`  release (namespace, address, peers' hosts files)       ${summary(teardown)}`);
    console.log(`  the bare netns-create --bridge spawn it wraps          ${summary(bare)}`);
    console.log(`  a no-op spawn of the helper (netns-delete of nothing)  ${summary(noop)}`);
  } finally {
    for (const c of started) await c.attachment.release({ id: c.id, name: "", hostname: "" }).catch(() => {});
    await net.remove().catch(() => {});
    await execa("umount", [store.netnsDir], { reject: false });
    await rm(root, { recursive: true, force: true });
  }
}
