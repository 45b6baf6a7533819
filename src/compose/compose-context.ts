import { join } from "node:path";
import { stateRoot } from "../common/paths.js";
import { NetworkManager } from "../network/network-manager.js";
import { NetworkStore } from "../network/network-store.js";
import { ContainerEngine } from "../runtime/engine/container-engine.js";
import { VolumeStore } from "../volume/volume-store.js";

/**
 * Where a Compose project's objects live: one engine, network manager, volume store and image
 * store over the same state root. Every compose operation takes one, so tests (and tools with
 * several roots) can point a project at a private root.
 */
export interface ComposeContext {
  /** The container engine. @default one over `stateRoot()` */
  readonly engine: ContainerEngine;
  /** The network manager. @default one over the engine's state and run roots */
  readonly networks: NetworkManager;
  /** The volume store. @default `<engine state root>/volumes` */
  readonly volumes: VolumeStore;
  /** The image store's root (`Image` calls take it as `root`). @default the engine's state root */
  readonly imageRoot: string;
}

/** Options of {@link composeContext}: any part given is used, the rest follow the engine's roots. */
export interface ComposeContextOptions {
  /** @default a new engine over `stateRoot()` and `runRoot()` */
  engine?: ContainerEngine;
  /** @default a manager over the engine's roots */
  networks?: NetworkManager;
  /** @default a store under the engine's state root */
  volumes?: VolumeStore;
  /** @default the engine's state root */
  imageRoot?: string;
}

/** Builds a {@link ComposeContext}, every part over the same state root unless given. */
export function composeContext(options: ComposeContextOptions = {}): ComposeContext {
  const engine = options.engine ?? new ContainerEngine({ stateRoot: stateRoot() });
  return {
    engine,
    networks: options.networks ?? new NetworkManager({ store: new NetworkStore({ stateRoot: engine.stateRoot, runRoot: engine.runRoot }) }),
    volumes: options.volumes ?? new VolumeStore(join(engine.stateRoot, "volumes")),
    imageRoot: options.imageRoot ?? engine.stateRoot,
  };
}
