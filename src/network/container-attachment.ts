import type { NetworkAttachment, NetworkContainer, NetworkPreparation } from "../runtime/engine/network-attachment.js";
import { NetworkManager } from "./network-manager.js";

/** Options of {@link ContainerAttachment}. */
export interface ContainerAttachmentOptions {
  /** Where the container's /etc/hosts is. @default the engine's `<stateRoot>/containers/<id>/hosts` */
  hostsPath?: (containerId: string) => string;
  /** @default new NetworkManager() */
  manager?: NetworkManager;
}

/**
 * Docker's `--network container:<id>`: the container joins another container's network
 * namespace (sidecars, pods), so they share interfaces, addresses and published ports, and
 * its /etc/hosts follows the other's. The other container must be running on a berth
 * network; its namespace outlives it for as long as this container runs (the kernel keeps it
 * while a process is in it).
 */
export class ContainerAttachment implements NetworkAttachment {
  readonly name: string;
  readonly manager: NetworkManager;
  readonly #target: string;
  readonly #hostsPath: ((id: string) => string) | undefined;

  /** @param target the other container's id, unique id prefix or name */
  constructor(target: string, options: ContainerAttachmentOptions = {}) {
    this.#target = target;
    this.name = `container:${target}`;
    this.manager = options.manager ?? new NetworkManager();
    this.#hostsPath = options.hostsPath;
  }

  async prepare(container: NetworkContainer): Promise<NetworkPreparation> {
    const joined = await this.manager.join({ ...container, ...(this.#hostsPath ? { hostsPath: this.#hostsPath(container.id) } : {}) }, this.#target);
    return { mode: "path", netnsPath: joined.netnsPath, hostsEntries: joined.addresses, extraHosts: joined.extraHosts, ipv6: false };
  }

  /** Forgets the container; the namespace is the other container's, which releases it. */
  async release(container: NetworkContainer): Promise<void> {
    await this.manager.release(container.id);
  }
}
