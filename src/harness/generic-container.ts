import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import { BridgeAttachment } from "../network/bridge-attachment.js";
import { ContainerAttachment } from "../network/container-attachment.js";
import { NetworkManager } from "../network/network-manager.js";
import { NetworkStore } from "../network/network-store.js";
import { RootlessNetworkAttachment, rootlessNetworksUnsupported } from "../network/rootless-network.js";
import type { Network } from "../network/network.js";
import type { ContainerEngine } from "../runtime/engine/container-engine.js";
import type { ContainerInspect } from "../runtime/engine/container-inspect.js";
import type { CreateContainerOptions } from "../runtime/engine/container-options.js";
import type { ReaperResource } from "./reaper/reaper-resource.js";
import { sessionReaper, type SessionReaper } from "./reaper/session-reaper.js";
import { containerWaitTarget } from "./container-wait-target.js";
import { GenericContainerBuilder } from "./generic-container-builder.js";
import { copyArchive } from "./container-options.js";
import { engineContainerFinder, findOrCreateReusable, reuseHash } from "./reuse.js";
import { StartedTestContainer, type ContainerAddresses, type StartedContainerInit } from "./started-container.js";
import type { StoppedTestContainer } from "./stopped-container.js";
import { logStream } from "./stopped-container.js";
import { defaultWaitStrategy } from "./wait/wait.js";

export { GenericContainerBuilder };

const log = logger("generic-container");

/** The label carrying the session a container belongs to (for `berth ps` and the reaper's eyes). */
const sessionLabel = "org.berth.session-id";

/** Where a {@link GenericContainer} runs; test seams and multi-root setups. */
export interface GenericContainerEnvironment {
  /** @default one engine per process over `stateRoot()` */
  engine?: ContainerEngine;
  /** @default a manager over the engine's state and run roots */
  networkManager?: NetworkManager;
  /** @default this process's {@link sessionReaper} */
  reaper?: SessionReaper;
}

let sharedEngine: Promise<ContainerEngine> | undefined;

async function defaultEngine(): Promise<ContainerEngine> {
  // Imported lazily: the engine pulls in the image store and runtime, which a module that only
  // declares containers (a vitest config) should not load.
  sharedEngine ??= import("../runtime/engine/container-engine.js").then(({ ContainerEngine }) => new ContainerEngine());
  return sharedEngine;
}

/**
 * A container to start for a test, testcontainers-style: every `with*` returns `this`, and
 * `start()` creates it, copies files in, starts it and waits until it is ready.
 *
 * Subclasses (modules such as `PostgreSqlContainer`) hook into the lifecycle by overriding
 * `beforeContainerCreated`, `containerCreated`, `containerStarting`, `containerStarted`,
 * `containerStopping` and `containerStopped`.
 *
 * @example
 * ```ts
 * await using web = await new GenericContainer("busybox")
 *   .withCommand(["httpd", "-f", "-p", "80"]).withExposedPorts(80).start();
 * await fetch(`http://${web.getHost()}:${web.getMappedPort(80)}/`);
 * ```
 */
export class GenericContainer extends GenericContainerBuilder {
  readonly #environment: GenericContainerEnvironment;

  /**
   * @param image a reference (`busybox`, `redis:7`) or an image object (berth's `Image`)
   * @param environment the engine, network manager and reaper to use
   */
  constructor(image: string | { readonly id: string; readonly reference?: string | undefined }, environment: GenericContainerEnvironment = {}) {
    super(image);
    this.#environment = environment;
  }

  /** The engine, network manager and reaper this container was given, for a subclass that starts helpers alongside. */
  protected get environment(): GenericContainerEnvironment {
    return this.#environment;
  }

  /** The engine the container will run in (the process's shared one unless one was given). */
  protected async engine(): Promise<ContainerEngine> {
    return this.#environment.engine ?? (await defaultEngine());
  }

  /** Called before the container is created; the options can still be changed. */
  protected async beforeContainerCreated(): Promise<void> {}
  /** Called once the container exists, before anything is copied into it. */
  protected async containerCreated(_containerId: string): Promise<void> {}
  /** Called just before the container starts (or is found running, when `reused`). */
  protected async containerStarting(_inspect: ContainerInspect, _reused: boolean): Promise<void> {}
  /** Called once the container is ready (or was found running, when `reused`). */
  protected async containerStarted(_container: StartedTestContainer, _inspect: ContainerInspect, _reused: boolean): Promise<void> {}
  /** Called before `stop()` stops the container. */
  protected async containerStopping(_container: StartedTestContainer): Promise<void> {}
  /** Called after `stop()` has stopped (and maybe removed) the container. */
  protected async containerStopped(_container: StoppedTestContainer): Promise<void> {}

  /**
   * Creates the container, copies the files in, starts it and waits for its strategy
   * (`withWaitStrategy`, else the health check when there is one, else listening ports).
   * A container that fails to start or to become ready is removed, and the error (the
   * strategy's `BERTH_WAIT_*`, with the last log lines) is thrown.
   */
  async start(): Promise<StartedTestContainer> {
    const engine = await this.engine();
    const manager =
      this.#environment.networkManager ?? new NetworkManager({ store: new NetworkStore({ stateRoot: engine.stateRoot, runRoot: engine.runRoot }) });
    this.#checkPlatform();
    await this.beforeContainerCreated();
    if (!this.options.reuse) {
      const reaper = this.options.autoCleanup === false ? undefined : (this.#environment.reaper ?? sessionReaper());
      return this.#startNew(engine, manager, {}, reaper);
    }
    const hash = reuseHash(this.#hashable());
    const finder = engineContainerFinder(engine);
    const result = await findOrCreateReusable<{ found?: string; started?: StartedTestContainer }>({
      hash,
      finder: {
        findRunning: async (label, value) => {
          const found = await finder.findRunning(label, value);
          return found ? { found: found.Id } : undefined;
        },
      },
      create: async (labels) => ({ started: await this.#startNew(engine, manager, labels, undefined) }),
    });
    if (result.container.started) return result.container.started;
    return this.#adopt(engine, manager, result.container.found!);
  }

  /** A reused container found running: it is ready already (its starter waited). */
  async #adopt(engine: ContainerEngine, manager: NetworkManager, id: string): Promise<StartedTestContainer> {
    const inspect = await engine.inspect(id);
    await this.containerStarting(inspect, true);
    const started = this.#started(engine, manager, inspect, await this.#readAddresses(engine, manager, id), true, false);
    await this.containerStarted(started, inspect, true);
    return started;
  }

  async #startNew(engine: ContainerEngine, manager: NetworkManager, extraLabels: Record<string, string>, reaper: SessionReaper | undefined): Promise<StartedTestContainer> {
    const o = this.options;
    // The reaper is told the name before the container exists, so a crash between the two
    // leaves nothing behind; it therefore needs a name known in advance.
    const name = o.name ?? (reaper && !reaper.disabled ? `berth-${randomBytes(6).toString("hex")}` : undefined);
    const labels = { ...o.labels, ...extraLabels, ...(reaper && !reaper.disabled ? { [sessionLabel]: reaper.sessionId } : {}) };
    const resource: ReaperResource | undefined =
      reaper && !reaper.disabled && name ? { kind: "container", id: name, data: { stateRoot: engine.stateRoot, runRoot: engine.runRoot } } : undefined;
    // Built first: options that cannot work fail here, before anything is registered.
    const createOptions = this.#createOptions(manager, name, labels, engine.rootless !== undefined);
    if (resource) reaper!.register(resource);
    let id: string | undefined;
    const logFollow = new AbortController();
    try {
      id = await engine.create(createOptions);
      await this.containerCreated(id);
      await this.#copyIn(engine, id);
      // An inspect costs runtime calls; only a subclass that looks at it before the start pays one.
      if (this.containerStarting !== GenericContainer.prototype.containerStarting) await this.containerStarting(await engine.inspect(id), false);
      await engine.start(id);
      for (const consumer of o.logConsumers) consumer(logStream(engine, id, { follow: true, signal: logFollow.signal }));
      // One inspect serves the default strategy, the wait target and the started container.
      const [inspect, addresses] = await Promise.all([engine.inspect(id), this.#readAddresses(engine, manager, id)]);
      const strategy = o.waitStrategy ?? defaultWaitStrategy({ hasHealthCheck: !!inspect.Config.Healthcheck && inspect.Config.Healthcheck.Test[0] !== "NONE" });
      if (o.startupTimeout !== undefined && !strategy.hasStartupTimeout) strategy.withStartupTimeout(o.startupTimeout);
      const exposedPorts = o.exposedPorts.map(({ port, protocol }) => ({ port, protocol }));
      const target = await containerWaitTarget(engine, id, {
        exposedPorts,
        mappedPort: (port, protocol) => addresses.ports.get(`${port}/${protocol}`),
        inspect,
      });
      await strategy.waitUntilReady(target);
      // After a restart the same strategy waits again, as testcontainers' restart() does,
      // against the new process, its new ports and the output since the restart.
      const startedId = id;
      const waitAfterRestart = async (since: number, after: ContainerAddresses) =>
        strategy.waitUntilReady(await containerWaitTarget(engine, startedId, { exposedPorts, mappedPort: (port, protocol) => after.ports.get(`${port}/${protocol}`), logsSince: since }));
      const started = this.#started(engine, manager, inspect, addresses, false, !!resource, logFollow, waitAfterRestart);
      await this.containerStarted(started, inspect, false);
      return started;
    } catch (error) {
      logFollow.abort();
      // Removed even when reusable: no other process has seen it, and one that is not ready
      // must not be found by the next test.
      if (id !== undefined) await engine.remove(id, { force: true, volumes: true }).catch((e: unknown) => log("removing %s after a failed start: %O", id, e));
      if (resource) reaper!.unregister(resource);
      throw error;
    }
  }

  #started(
    engine: ContainerEngine,
    manager: NetworkManager,
    inspect: ContainerInspect,
    addresses: ContainerAddresses,
    reused: boolean,
    registered: boolean,
    logFollow?: AbortController,
    waitAfterRestart?: StartedContainerInit["waitAfterRestart"],
  ) {
    return new StartedTestContainer({
      engine,
      id: inspect.Id,
      name: inspect.Name.replace(/^\//, ""),
      labels: { ...(inspect.Config.Labels ?? {}) },
      addresses,
      readAddresses: () => this.#readAddresses(engine, manager, inspect.Id),
      reused,
      removeOnStop: this.options.autoRemove ?? true,
      registered,
      hooks: { containerStopping: (c) => this.containerStopping(c), containerStopped: (c) => this.containerStopped(c) },
      ...(logFollow ? { logFollow } : {}),
      ...(waitAfterRestart ? { waitAfterRestart } : {}),
    });
  }

  #createOptions(manager: NetworkManager, name: string | undefined, labels: Record<string, string>, rootless: boolean): CreateContainerOptions {
    const o = this.options;
    const hc = o.healthcheck;
    return {
      image: o.imageId ? { id: o.imageId, reference: o.image } : o.image,
      ...(name !== undefined ? { name } : {}),
      ...(o.cmd ? { cmd: o.cmd } : {}),
      ...(o.entrypoint ? { entrypoint: o.entrypoint } : {}),
      labels,
      env: o.env,
      exposedPorts: o.exposedPorts.map((p) => `${p.port}/${p.protocol}`),
      mounts: o.mounts,
      tmpfs: o.tmpfs,
      network: this.#network(manager, rootless),
      extraHosts: o.extraHosts.map((h) => `${h.host}:${h.ipAddress}`),
      ...(hc ? { healthcheck: hc } : {}),
      ...(o.pullPolicy ? { pull: o.pullPolicy } : {}),
      ...(o.privileged ? { privileged: true } : {}),
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.workingDir !== undefined ? { workingDir: o.workingDir } : {}),
      ...(o.resources ? { resources: o.resources } : {}),
      ...(o.shmSize !== undefined ? { shmSize: o.shmSize } : {}),
      ...(o.hostname !== undefined ? { hostname: o.hostname } : {}),
      capAdd: o.capAdd,
      capDrop: o.capDrop,
      ulimits: o.ulimits,
    };
  }

  /**
   * The engine's network for the options: the default bridge unless a mode or networks say
   * otherwise; rootless, slirp4netns in place of the default bridge (docs/rootless.md).
   */
  #network(manager: NetworkManager, rootless: boolean): CreateContainerOptions["network"] {
    const o = this.options;
    const mode = o.networkMode;
    if (mode === "none" || mode === "host" || mode?.startsWith("container:")) {
      // Docker's rules: nothing to publish from a namespace without addresses of its own
      // (on `host` the ports are the host's: each is its own mapping), and no names.
      const field = o.networkAliases.length > 0 ? "networkAliases" : o.networks.length > 0 ? "networks" : mode !== "host" && o.exposedPorts.length > 0 ? "exposedPorts" : undefined;
      if (field) throw new BerthError("BERTH_INVALID_ARGUMENT", `${field} cannot be used with network mode ${mode}`, { field, network: mode });
    }
    if (mode === "none" || mode === "host") return mode;
    if (mode?.startsWith("container:")) return new ContainerAttachment(mode.slice("container:".length), { manager });
    const ports = o.exposedPorts.map((p) => `${p.host ?? 0}:${p.port}/${p.protocol}`);
    if (rootless) {
      // An unprivileged user can make no bridge: each rootless container has its own
      // slirp4netns, so there are no networks between containers to join yet.
      const field = o.networks.length > 0 || (mode !== undefined && mode !== "bridge") ? "networks" : o.networkAliases.length > 0 ? "networkAliases" : undefined;
      if (field) {
        throw rootlessNetworksUnsupported(field === "networks" ? `user networks (withNetwork${mode !== undefined ? `, networkMode ${mode}` : ""})` : "network aliases (withNetworkAliases)", { field, ...(mode !== undefined ? { network: mode } : {}) });
      }
      return new RootlessNetworkAttachment({ ports });
    }
    const networks: { network: Network | string; aliases: string[] }[] = o.networks.map((n) => ({ network: n.network, aliases: [...n.aliases, ...o.networkAliases] }));
    if (mode !== undefined && mode !== "bridge") networks.unshift({ network: mode, aliases: [...o.networkAliases] });
    else if (mode === "bridge" && networks.length > 0) networks.unshift({ network: "bridge", aliases: [] });
    // As Docker: names resolve only on user networks, so an alias on the default bridge alone would silently do nothing.
    if (networks.length === 0 && o.networkAliases.length > 0) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `network aliases (${o.networkAliases.join(", ")}) need a user network: add one with withNetwork`, { field: "networkAliases" });
    }
    return new BridgeAttachment({ manager, ports, ...(networks.length > 0 ? { networks } : {}) });
  }

  async #copyIn(engine: ContainerEngine, id: string): Promise<void> {
    const o = this.options;
    if (o.files.length + o.directories.length + o.contents.length > 0) {
      await engine.copyToContainer(id, "/", await copyArchive(o.files, o.directories, o.contents));
    }
    for (const archive of o.archives) {
      const tar = archive.tar instanceof Uint8Array ? Readable.from([Buffer.from(archive.tar)]) : archive.tar;
      await engine.copyToContainer(id, archive.target ?? "/", tar);
    }
  }

  /** Published ports in the order they were exposed, and addresses by network name, as the network layer recorded them. */
  async #readAddresses(engine: ContainerEngine, manager: NetworkManager, id: string): Promise<ContainerAddresses> {
    const o = this.options;
    const ports = new Map<string, number>();
    const networks = new Map<string, string>();
    if (o.networkMode === "host") {
      for (const p of o.exposedPorts) ports.set(`${p.port}/${p.protocol}`, p.port);
      return { ports, networks };
    }
    if (engine.rootless && (o.networkMode === undefined || o.networkMode === "bridge")) {
      // The rootless network keeps its published ports in the container's record, and
      // inspect reports them: the same port on 127.0.0.1 and ::1, so one is enough.
      const settings = (await engine.inspect(id)).NetworkSettings;
      for (const p of o.exposedPorts) {
        const key = `${p.port}/${p.protocol}`;
        const host = settings.Ports[key]?.[0]?.HostPort;
        if (host !== undefined) ports.set(key, Number(host));
      }
      return { ports, networks };
    }
    const state = await manager.container(id);
    const proxied = new Map<string, number>((state?.proxy?.ports ?? []).map((p) => [`${p.targetPort}/${p.proto}`, p.hostPort]));
    for (const p of o.exposedPorts) {
      const key = `${p.port}/${p.protocol}`;
      const host = proxied.get(key);
      if (host !== undefined) ports.set(key, host);
    }
    for (const networkId of state?.networks ?? []) {
      const record = await manager.store.read(networkId);
      const endpoint = record?.endpoints[id];
      if (record && endpoint) networks.set(record.name, endpoint.ipv4);
    }
    return { ports, networks };
  }

  /** The options that make the container what it is, for the reuse hash. */
  #hashable(): Record<string, unknown> {
    const { logConsumers: _l, waitStrategy: _w, ...rest } = this.options;
    return { ...rest, networks: rest.networks.map((n) => ({ network: n.network.id, aliases: n.aliases })) };
  }

  #checkPlatform(): void {
    const platform = this.options.platform;
    if (platform === undefined) return;
    const host = `linux/${process.arch === "x64" ? "amd64" : process.arch}`;
    if (platform.replace(/\/v\d+$/, "") !== host) {
      throw new BerthError("BERTH_UNSUPPORTED", `platform ${platform} cannot run on this ${host} host (berth does not emulate other architectures)`, { platform, image: this.options.image });
    }
  }
}
