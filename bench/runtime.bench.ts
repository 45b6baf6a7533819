// berth-runtime against runc on the same busybox bundle running /bin/true, alternating A/B so
// that drift in the machine's load hits both alike; then the driver's create-start-exit from
// Node. Targets (issue 2): berth-runtime run ≤ 0.5× runc run; driver ≤ 15 ms median.
// Then, on a hybrid cgroup v1/v2 host, the cost of joining every v1 hierarchy for a spec that
// mounts /sys/fs/cgroup (Docker's, the engine's): berth-runtime's lean create (bare v1
// directories, no migration) against BERTH_CGROUP_JOIN_ALL=1 (every hierarchy joined, as
// runc does), alternating in one run.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { OciRuntime, resolveRuntime } from "../src/runtime/oci-runtime.js";
import { defaultSpec } from "../src/runtime/default-spec.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { quantile, summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 40);
const warmup = 3;

export default async function runtimeBench(): Promise<void> {
  ensureRunc();
  const rootfs = await busyboxRootfs();
  const dir = await mkdtemp(join(tmpdir(), "berth-bench-"));
  try {
    const runtimes = available(["berth-runtime", "runc"]).map((name) => new OciRuntime({ runtime: name, root: join(dir, `root-${name}`) }));
    const bundle = join(dir, "bundle");
    // Read-only root and no network namespace setup beyond the default: the same for both.
    await runtimes[0]!.writeBundle(bundle, defaultSpec(rootfs, { args: ["/bin/true"], readonlyRootfs: true }));

    console.log(`CLI \`run\` of /bin/true, ${runs} runs each, alternating`);
    const cli = new Map<string, number[]>(runtimes.map((r) => [r.binary, []]));
    const broken = new Set<string>();
    for (let i = -warmup; i < runs; i++) {
      for (const runtime of runtimes) {
        if (broken.has(runtime.binary)) continue;
        const id = `bench-${i + warmup}`;
        const start = process.hrtime.bigint();
        const result = spawnSync(runtime.binary, ["--root", runtime.root, "run", "--bundle", bundle, id], { stdio: ["ignore", "ignore", "pipe"] });
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (result.status !== 0) {
          broken.add(runtime.binary);
          console.log(`  ${runtime.kind}: run failed (exit ${result.status}, signal ${result.signal}${result.error ? `, ${result.error.message}` : ""}): ${String(result.stderr ?? "").trim().split("\n").at(-1)}`);
          continue;
        }
        if (i >= 0) cli.get(runtime.binary)!.push(ms);
      }
    }
    for (const runtime of runtimes) {
      const samples = cli.get(runtime.binary)!;
      if (samples.length) console.log(`  ${runtime.kind.padEnd(14)} ${summary(samples)}`);
    }
    const [berth, runc] = runtimes.map((r) => cli.get(r.binary)!);
    if (berth?.length && runc?.length && runtimes[0]!.kind === "berth-runtime") {
      const ratio = quantile(berth, 0.5) / quantile(runc, 0.5);
      console.log(`  ratio berth-runtime/runc (median): ${ratio.toFixed(2)}× (target ≤ 0.50×)`);
    }

    console.log(`\ndriver (OciRuntime) from Node, ${runs} runs each; berth-runtime through its co-process (serve), and spawned per command`);
    const drivers = [...runtimes];
    if (runtimes.some((r) => r.kind === "berth-runtime")) drivers.push(new OciRuntime({ runtime: "berth-runtime", root: join(dir, "root-berth-spawned"), serve: false }));
    for (const runtime of drivers) {
      if (broken.has(runtime.binary)) continue;
      const name = runtime.kind === "berth-runtime" ? (runtime.server ? "berth (serve)" : "berth (spawn)") : runtime.kind;
      const scenarios: [string, (id: string) => Promise<unknown>][] = [
        [
          "create+start+wait+delete",
          async (id) => {
            await runtime.create(id, bundle);
            await runtime.start(id);
            await runtime.wait(id, { timeout: 10_000 });
            await runtime.delete(id);
          },
        ],
        ["run (foreground, 1 command)", (id) => runtime.run(id, bundle)],
        ["a no-op command (list)", () => runtime.list()],
      ];
      if (runtime.hasBerthExtensions) {
        scenarios.push([
          "run --detach --monitor+wait+delete",
          async (id) => {
            await runtime.run(id, bundle, { detach: true, monitor: { logPath: join(dir, `${id}.log`) } });
            await runtime.wait(id, { timeout: 10_000 });
            await runtime.delete(id);
          },
        ]);
      }
      for (const [label, scenario] of scenarios) {
        try {
          const samples: number[] = [];
          for (let i = -warmup; i < runs; i++) {
            const ms = await time(() => scenario(`drv-${samples.length}-${i + warmup}`));
            if (i >= 0) samples.push(ms);
          }
          const target = runtime.kind === "berth-runtime" && label.startsWith("create") ? " (target ≤ 15 ms)" : "";
          console.log(`  ${name.padEnd(14)} ${label.padEnd(36)} ${summary(samples)}${target}`);
        } catch (error) {
          console.log(`  ${name} ${label}: failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
        }
      }
    }
    if (runtimes[0]?.kind === "berth-runtime" && !broken.has(runtimes[0].binary)) await cgroupJoinBench(runtimes[0], dir, rootfs);
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(`\n  load average ${load} on ${availableParallelism()} cores (figures are only comparable at low load)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `run` of a spec that mounts a cgroup filesystem, with Docker's device rules: lean create
 * against BERTH_CGROUP_JOIN_ALL=1. A pause between runs lets the kernel's rcu_sync of one
 * run's migration fall back to its fast path (a grace period), so a run never inherits the
 * cheap state its predecessor paid for.
 */
async function cgroupJoinBench(runtime: OciRuntime, dir: string, rootfs: string): Promise<void> {
  const binary = runtime.binary;
  const hybrid = existsSync("/sys/fs/cgroup/unified/cgroup.controllers") && existsSync("/sys/fs/cgroup/memory/cgroup.procs");
  if (!hybrid) {
    console.log("\nv1 joins: not a hybrid cgroup v1/v2 host, left out");
    return;
  }
  const bundle = join(dir, "bundle-cgroupfs");
  const spec = defaultSpec(rootfs, { args: ["/bin/true"], readonlyRootfs: true });
  spec.mounts = [...(spec.mounts ?? []), { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] }];
  await runtime.writeBundle(bundle, spec);
  const variants: [string, NodeJS.ProcessEnv][] = [
    ["lean (bare v1 dirs)", process.env],
    ["BERTH_CGROUP_JOIN_ALL=1", { ...process.env, BERTH_CGROUP_JOIN_ALL: "1" }],
  ];
  const samples = variants.map(() => [] as number[]);
  for (let i = -warmup; i < runs; i++) {
    for (const [k, [, env]] of variants.entries()) {
      await new Promise((r) => setTimeout(r, 30));
      const start = process.hrtime.bigint();
      const result = spawnSync(binary, ["--root", join(dir, "root-cg"), "run", "--bundle", bundle, `cg-${k}-${i + warmup}`], { stdio: ["ignore", "ignore", "pipe"], env });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (result.status !== 0) {
        console.log(`  v1 joins: run failed (exit ${result.status}): ${String(result.stderr ?? "").trim().split("\n").at(-1)}`);
        return;
      }
      if (i >= 0) samples[k]!.push(ms);
    }
  }
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`\nCLI \`run\` of /bin/true with /sys/fs/cgroup mounted (hybrid host), ${runs} runs each, alternating; load ${load}`);
  for (const [k, [label]] of variants.entries()) console.log(`  ${label.padEnd(26)} ${summary(samples[k]!)}`);
  console.log(`  difference of medians ${(quantile(samples[1]!, 0.5) - quantile(samples[0]!, 0.5)).toFixed(1)} ms (the v1 migration's RCU grace period)`);
}

function available(names: string[]): string[] {
  return names.filter((name) => {
    try {
      resolveRuntime(name);
      return true;
    } catch {
      console.log(`  ${name}: not found, left out`);
      return false;
    }
  });
}

/** The bench compares against Debian's runc; install it when missing (root only). */
function ensureRunc(): void {
  if (existsSync("/usr/sbin/runc") || process.getuid?.() !== 0) return;
  console.log("  installing runc (apt-get install -y runc)");
  spawnSync("apt-get", ["install", "-y", "-qq", "runc"], { stdio: "inherit", timeout: 300_000 });
}
