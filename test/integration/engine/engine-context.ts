import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { Image } from "../../../src/harness/image.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { findLeaks } from "../../helpers/leaks.js";
import { useSuiteFixture } from "../../helpers/suite-fixture.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

/** A private state root with a busybox image (`busybox:test`, Cmd `sh`) and an engine over it. */
export interface EngineContext {
  root: string;
  engine: ContainerEngine;
  image: Image;
  /**
   * Everything berth could have left of container `id`: mounts, cgroups, processes (its
   * monitor included), its state directory, and runtime state (a terminal's console socket too).
   */
  leaksOf(id: string): Promise<string[]>;
  /** Removes every container (forced, with volumes) and the state root. */
  dispose(): Promise<void>;
}

export async function createEngineContext(): Promise<EngineContext> {
  const root = await makeTempDir("berth-engine-");
  const image = await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
  const engine = new ContainerEngine({
    stateRoot: root,
    // Its own run root: the network layer pins namespaces there (a mount), unmounted below.
    runRoot: join(root, "run"),
    runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }),
    pull: async () => {
      // No registry in these tests: a missing image stays missing.
    },
  });
  return {
    root,
    engine,
    image,
    async leaksOf(id) {
      const leaks = findLeaks({ match: id, paths: [join(root, "containers", id)] });
      const runtimeState = await readdir(join(root, "run", "runtime")).catch(() => [] as string[]);
      leaks.push(...runtimeState.filter((e) => e.includes(id) || e.startsWith(".console-")).map((e) => `runtime state ${e}`));
      return leaks;
    },
    async dispose() {
      engine.dispose();
      const failures: unknown[] = [];
      for (const c of await engine.list({ all: true })) {
        await engine.remove(c.Id, { force: true, volumes: true }).catch((error: unknown) => failures.push(error));
      }
      // A container that could not be removed keeps its state root: removing it would hide
      // the leak (its cgroup, its process) without cleaning it.
      if (failures.length > 0) throw new AggregateError(failures, `could not remove every container of ${root}`);
      await execa("umount", [join(root, "run", "netns")], { reject: false });
      await removeTempDir(root);
    },
  };
}

/**
 * An {@link EngineContext} made in `beforeAll` and disposed in `afterAll` of the calling
 * suite; its fields are read through, so `const { engine } = ctx` works inside a test.
 */
export function useEngineContext(): EngineContext {
  return useSuiteFixture("the engine context", createEngineContext, (ctx) => ctx.dispose());
}

/** Collects a container's log lines as `stream: text`. */
export async function logLines(engine: ContainerEngine, id: string, options: Parameters<ContainerEngine["logs"]>[1] = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of engine.logs(id, options)) out.push(`${entry.stream}: ${entry.log.replace(/\n$/, "")}`);
  return out;
}
