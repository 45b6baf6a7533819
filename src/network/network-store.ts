import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../common/berth-error.js";
import { writeFileAtomic } from "../common/atomic-file.js";
import { withFileLock } from "../common/file-lock.js";
import { runRoot, stateRoot } from "../common/paths.js";
import type { ProxiedPort } from "./native-net.js";

/** One container's place on one network: its address allocation and its names. */
export interface EndpointRecord {
  containerId: string;
  /** The container's name: what the others resolve it by. */
  name: string;
  aliases: string[];
  ipv4: string;
  mac: string;
  /** The interface inside the container (`eth0`, `eth1`...). */
  ifname: string;
  /** The veth's end on the host, on the bridge. */
  hostIfname: string;
}

/** A network as stored in `networks/<id>/network.json`. */
export interface NetworkRecord {
  id: string;
  name: string;
  created: string;
  /** The host bridge (`berth0`, `berth-<9 hex>`). */
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
  labels: Record<string, string>;
  /** Whether containers resolve each other by name (user networks; not the default bridge, as Docker). */
  dns: boolean;
  /** Allocations by container id. */
  endpoints: Record<string, EndpointRecord>;
}

/** What berth's network layer knows of one container, in `networks/.containers/<id>.json`. */
export interface ContainerNetworkState {
  id: string;
  name: string;
  hostname: string;
  /** The pinned namespace berth made, or the joined container's for `container:` mode. */
  netnsPath: string;
  /** Whether berth made `netnsPath` (and deletes it). */
  ownsNetns: boolean;
  /** The networks the container is on, in attach order (ids). */
  networks: string[];
  /** The container's /etc/hosts (a bind mount: rewritten in place). */
  hostsPath: string;
  /** The hosts lines `prepare` gave the engine (unmarked in the file): replaced at the first rewrite. */
  managedHosts: string[];
  /** For `container:` mode: the container whose namespace this one shares. */
  sharesWith?: string;
  /** The containers sharing this one's namespace (their hosts files follow this one's). */
  followers?: string[];
  /** When `prepare` made this state (ms since the epoch). */
  preparedAt?: number;
  proxy?: { pid: number; pidFile: string; ports: ProxiedPort[] };
}

const idPattern = /^[0-9a-f]{64}$/;

/** Options of {@link NetworkStore}. */
export interface NetworkStoreOptions {
  /** The state root. @default stateRoot() */
  stateRoot?: string;
  /** The run root (namespace pins, proxy pid files). @default runRoot() */
  runRoot?: string;
}

/**
 * The files of berth's networks. Every change to any network or to a container's network
 * state is made under one lock (`networks/.lock`): an attach touches the hosts files of every
 * container on the same networks, and one lock cannot deadlock. Each operation holds it for a
 * few milliseconds.
 *
 * The records are small files read and written with synchronous calls: each takes a few
 * microseconds, where an asynchronous one costs a thread-pool round trip (≈ 0.1 ms), and an
 * attach touches one record per container on the network.
 */
export class NetworkStore {
  readonly root: string;
  readonly stateRoot: string;
  readonly runRoot: string;
  #rootMade = false;

  constructor(options: NetworkStoreOptions = {}) {
    this.stateRoot = options.stateRoot ?? stateRoot();
    this.runRoot = options.runRoot ?? runRoot();
    this.root = join(this.stateRoot, "networks");
  }

  get netnsDir(): string {
    return join(this.runRoot, "netns");
  }

  proxyPidFile(containerId: string): string {
    return join(this.runRoot, "port-proxy", `${containerId}.pid`);
  }

  /** Where the engine keeps a container's /etc/hosts (its ContainerStore directory). */
  defaultHostsPath(containerId: string): string {
    return join(this.stateRoot, "containers", containerId, "hosts");
  }

  /** Whether the engine still has a record of the container. */
  containerExists(containerId: string): boolean {
    return existsSync(join(this.stateRoot, "containers", containerId));
  }

  async locked<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.#rootMade) {
      await mkdir(this.root, { recursive: true });
      this.#rootMade = true;
    }
    return withFileLock(join(this.root, ".lock"), fn, { timeout: 60_000 });
  }

  async listIds(): Promise<string[]> {
    return readdirOrEmpty(this.root).filter((n) => idPattern.test(n));
  }

  async list(): Promise<NetworkRecord[]> {
    const records = await Promise.all((await this.listIds()).map((id) => this.read(id)));
    return records.filter((r): r is NetworkRecord => r !== undefined).sort((a, b) => a.created.localeCompare(b.created));
  }

  async read(id: string): Promise<NetworkRecord | undefined> {
    try {
      return JSON.parse(readFileSync(join(this.root, id, "network.json"), "utf8")) as NetworkRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new BerthError("BERTH_IO", `cannot read network ${id}`, { path: join(this.root, id), cause: error });
    }
  }

  /** The network with this name, full id or unique id prefix (of at least 3 characters). */
  async find(nameOrId: string): Promise<NetworkRecord | undefined> {
    return matchNetwork(await this.list(), nameOrId);
  }

  async get(nameOrId: string): Promise<NetworkRecord> {
    const found = await this.find(nameOrId);
    if (!found) throw new BerthError("BERTH_NETWORK_NOT_FOUND", `network ${nameOrId} not found`, { network: nameOrId });
    return found;
  }

  /**
   * Writes a network record atomically. Only a network's creation is fsynced: the rename
   * alone already survives any process crash, and what a power loss could undo (an
   * allocation) belongs to namespaces and veths that a reboot removes anyway and that
   * reconcile() frees. Skipping the fsyncs keeps a container's setup within milliseconds.
   */
  async write(record: NetworkRecord, options: { durable?: boolean } = {}): Promise<void> {
    const path = join(this.root, record.id, "network.json");
    const text = `${JSON.stringify(record, null, 2)}\n`;
    if (options.durable) await writeFileAtomic(path, text);
    else replaceFile(path, text);
  }

  async delete(id: string): Promise<void> {
    await rm(join(this.root, id), { recursive: true, force: true });
  }

  async readContainer(containerId: string): Promise<ContainerNetworkState | undefined> {
    try {
      return JSON.parse(readFileSync(this.#containerFile(containerId), "utf8")) as ContainerNetworkState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new BerthError("BERTH_IO", `cannot read the network state of container ${containerId}`, {
        container: containerId,
        cause: error,
      });
    }
  }

  async listContainers(): Promise<string[]> {
    return readdirOrEmpty(join(this.root, ".containers")).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5));
  }

  async writeContainer(state: ContainerNetworkState): Promise<void> {
    replaceFile(this.#containerFile(state.id), `${JSON.stringify(state, null, 2)}\n`);
  }

  async deleteContainer(containerId: string): Promise<void> {
    rmSync(this.#containerFile(containerId), { force: true });
  }

  #containerFile(containerId: string): string {
    if (!/^[0-9A-Za-z_.-]+$/.test(containerId)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid container id ${containerId}`, { container: containerId });
    }
    return join(this.root, ".containers", `${containerId}.json`);
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Replaces a file by renaming a complete copy over it (readers outside the lock see the old
 * or the new record, never a part). The temporary name is fixed per process: writers hold
 * the store's lock, so no two write the same one at once.
 */
function replaceFile(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new BerthError("BERTH_IO", `cannot write ${path}`, { path, cause: error });
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(tmp, text);
  }
  renameSync(tmp, path);
}

/** The network named `nameOrId`, with that id, or whose id alone starts with it (3+ characters). */
export function matchNetwork(records: readonly NetworkRecord[], nameOrId: string): NetworkRecord | undefined {
  const exact = records.find((n) => n.name === nameOrId || n.id === nameOrId);
  if (exact) return exact;
  const byPrefix = nameOrId.length >= 3 ? records.filter((n) => n.id.startsWith(nameOrId)) : [];
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}
