// The measurements of bench/rootless.bench.ts: run as the unprivileged user (runuser + tsx,
// printing one JSON line), and imported by the bench to make the same ones as root.
import { pathToFileURL } from "node:url";
import type { Readable } from "node:stream";
import { execa } from "execa";
import tar from "tar-stream";
import { GenericContainer } from "../../src/harness/generic-container.js";
import { Image } from "../../src/harness/image.js";
import { NetworkManager } from "../../src/network/network-manager.js";
import { NetworkStore } from "../../src/network/network-store.js";
import { ContainerEngine } from "../../src/runtime/engine/index.js";
import { RootlessSupport } from "../../src/runtime/rootless/rootless-engine.js";
import { summary, time } from "../stats.js";

const runs = Number(process.env.BENCH_RUNS ?? 10);

/** Medians of the engine's run of `true` and of a GenericContainer's start + stop. */
export async function measure(rootfs: string, stateRoot?: string): Promise<Record<string, string>> {
  const root = stateRoot ? { root: stateRoot } : {};
  // As root, a state and run root of the bench's own (as bench/modules.bench.ts): the default bridge is shared.
  const roots = stateRoot ? { stateRoot, runRoot: `${stateRoot}/run` } : {};
  const engine = new ContainerEngine({ ...roots, pull: async () => {} });
  const manager = stateRoot ? new NetworkManager({ store: new NetworkStore({ stateRoot, runRoot: `${stateRoot}/run` }) }) : undefined;
  const env = manager ? { engine, networkManager: manager } : { engine };
  await Image.fromRootfs(rootfs, { tag: "busybox:bench", config: { Cmd: ["sh"] }, ...root });
  const run = async () => {
    const id = await engine.create({ image: "busybox:bench", cmd: ["true"], network: "none" });
    await engine.start(id);
    await engine.wait(id);
    await engine.remove(id);
  };
  const harness = async () => {
    const c = await new GenericContainer("busybox:bench", env)
      .withCommand(["httpd", "-f", "-p", "8080"])
      .withExposedPorts(8080)
      .withAutoCleanup(false)
      .start();
    // httpd as the container's init ignores SIGTERM: the stop would wait out its 10 s.
    await c.stop({ timeout: 0 });
  };
  // One warm-up each: the first rootless run applies the layer's owners.
  await run();
  await harness();
  const engineRuns: number[] = [];
  const harnessRuns: number[] = [];
  for (let i = 0; i < runs; i++) engineRuns.push(await time(run));
  for (let i = 0; i < runs; i++) harnessRuns.push(await time(harness));
  const extra: Record<string, string> = {};
  if (engine.rootless) {
    // exec's cost on a fuse-overlayfs root, which this process cannot read: its command check
    // is asked in the container's user namespace, of berth-rootfs or (the baseline) of the
    // Node rootfs worker, against the kernel overlay's /proc/<pid>/root.
    const fuse = new ContainerEngine({ rootless: new RootlessSupport({ overlayDriver: "fuse-overlayfs" }), pull: async () => {} });
    const fuseWorker = new ContainerEngine({ rootless: new RootlessSupport({ overlayDriver: "fuse-overlayfs", rootfsProbe: null }), pull: async () => {} });
    for (const [name, e] of [["kernel overlay", engine], ["fuse-overlayfs", fuse], ["fuse-overlayfs, Node worker", fuseWorker]] as const) {
      if (e !== engine) {
        const cycles: number[] = [];
        for (let i = 0; i < runs; i++) {
          cycles.push(
            await time(async () => {
              const id = await e.create({ image: "busybox:bench", cmd: ["true"], network: "none" });
              await e.start(id);
              await e.wait(id);
              await e.remove(id);
            }),
          );
        }
        extra[`engine create + start + exit + remove (${name} root)`] = summary(cycles);
      }
      const id = await e.create({ image: "busybox:bench", cmd: ["sleep", "300"], network: "none" });
      try {
        await e.start(id);
        await e.exec(id, ["true"]);
        const execs: number[] = [];
        for (let i = 0; i < runs; i++) execs.push(await time(() => e.exec(id, ["true"])));
        extra[`exec true in a running container (${name} root)`] = summary(execs);
        // A copy in runs in the container's user namespace (a Node worker), as its root.
        const copies: number[] = [];
        for (let i = 0; i < Math.min(runs, 10); i++) {
          const pack = tar.pack();
          pack.entry({ name: `f${i}.txt` }, "x\n");
          pack.finalize();
          copies.push(await time(() => e.copyToContainer(id, "/tmp", pack as unknown as Readable)));
        }
        extra[`copy a file into a running container (${name} root)`] = summary(copies);
      } finally {
        await e.remove(id, { force: true });
      }
    }
    fuse.dispose();
    fuseWorker.dispose();
  }
  engine.dispose();
  // The bench's own network namespaces directory (a bind mount made by the network layer).
  if (manager) await execa("umount", [manager.store.netnsDir], { reject: false });
  return {
    "engine create + start + exit + remove (busybox true, network none)": summary(engineRuns),
    "GenericContainer start + stop (busybox httpd, 1 published port)": summary(harnessRuns),
    ...extra,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.stdout.write(`${JSON.stringify(await measure(process.argv[2]!))}\n`);
  process.exit(0);
}
