import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { ExtraHost } from "../container-config/etc-files.js";

/** What the engine tells a network layer about the container it attaches. */
export interface NetworkContainer {
  /** The container id (64 hex). */
  id: string;
  /** The container's name. */
  name: string;
  /** The container's hostname. */
  hostname: string;
  /** Where the engine keeps the container's /etc/hosts (bind-mounted into it). @default `<stateRoot>/containers/<id>/hosts` */
  hostsPath?: string;
  /**
   * Writes the container's /etc/hosts from a preparation. A network layer that also rewrites
   * the hosts files of the container's peers calls it under its own lock, before a peer can
   * see the container: a peer attaching at that moment then finds the file complete instead of
   * waiting for the engine to write it. When it is not called the engine writes the file after
   * `prepare`. @default none
   */
  writeHosts?: (prep: NetworkPreparation) => Promise<void>;
  /**
   * The attachment's configuration as the container's record keeps it (updated by the last
   * `prepare`): what an attachment made in this process learns from starts made elsewhere.
   * @default none
   */
  config?: NetworkAttachmentConfig;
}

/** The namespace and name resolution a network layer gives a container. */
export interface NetworkPreparation {
  /**
   * `none`: the runtime makes a fresh, empty namespace; `host`: the host's; `path`: the
   * namespace the network layer made, joined by its path.
   */
  mode: "none" | "host" | "path";
  /** The namespace to join, for `path`. */
  netnsPath?: string;
  /** The container's own addresses, written into /etc/hosts with its hostname. @default [] */
  hostsEntries?: string[];
  /** Extra /etc/hosts entries (other containers, aliases). @default [] */
  extraHosts?: ExtraHost[];
  /** The resolver configuration: nameservers, search domains, options. @default the host's */
  dnsConfig?: { nameservers?: string[]; search?: string[]; options?: string[] };
  /** Whether the container has IPv6 (keeps IPv6 lines in /etc/hosts and resolv.conf). @default false */
  ipv6?: boolean;
  /**
   * The attachment's configuration to keep in the container's record in place of the one it
   * had (the addresses it was given, to ask for again at the next start). @default unchanged
   */
  config?: NetworkAttachmentConfig;
}

/**
 * What the container record keeps of an attachment, so that any process's engine can rebuild
 * it (see {@link registerNetworkDriver}): the driver's name and its JSON configuration.
 */
export interface NetworkAttachmentConfig {
  /** The driver that rebuilds the attachment. */
  driver: string;
  /** JSON-serialisable options of the driver. */
  options: unknown;
}

/** Where a driver runs: the engine's roots, so it finds its state beside the engine's. */
export interface NetworkDriverContext {
  stateRoot: string;
  runRoot: string;
}

/** Rebuilds an attachment from what the container record kept. */
export type NetworkDriver = (options: unknown, context: NetworkDriverContext) => NetworkAttachment;

const drivers = new Map<string, NetworkDriver>();

/**
 * Makes a driver known to every engine of this process. The network layer registers its
 * drivers when it is loaded: the engine (a layer above it) cannot import it, and a container
 * created by one process must start, stop and be removed by another's engine.
 */
export function registerNetworkDriver(name: string, driver: NetworkDriver): void {
  drivers.set(name, driver);
}

/** A driver registered with {@link registerNetworkDriver}. */
export function networkDriver(name: string): NetworkDriver | undefined {
  return drivers.get(name);
}

/**
 * The one seam between the engine and a network layer: `prepare` is called before the
 * container starts (each start) and `release` when it stops, when a start fails after
 * `prepare`, and at remove; release must be idempotent. The network layer (src/network/)
 * implements it for bridges; berth ships {@link noneNetwork} and {@link hostNetwork}.
 */
export interface NetworkAttachment {
  /** The network mode as `docker inspect` shows it (`none`, `host`, `bridge`, a network name, `container:<id>`). */
  readonly name: string;
  /**
   * What the container record keeps of this attachment. Without it only the engine that
   * created the container can start it. @default none
   */
  readonly config?: NetworkAttachmentConfig;
  prepare(container: NetworkContainer): Promise<NetworkPreparation>;
  release(container: NetworkContainer): Promise<void>;
  /**
   * The running container's addresses and published ports, for `docker inspect`'s
   * `NetworkSettings`. @default none (inspect shows no addresses)
   */
  describe?(containerId: string): Promise<NetworkDescription | undefined>;
}

/** What {@link NetworkAttachment.describe} reports of a running container. */
export interface NetworkDescription {
  /** One per network, in attach order. */
  endpoints: { network: string; networkId: string; ipAddress: string; prefixLen: number; gateway: string; macAddress: string; aliases: string[] }[];
  /** Published ports, one per host address. */
  ports: { containerPort: number; proto: "tcp" | "udp"; hostIp: string; hostPort: number }[];
}

/**
 * Docker's `--network none`: a private namespace with only loopback, up. The runtime creates
 * it with the container and it dies with the container, so there is nothing to release.
 */
export const noneNetwork: NetworkAttachment = {
  name: "none",
  async prepare() {
    return { mode: "none" };
  },
  async release() {},
};

/** Docker's `--network host`: the host's namespace, /etc/hosts and hostname. */
export const hostNetwork: NetworkAttachment = {
  name: "host",
  async prepare() {
    return { mode: "host" };
  },
  async release() {},
};

/** The host's /etc/hosts, the start of a host-network container's file (as Docker). */
export async function hostHostsFile(): Promise<string> {
  return readFile("/etc/hosts", "utf8").catch(() => "127.0.0.1\tlocalhost\n");
}

/** The host's name: Docker gives it to containers on the host network. */
export function hostName(): string {
  return hostname();
}
