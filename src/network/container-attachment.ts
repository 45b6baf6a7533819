import { existsSync } from "node:fs";
import { BerthError } from "../common/berth-error.js";
import type { NetworkAttachment, NetworkContainer, NetworkPreparation } from "../runtime/engine/network-attachment.js";
import { NetworkManager } from "./network-manager.js";

/** Options of {@link ContainerAttachment}. */
export interface ContainerAttachmentOptions {
  /** @default new NetworkManager() */
  manager?: NetworkManager;
}

/**
 * Docker's `--network container:<id>`: the container joins another container's network
 * namespace (sidecars, pods), so they share interfaces, addresses and published ports. The
 * other container must be running on a berth network; its namespace outlives it for as long
 * as this container runs (the kernel keeps it while a process is in it).
 */
export class ContainerAttachment implements NetworkAttachment {
  readonly name: string;
  readonly manager: NetworkManager;
  readonly #target: string;

  /** @param target the other container's id, unique id prefix or name */
  constructor(target: string, options: ContainerAttachmentOptions = {}) {
    this.#target = target;
    this.name = `container:${target}`;
    this.manager = options.manager ?? new NetworkManager();
  }

  async prepare(container: NetworkContainer): Promise<NetworkPreparation> {
    const state = await this.manager.findContainer(this.#target);
    if (!state || !existsSync(state.netnsPath)) {
      throw new BerthError("BERTH_CONTAINER_NOT_RUNNING", `cannot join the network of container ${this.#target}: it is not running on a berth network`, {
        container: container.name,
        target: this.#target,
      });
    }
    const networks = await this.manager.store.list();
    const addresses = networks.map((n) => n.endpoints[state.id]?.ipv4).filter((ip): ip is string => !!ip);
    return { mode: "path", netnsPath: state.netnsPath, hostsEntries: addresses, extraHosts: [], ipv6: false };
  }

  async release(): Promise<void> {
    // The namespace is the other container's: it releases it.
  }
}
