import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import { isRootless } from "../common/user-namespace.js";
import {
  allocateAddress,
  checkOverlap,
  checkRequestedAddress,
  isFreeAddress,
  defaultBridgeSubnet,
  firstHost,
  formatSubnet,
  hostRoutes,
  parseSubnet,
  pickUserSubnet,
  subnetContains,
} from "./ipam.js";
import { hostsEntriesFor, hostsLine, rewriteHostsFile, validateAlias, waitForHostsFile, type HostsEntry } from "./hosts-file.js";
import { NativeNet, type ProxiedPort, type VethOptions, type VethResult } from "./native-net.js";
import { matchNetwork, NetworkStore, type ContainerNetworkState, type EndpointRecord, type NetworkRecord } from "./network-store.js";
import { parsePortSpec, proxyMap, type PortSpec } from "./port-spec.js";
import { stopProxy } from "./proxy-process.js";
import { startSetupProfile, type SetupProfile } from "./setup-profile.js";
// Also loads the rootless driver with the network layer, so that any process's engine can
// release a rootless container's network from its record (the driver registers itself).
import { rootlessNetworksUnsupported } from "./rootless-network.js";

const log = logger("network");

/** The name of the default bridge network, as Docker's. */
export const defaultNetworkName = "bridge";
/** The default bridge's host interface. */
export const defaultBridgeName = "berth0";

/** Options of {@link NetworkManager.createNetwork}. */
export interface CreateNetworkOptions {
  /** The network's name. @default "berth-net-" + 12 random hex digits */
  name?: string;
  /** An IPv4 subnet `a.b.c.d/N`. @default the first free /24 of 10.89.0.0/16 */
  subnet?: string;
  /** The bridge's address in the subnet, the containers' default route. @default the subnet's first address */
  gateway?: string;
  /** No traffic in or out of the bridge's subnet, no default route in containers. @default false */
  internal?: boolean;
  /** @default {} */
  labels?: Record<string, string>;
}

/** One network a container joins, with its names there. */
export interface EndpointRequest {
  /** The network's name or id. */
  network: string;
  /** Further names the other containers resolve this one by. @default [] */
  aliases?: string[];
  /** A fixed address in the network's subnet. @default the lowest free one */
  ipv4Address?: string;
  /**
   * The address to take when it is free (the one the container had before a restart); another
   * one when it is not. @default none
   */
  preferredIpv4?: string;
}

/** What the engine needs to know of a container, and where its /etc/hosts is. */
export interface AttachTarget {
  id: string;
  name: string;
  hostname: string;
  /** @default the engine's `<stateRoot>/containers/<id>/hosts` */
  hostsPath?: string;
  /**
   * Writes the container's own hosts file with its addresses and names, called under the
   * network lock before any peer can see the container (so no peer waits for the file).
   * @default none: the caller writes it after attach returns
   */
  writeHosts?: (addresses: string[], extraHosts: HostsEntry[]) => Promise<void>;
}

/** The result of {@link NetworkManager.attach}. */
export interface AttachResult {
  netnsPath: string;
  /** The container's addresses, for its own /etc/hosts line. */
  addresses: string[];
  /** The other containers, the aliases and `host.berth.internal`. */
  extraHosts: HostsEntry[];
  ports: ProxiedPort[];
}

/** Options of {@link NetworkManager}. */
export interface NetworkManagerOptions {
  /** @default new NetworkStore() */
  store?: NetworkStore;
  /** @default new NativeNet() */
  native?: NativeNet;
  /**
   * Whether a container still exists; allocations of containers that do not are freed by
   * {@link NetworkManager.reconcile}. @default its engine directory (where its hosts file is)
   * exists, else it has a record under the state root
   */
  containerExists?: (containerId: string) => boolean;
  /**
   * How often an attach looks for the allocations of containers that are gone (see
   * {@link NetworkManager.reconcile}), in ms, across every process on the state root: an
   * attach that finds such an allocation in its way (an address or a name it asks for, a
   * full subnet) releases it at once whatever this says. 0 reconciles at every attach.
   * @default 60000
   */
  reconcileInterval?: number;
  /**
   * Whether an attach writes the hosts files and starts the port proxy while berth-runtime
   * makes the namespace (on another core), or after it: false is the slower order, kept as a
   * benchmark's baseline (`BERTH_NET_SERIAL_PROXY=1` starts only the proxy after, as it was).
   * @default true
   */
  concurrentSetup?: boolean;
}

/**
 * Networks and the containers on them: IPAM, bridges, NAT, namespaces, veths, hosts files and
 * published ports. Stateless between calls (everything is in the {@link NetworkStore}), so
 * any number of processes can use the same state root at once.
 */
export class NetworkManager {
  readonly store: NetworkStore;
  readonly native: NativeNet;
  readonly #containerExists: (id: string) => boolean;
  readonly #customExists: boolean;
  readonly #reconcileInterval: number;
  readonly #concurrentSetup: boolean;

  constructor(options: NetworkManagerOptions = {}) {
    this.#reconcileInterval = options.reconcileInterval ?? 60_000;
    this.#concurrentSetup = options.concurrentSetup ?? true;
    this.store = options.store ?? new NetworkStore();
    this.native = options.native ?? new NativeNet();
    this.#customExists = options.containerExists !== undefined;
    this.#containerExists = options.containerExists ?? ((id) => this.store.containerExists(id));
  }

  // ------------------------------------------------------------------ networks

  async createNetwork(options: CreateNetworkOptions = {}): Promise<NetworkRecord> {
    const name = options.name ?? `berth-net-${randomBytes(6).toString("hex")}`;
    // A bridge needs root (CAP_NET_ADMIN on the host).
    if (isRootless()) throw rootlessNetworksUnsupported(`network ${name} (a user network)`, { network: name });
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.length > 128) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid network name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, {
        field: "name",
        network: name,
      });
    }
    if (name === defaultNetworkName || name === "host" || name === "none") {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `network name ${name} is reserved`, { field: "name", network: name });
    }
    for (const [key, value] of Object.entries(options.labels ?? {})) {
      if (typeof value !== "string") throw new BerthError("BERTH_INVALID_ARGUMENT", `label ${key} must be a string`, { field: "labels" });
    }
    return this.store.locked(async () => {
      if (await this.store.find(name)) {
        throw new BerthError("BERTH_NETWORK_EXISTS", `network with name ${name} already exists`, { network: name });
      }
      return this.#createLocked({ ...options, name }, { dns: true });
    });
  }

  async #createLocked(options: CreateNetworkOptions & { name: string }, extra: { dns: boolean; bridge?: string }): Promise<NetworkRecord> {
    const taken = {
      networks: (await this.store.list()).map((n) => ({ name: n.name, subnet: n.subnet })),
      // The default bridge may already exist for another state root: its own route is no overlap.
      routes: (await hostRoutes()).filter((r) => r.device !== extra.bridge),
    };
    let subnet;
    if (options.subnet) {
      subnet = parseSubnet(options.subnet);
      checkOverlap(subnet, taken);
    } else {
      subnet = pickUserSubnet(taken);
    }
    const gateway = options.gateway ?? firstHost(subnet);
    if (!subnetContains(subnet, gateway) || gateway === formatSubnet(subnet).split("/")[0]) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `gateway ${gateway} is not a host address of subnet ${formatSubnet(subnet)}`, {
        field: "gateway",
        network: options.name,
      });
    }
    const id = randomBytes(32).toString("hex");
    const record: NetworkRecord = {
      id,
      name: options.name,
      created: new Date().toISOString(),
      // Interface names have at most 15 characters.
      bridge: extra.bridge ?? `berth-${id.slice(0, 9)}`,
      subnet: formatSubnet(subnet),
      gateway,
      internal: options.internal ?? false,
      labels: { ...(options.labels ?? {}) },
      dns: extra.dns,
      endpoints: {},
    };
    // The record goes first: a crash after it leaves a network that remove() cleans up,
    // never a bridge or rule no record names.
    await this.store.write(record, { durable: true });
    try {
      await this.#ensureBridge(record);
    } catch (error) {
      await this.#teardownBridge(record).catch(() => {});
      await this.store.delete(id);
      throw error;
    }
    log("created network %s (%s, %s on %s)", record.name, id.slice(0, 12), record.subnet, record.bridge);
    return record;
  }

  /** The bridge and its NAT rules, made again when missing (as after a reboot). */
  async #ensureBridge(record: NetworkRecord): Promise<void> {
    if (existsSync(`/sys/class/net/${record.bridge}`)) return;
    const prefix = record.subnet.split("/")[1];
    await this.native.bridgeEnsure(record.bridge, [`${record.gateway}/${prefix}`]);
    await this.native.natEnsure(record.subnet, record.bridge, record.internal);
  }

  async #teardownBridge(record: NetworkRecord): Promise<void> {
    await this.native.natRemove(record.bridge);
    await this.native.bridgeDelete(record.bridge);
  }

  /** Removes a network; refused with `BERTH_NETWORK_IN_USE` while containers are on it. */
  async removeNetwork(nameOrId: string): Promise<void> {
    await this.store.locked(async () => {
      const record = await this.store.get(nameOrId);
      if (record.name === defaultNetworkName) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `${defaultNetworkName} is a pre-defined network and cannot be removed`, { network: record.name });
      }
      await this.#reconcileLocked();
      const fresh = (await this.store.read(record.id)) ?? record;
      const users = Object.values(fresh.endpoints);
      if (users.length > 0) {
        throw new BerthError(
          "BERTH_NETWORK_IN_USE",
          `network ${fresh.name} has active endpoints: ${users.map((u) => u.name).join(", ")}`,
          { network: fresh.name, containers: users.map((u) => u.containerId) },
        );
      }
      await this.#teardownBridge(fresh);
      await this.store.delete(fresh.id);
      log("removed network %s", fresh.name);
    });
  }

  /**
   * A network of `networks` (the records read once by the operation) by name, id or unique
   * id prefix; the default bridge network is made on first use.
   */
  async #networkLocked(nameOrId: string, networks: Map<string, NetworkRecord>): Promise<NetworkRecord> {
    const found = matchNetwork([...networks.values()], nameOrId);
    if (found) return found;
    if (nameOrId !== defaultNetworkName) throw new BerthError("BERTH_NETWORK_NOT_FOUND", `network ${nameOrId} not found`, { network: nameOrId });
    // Docker's default bridge gives no names between containers: --link was its way.
    const made = await this.#createLocked({ name: defaultNetworkName, subnet: defaultBridgeSubnet }, { dns: false, bridge: defaultBridgeName });
    networks.set(made.id, made);
    return made;
  }

  // ------------------------------------------------------------------ containers

  /**
   * Gives a container its namespace on its networks (the first one in the same request as the
   * namespace), its addresses, its names in every peer's hosts file and its published ports.
   * Whatever an earlier start left is released first. On failure nothing is left.
   *
   * The budget is a few milliseconds (issue 5), so the work is ordered for it: everything is
   * chosen first (address, MAC, host veth name), then berth-runtime makes the namespace and its
   * veth in its co-process while this process writes the records and the hosts files (the
   * container's own and its peers'), the two sides on two cores. Stale allocations are looked
   * for only where they would be in the way (an address or a name this container asks for, a
   * full subnet) and otherwise every {@link NetworkManagerOptions.reconcileInterval}, not at
   * every attach.
   */
  async attach(target: AttachTarget, requests: EndpointRequest[], ports: readonly (string | number | PortSpec)[] = []): Promise<AttachResult> {
    const published = ports.map((p) => parsePortSpec(p));
    const wanted = requests.length > 0 ? requests : [{ network: defaultNetworkName }];
    for (const request of wanted) for (const alias of request.aliases ?? []) validateAlias(alias);
    const profile = startSetupProfile("attach");
    // The slower order, a benchmark's baseline: the proxy once the namespace is made.
    const serialProxy = !this.#concurrentSetup || process.env.BERTH_NET_SERIAL_PROXY === "1";
    const result = await this.store.locked(async () => {
      profile.mark("lock");
      // One read of the networks serves the reconcile, the release and the attach.
      const networks = await this.#networkMap();
      profile.mark("read networks");
      if (this.#reconcileDue()) await this.#reconcileLocked(networks);
      profile.mark("reconcile");
      await this.#releaseLocked(target.id, networks);
      profile.mark("release previous");
      const state: ContainerNetworkState = {
        id: target.id,
        name: target.name,
        hostname: target.hostname,
        netnsPath: join(this.store.netnsDir, target.id),
        ownsNetns: true,
        networks: [],
        hostsPath: target.hostsPath ?? this.store.defaultHostsPath(target.id),
        managedHosts: [],
        preparedAt: Date.now(),
      };
      const records: NetworkRecord[] = [];
      for (const request of wanted) {
        const record = await this.#networkLocked(request.network, networks);
        if (records.some((r) => r.id === record.id)) {
          throw new BerthError("BERTH_INVALID_ARGUMENT", `container ${target.name} is given network ${record.name} twice`, { network: record.name, container: target.name });
        }
        records.push(record);
      }
      for (const record of records) await this.#ensureBridge(record);
      const endpoints = await this.#allocateAll(records, wanted, target, networks);
      profile.mark("bridge + allocate");
      const routed = records.find((r) => !r.internal);
      const veths: VethOptions[] = records.map((record, i) => ({
        bridge: record.bridge,
        ifname: endpoints[i]!.ifname,
        addrs: [`${endpoints[i]!.ipv4}/${record.subnet.split("/")[1]}`],
        gateways: record === routed ? [record.gateway] : [],
        mac: endpoints[i]!.mac,
        hostIfname: endpoints[i]!.hostIfname,
      }));
      for (const [i, record] of records.entries()) {
        record.endpoints[target.id] = endpoints[i]!;
        state.networks.push(record.id);
      }
      const extraHosts = hostsEntriesFor(state, networks);
      state.managedHosts = extraHosts.map(hostsLine);
      const addresses = endpoints.map((e) => e.ipv4);
      // The proxy needs the container's address only when a connection arrives, and the address
      // is chosen: it starts beside the namespace, in the same co-process, on the other core.
      const maps = serialProxy ? [] : published.map((p) => proxyMap(p, addresses[0]!));
      let proxy: Promise<ContainerNetworkState["proxy"]> = Promise.resolve(undefined);
      try {
        // A failure below, or a crash (this process's or the co-process's), is undone by a
        // release, which finds the namespace and the endpoints from these records, and the
        // proxy from its pid file; a namespace or a proxy made before any record names it (a
        // crash in between) is found by reconcile(), which also looks for namespace pins and
        // proxy pid files no record names.
        const writeNetworks = async () => {
          for (const record of records) await this.store.write(record);
        };
        const hostFiles = async () => {
          if (target.writeHosts) await target.writeHosts(addresses, extraHosts);
          await this.#refreshHostsLocked(this.#peersOf(state.networks, networks, target.id), networks);
        };
        let made: Promise<VethResult>;
        let writes: Promise<void>;
        if (this.#concurrentSetup) {
          // The requests go to the co-process first; every write is done while they run, the
          // container's state last, once, with its proxy.
          made = this.#makeNamespace(target.id, veths[0]!);
          if (maps.length > 0) proxy = this.#spawnProxy(target.id, maps);
          writes = writeNetworks()
            .then(hostFiles)
            .then(async () => {
              const started = await proxy;
              if (started) state.proxy = started;
              await this.store.writeContainer(state);
            });
        } else {
          await writeNetworks();
          await this.store.writeContainer(state);
          made = this.#makeNamespace(target.id, veths[0]!);
          writes = made.then(hostFiles, () => {});
        }
        // All settle before anything is undone: a release racing a namespace or a proxy still
        // being made would leave it behind.
        const [namespace, proxied, files] = await Promise.allSettled([made, proxy, writes]);
        profile.mark(maps.length > 0 ? "namespace + proxy + records + hosts files" : "namespace + records + hosts files");
        if (namespace.status === "rejected") throw namespace.reason;
        if (proxied.status === "rejected") throw proxied.reason;
        if (files.status === "rejected") throw files.reason;
        await this.#recordActual(records[0]!, endpoints[0]!, namespace.value);
        for (let i = 1; i < records.length; i++) {
          await this.#recordActual(records[i]!, endpoints[i]!, await this.native.vethAttach(state.netnsPath, veths[i]!));
        }
        profile.mark("more networks");
        return { netnsPath: state.netnsPath, addresses, extraHosts, ports: proxied.value?.ports ?? [] };
      } catch (error) {
        // The state may not name the proxy yet (it is written last): the proxy is stopped here,
        // as the release would by its pid file.
        const started = await proxy.catch(() => undefined);
        if (started) await stopProxy(started.pid, started.pidFile).catch((e: unknown) => log("stopping the proxy after a failed attach failed: %O", e));
        await this.#releaseLocked(target.id).catch((e: unknown) => log("cleanup after a failed attach failed: %O", e));
        throw error;
      }
    });
    profile.mark("unlock");
    let proxied = result.ports;
    if (serialProxy && published.length > 0) {
      // The slower order (the baseline): the proxy after the namespace, recorded under a second lock.
      try {
        proxied = await this.#startProxyLocked(target.id, published.map((p) => proxyMap(p, result.addresses[0]!)));
      } catch (error) {
        await this.release(target.id).catch((e: unknown) => log("cleanup after a failed publish failed: %O", e));
        throw error;
      }
    }
    profile.mark("ports");
    profile.end();
    return { netnsPath: result.netnsPath, addresses: result.addresses, extraHosts: result.extraHosts, ports: proxied };
  }

  /**
   * Makes the namespace with its first veth, under the host name chosen at allocation. A host
   * name is 32 random bits: should it be taken all the same, another is tried (berth-runtime
   * has already removed what it made).
   */
  async #makeNamespace(id: string, veth: VethOptions): Promise<VethResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        const made = await this.native.netnsCreate(id, this.store.netnsDir, veth);
        return { hostIfname: made.hostIfname ?? veth.hostIfname ?? "", mac: made.mac ?? veth.mac ?? "" };
      } catch (error) {
        if (attempt >= 2 || !(error instanceof BerthError) || !/exists on the host/.test(error.message)) throw error;
        veth = { ...veth, hostIfname: randomHostIfname() };
      }
    }
  }

  /** Records what berth-runtime made where it differs from what was chosen (a host name tried again). */
  async #recordActual(record: NetworkRecord, endpoint: EndpointRecord, made: VethResult): Promise<void> {
    if (made.hostIfname === endpoint.hostIfname && made.mac === endpoint.mac) return;
    endpoint.hostIfname = made.hostIfname;
    endpoint.mac = made.mac;
    await this.store.write(record);
  }

  /**
   * The container's endpoint on each of `records`. What stands in its way (an address or a
   * name it asks for, held by another endpoint; a full subnet) may be a container that is
   * gone without a release (removed by a process that did not know its network, or killed):
   * such holders are released, here, before the allocation.
   */
  async #allocateAll(records: NetworkRecord[], wanted: EndpointRequest[], target: AttachTarget, networks: Map<string, NetworkRecord>): Promise<EndpointRecord[]> {
    const holders = new Set<string>();
    for (const [i, record] of records.entries()) {
      const request = wanted[i]!;
      const names = new Set([target.name, ...(request.aliases ?? [])]);
      const asked = new Set([request.ipv4Address, request.preferredIpv4].filter((ip): ip is string => !!ip));
      for (const endpoint of Object.values(record.endpoints)) {
        if (endpoint.containerId === target.id) continue;
        const clash = asked.has(endpoint.ipv4) || (record.dns && (names.has(endpoint.name) || endpoint.aliases.some((a) => names.has(a))));
        if (clash) holders.add(endpoint.containerId);
      }
    }
    for (const id of holders) {
      if (!(await this.#isGone(id))) continue;
      log("container %s is gone but holds an address or a name on the way: releasing its network", id.slice(0, 12));
      await this.#releaseLocked(id, networks);
    }
    const allocate = () => records.map((record, i) => this.#allocate(record, target, wanted[i]!, `eth${i}`));
    try {
      return allocate();
    } catch (error) {
      if (!(error instanceof BerthError) || error.code !== "BERTH_SUBNET_EXHAUSTED") throw error;
      if ((await this.#reconcileLocked(networks)).length === 0) throw error;
      return allocate();
    }
  }

  #allocate(record: NetworkRecord, target: AttachTarget, request: EndpointRequest, ifname: string): EndpointRecord {
    const subnet = parseSubnet(record.subnet);
    const used = Object.values(record.endpoints).map((e) => e.ipv4);
    const preferred = request.preferredIpv4 && isFreeAddress(subnet, record.gateway, used, request.preferredIpv4) ? request.preferredIpv4 : undefined;
    const ipv4 = request.ipv4Address
      ? checkRequestedAddress(subnet, record.gateway, used, request.ipv4Address, record.name)
      : preferred
        ? preferred
      : // The default bridge is one per host (berth0) but every state root has its own IPAM:
        // random addresses in its /16 keep two roots (parallel test files) from colliding.
        allocateAddress(subnet, record.gateway, used, record.name, { random: record.bridge === defaultBridgeName });
    // Chosen here, not by berth-runtime, so the records are complete before the namespace is made.
    return { containerId: target.id, name: target.name, aliases: [...(request.aliases ?? [])], ipv4, mac: macFromIpv4(ipv4), ifname, hostIfname: randomHostIfname() };
  }

  /** Joins a running container to one more network (`docker network connect`). */
  async connect(containerId: string, request: EndpointRequest): Promise<EndpointRecord> {
    for (const alias of request.aliases ?? []) validateAlias(alias);
    return this.store.locked(async () => {
      const state = await this.#containerLocked(containerId);
      if (!state.ownsNetns) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `container ${state.name} shares another container's network namespace: connect that one`, { container: state.name });
      }
      const networks = await this.#networkMap();
      const record = await this.#networkLocked(request.network, networks);
      if (record.endpoints[state.id]) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `container ${state.name} is already connected to network ${record.name}`, {
          container: state.name,
          network: record.name,
        });
      }
      await this.#ensureBridge(record);
      const usedIfnames = new Set(state.networks.map((id) => networks.get(id)?.endpoints[state.id]?.ifname));
      let n = 0;
      while (usedIfnames.has(`eth${n}`)) n++;
      const endpoint = this.#allocate(record, state, request, `eth${n}`);
      const routed = state.networks.some((id) => networks.get(id) && !networks.get(id)!.internal);
      const veth = await this.native.vethAttach(state.netnsPath, {
        bridge: record.bridge,
        ifname: endpoint.ifname,
        addrs: [`${endpoint.ipv4}/${record.subnet.split("/")[1]}`],
        gateways: routed || record.internal ? [] : [record.gateway],
      });
      endpoint.mac = veth.mac;
      endpoint.hostIfname = veth.hostIfname;
      record.endpoints[state.id] = endpoint;
      state.networks.push(record.id);
      await this.store.write(record);
      await this.store.writeContainer(state);
      await this.#refreshHostsLocked(new Set([state.id, ...this.#peersOf(state.networks, networks, state.id)]), networks);
      return endpoint;
    });
  }

  /** Takes a running container off a network (`docker network disconnect`). */
  async disconnect(containerId: string, network: string): Promise<void> {
    await this.store.locked(async () => {
      const state = await this.#containerLocked(containerId);
      const networks = await this.#networkMap();
      const record = await this.#networkLocked(network, networks);
      const endpoint = record.endpoints[state.id];
      if (!endpoint) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `container ${state.name} is not connected to network ${record.name}`, {
          container: state.name,
          network: record.name,
        });
      }
      const peers = this.#peersOf(state.networks, networks, state.id);
      await this.native.vethDetach(state.netnsPath, endpoint.ifname);
      delete record.endpoints[state.id];
      state.networks = state.networks.filter((id) => id !== record.id);
      await this.store.write(record);
      await this.store.writeContainer(state);
      await this.#refreshHostsLocked(new Set([state.id, ...peers]), networks);
    });
  }

  /** Frees everything a container has: proxy, addresses, veths, namespace, names in peers' hosts files. */
  async release(containerId: string): Promise<void> {
    const profile = startSetupProfile("release");
    await this.store.locked(() => this.#releaseLocked(containerId, undefined, profile));
    profile.end();
  }

  /** Releases a container; `networks`, when given, is the operation's map and is kept current. */
  async #releaseLocked(containerId: string, networks?: Map<string, NetworkRecord>, profile?: SetupProfile): Promise<void> {
    profile?.mark("lock");
    const state = await this.store.readContainer(containerId);
    const proxy = state?.proxy ?? this.#proxyOfPidFile(containerId);
    if (proxy) await stopProxy(proxy.pid, proxy.pidFile);
    networks ??= await this.#networkMap();
    profile?.mark("read + proxy");
    const affected: NetworkRecord[] = [...networks.values()].filter((n) => n.endpoints[containerId]);
    if (!state && affected.length === 0) {
      // An attach that failed between making the namespace and recording it.
      const orphan = join(this.store.netnsDir, containerId);
      if (existsSync(orphan)) await this.native.netnsDelete(orphan);
      return;
    }
    const peers = this.#peersOf(
      affected.map((n) => n.id),
      networks,
      containerId,
    );
    // The kernel frees a dead namespace's veths later, from a work queue: deleting them first
    // (in the same request) makes the release complete when it returns, so no host-side veth
    // outlives a stop, nor a failed attach (which may fail before the state is written).
    const ifnames = affected.map((n) => n.endpoints[containerId]?.ifname).filter((i): i is string => !!i);
    if (state?.ownsNetns) {
      await this.native.netnsDelete(state.netnsPath, ifnames);
      profile?.mark("veths + netns-delete");
    } else if (!state) await this.native.netnsDelete(join(this.store.netnsDir, containerId), ifnames);
    for (const record of affected) {
      delete record.endpoints[containerId];
      await this.store.write(record);
    }
    if (state?.sharesWith) {
      const owner = await this.store.readContainer(state.sharesWith);
      if (owner?.followers?.includes(containerId)) {
        owner.followers = owner.followers.filter((id) => id !== containerId);
        await this.store.writeContainer(owner);
      }
    }
    await this.store.deleteContainer(containerId);
    profile?.mark("records");
    await this.#refreshHostsLocked(peers, networks);
    profile?.mark("peers' hosts");
    log("released container %s", containerId.slice(0, 12));
  }

  /**
   * The proxy a container's pid file names, for an attach that died before the container's
   * state recorded it. stopProxy checks that the pid is still that proxy.
   */
  #proxyOfPidFile(containerId: string): { pid: number; pidFile: string } | undefined {
    const pidFile = this.store.proxyPidFile(containerId);
    let text: string;
    try {
      text = readFileSync(pidFile, "utf8");
    } catch {
      return undefined;
    }
    const pid = Number.parseInt(text, 10);
    return pid > 0 ? { pid, pidFile } : undefined;
  }

  /** Frees the allocations, namespaces and proxies of containers that no longer exist. */
  async reconcile(): Promise<string[]> {
    return this.store.locked(() => this.#reconcileLocked());
  }

  /** `networks`, when given, is the operation's map (see {@link #releaseLocked}) and is kept current. */
  async #reconcileLocked(networks?: Map<string, NetworkRecord>): Promise<string[]> {
    const ids = new Set(await this.store.listContainers());
    for (const record of networks ? networks.values() : await this.store.list()) for (const id of Object.keys(record.endpoints)) ids.add(id);
    // Namespaces too: an attach sends the namespace request before it writes the records, and
    // a crash in between leaves a pin that no record names.
    // And proxies: an attach starts the proxy beside the namespace, before the state names it.
    for (const name of readdirOrEmpty(this.store.proxyDir)) if (/^[0-9a-f]{64}\.pid$/.test(name)) ids.add(name.slice(0, -4));
    const pins = readdirOrEmpty(this.store.netnsDir).filter((name) => !ids.has(name));
    const gone: string[] = [];
    for (const id of ids) if (await this.#isGone(id)) gone.push(id);
    for (const pin of pins) {
      if (!(await this.#isGone(pin))) continue;
      log("reconcile: namespace %s has no container, deleting it", pin.slice(0, 12));
      await this.native.netnsDelete(join(this.store.netnsDir, pin));
      gone.push(pin);
    }
    for (const id of gone) {
      log("reconcile: container %s is gone, releasing its network", id.slice(0, 12));
      await this.#releaseLocked(id, networks);
    }
    this.store.sweepReplaced();
    this.#markReconciled();
    return gone;
  }

  async #isGone(containerId: string): Promise<boolean> {
    if (this.#customExists) return !this.#containerExists(containerId);
    const state = await this.store.readContainer(containerId);
    // The engine's container directory holds the hosts file: where it is, the container is,
    // whatever state root the engine was given.
    return !(state ? existsSync(dirname(state.hostsPath)) : this.#containerExists(containerId));
  }

  /** Whether the last reconcile, by any process on this state root, is older than the interval. */
  #reconcileDue(): boolean {
    if (this.#reconcileInterval <= 0) return true;
    try {
      return Date.now() - statSync(join(this.store.root, ".reconciled")).mtimeMs >= this.#reconcileInterval;
    } catch {
      return true;
    }
  }

  #markReconciled(): void {
    const path = join(this.store.root, ".reconciled");
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      try {
        closeSync(openSync(path, "a"));
      } catch (error) {
        // Only the next attach's reconcile is at stake.
        log("cannot mark the reconcile in %s: %O", path, error);
      }
    }
  }

  /** The network state of a container berth attached. */
  async container(containerId: string): Promise<ContainerNetworkState | undefined> {
    return this.store.readContainer(containerId);
  }

  /** A container berth attached, by id, unique id prefix or name. */
  async findContainer(ref: string): Promise<ContainerNetworkState | undefined> {
    const direct = await this.store.readContainer(ref).catch(() => undefined);
    if (direct) return direct;
    const states = await Promise.all((await this.store.listContainers()).map((id) => this.store.readContainer(id)));
    const matches = states.filter((s): s is ContainerNetworkState => !!s && (s.name === ref || (ref.length >= 3 && s.id.startsWith(ref))));
    return matches.length === 1 ? matches[0] : undefined;
  }

  async #containerLocked(containerId: string): Promise<ContainerNetworkState> {
    const state = await this.findContainer(containerId);
    if (!state || !existsSync(state.netnsPath)) {
      throw new BerthError("BERTH_CONTAINER_NOT_RUNNING", `container ${containerId} has no network namespace: start it first`, {
        container: containerId,
      });
    }
    return state;
  }

  async #networkMap(): Promise<Map<string, NetworkRecord>> {
    return new Map((await this.store.list()).map((n) => [n.id, n]));
  }

  #peersOf(networkIds: string[], networks: Map<string, NetworkRecord>, self: string): Set<string> {
    const peers = new Set<string>();
    for (const id of networkIds) for (const peer of Object.keys(networks.get(id)?.endpoints ?? {})) if (peer !== self) peers.add(peer);
    return peers;
  }

  /** Rewrites the hosts files of these containers to the current networks. */
  async #refreshHostsLocked(containerIds: Iterable<string>, networks: Map<string, NetworkRecord>): Promise<void> {
    const queue = [...containerIds];
    for (let i = 0; i < queue.length; i++) {
      const state = await this.store.readContainer(queue[i]!);
      if (!state) continue;
      // Containers in this one's namespace (`container:` mode) show the same names.
      for (const follower of state.followers ?? []) if (!queue.includes(follower)) queue.push(follower);
      const lines = (await this.#entriesFor(state, networks)).map(hostsLine);
      if (!(await waitForHostsFile(state))) {
        log("hosts file of %s is not there: its entries are updated at the next change", state.id.slice(0, 12));
        continue;
      }
      await rewriteHostsFile(state.hostsPath, state.managedHosts, lines);
    }
  }

  /** A container's hosts entries; one in another's namespace has that one's. */
  async #entriesFor(state: ContainerNetworkState, networks: Map<string, NetworkRecord>): Promise<HostsEntry[]> {
    if (!state.sharesWith) return hostsEntriesFor(state, networks);
    const owner = await this.store.readContainer(state.sharesWith);
    return owner ? hostsEntriesFor(owner, networks) : [];
  }

  /**
   * Puts a container into a running one's namespace (`container:<ref>`): returns the
   * namespace, the owner's addresses and names; the container's hosts file then follows the
   * owner's changes.
   */
  async join(target: AttachTarget, ownerRef: string): Promise<AttachResult> {
    return this.store.locked(async () => {
      const owner = await this.findContainer(ownerRef);
      if (!owner || !owner.ownsNetns || !existsSync(owner.netnsPath)) {
        throw new BerthError("BERTH_CONTAINER_NOT_RUNNING", `cannot join the network of container ${ownerRef}: it is not running on a berth network`, {
          container: target.name,
          target: ownerRef,
        });
      }
      const networks = await this.#networkMap();
      await this.#releaseLocked(target.id, networks);
      const extraHosts = hostsEntriesFor(owner, networks);
      const addresses = owner.networks.map((id) => networks.get(id)?.endpoints[owner.id]?.ipv4).filter((ip): ip is string => !!ip);
      if (target.writeHosts) await target.writeHosts(addresses, extraHosts);
      const state: ContainerNetworkState = {
        id: target.id,
        name: target.name,
        hostname: target.hostname,
        netnsPath: owner.netnsPath,
        ownsNetns: false,
        sharesWith: owner.id,
        networks: [],
        hostsPath: target.hostsPath ?? this.store.defaultHostsPath(target.id),
        managedHosts: extraHosts.map(hostsLine),
        preparedAt: Date.now(),
      };
      await this.store.writeContainer(state);
      owner.followers = [...new Set([...(owner.followers ?? []), target.id])];
      await this.store.writeContainer(owner);
      return { netnsPath: owner.netnsPath, addresses, extraHosts, ports: owner.proxy?.ports ?? [] };
    });
  }


  // ------------------------------------------------------------------ ports

  /** Starts a container's port-proxy daemon; its pid file is where a release finds it before any record does. */
  async #spawnProxy(containerId: string, maps: string[]): Promise<NonNullable<ContainerNetworkState["proxy"]>> {
    const pidFile = this.store.proxyPidFile(containerId);
    // Synchronous (microseconds on the run root): the request goes out in the same turn as
    // the namespace's, before either can settle.
    mkdirSync(dirname(pidFile), { recursive: true });
    const started = await this.native.portProxy(maps, pidFile);
    return { pid: started.pid, pidFile, ports: started.ports };
  }

  /** {@link #spawnProxy}, then the container's state updated under the lock (the slower order). */
  async #startProxyLocked(containerId: string, maps: string[]): Promise<ProxiedPort[]> {
    const started = await this.#spawnProxy(containerId, maps);
    try {
      await this.store.locked(async () => {
        const state = await this.store.readContainer(containerId);
        if (!state) throw new BerthError("BERTH_NETWORK_FAILED", `container ${containerId} was released while its ports were published`, { container: containerId });
        state.proxy = started;
        await this.store.writeContainer(state);
      });
    } catch (error) {
      await stopProxy(started.pid, started.pidFile);
      throw error;
    }
    return started.ports;
  }
}

/** Docker's MAC for a container address: 02:42 then the IPv4 address's four bytes (what berth-runtime derives too). */
function macFromIpv4(ip: string): string {
  return ["02", "42", ...ip.split(".").map((part) => Number(part).toString(16).padStart(2, "0"))].join(":");
}

/** A veth's host-side name: at most 15 characters, 32 random bits (what berth-runtime picks too). */
function randomHostIfname(): string {
  return `vb${randomBytes(4).toString("hex")}`;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
