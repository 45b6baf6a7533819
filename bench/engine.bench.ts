// The container engine from Node (issue 4): create + start + exit of a busybox `true`
// container whose image is present, against `runc run` of the same rootfs; stop + remove;
// 50 containers started at once (time until all run, and each monitor's memory); 500
// sequential run/remove cycles and what they leave behind.
// Targets: create+start+exit ≤ 15 ms median, stop+remove ≤ 15 ms, 50 running within 2 s,
// ≤ 2 MB per idle container outside its own processes, nothing left after 500 cycles.
// Also the network setup as the engine does it (issue 5, ≤ 5 ms): the start of a container
// on the default bridge minus that of one on `none`, alternating. Every section prints the
// load average, as the figures mean little on a busy host. Also what an image's `VOLUME`
// costs at create and remove (BENCH_ENGINE_SECTIONS=volume runs only that).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadavg } from "node:os";
import { Image } from "../src/harness/image.js";
import { BridgeAttachment } from "../src/network/bridge-attachment.js";
import { NetworkManager } from "../src/network/network-manager.js";
import { NetworkStore } from "../src/network/network-store.js";
import { Network } from "../src/network/network.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { OciRuntime, resolveRuntime } from "../src/runtime/oci-runtime.js";
import { defaultSpec } from "../src/runtime/default-spec.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { findLeaks } from "../test/helpers/leaks.js";
import { summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 40);
const cycles = Number(process.env.BENCH_CYCLES ?? 500);
const concurrent = 50;
/** Which sections run: `engine` (all of issue 4's), `volume` (the anonymous volume's cost). @default both */
const sections = new Set((process.env.BENCH_ENGINE_SECTIONS ?? "engine,volume").split(","));

export default async function engineBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "berth-engine-bench-"));
  const engine = new ContainerEngine({ stateRoot: root, runtime: new OciRuntime({ root: join(root, "run", "runtime") }) });
  try {
    const rootfs = await busyboxRootfs();
    await Image.fromRootfs(rootfs, { root, tag: "busybox:bench", config: { Cmd: ["sh"] } });

    if (sections.has("volume")) await anonymousVolumeCost(engine, root, rootfs);
    if (!sections.has("engine")) return;

    // 1. create + start + exit, with the reap (`wait`), image present.
    const runSamples: number[] = [];
    const removeExited: number[] = [];
    for (let i = -3; i < runs; i++) {
      let id = "";
      const ms = await time(async () => {
        id = await engine.create({ image: "busybox:bench", cmd: ["true"] });
        await engine.start(id);
        await engine.wait(id);
      });
      const rm = await time(() => engine.remove(id));
      if (i >= 0) {
        runSamples.push(ms);
        removeExited.push(rm);
      }
    }
    console.log(`create + start + exit (busybox true), ${runs} runs; load ${load()}`);
    console.log(`  berth engine     ${summary(runSamples)}   (target ≤ 15 ms median)`);
    console.log(`  remove (exited)  ${summary(removeExited)}`);
    const runc = searchRunc();
    if (runc) {
      const bundleDir = join(root, "runc-bundle");
      const oci = new OciRuntime({ runtime: "runc", root: join(root, "run", "runc") });
      await oci.writeBundle(bundleDir, defaultSpec(rootfs, { args: ["/bin/true"], readonlyRootfs: true }));
      const samples: number[] = [];
      for (let i = -3; i < runs; i++) {
        const start = process.hrtime.bigint();
        const result = spawnSync(runc, ["--root", oci.root, "run", "--bundle", bundleDir, `bench-${i + 3}`], { stdio: "ignore" });
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (result.status !== 0) {
          console.log(`  runc run failed (exit ${result.status})`);
          break;
        }
        if (i >= 0) samples.push(ms);
      }
      if (samples.length) console.log(`  runc run (CLI)   ${summary(samples)}   (no overlay, no record: the runtime alone)`);
    } else {
      console.log("  runc not installed: no peer figure");
    }

    // The driver's two ways to start: `run --detach` vs `create` + `start`.
    {
      const oci = engine.runtime;
      const bundleDir = join(root, "driver-bundle");
      await oci.writeBundle(bundleDir, defaultSpec(rootfs, { args: ["/bin/true"], readonlyRootfs: true }));
      const one: number[] = [];
      const two: number[] = [];
      for (let i = 0; i < runs; i++) {
        const a = `d1-${i}`;
        one.push(await time(() => oci.run(a, bundleDir, { detach: true, monitor: { logPath: join(root, "d.log") } })));
        await oci.delete(a, { force: true });
        const b = `d2-${i}`;
        two.push(
          await time(async () => {
            await oci.create(b, bundleDir, { monitor: { logPath: join(root, "d.log") } });
            await oci.start(b);
          }),
        );
        await oci.delete(b, { force: true });
      }
      console.log(`runtime start paths (monitor on)`);
      console.log(`  run --detach     ${summary(one)}`);
      console.log(`  create + start   ${summary(two)}`);
    }

    // 2. stop + remove of a running container (SIGTERM reaches `sleep` through --init).
    const stopRemove: number[] = [];
    const inspectRunning: number[] = [];
    for (let i = 0; i < Math.min(runs, 20); i++) {
      const id = await engine.create({ image: "busybox:bench", cmd: ["sleep", "300"], init: true });
      await engine.start(id);
      inspectRunning.push(await time(() => engine.inspect(id)));
      stopRemove.push(
        await time(async () => {
          await engine.stop(id);
          await engine.remove(id);
        }),
      );
    }
    console.log(`stop + remove of a running container  ${summary(stopRemove)}   (target ≤ 15 ms median); load ${load()}`);
    console.log(`inspect of a running container        ${summary(inspectRunning)}   (from the record: no runtime request)`);

    // 2b. Network setup as the engine does it: start on a bridge minus start on `none`. A
    // user-defined bridge with a subnet of its own, not berth0: this bench's state root is its
    // own, and its address allocations must not collide with those of the host's berth0. A
    // user network costs a little more than berth0 (names between containers).
    {
      const netStore = new NetworkStore({ stateRoot: join(root, "net"), runRoot: join(root, "run", "net") });
      const manager = new NetworkManager({ store: netStore });
      const [a, b] = randomBytes(2);
      const net = await Network.create({ name: "engine-bench", subnet: `10.${150 + (a! % 50)}.${b}.0/24`, manager });
      const onBridge: number[] = [];
      const onNone: number[] = [];
      for (let i = -2; i < runs; i++) {
        for (const bridge of [true, false]) {
          const id = await engine.create({ image: "busybox:bench", cmd: ["sleep", "300"], ...(bridge ? { network: new BridgeAttachment({ manager, networks: [{ network: net }] }) } : {}) });
          const ms = await time(() => engine.start(id));
          if (i >= 0) (bridge ? onBridge : onNone).push(ms);
          await engine.remove(id, { force: true });
        }
      }
      const diff = median(onBridge) - median(onNone);
      await net.remove();
      spawnSync("umount", [netStore.netnsDir], { stdio: "ignore" });
      console.log(`network setup per container (engine start on a bridge minus on none), ${runs} runs each, alternating; load ${load()}`);
      console.log(`  start on bridge  ${summary(onBridge)}`);
      console.log(`  start on none    ${summary(onNone)}`);
      console.log(`  difference of medians ${diff.toFixed(1)} ms   (target ≤ 5 ms)`);
    }

    // 3. 50 containers started at once.
    const ids = await Promise.all(Array.from({ length: concurrent }, () => engine.create({ image: "busybox:bench", cmd: ["sleep", "300"] })));
    const started = await time(() => Promise.all(ids.map((id) => engine.start(id))));
    const running = (await engine.list()).length;
    let rss = 0;
    let pss = 0;
    let monitors = 0;
    for (const id of ids) {
      const pid = (await engine.inspect(id)).State.Pid;
      const monitor = parentOf(pid);
      if (!monitor || monitor <= 1) continue;
      monitors++;
      rss += kb(`/proc/${monitor}/status`, /^VmRSS:\s+(\d+)/m);
      pss += kb(`/proc/${monitor}/smaps_rollup`, /^Pss:\s+(\d+)/m);
    }
    console.log(`${concurrent} containers started concurrently: ${started.toFixed(0)} ms until all started, ${running} running   (target ≤ 2000 ms); load ${load()}`);
    if (monitors) {
      console.log(`  per idle container outside its processes (its monitor): RSS ${(rss / monitors / 1024).toFixed(2)} MB, PSS ${(pss / monitors / 1024).toFixed(2)} MB   (target ≤ 2 MB)`);
    }
    await Promise.all(ids.map((id) => engine.remove(id, { force: true })));

    // 4. Sequential run/remove cycles and what they leave.
    const cycleIds: string[] = [];
    const total = await time(async () => {
      for (let i = 0; i < cycles; i++) {
        const id = await engine.create({ image: "busybox:bench", cmd: ["true"] });
        cycleIds.push(id);
        await engine.start(id);
        await engine.wait(id);
        await engine.remove(id);
      }
    });
    const leaks: string[] = [];
    const prefixes = new Set(cycleIds);
    for (const id of prefixes) leaks.push(...findLeaks({ match: id, paths: [join(root, "containers")] }));
    const left = readdirSync(join(root, "containers")).filter((e) => e !== "names.json" && e !== ".locks" && e !== "names");
    left.push(...readdirSync(join(root, "containers", "names")).map((n) => `name ${n}`));
    const runtimeLeft = existsSync(engine.runtime.root) ? readdirSync(engine.runtime.root).filter((e) => prefixes.has(e)) : [];
    console.log(
      `${cycles} sequential run/remove cycles: ${(total / 1000).toFixed(1)} s (${(total / cycles).toFixed(1)} ms each); left behind: ${leaks.length} mounts/cgroups/processes, ${left.length} container dirs, ${runtimeLeft.length} runtime states; load ${load()}`,
    );
    for (const leak of [...leaks, ...left, ...runtimeLeft].slice(0, 10)) console.log(`    ${leak}`);
  } finally {
    engine.dispose();
    for (const c of await engine.list({ all: true }).catch(() => [])) await engine.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * What the image's `VOLUME` costs at create and at remove (`volumes: true`, as autoRemove and
 * the harness remove): a busybox container on an image with an empty, non-root `/data`
 * declared as a volume (as redis's) against the same image without the declaration,
 * alternating, the difference of the medians being the anonymous volume's share.
 */
async function anonymousVolumeCost(engine: ContainerEngine, root: string, rootfs: string): Promise<void> {
  const withData = join(root, "rootfs-data");
  spawnSync("cp", ["-a", rootfs, withData]);
  mkdirSync(join(withData, "data"), { recursive: true });
  chownSync(join(withData, "data"), 999, 999);
  await Image.fromRootfs(withData, { root, tag: "busybox:bench-novolume", config: { Cmd: ["true"] } });
  await Image.fromRootfs(withData, { root, tag: "busybox:bench-volume", config: { Cmd: ["true"], Volumes: { "/data": {} } } });
  const samples = { create: { volume: [] as number[], none: [] as number[] }, remove: { volume: [] as number[], none: [] as number[] } };
  for (let i = -3; i < runs * 2; i++) {
    for (const volume of [true, false]) {
      let id = "";
      const create = await time(async () => {
        id = await engine.create({ image: volume ? "busybox:bench-volume" : "busybox:bench-novolume" });
      });
      const remove = await time(() => engine.remove(id, { volumes: true }));
      if (i < 0) continue;
      samples.create[volume ? "volume" : "none"].push(create);
      samples.remove[volume ? "volume" : "none"].push(remove);
    }
  }
  const left = readdirSync(engine.volumes.root).filter((n) => !n.startsWith("."));
  console.log(`anonymous volume (image VOLUME /data, empty, owned by 999) at create and remove (volumes: true), ${runs * 2} runs each, alternating; load ${load()}`);
  for (const op of ["create", "remove"] as const) {
    const diff = median(samples[op].volume) - median(samples[op].none);
    console.log(`  ${op} with VOLUME     ${summary(samples[op].volume)}`);
    console.log(`  ${op} without         ${summary(samples[op].none)}`);
    console.log(`  ${op}: the volume's share (difference of medians) ${diff.toFixed(2)} ms`);
  }
  console.log(`  volumes left behind: ${left.length}`);
  await rm(withData, { recursive: true, force: true });
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function searchRunc(): string | undefined {
  try {
    return resolveRuntime("runc");
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

function kb(path: string, pattern: RegExp): number {
  try {
    return Number(pattern.exec(readFileSync(path, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
