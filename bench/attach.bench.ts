// Interactive I/O: what attaching costs and how fast a keystroke comes back.
// - create + start + exit of busybox `true`: plain, then with a session attached before the
//   start (`docker run -a` / `run -i`: the monitor opens its attach socket and waits for it).
// - a keystroke's round trip through a tty container running `cat` (session stdin → monitor
//   → pty → cat → pty → monitor → session stdout), against the same through `exec -t`
//   (berth-runtime exec relaying its own pty) and, as the floor, a pipe to a host `cat`.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { Image } from "../src/harness/image.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { OciRuntime } from "../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { summary, time } from "./stats.js";

const RUNS = 20;
const KEYS = 200;

/** Milliseconds from writing one byte to seeing it come back, KEYS times. */
async function roundTrips(input: Writable, output: Readable): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const back = new Promise<void>((resolve) => output.once("data", () => resolve()));
    samples.push(
      await time(async () => {
        input.write("x");
        await back;
      }),
    );
  }
  return samples;
}

export default async function attachBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root");
    return;
  }
  const root = await mkdtemp(join(tmpdir(), "berth-bench-attach-"));
  const engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }), pull: async () => {} });
  try {
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
    console.log(`  load average: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${cpus().length} CPUs)`);

    const plain: number[] = [];
    const attached: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      plain.push(
        await time(async () => {
          const id = await engine.create({ image: "busybox:test", cmd: ["true"] });
          await engine.start(id);
          await engine.wait(id);
          await engine.remove(id);
        }),
      );
      attached.push(
        await time(async () => {
          const id = await engine.create({ image: "busybox:test", cmd: ["true"], openStdin: true });
          const session = await engine.attach(id, { stdin: true });
          await engine.start(id);
          session.stdout.resume();
          session.stderr.resume();
          await session.exitCode;
          await engine.wait(id);
          await engine.remove(id);
        }),
      );
    }
    console.log(`  create+start+wait+remove of \`true\`, plain:             ${summary(plain)}`);
    console.log(`  the same with a session attached before the start:   ${summary(attached)}`);

    const id = await engine.create({ image: "busybox:test", cmd: ["cat"], tty: true, openStdin: true });
    const session = await engine.attach(id, { stdin: true });
    await engine.start(id);
    // Raw: no echo from the line discipline, so each byte comes back once, from cat.
    const stty = await engine.exec(id, ["stty", "-F", "/dev/pts/0", "raw", "-echo"]);
    if (stty.exitCode !== 0) throw new Error(`stty: ${stty.stderr}`);
    const viaAttach = await roundTrips(session.stdin!, session.stdout);
    console.log(`  keystroke round trip, tty container via attach.sock: ${summary(viaAttach)}`);

    const proc = await engine.execStream(id, ["sh", "-c", "stty raw -echo; exec cat"], { tty: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const viaExec = await roundTrips(proc.stdin, proc.stdout);
    console.log(`  keystroke round trip, exec -t (runtime's own pty):   ${summary(viaExec)}`);
    proc.kill("SIGKILL");
    await proc.exitCode;
    session.detach();
    await engine.remove(id, { force: true });

    const host = spawn("cat", [], { stdio: ["pipe", "pipe", "ignore"] });
    const viaPipe = await roundTrips(host.stdin, host.stdout);
    console.log(`  keystroke round trip, a host \`cat\` over pipes:       ${summary(viaPipe)}`);
    host.kill();
  } finally {
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true }).catch(() => {});
    engine.dispose();
    spawnSync("umount", [join(root, "run", "netns")]);
    await rm(root, { recursive: true, force: true });
  }
}
