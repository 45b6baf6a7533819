// The TypeScript network layer (src/network/): what a container's network setup costs (issue
// 5, target ≤ 5 ms median), measured two ways, each against a baseline in the same run:
// 1. BridgeAttachment.prepare/release on a user network with containers already on it, the
//    hosts file written as the engine writes it (through writeHosts, under the lock), beside
//    the bare netns-create it wraps; with the phases of the attach (BERTH_NET_PROFILE).
// 2. As issue 5 defines it: an engine start of a busybox container on that network minus
//    one on `none`.
// "fast" is the default; "baseline" is the order before issue 5's work (a reconcile at every
// attach, the hosts files written after the namespace, records renamed over), switched by
// options, alternating with it run by run so both see the same load.
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Image } from "../src/harness/image.js";
import { BridgeAttachment } from "../src/network/bridge-attachment.js";
import { NetworkManager } from "../src/network/network-manager.js";
import { NetworkStore } from "../src/network/network-store.js";
import { Network } from "../src/network/network.js";
import { takeSetupProfiles } from "../src/network/setup-profile.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { OciRuntime } from "../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { quantile, summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 40);
const peersOnNetwork = Number(process.env.BENCH_NET_PEERS ?? 5);
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

export default async function networkLayerBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (namespaces, bridges)");
    return;
  }
  await layerBench();
  // BENCH_NET_ENGINE=0 leaves out the engine half (it needs the busybox fixture and takes longer).
  if (process.env.BENCH_NET_ENGINE !== "0") await engineBench();
}

function managers(stateRoot: string, runRoot: string) {
  return {
    fast: new NetworkManager({ store: new NetworkStore({ stateRoot, runRoot }) }),
    baseline: new NetworkManager({
      store: new NetworkStore({ stateRoot, runRoot, replaceByLink: false }),
      reconcileInterval: 0,
      concurrentSetup: false,
    }),
  };
}

async function layerBench(): Promise<void> {
  // A state root, a network and its peers for each mode: on shared files, one mode's writes
  // would change what the other's cost (a link replaced by a renamed file, and back).
  const root = await mkdtemp(join(tmpdir(), "berth-netlayer-"));
  const envs = {
    fast: await layerEnv(managers(join(root, "fast"), join(root, "run-fast")).fast, "fast"),
    baseline: await layerEnv(managers(join(root, "baseline"), join(root, "run-baseline")).baseline, "baseline"),
  };
  const profiling = process.env.BERTH_NET_PROFILE;
  process.env.BERTH_NET_PROFILE = "1";
  try {
    for (const env of Object.values(envs)) for (let i = 0; i < peersOnNetwork; i++) await env.start(`peer${i}`);
    const setup = { fast: [] as number[], baseline: [] as number[] };
    // This process's CPU time for a prepare: steadier than the wall time on a busy machine,
    // where the wait for a core dominates (berth-runtime's side is the same in both modes).
    const cpu = { fast: [] as number[], baseline: [] as number[] };
    const teardown = { fast: [] as number[], baseline: [] as number[] };
    const phases = { fast: new Map<string, number[]>(), baseline: new Map<string, number[]>() };
    const releasePhases = new Map<string, number[]>();
    const bare: number[] = [];
    const { manager: fast, net } = envs.fast;
    for (let i = -3; i < runs; i++) {
      // Each first every other run: a release's namespace is freed by kernel workers after it
      // returns, and they compete with whatever runs next.
      for (const mode of i % 2 ? (["baseline", "fast"] as const) : (["fast", "baseline"] as const)) {
        takeSetupProfiles();
        let c: Awaited<ReturnType<LayerEnv["start"]>> | undefined;
        const cpuBefore = process.cpuUsage();
        const ms = await time(async () => (c = await envs[mode].start(`c${i + 3}`)));
        const used = process.cpuUsage(cpuBefore);
        const profile = takeSetupProfiles().find((p) => p.operation === "attach");
        const released = await time(() => c!.attachment.release({ id: c!.id, name: c!.name, hostname: "" }));
        const releaseProfile = takeSetupProfiles().find((p) => p.operation === "release");
        envs[mode].started.pop();
        if (i < 0) continue;
        setup[mode].push(ms);
        cpu[mode].push((used.user + used.system) / 1000);
        teardown[mode].push(released);
        for (const [phase, v] of profile?.phases ?? []) (phases[mode].get(phase) ?? phases[mode].set(phase, []).get(phase)!).push(v);
        if (mode === "fast") for (const [phase, v] of releaseProfile?.phases ?? []) (releasePhases.get(phase) ?? releasePhases.set(phase, []).get(phase)!).push(v);
      }
      const addr = `${net.subnet.split(".").slice(0, 3).join(".")}.250/24`;
      const ms = await time(() => fast.native.netnsCreate(`bare${i + 3}`, fast.store.netnsDir, { bridge: net.bridge, addrs: [addr], gateways: [net.gateway] }));
      await fast.native.netnsDelete(join(fast.store.netnsDir, `bare${i + 3}`));
      if (i >= 0) bare.push(ms);
    }
    console.log(`BridgeAttachment on a user network, ${peersOnNetwork} containers already on it, ${runs} runs each, alternating; load ${load()}`);
    console.log(`  prepare, fast       ${summary(setup.fast)}   (target ≤ 5 ms median)`);
    console.log(`  prepare, baseline   ${summary(setup.baseline)}   (fast/baseline ${(quantile(setup.fast, 0.5) / quantile(setup.baseline, 0.5)).toFixed(2)})`);
    console.log(`  Node CPU per prepare, fast ${summary(cpu.fast)}, baseline ${summary(cpu.baseline)}`);
    console.log(`  release, fast       ${summary(teardown.fast)}`);
    console.log(`  release, baseline   ${summary(teardown.baseline)}`);
    console.log(`  the bare netns-create --bridge request it wraps   ${summary(bare)}`);
    for (const mode of ["fast", "baseline"] as const) {
      console.log(`  attach phases, ${mode} (median ms): ${[...phases[mode]].map(([p, v]) => `${p} ${quantile(v, 0.5).toFixed(2)}`).join(", ")}`);
    }
    console.log(`  release phases, fast (median ms): ${[...releasePhases].map(([p, v]) => `${p} ${quantile(v, 0.5).toFixed(2)}`).join(", ")}`);
  } finally {
    if (profiling === undefined) delete process.env.BERTH_NET_PROFILE;
    else process.env.BERTH_NET_PROFILE = profiling;
    for (const env of Object.values(envs)) await env.dispose();
    await rm(root, { recursive: true, force: true });
  }
}

type LayerEnv = Awaited<ReturnType<typeof layerEnv>>;

async function layerEnv(manager: NetworkManager, name: string) {
  const store = manager.store;
  const [a, b] = randomBytes(2);
  const net = await Network.create({ name, subnet: `10.${150 + (a! % 50)}.${b}.0/24`, manager });
  const started: { id: string; attachment: BridgeAttachment }[] = [];
  return {
    manager,
    net,
    started,
    async start(name: string) {
      const id = randomBytes(32).toString("hex");
      const dir = join(store.stateRoot, "containers", id);
      await mkdir(dir, { recursive: true });
      const attachment = new BridgeAttachment({ networks: [{ network: net, aliases: [`${name}-alias`] }], manager });
      await attachment.prepare({
        id,
        name,
        hostname: id.slice(0, 12),
        // As the engine does: the container's own hosts file, written under the network lock.
        writeHosts: async (prep) => writeFileSync(join(dir, "hosts"), (prep.extraHosts ?? []).map((h) => `${h.ip}\t${h.name}\n`).join("")),
      });
      started.push({ id, attachment });
      return { id, attachment, name };
    },
    async dispose() {
      for (const c of started) await c.attachment.release({ id: c.id, name: "", hostname: "" }).catch(() => {});
      await net.remove().catch(() => {});
      spawnSync("umount", [store.netnsDir], { stdio: "ignore" });
    },
  };
}

/** Issue 5's own measure: an engine start on a bridge network minus one on `none`. */
async function engineBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "berth-netlayer-engine-"));
  const engine = new ContainerEngine({ stateRoot: root, runtime: new OciRuntime({ root: join(root, "run", "runtime") }) });
  const { fast, baseline } = managers(join(root, "net"), join(root, "run", "net"));
  const [a, b] = randomBytes(2);
  let net: Network | undefined;
  try {
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:bench", config: { Cmd: ["sh"] } });
    net = await Network.create({ name: "engine-bench", subnet: `10.${150 + (a! % 50)}.${b}.0/24`, manager: fast });
    const samples = { fast: [] as number[], baseline: [] as number[], none: [] as number[] };
    for (let i = -3; i < runs; i++) {
      for (const mode of (["fast", "baseline", "none"] as const).map((_, k, all) => all[(k + i + 3) % 3]!)) {
        const network = mode === "none" ? {} : { network: new BridgeAttachment({ manager: mode === "fast" ? fast : baseline, networks: [{ network: net }] }) };
        const id = await engine.create({ image: "busybox:bench", cmd: ["sleep", "300"], ...network });
        const ms = await time(() => engine.start(id));
        await engine.remove(id, { force: true });
        if (i >= 0) samples[mode].push(ms);
      }
    }
    const none = quantile(samples.none, 0.5);
    console.log(`network setup per container (engine start on a bridge minus on none), ${runs} runs each, alternating; load ${load()}`);
    console.log(`  start on none              ${summary(samples.none)}`);
    console.log(`  start on bridge, fast      ${summary(samples.fast)}   setup ${(quantile(samples.fast, 0.5) - none).toFixed(1)} ms (target ≤ 5 ms)`);
    console.log(`  start on bridge, baseline  ${summary(samples.baseline)}   setup ${(quantile(samples.baseline, 0.5) - none).toFixed(1)} ms`);
  } finally {
    engine.dispose();
    for (const c of await engine.list({ all: true }).catch(() => [])) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    await net?.remove().catch(() => {});
    spawnSync("umount", [fast.store.netnsDir], { stdio: "ignore" });
    await rm(root, { recursive: true, force: true });
  }
}
