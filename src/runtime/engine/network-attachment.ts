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
}

/**
 * The one seam between the engine and a network layer: `prepare` is called before the
 * container starts (each start, as a stopped container's namespace may be gone) and
 * `release` after it stopped for good (remove). The network layer (src/network/) implements
 * it for bridges; berth ships {@link noneNetwork} and {@link hostNetwork}.
 */
export interface NetworkAttachment {
  /** The network's name as `docker inspect` shows it (`none`, `host`, `bridge`...). */
  readonly name: string;
  prepare(container: NetworkContainer): Promise<NetworkPreparation>;
  release(container: NetworkContainer): Promise<void>;
}

/**
 * Docker's `--network none`: a private namespace with only loopback. The runtime creates it
 * with the container and it dies with the container, so there is nothing to release.
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
