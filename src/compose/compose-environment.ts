import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { BerthError } from "../common/berth-error.js";
import { containerWaitTarget } from "../harness/container-wait-target.js";
import type { ReaperResource } from "../harness/reaper/reaper-resource.js";
import { sessionReaper, type SessionReaper } from "../harness/reaper/session-reaper.js";
import { StartedTestContainer, type ContainerAddresses } from "../harness/started-container.js";
import type { WaitStrategy } from "../harness/wait/wait-strategy.js";
import { Wait } from "../harness/wait/wait.js";
import { composeContext, type ComposeContext, type ComposeContextOptions } from "./compose-context.js";
import type { ComposeResource } from "./compose-events.js";
import { composeDown, composeStop } from "./compose-lifecycle.js";
import { composeUp } from "./compose-up.js";
import { loadComposeProject } from "./load-project.js";
import type { ComposeProject } from "./types.js";

/** The label carrying the test session a container belongs to, as the harness labels its own. */
const sessionLabel = "org.berth.session-id";

/** Where a {@link ComposeEnvironment} runs; test seams and multi-root setups. */
export interface ComposeEnvironmentOptions extends ComposeContextOptions {
  /** @default this process's session reaper */
  reaper?: SessionReaper;
}

/** Options of {@link StartedComposeEnvironment.down}. */
export interface ComposeEnvironmentDownOptions {
  /** Seconds each container has between the stop signal and SIGKILL. @default each container's stop timeout */
  timeout?: number;
  /** Remove the project's named volumes and the containers' anonymous ones (`down -v`). @default true */
  removeVolumes?: boolean;
}

/**
 * A Compose project for tests, with testcontainers' `DockerComposeEnvironment` surface:
 * configure with `with*`, `up()` brings the services up and waits for them, and the
 * {@link StartedComposeEnvironment} gives each container as a started test container. Every
 * container, network and volume is registered with the session reaper before it is created,
 * so a killed test process leaves nothing behind.
 *
 * @example
 * ```ts
 * await using env = await new ComposeEnvironment("./app", "compose.yaml")
 *   .withEnvironment({ POSTGRES_PASSWORD: "pw" })
 *   .withWaitStrategy("web-1", Wait.forHttp("/health", 8080))
 *   .up();
 * const web = env.getContainer("web-1");
 * await fetch(`http://${web.getHost()}:${web.getMappedPort(8080)}/`);
 * ```
 */
export class ComposeEnvironment {
  readonly #dir: string;
  readonly #files: string[];
  readonly #options: ComposeEnvironmentOptions;
  #environment: Record<string, string> = {};
  #envFiles: string[] = [];
  #profiles: string[] = [];
  #projectName: string | undefined;
  #build = false;
  #startupTimeout: number | undefined;
  readonly #waitStrategies = new Map<string, WaitStrategy>();

  /**
   * @param dir the project directory, where the files are
   * @param files the compose files, relative to `dir` (`-f`), merged in order
   * @param options the engine, stores and reaper to use
   */
  constructor(dir: string, files: string | readonly string[], options: ComposeEnvironmentOptions = {}) {
    this.#dir = resolve(dir);
    this.#files = typeof files === "string" ? [files] : [...files];
    this.#options = options;
  }

  /** Variables for interpolation, over the process environment and `.env`. @default {} */
  withEnvironment(environment: Record<string, string>): this {
    this.#environment = { ...this.#environment, ...environment };
    return this;
  }

  /** An env file for interpolation (`--env-file`), relative to the project directory. @default `.env` */
  withEnvironmentFile(file: string): this {
    this.#envFiles.push(resolve(this.#dir, file));
    return this;
  }

  /** Profiles to enable (`--profile`). @default none */
  withProfiles(...profiles: string[]): this {
    this.#profiles.push(...profiles);
    return this;
  }

  /** The project name (`-p`). @default `berth-` and 12 random hex digits, so parallel tests do not meet */
  withProjectName(name: string): this {
    this.#projectName = name;
    return this;
  }

  /** Build the services' images even when built already (`up --build`). @default false (only missing images are built) */
  withBuild(): this {
    this.#build = true;
    return this;
  }

  /**
   * How to tell that a container is ready, by its name without the project (`web-1`).
   * @default `Wait.forHealthCheck()` when it has a healthcheck, else none: it is ready once started
   */
  withWaitStrategy(containerName: string, strategy: WaitStrategy): this {
    this.#waitStrategies.set(containerName, strategy);
    return this;
  }

  /** How long each wait may take, in ms (dependencies' conditions and the wait strategies). @default 60000 */
  withStartupTimeout(ms: number): this {
    if (!Number.isFinite(ms) || ms <= 0) throw new BerthError("BERTH_INVALID_ARGUMENT", `startup timeout must be a positive number of ms, got ${ms}`, { field: "startupTimeout" });
    this.#startupTimeout = ms;
    return this;
  }

  /**
   * Brings the services up (all of them, or `services` and their dependencies), waiting for
   * each `depends_on` condition, then for each container's wait strategy. When anything
   * fails, what was started is removed and the error thrown.
   */
  async up(services?: readonly string[]): Promise<StartedComposeEnvironment> {
    const context = composeContext(this.#options);
    const project = await loadComposeProject({
      cwd: this.#dir,
      files: this.#files,
      projectName: this.#projectName ?? `berth-${randomBytes(6).toString("hex")}`,
      environment: { ...process.env, ...this.#environment },
      ...(this.#envFiles.length > 0 ? { envFiles: this.#envFiles } : {}),
      ...(this.#profiles.length > 0 ? { profiles: this.#profiles } : {}),
      ...(services ? { services: [...services] } : {}),
    });
    const reaper = this.#options.reaper ?? sessionReaper();
    const registered: ReaperResource[] = [];
    const track = (resource: ComposeResource) => {
      if (reaper.disabled) return;
      const entry = reaperEntry(context, resource);
      reaper.register(entry);
      registered.push(entry);
    };
    const timeout = this.#startupTimeout ?? 60_000;
    const started = new StartedComposeEnvironment(context, project, reaper, registered);
    try {
      const result = await composeUp(context, project, {
        ...(services ? { services } : {}),
        ...(this.#build ? { build: true } : {}),
        timeout,
        extraLabels: reaper.disabled ? {} : { [sessionLabel]: reaper.sessionId },
        onCreating: track,
      });
      for (const c of result.containers) {
        const short = `${c.service}-${c.number}`;
        const container = await started.adopt(c.id, c.name);
        // As testcontainers: a container with a healthcheck and no strategy of its own is ready
        // once healthy; one without either is ready once started (a one-shot may have exited).
        const test = c.state === "running" ? (await context.engine.inspect(c.id)).Config.Healthcheck?.Test[0] : undefined;
        const hasHealthcheck = test !== undefined && test !== "NONE";
        const strategy = this.#waitStrategies.get(short) ?? this.#waitStrategies.get(c.name) ?? (hasHealthcheck ? Wait.forHealthCheck() : undefined);
        if (strategy) {
          if (!strategy.hasStartupTimeout) strategy.withStartupTimeout(timeout);
          const ports = container.ports();
          const target = await containerWaitTarget(context.engine, c.id, {
            exposedPorts: [...ports.keys()].map((k) => ({ port: Number(k.split("/")[0]), protocol: k.endsWith("/udp") ? "udp" : "tcp" })),
            mappedPort: (port, protocol) => ports.get(`${port}/${protocol}`),
          });
          await strategy.waitUntilReady(target);
        }
      }
      return started;
    } catch (error) {
      // composeUp removed what it created; a wait strategy's failure happens after, so down,
      // without a grace period: nothing is worth keeping in a container that never got ready.
      await composeDown(context, project, { volumes: true, timeout: 0 }).catch(() => {});
      for (const entry of registered) reaper.unregister(entry);
      throw error;
    }
  }
}

function reaperEntry(context: ComposeContext, resource: ComposeResource): ReaperResource {
  switch (resource.kind) {
    case "container":
      return { kind: "container", id: resource.name, data: { stateRoot: context.engine.stateRoot, runRoot: context.engine.runRoot } };
    case "network":
      // The roots travel with it, as with containers, for a reaper that removes networks of other roots.
      return { kind: "network", id: resource.name, data: { stateRoot: context.engine.stateRoot, runRoot: context.engine.runRoot } };
    case "volume":
      return { kind: "volume", id: resource.name, data: { root: join(context.engine.stateRoot, "volumes") } };
  }
}

/** A started container of a Compose environment, with the ports read at start. */
interface AdoptedContainer {
  container: StartedTestContainer;
  ports: () => Map<string, number>;
}

/**
 * A Compose project brought up by {@link ComposeEnvironment.up}. `await using` takes it
 * down with its volumes.
 */
export class StartedComposeEnvironment implements AsyncDisposable {
  readonly #context: ComposeContext;
  readonly #project: ComposeProject;
  readonly #reaper: SessionReaper;
  readonly #registered: ReaperResource[];
  readonly #containers = new Map<string, AdoptedContainer>();

  /** @internal */
  constructor(context: ComposeContext, project: ComposeProject, reaper: SessionReaper, registered: ReaperResource[]) {
    this.#context = context;
    this.#project = project;
    this.#reaper = reaper;
    this.#registered = registered;
  }

  /** The project's name (`-p`). */
  get projectName(): string {
    return this.#project.name;
  }

  /** The loaded project. */
  get project(): ComposeProject {
    return this.#project;
  }

  /** @internal */
  async adopt(id: string, name: string): Promise<{ ports: () => Map<string, number> }> {
    const read = () => readAddresses(this.#context, id);
    const addresses = await read();
    const inspect = await this.#context.engine.inspect(id);
    const container = new StartedTestContainer({
      engine: this.#context.engine,
      id,
      name,
      labels: { ...inspect.Config.Labels },
      addresses,
      readAddresses: read,
      reused: false,
      removeOnStop: false,
      registered: false,
    });
    const entry = { container, ports: () => addresses.ports };
    this.#containers.set(name, entry);
    return entry;
  }

  /**
   * A container by its name without the project (`web-1`) or its full name (`app-web-1`).
   * `BERTH_COMPOSE_NO_CONTAINER`, listing the names there are, when there is none.
   */
  getContainer(name: string): StartedTestContainer {
    const found = this.#containers.get(name) ?? this.#containers.get(`${this.#project.name}-${name}`);
    if (!found) {
      const names = [...this.#containers.keys()].map((n) => n.replace(`${this.#project.name}-`, ""));
      throw new BerthError("BERTH_COMPOSE_NO_CONTAINER", `no container ${name} in project ${this.#project.name} (there are: ${names.join(", ") || "none"})`, {
        container: name,
        project: this.#project.name,
      });
    }
    return found.container;
  }

  /** Stops the containers, dependents first; they stay, as `docker compose stop` leaves them. */
  async stop(options: { timeout?: number } = {}): Promise<void> {
    await composeStop(this.#context, this.#project, options);
  }

  /** Stops and removes the containers and networks, and with `removeVolumes` (the default) the volumes. */
  async down(options: ComposeEnvironmentDownOptions = {}): Promise<void> {
    await composeDown(this.#context, this.#project, {
      volumes: options.removeVolumes ?? true,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    });
    for (const entry of this.#registered.splice(0)) this.#reaper.unregister(entry);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}

/** Published ports and addresses by network, as the network layer recorded them. */
async function readAddresses(context: ComposeContext, id: string): Promise<ContainerAddresses> {
  const ports = new Map<string, number>();
  const networks = new Map<string, string>();
  const state = await context.networks.container(id);
  for (const p of state?.proxy?.ports ?? []) if (!ports.has(`${p.targetPort}/${p.proto}`)) ports.set(`${p.targetPort}/${p.proto}`, p.hostPort);
  for (const networkId of state?.networks ?? []) {
    const record = await context.networks.store.read(networkId);
    const endpoint = record?.endpoints[id];
    if (record && endpoint) networks.set(record.name, endpoint.ipv4);
  }
  return { ports, networks };
}
