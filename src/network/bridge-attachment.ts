import { BerthError } from "../common/berth-error.js";
import {
  registerNetworkDriver,
  type NetworkAttachment,
  type NetworkAttachmentConfig,
  type NetworkContainer,
  type NetworkDescription,
  type NetworkDriverContext,
  type NetworkPreparation,
} from "../runtime/engine/network-attachment.js";
import { validateAlias } from "./hosts-file.js";
import { defaultNetworkName, NetworkManager, type EndpointRequest } from "./network-manager.js";
import { NetworkStore } from "./network-store.js";
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

/** The driver name under which container records keep a {@link BridgeAttachment}. */
export const bridgeDriverName = "berth-bridge";

/** What a container record keeps of a {@link BridgeAttachment}: plain JSON. */
interface BridgeConfig {
  networks: EndpointRequest[];
  ports: (string | number | PortSpec)[];
}

/**
 * The engine's {@link NetworkAttachment} for bridge networks: the default bridge, user
 * networks, several at once, with published ports. `prepare` makes the namespace and its
 * veths (one spawn for the first network), allocates addresses, writes the container's hosts
 * file and adds it to those of the containers it shares a network with — all under the
 * network lock — and starts its port proxy; `release` undoes all of it. Its configuration is
 * kept in the container's record, so another process's engine rebuilds it (the driver
 * {@link bridgeDriverName}, registered when this module loads) and the state is on disk.
 */
export class BridgeAttachment implements NetworkAttachment {
  readonly name: string;
  readonly manager: NetworkManager;
  readonly config: NetworkAttachmentConfig;
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
      return {
        network,
        aliases,
        ...(endpoint.ipv4Address ? { ipv4Address: endpoint.ipv4Address } : {}),
        ...((endpoint as EndpointRequest).preferredIpv4 ? { preferredIpv4: (endpoint as EndpointRequest).preferredIpv4 } : {}),
      };
    });
    // Parsed now so a bad port fails at create, not at start.
    options.ports?.forEach((p) => parsePortSpec(p));
    this.#ports = options.ports ?? [];
    this.#hostsPath = options.hostsPath;
    this.name = this.#endpoints[0]!.network;
    this.config = { driver: bridgeDriverName, options: { networks: this.#endpoints, ports: [...this.#ports] } satisfies BridgeConfig };
  }

  /** Rebuilds an attachment from what a container record kept (see {@link bridgeDriverName}). */
  static fromConfig(options: unknown, context: NetworkDriverContext): BridgeAttachment {
    const config = options as Partial<BridgeConfig> | undefined;
    if (!config || !Array.isArray(config.networks)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", "a container record's bridge network configuration is malformed", { field: "network.config" });
    }
    const manager = new NetworkManager({ store: new NetworkStore({ stateRoot: context.stateRoot, runRoot: context.runRoot }) });
    return new BridgeAttachment({ networks: config.networks, ports: config.ports ?? [], manager });
  }

  /** The ports published by the last `prepare` in this process. */
  get publishedPorts(): readonly ProxiedPort[] {
    return this.#published;
  }

  async prepare(container: NetworkContainer): Promise<NetworkPreparation> {
    const hostsPath = this.#hostsPath?.(container.id) ?? container.hostsPath;
    const kept = container.config?.driver === bridgeDriverName ? (container.config.options as Partial<BridgeConfig>).networks : undefined;
    const endpoints = this.#endpoints.map((endpoint, i) => {
      const preferred = kept?.[i]?.network === endpoint.network ? kept[i]!.preferredIpv4 : undefined;
      return preferred && !endpoint.ipv4Address ? { ...endpoint, preferredIpv4: preferred } : endpoint;
    });
    const result = await this.manager.attach(
      {
        id: container.id,
        name: container.name,
        hostname: container.hostname,
        ...(hostsPath ? { hostsPath } : {}),
        ...(container.writeHosts ? { writeHosts: (addresses, extraHosts) => container.writeHosts!({ mode: "path", hostsEntries: addresses, extraHosts, ipv6: false }) } : {}),
      },
      endpoints,
      this.#ports,
    );
    this.#published = result.ports;
    return {
      mode: "path",
      netnsPath: result.netnsPath,
      hostsEntries: result.addresses,
      extraHosts: result.extraHosts,
      ipv6: false,
      config: this.#configWith(result.addresses),
    };
  }

  /**
   * The configuration with the addresses just given as the ones to ask for at the next start:
   * Docker keeps a container's address on a user network across a restart when it is still
   * free (libnetwork reuses the endpoint's address), not on the default bridge.
   */
  #configWith(addresses: readonly string[]): NetworkAttachmentConfig {
    const networks = this.#endpoints.map((endpoint, i) => {
      const { preferredIpv4: _old, ...rest } = endpoint;
      const ip = addresses[i];
      return endpoint.network === defaultNetworkName || endpoint.ipv4Address || !ip ? rest : { ...rest, preferredIpv4: ip };
    });
    return { driver: bridgeDriverName, options: { networks, ports: [...this.#ports] } satisfies BridgeConfig };
  }

  async release(container: NetworkContainer): Promise<void> {
    this.#published = [];
    await this.manager.release(container.id);
  }

  /** The container's endpoints and published ports, from the network layer's records (for inspect). */
  async describe(containerId: string): Promise<NetworkDescription | undefined> {
    const store = this.manager.store;
    const state = await store.readContainer(containerId);
    if (!state) return undefined;
    const endpoints: NetworkDescription["endpoints"] = [];
    for (const id of state.networks) {
      const network = await store.read(id);
      const endpoint = network?.endpoints[containerId];
      if (!network || !endpoint) continue;
      const prefixLen = Number(network.subnet.split("/")[1] ?? 0);
      endpoints.push({ network: network.name, networkId: network.id, ipAddress: endpoint.ipv4, prefixLen, gateway: network.gateway, macAddress: endpoint.mac, aliases: [...endpoint.aliases] });
    }
    const ports = (state.proxy?.ports ?? []).map((p) => ({ containerPort: p.targetPort, proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort }));
    return { endpoints, ports };
  }
}

registerNetworkDriver(bridgeDriverName, (options, context) => BridgeAttachment.fromConfig(options, context));
