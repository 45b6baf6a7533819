import { BerthError } from "../common/berth-error.js";
import {
  registerNetworkDriver,
  type NetworkAttachment,
  type NetworkAttachmentConfig,
  type NetworkContainer,
  type NetworkDriverContext,
  type NetworkPreparation,
} from "../runtime/engine/network-attachment.js";
import { NetworkManager } from "./network-manager.js";
import { NetworkStore } from "./network-store.js";

/** The driver name under which container records keep a {@link ContainerAttachment}. */
export const containerDriverName = "berth-container";

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
  readonly config: NetworkAttachmentConfig;
  readonly #target: string;
  readonly #hostsPath: ((id: string) => string) | undefined;

  /** @param target the other container's id, unique id prefix or name */
  constructor(target: string, options: ContainerAttachmentOptions = {}) {
    this.#target = target;
    this.name = `container:${target}`;
    this.manager = options.manager ?? new NetworkManager();
    this.#hostsPath = options.hostsPath;
    this.config = { driver: containerDriverName, options: { target } };
  }

  /** Rebuilds an attachment from what a container record kept (see {@link containerDriverName}). */
  static fromConfig(options: unknown, context: NetworkDriverContext): ContainerAttachment {
    const target = (options as { target?: unknown } | undefined)?.target;
    if (typeof target !== "string") {
      throw new BerthError("BERTH_INVALID_ARGUMENT", "a container record's container: network configuration is malformed", { field: "network.config" });
    }
    return new ContainerAttachment(target, { manager: new NetworkManager({ store: new NetworkStore({ stateRoot: context.stateRoot, runRoot: context.runRoot }) }) });
  }

  async prepare(container: NetworkContainer): Promise<NetworkPreparation> {
    const hostsPath = this.#hostsPath?.(container.id) ?? container.hostsPath;
    const joined = await this.manager.join(
      {
        id: container.id,
        name: container.name,
        hostname: container.hostname,
        ...(hostsPath ? { hostsPath } : {}),
        ...(container.writeHosts ? { writeHosts: (addresses, extraHosts) => container.writeHosts!({ mode: "path", hostsEntries: addresses, extraHosts, ipv6: false }) } : {}),
      },
      this.#target,
    );
    return { mode: "path", netnsPath: joined.netnsPath, hostsEntries: joined.addresses, extraHosts: joined.extraHosts, ipv6: false };
  }

  /** Forgets the container; the namespace is the other container's, which releases it. */
  async release(container: NetworkContainer): Promise<void> {
    await this.manager.release(container.id);
  }
}

registerNetworkDriver(containerDriverName, (options, context) => ContainerAttachment.fromConfig(options, context));
