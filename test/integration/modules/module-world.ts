import { join } from "node:path";
import { execa } from "execa";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { ensureFixtureImages, type EnsureFixtureImagesOptions } from "../../fixtures/fixture-images.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

/** A private state root holding the fixture images, an engine and a network manager over it: what the modules run on. */
export interface ModuleWorld {
  root: string;
  engine: ContainerEngine;
  networkManager: NetworkManager;
  /** Removes every container (with volumes), every network but the default bridge, the pinned namespaces and the root. */
  dispose(): Promise<void>;
}

/**
 * Makes a {@link ModuleWorld} with the fixture images `images` (cold: mmdebstrap and apt-get
 * builds, minutes; warm: imports). No registry: the engine's pull leaves a missing image
 * missing. What it made is removed if it fails half way.
 */
export async function createModuleWorld(prefix: string, images?: EnsureFixtureImagesOptions["images"]): Promise<ModuleWorld> {
  const root = await makeTempDir(prefix);
  let engine: ContainerEngine | undefined;
  let networkManager: NetworkManager | undefined;
  const dispose = async (): Promise<void> => {
    if (engine) {
      for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true, volumes: true });
      engine.dispose();
    }
    if (networkManager) {
      for (const n of await networkManager.store.list()) if (n.name !== "bridge") await networkManager.removeNetwork(n.id).catch(() => {});
      await execa("umount", [networkManager.store.netnsDir], { reject: false });
    }
    await removeTempDir(root);
  };
  try {
    await ensureFixtureImages({ stateRoot: root, ...(images ? { images } : {}) });
    engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), pull: async () => {} });
    networkManager = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
    return { root, engine, networkManager, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
