// One `berth stats` reading (src/runtime/engine/container-stats.ts): what it costs when the
// figures come from the container's processes (an unlimited container on a hybrid host:
// no v1 cgroup of its own) against the same container read from its own v1 cgroups
// (BERTH_CGROUP_JOIN_ALL=1, the baseline, as runc would place it), readings alternating in one
// run; and with 3 and 21 processes. Prints the memory each way reports and the load average.
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Image } from "../src/harness/image.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { readContainerStats } from "../src/runtime/engine/container-stats.js";
import { OciRuntime } from "../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 300);

/** `n` sleeps besides a shell holding 20 MB: n + 1 processes. */
const holder = (n: number) => ["sh", "-c", `x=$(head -c 20000000 /dev/zero | tr "\\0" a); for i in $(seq ${n}); do sleep 600 & done; wait`];

export default async function containerStatsBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "berth-stats-bench-"));
  const make = (name: string, env?: Record<string, string>) =>
    new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), runtime: new OciRuntime({ root: join(root, "run", name), ...(env ? { env } : {}) }), pull: async () => {} });
  const lean = make("runtime");
  const all = make("runtime-all", { BERTH_CGROUP_JOIN_ALL: "1" });
  const started: { engine: ContainerEngine; id: string }[] = [];
  try {
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
    const start = async (engine: ContainerEngine, n: number) => {
      const id = await engine.create({ image: "busybox:test", cmd: holder(n) });
      started.push({ engine, id });
      await engine.start(id);
      return { id, pid: (await engine.inspect(id)).State.Pid };
    };
    for (const n of [2, 20]) {
      const cases = [
        { name: `from processes (lean, ${n + 1} processes)`, ...(await start(lean, n)), samples: [] as number[], mem: 0 },
        { name: `from own v1 cgroups (JOIN_ALL, ${n + 1} processes)`, ...(await start(all, n)), samples: [] as number[], mem: 0 },
      ];
      // Let the shells allocate and fork before the first reading.
      await sleep(1500);
      for (let i = 0; i < runs; i++) {
        for (const c of cases) {
          c.samples.push(await time(async () => (c.mem = (await readContainerStats(c.pid, { id: c.id })).memUsage)));
        }
      }
      for (const c of cases) console.log(`  reading ${c.name}: ${summary(c.samples)}  memory ${(c.mem / 1048576).toFixed(1)} MiB`);
      console.log(`  load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    }
  } finally {
    for (const { engine, id } of started) await engine.remove(id, { force: true }).catch(() => {});
    lean.dispose();
    all.dispose();
    await rm(root, { recursive: true, force: true });
  }
}
