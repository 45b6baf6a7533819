import { join } from "node:path";
import { execa } from "execa";
import { GenericContainer } from "../../../src/harness/generic-container.js";
import { Image } from "../../../src/harness/image.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

/** A private state root with an engine and a network manager over it: what GenericContainer and the modules run on. */
export interface HarnessWorld {
  root: string;
  engine: ContainerEngine;
  networkManager: NetworkManager;
  /**
   * Removes every container (with its volumes), every named volume, every network but the
   * default bridge, the pinned namespaces and the root.
   */
  dispose(): Promise<void>;
}

/** A {@link HarnessWorld} holding `busybox:test` (Cmd `sh`) made from the busybox fixture. */
export interface BusyboxWorld extends HarnessWorld {
  image: Image;
  /** A GenericContainer of `busybox:test` on this world's engine and network manager, running `command`. */
  busybox(...command: string[]): GenericContainer;
}

/**
 * Makes a {@link HarnessWorld} in a fresh temp dir named `prefix…`, after `populate` has put
 * the images the suite needs in its root. No registry: the engine's pull leaves a missing
 * image missing. What it made is removed if it fails half way.
 */
export async function createHarnessWorld(prefix: string, populate: (root: string) => Promise<void>): Promise<HarnessWorld> {
  const root = await makeTempDir(prefix);
  let engine: ContainerEngine | undefined;
  let networkManager: NetworkManager | undefined;
  const dispose = async (): Promise<void> => {
    if (engine) {
      for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true });
      for (const v of await engine.volumes.list()) await engine.volumes.remove(v.Name, { force: true }).catch(() => {});
      engine.dispose();
    }
    if (networkManager) {
      for (const n of await networkManager.store.list()) if (n.name !== "bridge") await networkManager.removeNetwork(n.id).catch(() => {});
      await execa("umount", [networkManager.store.netnsDir], { reject: false });
    }
    await removeTempDir(root);
  };
  try {
    await populate(root);
    engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), pull: async () => {} });
    networkManager = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
    return { root, engine, networkManager, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** A {@link BusyboxWorld}: a {@link createHarnessWorld} with the busybox image. */
export async function createBusyboxWorld(prefix: string): Promise<BusyboxWorld> {
  let image: Image | undefined;
  const world = await createHarnessWorld(prefix, async (root) => {
    image = await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
  });
  return {
    ...world,
    image: image!,
    busybox: (...command) => new GenericContainer(image!, { engine: world.engine, networkManager: world.networkManager }).withCommand(command),
  };
}
