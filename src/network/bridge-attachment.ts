import { randomBytes } from "node:crypto";
import type { NetworkAttachment, NetworkContainer, NetworkPreparation } from "../runtime/engine/network-attachment.js";
import { validateAlias } from "./hosts-file.js";
import { defaultNetworkName, NetworkManager, type EndpointRequest } from "./network-manager.js";
import type { Network } from "./network.js";
import type { ProxiedPort } from "./native-net.js";
import type { PortSpec } from "./port-spec.js";
import { parsePortSpec } from "./port-spec.js";

/** One network of a {@link BridgeAttachment}, with the container's names on it. */
export interface BridgeEndpoint {
  /** The network, its name or id. */
  network: Network | string;
  /** Further names the other containers on the network resolve this one by. @default [] */
  aliases?: string[];
  /** A fixed address in the network's subnet. @default the lowest free one */
  ipv4Address?: string;
}

/** Options of {@link BridgeAttachment}. */
export interface BridgeAttachmentOptions {
  /**
   * The networks, in order: the first gives the container `eth0` and its default route (the
   * first one that is not internal does, when it is). @default the default bridge, `bridge` (`berth0`)
   */
  networks?: readonly (Network | string | BridgeEndpoint)[];
  /**
   * Published ports: `hostPort:containerPort[/tcp|udp]`, `hostIp:hostPort:containerPort`,
   * a bare container port, or a {@link PortSpec}. Host port 0 or none picks a free port;
   * the default address is 127.0.0.1 and ::1 together. @default []
   */
  ports?: readonly (string | number | PortSpec)[];
  /** Where the container's /etc/hosts is. @default the engine's `<stateRoot>/containers/<id>/hosts` */
  hostsPath?: (containerId: string) => string;
  /** @default new NetworkManager() */
  manager?: NetworkManager;
}

/**
 * The engine's {@link NetworkAttachment} for bridge networks: the default bridge, user
 * networks, several at once, with published ports. `prepare` makes the namespace and its
 * veths (one spawn for the first network), allocates addresses, adds the container to the
 * hosts files of the containers it shares a network with and starts its port proxy;
 * `release` undoes all of it. Another process can release what this one prepared: the state
 * is on disk.
 */
export class BridgeAttachment implements NetworkAttachment {
  readonly name: string;
  readonly manager: NetworkManager;
  readonly #endpoints: EndpointRequest[];
  readonly #ports: readonly (string | number | PortSpec)[];
  readonly #hostsPath: ((id: string) => string) | undefined;
  #published: ProxiedPort[] = [];

  constructor(options: BridgeAttachmentOptions = {}) {
    this.manager = options.manager ?? new NetworkManager();
    const networks = options.networks && options.networks.length > 0 ? options.networks : [defaultNetworkName];
    this.#endpoints = networks.map((entry) => {
      const endpoint: BridgeEndpoint = typeof entry === "string" || !("network" in entry) ? { network: entry as Network | string } : entry;
      const aliases = (endpoint.aliases ?? []).map(validateAlias);
      const network = typeof endpoint.network === "string" ? endpoint.network : endpoint.network.name;
      return { network, aliases, ...(endpoint.ipv4Address ? { ipv4Address: endpoint.ipv4Address } : {}) };
    });
    // Parsed now so a bad port fails at create, not at start.
    options.ports?.forEach((p) => parsePortSpec(p));
    this.#ports = options.ports ?? [];
    this.#hostsPath = options.hostsPath;
    // The engine keeps one attachment per name and prepares every container of that name
    // with it: an attachment carrying one container's aliases, ports or address must not
    // be shared, so it gets a name of its own.
    const own = this.#ports.length > 0 || this.#endpoints.some((e) => (e.aliases?.length ?? 0) > 0 || e.ipv4Address);
    this.name = own ? `${this.#endpoints[0]!.network}+${randomBytes(4).toString("hex")}` : this.#endpoints[0]!.network;
  }

  /** The ports published by the last `prepare` in this process. */
  get publishedPorts(): readonly ProxiedPort[] {
    return this.#published;
  }

  async prepare(container: NetworkContainer): Promise<NetworkPreparation> {
    const result = await this.manager.attach(
      { ...container, ...(this.#hostsPath ? { hostsPath: this.#hostsPath(container.id) } : {}) },
      this.#endpoints,
      this.#ports,
    );
    this.#published = result.ports;
    return {
      mode: "path",
      netnsPath: result.netnsPath,
      hostsEntries: result.addresses,
      extraHosts: result.extraHosts,
      ipv6: false,
    };
  }

  async release(container: NetworkContainer): Promise<void> {
    this.#published = [];
    await this.manager.release(container.id);
  }
}
