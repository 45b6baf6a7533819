import { hasErrorCode } from "../common/berth-error.js";
import { NetworkManager, type CreateNetworkOptions, type EndpointRequest } from "./network-manager.js";
import type { EndpointRecord, NetworkRecord } from "./network-store.js";

/** `network.inspect()`: the shape of `docker network inspect`. */
export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: "bridge";
  EnableIPv6: false;
  IPAM: { Driver: "default"; Options: Record<string, string>; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean;
  Attachable: true;
  Containers: Record<string, { Name: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** Options of the static {@link Network} methods: which state to use. */
export interface NetworkApiOptions {
  /** The manager (state root, native helper). @default new NetworkManager() */
  manager?: NetworkManager;
}

/** Options of {@link Network.connect}. */
export interface ConnectOptions {
  /** Further names the other containers resolve this one by. @default [] */
  aliases?: string[];
  /** A fixed address in the network's subnet. @default the lowest free one */
  ipv4Address?: string;
}

/**
 * A bridge network (`docker network create`): containers on it reach each other by address,
 * and, on a network made with {@link Network.create}, by name and alias.
 *
 * @example
 * ```ts
 * await using net = await Network.create({ name: "app" });
 * ```
 */
export class Network implements AsyncDisposable {
  readonly #manager: NetworkManager;
  readonly #record: NetworkRecord;

  private constructor(record: NetworkRecord, manager: NetworkManager) {
    this.#record = record;
    this.#manager = manager;
  }

  /** Creates a network; its bridge and NAT rules exist when this resolves. */
  static async create(options: CreateNetworkOptions & NetworkApiOptions = {}): Promise<Network> {
    const { manager = new NetworkManager(), ...rest } = options;
    return new Network(await manager.createNetwork(rest), manager);
  }

  /** A network by name, id or unique id prefix; `BERTH_NETWORK_NOT_FOUND` when there is none. */
  static async get(nameOrId: string, options: NetworkApiOptions = {}): Promise<Network> {
    const manager = options.manager ?? new NetworkManager();
    return new Network(await manager.store.get(nameOrId), manager);
  }

  /** Every network, oldest first. */
  static async list(options: NetworkApiOptions = {}): Promise<Network[]> {
    const manager = options.manager ?? new NetworkManager();
    return (await manager.store.list()).map((r) => new Network(r, manager));
  }

  get id(): string {
    return this.#record.id;
  }

  get name(): string {
    return this.#record.name;
  }

  /** The host bridge's name. */
  get bridge(): string {
    return this.#record.bridge;
  }

  get subnet(): string {
    return this.#record.subnet;
  }

  get gateway(): string {
    return this.#record.gateway;
  }

  get internal(): boolean {
    return this.#record.internal;
  }

  /** The current state, read again from the store. */
  async inspect(): Promise<NetworkInspect> {
    const record = await this.#manager.store.get(this.#record.id);
    const prefix = record.subnet.split("/")[1];
    const containers: NetworkInspect["Containers"] = {};
    for (const endpoint of Object.values(record.endpoints)) {
      containers[endpoint.containerId] = { Name: endpoint.name, MacAddress: endpoint.mac, IPv4Address: `${endpoint.ipv4}/${prefix}`, IPv6Address: "" };
    }
    return {
      Name: record.name,
      Id: record.id,
      Created: record.created,
      Scope: "local",
      Driver: "bridge",
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: record.subnet, Gateway: record.gateway }] },
      Internal: record.internal,
      Attachable: true,
      Containers: containers,
      Options: { "com.docker.network.bridge.name": record.bridge },
      Labels: { ...record.labels },
    };
  }

  /** Connects a running container (one berth attached) to this network. */
  async connect(containerId: string, options: ConnectOptions = {}): Promise<EndpointRecord> {
    const request: EndpointRequest = { network: this.#record.id, ...options };
    return this.#manager.connect(containerId, request);
  }

  /** Disconnects a running container from this network. */
  async disconnect(containerId: string): Promise<void> {
    await this.#manager.disconnect(containerId, this.#record.id);
  }

  /**
   * Removes the network, its bridge and its NAT rules. Refused with `BERTH_NETWORK_IN_USE`
   * while containers are on it (containers that no longer exist are released first).
   */
  async remove(): Promise<void> {
    await this.#manager.removeNetwork(this.#record.id);
  }

  /** Removes the network; one already removed is fine. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove().catch((error: unknown) => {
      if (!hasErrorCode(error, "BERTH_NETWORK_NOT_FOUND")) throw error;
    });
  }
}
