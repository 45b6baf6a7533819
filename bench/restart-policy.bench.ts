// Restart policies (the monitor runs the container again): what one restart costs beyond
// Docker's 100 ms first backoff — the teardown of the last run and the create + start of the
// next, in the monitor — measured as a failing busybox container with `on-failure:1` (two
// runs) against the same container with no policy (one run); and `stop` of an `always`
// container that is between two runs (the stop must wake the monitor, not wait its backoff).
// Prints the load average: the figures mean little on a busy host.
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Image } from "../src/harness/image.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { OciRuntime } from "../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { quantile, summary, time } from "./stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 20);
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

export default async function restartPolicyBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "berth-restart-bench-"));
  const engine = new ContainerEngine({ stateRoot: root, runtime: new OciRuntime({ root: join(root, "run", "runtime") }) });
  try {
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:bench", config: { Cmd: ["sh"] } });
    const once: number[] = [];
    const twice: number[] = [];
    for (let i = -2; i < runs; i++) {
      for (const policy of [undefined, { name: "on-failure" as const, maximumRetryCount: 1 }]) {
        const id = await engine.create({ image: "busybox:bench", cmd: ["sh", "-c", "exit 1"], ...(policy ? { restartPolicy: policy } : {}) });
        const ms = await time(async () => {
          await engine.start(id);
          await engine.wait(id);
        });
        await engine.remove(id);
        if (i >= 0) (policy ? twice : once).push(ms);
      }
    }
    console.log(`start + exit 1 + wait, ${runs} runs each; load ${load()}`);
    console.log(`  no policy         ${summary(once)}`);
    console.log(`  on-failure:1      ${summary(twice)}`);
    console.log(`  one restart costs ${(quantile(twice, 0.5) - quantile(once, 0.5) - 100).toFixed(1)} ms median beyond the 100 ms backoff`);

    const stops: number[] = [];
    for (let i = 0; i < Math.min(runs, 10); i++) {
      const id = await engine.create({ image: "busybox:bench", cmd: ["true"], restartPolicy: { name: "always" } });
      await engine.start(id);
      // After 4 restarts the backoff is 1.6 s: the stop lands between two runs.
      const deadline = Date.now() + 30_000;
      while ((await engine.inspect(id)).RestartCount < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      stops.push(await time(() => engine.stop(id)));
      await engine.remove(id);
    }
    console.log(`stop of an always container between two runs; load ${load()}`);
    console.log(`  stop              ${summary(stops)}`);
  } finally {
    engine.dispose();
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true }).catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}
