// The native network commands (issue 5): per-container setup as the network layer will
// spawn it, then a published port (port-proxy) against connecting
// to the container's address directly, in one run: bulk TCP throughput and small-message
// round trips, both ends a small C peer (native/test/net-tools/net-bench-peer.c) so the peer's
// own speed does not hide the proxy's cost. Direct and proxied runs alternate.
// Targets: setup ≤ 5 ms median; proxy throughput ≥ 0.5× direct; added round trip ≤ 50 µs.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { benchPeer, net, netHelper, uniqueNetwork } from "../test/integration/network-native/net-native.js";
import { NativeNet } from "../src/network/native-net.js";
import { runtimeServer } from "../src/runtime/runtime-server.js";
import { quantile, summary } from "./stats.js";

const setupRuns = Number(process.env.BENCH_RUNS ?? 40);
const bulkBytes = Number(process.env.BENCH_NET_BYTES ?? 1024 ** 3);
const bulkRounds = Number(process.env.BENCH_NET_ROUNDS ?? 3);
const pingPongs = Number(process.env.BENCH_NET_PINGPONGS ?? 10_000);
const PORT = 7100;

export default async function networkBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (namespaces, bridges)");
    return;
  }
  const helper = await netHelper();
  const peer = await benchPeer();
  const dir = await mkdtemp(join(tmpdir(), "berth-netbench-"));
  const n = uniqueNetwork();
  let server: ReturnType<typeof spawn> | undefined;
  let proxyPid: number | undefined;
  try {
    await net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`);
    setupBench(helper, dir, n);
    await servedSetupBench(helper, dir, n);

    const ns = (await net("netns-create", "--name", "srv", "--dir", dir)).path as string;
    await net("veth-attach", "--netns", ns, "--bridge", n.bridge, "--addr", `${n.base}.2/24`, "--gateway", n.gateway);
    server = spawn("nsenter", [`--net=${ns}`, peer, "serve", String(PORT)], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the bench peer did not listen within 10 s")), 10_000);
      server!.stdout!.once("data", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const proxy = await execa(
      helper,
      ["port-proxy", "--pid-file", join(dir, "proxy.pid"), "--ready-fd", "3",
        "--map", `tcp:loopback:0:${n.base}.2:${PORT}`, "--map", `tcp:loopback:0:${n.base}.2:${PORT + 1}`],
      { stdio: ["ignore", "pipe", "pipe", "pipe"], timeout: 20_000 },
    );
    const ready = JSON.parse(String(proxy.stdio[3])) as { pid: number; ports: { hostIp: string; hostPort: number }[] };
    proxyPid = ready.pid;
    const sinkPort = ready.ports[0]!.hostPort;
    const echoPort = ready.ports[2]!.hostPort;

    console.log(`bulk TCP, ${(bulkBytes / 1024 ** 3).toFixed(2)} GiB per run, ${bulkRounds} runs each, alternating`);
    const gbps = { direct: [] as number[], proxy: [] as number[] };
    for (let i = 0; i < bulkRounds; i++) {
      gbps.direct.push(send(peer, `${n.base}.2`, PORT));
      gbps.proxy.push(send(peer, "127.0.0.1", sinkPort));
    }
    const direct = quantile(gbps.direct, 0.5);
    const proxied = quantile(gbps.proxy, 0.5);
    console.log(`  direct ${direct.toFixed(2)} Gbit/s   via proxy ${proxied.toFixed(2)} Gbit/s   ratio ${(proxied / direct).toFixed(2)} (target ≥ 0.5)`);

    console.log(`round trip, 64-byte ping-pong × ${pingPongs}, alternating halves`);
    const rtt = { direct: [] as number[], proxy: [] as number[] };
    for (let i = 0; i < 2; i++) {
      rtt.direct.push(pingPong(peer, `${n.base}.2`, PORT + 1, pingPongs / 2));
      rtt.proxy.push(pingPong(peer, "127.0.0.1", echoPort, pingPongs / 2));
    }
    const d = quantile(rtt.direct, 0.5);
    const p = quantile(rtt.proxy, 0.5);
    console.log(`  direct median ${d.toFixed(1)} µs   via proxy median ${p.toFixed(1)} µs   added ${(p - d).toFixed(1)} µs (target ≤ 50)`);

    const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxyPid}/status`, "utf8"))?.[1];
    console.log(`proxy daemon RSS after the runs: ${rss} kB (target ≤ 1024)`);
  } finally {
    if (proxyPid) spawnSync("kill", ["-TERM", String(proxyPid)]);
    server?.kill("SIGKILL");
    spawnSync(helper, ["netns-delete", "--path", join(dir, "srv")]);
    spawnSync(helper, ["bridge-delete", "--name", n.bridge]);
    spawnSync("umount", [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Per-container setup as the network layer spawns it from Node: netns-create with the veth
 * options (one spawn), against netns-create then veth-attach (two spawns). Each batch of
 * setups is measured before its teardown, because deleted namespaces are freed by kernel
 * workers that would otherwise compete with the next setup for this machine's two cores.
 * There is no peer to compare with, only the 5 ms budget. */
/** The same setup as the network layer runs it: NativeNet, through berth-runtime's co-process. */
async function servedSetupBench(helper: string, dir: string, n: ReturnType<typeof uniqueNetwork>): Promise<void> {
  const native = new NativeNet({ binary: helper });
  const batch = Math.min(setupRuns, 200);
  const setup: number[] = [];
  const teardown: number[] = [];
  const noop: number[] = [];
  for (let i = -3; i < batch; i++) {
    const name = `s${i + 3}`;
    const start = process.hrtime.bigint();
    await native.netnsCreate(name, dir, { bridge: n.bridge, addrs: [`${n.base}.${100 + ((i + 3) % 100)}/24`], gateways: [n.gateway] });
    const made = Number(process.hrtime.bigint() - start) / 1e6;
    const del = process.hrtime.bigint();
    await native.netnsDelete(join(dir, name));
    const deleted = Number(process.hrtime.bigint() - del) / 1e6;
    const nop = process.hrtime.bigint();
    await native.netnsDelete(join(dir, "absent"));
    if (i >= 0) {
      setup.push(made);
      teardown.push(deleted);
      noop.push(Number(process.hrtime.bigint() - nop) / 1e6);
    }
  }
  const served = runtimeServer(helper)?.available ? "berth-runtime serve" : "spawned: the helper has no serve";
  console.log(`the same through NativeNet (${served}), ${batch} runs; load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.log(`  netns-create --bridge …        ${summary(setup)}  (target ≤ 5 ms median)`);
  console.log(`  netns-delete                   ${summary(teardown)}`);
  console.log(`  a no-op command                ${summary(noop)}`);
}

function setupBench(helper: string, dir: string, n: ReturnType<typeof uniqueNetwork>): void {
  const run = (args: string[]) => {
    const result = spawnSync(helper, args, { stdio: "pipe" });
    if (result.status !== 0) throw new Error(`${args[0]} failed: ${String(result.stderr)}`);
  };
  const elapsed = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
  const veth = (k: number) => ["--bridge", n.bridge, "--addr", `${n.base}.${10 + k}/24`, "--gateway", n.gateway];
  const batch = Math.min(setupRuns, 200);
  const one: number[] = [];
  const two: number[] = [];
  const teardown: number[] = [];
  for (let round = 0; round < 2; round++) {
    const names: string[] = [];
    for (let i = 0; i < batch; i++) {
      const name = `r${round}-${i}`;
      const start = process.hrtime.bigint();
      if (round === 0) {
        run(["netns-create", "--name", name, "--dir", dir, ...veth(i)]);
        one.push(elapsed(start));
      } else {
        run(["netns-create", "--name", name, "--dir", dir]);
        run(["veth-attach", "--netns", join(dir, name), ...veth(i)]);
        two.push(elapsed(start));
      }
      names.push(name);
    }
    for (const name of names) {
      const start = process.hrtime.bigint();
      run(["netns-delete", "--path", join(dir, name)]);
      teardown.push(elapsed(start));
    }
  }
  console.log(`per-container network setup from Node (namespace, veth, bridge port, address, route), ${batch} runs each`);
  console.log(`  load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} on ${cpus().length} cores`);
  console.log(`  netns-create --bridge …        (1 spawn)   ${summary(one)}  (target ≤ 5 ms median)`);
  console.log(`  netns-create + veth-attach     (2 spawns)  ${summary(two)}`);
  console.log(`  netns-delete                   (1 spawn)   ${summary(teardown)}  (the kernel frees the veth after)`);
  const floor: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = process.hrtime.bigint();
    spawnSync(helper, ["netns-delete", "--path", join(dir, "absent")]);
    floor.push(elapsed(start));
  }
  console.log(`  a no-op spawn of the helper    (1 spawn)   ${summary(floor)}`);
}

function send(peer: string, host: string, port: number): number {
  const result = spawnSync(peer, ["send", host, String(port), String(bulkBytes)], { encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) throw new Error(`send to ${host}:${port} failed: ${result.stderr}`);
  const { bytes, seconds } = JSON.parse(result.stdout) as { bytes: number; seconds: number };
  return (bytes * 8) / seconds / 1e9;
}

function pingPong(peer: string, host: string, port: number, count: number): number {
  const result = spawnSync(peer, ["pingpong", host, String(port), String(count), "64"], { encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) throw new Error(`ping-pong with ${host}:${port} failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { medianUs: number }).medianUs;
}
