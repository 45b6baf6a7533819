import type { Readable } from "node:stream";
import { BerthError } from "../common/berth-error.js";
import { BridgeAttachment } from "../network/bridge-attachment.js";
import { ContainerAttachment } from "../network/container-attachment.js";
import { defaultNetworkName, NetworkManager } from "../network/network-manager.js";
import { matchNetwork, NetworkStore } from "../network/network-store.js";
import type { PortSpec } from "../network/port-spec.js";
import { RootlessNetworkAttachment, rootlessNetworksUnsupported } from "../network/rootless-network.js";
import type { LogEntry, ReadLogsOptions } from "../runtime/container-config/log-reader.js";
import type { CommitOptions } from "../runtime/engine/container-commit.js";
import { ContainerEngine, type ExecProcess } from "../runtime/engine/container-engine.js";
import type { ContainerInspect, ContainerSummary } from "../runtime/engine/container-inspect.js";
import type {
  CreateContainerOptions,
  ExecContainerOptions,
  ExecResult,
  ListContainersOptions,
  RemoveContainerOptions,
  StopOptions,
  WaitContainerOptions,
} from "../runtime/engine/container-options.js";

/** Which engine the {@link Container} API works through. */
export interface ContainerApiOptions {
  /** The engine (and so the state root). @default one engine per process over `stateRoot()` */
  engine?: ContainerEngine;
}

/** The network options of {@link Container.create}, as `docker run`'s `--network`, `--network-alias`, `-p`, `--ip`. */
export interface ContainerNetworkOptions {
  /**
   * `none`, `host`, `bridge` (the default bridge, `berth0`), a user network's name, or
   * `container:<id or name>`. Ignored when `network` gives an attachment. @default "bridge"
   */
  networkMode?: string;
  /** Names other containers on the (first) network resolve this one by. @default [] */
  networkAliases?: readonly string[];
  /** Published ports: `hostPort:containerPort[/tcp|udp]`, `hostIp:hostPort:containerPort`, a bare container port. @default [] */
  ports?: readonly (string | number | PortSpec)[];
  /** A fixed IPv4 address on a user network. @default one chosen from the network's subnet */
  ipv4Address?: string;
}

/** Options of {@link Container.create} and {@link Container.run}. */
export type ContainerCreateOptions = CreateContainerOptions & ContainerNetworkOptions & ContainerApiOptions;

let shared: ContainerEngine | undefined;

/**
 * The attachment for Docker's `--network` value: the engine knows only `none` and `host`, the
 * network layer gives the bridges and `container:`. Published ports and aliases need a
 * network with addresses: asking for them with `none` or `host` is an error, as with Docker.
 */
async function networkAttachment(options: ContainerNetworkOptions, engine: ContainerEngine): Promise<CreateContainerOptions["network"]> {
  const mode = options.networkMode ?? defaultNetworkName;
  const manager = new NetworkManager({ store: new NetworkStore({ stateRoot: engine.stateRoot, runRoot: engine.runRoot }) });
  const aliases = options.networkAliases ?? [];
  const ports = options.ports ?? [];
  if (mode === "none" || mode === "host" || mode.startsWith("container:")) {
    const field = ports.length > 0 ? "ports" : aliases.length > 0 ? "networkAliases" : options.ipv4Address ? "ipv4Address" : undefined;
    if (field) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `${field} cannot be used with network mode ${mode}`, { field, network: mode });
    }
    if (mode === "none" || mode === "host") return mode;
    const target = mode.slice("container:".length);
    if (!target) throw new BerthError("BERTH_INVALID_ARGUMENT", "network mode container: needs a container id or name", { field: "networkMode" });
    return new ContainerAttachment(target, { manager });
  }
  if (engine.rootless) {
    // An unprivileged user can make no bridge: the default network is the container's own
    // slirp4netns, and there are no networks between containers yet (docs/rootless.md).
    const field = mode !== defaultNetworkName ? "networkMode" : aliases.length > 0 ? "networkAliases" : options.ipv4Address ? "ipv4Address" : undefined;
    if (field) {
      const what = field === "networkMode" ? `network mode ${mode}` : field;
      throw rootlessNetworksUnsupported(what, { field, network: mode });
    }
    return new RootlessNetworkAttachment({ ports });
  }
  // Docker refuses a network that does not exist at create, not at start.
  if (mode !== defaultNetworkName && !matchNetwork(await manager.store.list(), mode)) {
    throw new BerthError("BERTH_NETWORK_NOT_FOUND", `network ${mode} not found`, { network: mode, field: "networkMode" });
  }
  return new BridgeAttachment({
    networks: [{ network: mode, aliases: [...aliases], ...(options.ipv4Address ? { ipv4Address: options.ipv4Address } : {}) }],
    ports,
    manager,
  });
}

function engineOf(options: ContainerApiOptions): ContainerEngine {
  if (options.engine) return options.engine;
  shared ??= new ContainerEngine();
  return shared;
}

/**
 * A container, the public face of the {@link ContainerEngine}: every method is the engine's,
 * bound to this container. `await using` removes it (forced, with its anonymous volumes).
 *
 * @example
 * ```ts
 * await using c = await Container.run({ image: "busybox", cmd: ["sleep", "60"] });
 * const { stdout } = await c.exec(["cat", "/etc/hostname"]);
 * ```
 */
export class Container implements AsyncDisposable {
  private constructor(
    /** The container id (64 hex digits). */
    readonly id: string,
    /** The engine it lives in. */
    readonly engine: ContainerEngine,
  ) {}

  /**
   * Creates a container (`docker create`). As with Docker, it is on the default bridge unless
   * `networkMode` (or an attachment in `network`) says otherwise.
   */
  static async create(options: ContainerCreateOptions): Promise<Container> {
    const { engine: _engine, networkMode, networkAliases, ports, ipv4Address, ...rest } = options;
    const engine = engineOf(options);
    const network = rest.network ?? (await networkAttachment({ networkMode, networkAliases, ports, ipv4Address }, engine));
    return new Container(await engine.create({ ...rest, network }), engine);
  }

  /** Creates and starts a container (`docker run -d`). A failed start removes what was created. */
  static async run(options: ContainerCreateOptions): Promise<Container> {
    const container = await Container.create(options);
    try {
      await container.start();
    } catch (error) {
      await container.remove({ force: true, volumes: true }).catch(() => {});
      throw error;
    }
    return container;
  }

  /** An existing container by id, id prefix or name; `BERTH_CONTAINER_NOT_FOUND` when there is none. */
  static async get(ref: string, options: ContainerApiOptions = {}): Promise<Container> {
    const engine = engineOf(options);
    return new Container(await engine.store.resolve(ref), engine);
  }

  /** Containers as `docker ps` lists them. */
  static async list(options: ListContainersOptions & ContainerApiOptions = {}): Promise<ContainerSummary[]> {
    const { engine: _engine, ...filters } = options;
    return engineOf(options).list(filters);
  }

  start(): Promise<void> {
    return this.engine.start(this.id);
  }
  stop(options?: StopOptions): Promise<void> {
    return this.engine.stop(this.id, options);
  }
  restart(options?: StopOptions): Promise<void> {
    return this.engine.restart(this.id, options);
  }
  kill(signal?: string | number): Promise<void> {
    return this.engine.kill(this.id, signal);
  }
  pause(): Promise<void> {
    return this.engine.pause(this.id);
  }
  unpause(): Promise<void> {
    return this.engine.unpause(this.id);
  }
  wait(options?: WaitContainerOptions): Promise<number> {
    return this.engine.wait(this.id, options);
  }
  remove(options?: RemoveContainerOptions): Promise<void> {
    return this.engine.remove(this.id, options);
  }
  inspect(): Promise<ContainerInspect> {
    return this.engine.inspect(this.id);
  }
  logs(options?: Omit<ReadLogsOptions, "exited">): AsyncGenerator<LogEntry, void, undefined> {
    return this.engine.logs(this.id, options);
  }
  exec(argv: readonly string[], options?: ExecContainerOptions): Promise<ExecResult> {
    return this.engine.exec(this.id, argv, options);
  }
  execStream(argv: readonly string[], options?: Omit<ExecContainerOptions, "input">): Promise<ExecProcess> {
    return this.engine.execStream(this.id, argv, options);
  }
  copyTo(path: string, archive: Readable): Promise<void> {
    return this.engine.copyToContainer(this.id, path, archive);
  }
  copyFrom(path: string): Promise<Readable> {
    return this.engine.copyFromContainer(this.id, path);
  }
  /** Commits the container's changes as an image; returns the image id. */
  commit(options?: CommitOptions): Promise<string> {
    return this.engine.commit(this.id, options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.engine.remove(this.id, { force: true, volumes: true }).catch((error: unknown) => {
      if ((error as { code?: string }).code !== "BERTH_CONTAINER_NOT_FOUND") throw error;
    });
  }
}
