import { posix } from "node:path";
import { Readable } from "node:stream";
import { BerthError, isBerthError } from "../common/berth-error.js";
import type { ContainerEngine } from "../runtime/engine/container-engine.js";
import { commonParent, copyArchive, parsePortRef, type ContentToCopy, type DirectoryToCopy, type FileToCopy } from "./container-options.js";
import { sessionReaper } from "./reaper/session-reaper.js";
import { logStream, StoppedTestContainer, type ContainerLogsOptions } from "./stopped-container.js";

/** Options of {@link StartedTestContainer.exec}. */
export interface ExecOptions {
  /** Variables added to the container's environment. @default {} */
  env?: Readonly<Record<string, string>>;
  /** `user`, `uid` or `user:group`, resolved in the container. @default the container's user */
  user?: string;
  /** @default the container's working directory */
  workingDir?: string;
  /** Time limit, in ms; then `BERTH_TIMEOUT`. @default 60000 */
  timeout?: number;
}

/** What a command run by {@link StartedTestContainer.exec} gave. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout followed by stderr. */
  output: string;
}

/** Options of {@link StartedTestContainer.stop}. */
export interface StopContainerOptions {
  /** How long the stop signal has before SIGKILL, in ms. @default the container's stop timeout (10 000, as Docker) */
  timeout?: number;
  /** Remove the container (with its anonymous volumes) once stopped. @default true, or what `withAutoRemove` said */
  remove?: boolean;
}

/** Options of {@link StartedTestContainer.restart}. */
export interface RestartContainerOptions {
  /** How long the stop signal has before SIGKILL, in ms. @default the container's stop timeout */
  timeout?: number;
}

/** Options of {@link StartedTestContainer.commit}. */
export interface CommitContainerOptions {
  /** The repository of the new image's tag. @default none (an untagged image) */
  repo?: string;
  /** The tag. @default "latest" when `repo` is given */
  tag?: string;
  /** The history comment. @default "" */
  comment?: string;
  /** @default "" */
  author?: string;
}

/** Where the container is reachable and by which names, as read after each start. */
export interface ContainerAddresses {
  /** Host port by `"<port>/<protocol>"`. */
  ports: Map<string, number>;
  /** The container's address by network name, in attach order. */
  networks: Map<string, string>;
}

/** Lifecycle calls a {@link StartedTestContainer} makes back into its `GenericContainer`. */
export interface StartedContainerHooks {
  containerStopping?(container: StartedTestContainer): Promise<void> | void;
  containerStopped?(container: StoppedTestContainer): Promise<void> | void;
}

/** What {@link StartedTestContainer} is made of; `GenericContainer.start()` builds it. */
export interface StartedContainerInit {
  engine: ContainerEngine;
  id: string;
  name: string;
  labels: Record<string, string>;
  addresses: ContainerAddresses;
  /** Reads the addresses again after a restart (a published host port 0 picks a new port). */
  readAddresses: () => Promise<ContainerAddresses>;
  reused: boolean;
  /** Whether `stop()` removes by default. */
  removeOnStop: boolean;
  /** Whether the session reaper knows the container (and must forget it once removed). */
  registered: boolean;
  hooks?: StartedContainerHooks;
  /** Aborts the log consumers at stop. */
  logFollow?: AbortController;
  /** Runs the start's wait strategy again after a restart (output since `since` counts). @default no wait */
  waitAfterRestart?: (since: number, addresses: ContainerAddresses) => Promise<void>;
}

/**
 * A running container started by `GenericContainer.start()`. `await using` stops and removes
 * it, except a reused one, which is meant to outlive the test.
 */
export class StartedTestContainer implements AsyncDisposable {
  readonly #state: { init: StartedContainerInit; addresses: ContainerAddresses; stopped: boolean };

  /**
   * @param from a container another `StartedTestContainer` already stands for: the new object
   *   is a second view of it, sharing its state (addresses after a restart, stopped or not). A
   *   module's started class (`StartedPostgreSqlContainer`) is made this way from what
   *   `GenericContainer.start()` returned, as testcontainers' modules wrap theirs.
   */
  constructor(from: StartedTestContainer);
  /** @internal */
  constructor(from: StartedContainerInit);
  constructor(from: StartedContainerInit | StartedTestContainer) {
    this.#state = from instanceof StartedTestContainer ? from.#state : { init: from, addresses: from.addresses, stopped: false };
  }

  get #init(): StartedContainerInit {
    return this.#state.init;
  }

  get #addresses(): ContainerAddresses {
    return this.#state.addresses;
  }

  /** The engine it runs in. */
  get engine(): ContainerEngine {
    return this.#init.engine;
  }

  /** Whether `start()` found this container already running (`withReuse()`). */
  get reused(): boolean {
    return this.#init.reused;
  }

  /** The host its published ports listen on: `localhost` (127.0.0.1 and ::1 both serve). */
  getHost(): string {
    return "localhost";
  }

  /**
   * The host port `port` (`6379`, `"53/udp"`) is published on. `BERTH_PORT_NOT_EXPOSED`,
   * naming the port, when it was not exposed.
   */
  getMappedPort(port: number | string): number {
    const { port: number, protocol } = parsePortRef(port);
    const mapped = this.#addresses.ports.get(`${number}/${protocol}`);
    if (mapped === undefined) {
      const exposed = [...this.#addresses.ports.keys()].join(", ") || "none";
      throw new BerthError("BERTH_PORT_NOT_EXPOSED", `port ${number}/${protocol} of container ${this.#init.name} is not exposed (exposed: ${exposed}): add it with withExposedPorts`, {
        container: this.#init.name,
        port: `${number}/${protocol}`,
      });
    }
    return mapped;
  }

  /** The host port of the first exposed port. */
  getFirstMappedPort(): number {
    const first = this.#addresses.ports.values().next();
    if (first.done) throw new BerthError("BERTH_PORT_NOT_EXPOSED", `container ${this.#init.name} exposes no port`, { container: this.#init.name });
    return first.value;
  }

  /** The container id (64 hex digits). */
  getId(): string {
    return this.#init.id;
  }

  /** The container's name, without Docker's leading `/`. */
  getName(): string {
    return this.#init.name;
  }

  /** The container's labels, berth's own included. */
  getLabels(): Record<string, string> {
    return { ...this.#init.labels };
  }

  /** The container's IPv4 address on `network` (a name); `BERTH_NETWORK_NOT_FOUND` when it is not on it. */
  getIpAddress(network: string): string {
    const address = this.#addresses.networks.get(network);
    if (address === undefined) {
      throw new BerthError("BERTH_NETWORK_NOT_FOUND", `container ${this.#init.name} is not on network ${network} (it is on: ${this.getNetworkNames().join(", ") || "none"})`, {
        container: this.#init.name,
        network,
      });
    }
    return address;
  }

  /** The networks the container is on, by name, in attach order. */
  getNetworkNames(): string[] {
    return [...this.#addresses.networks.keys()];
  }

  /** Runs a command in the container; a command that fails is a result with its exit code, not an error. */
  async exec(command: string | readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const argv = typeof command === "string" ? ["/bin/sh", "-c", command] : command;
    const result = await this.engine.exec(this.#init.id, argv, {
      ...(options.env ? { env: Object.entries(options.env).map(([k, v]) => `${k}=${v}`) } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.workingDir !== undefined ? { workingDir: options.workingDir } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    });
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, output: result.stdout + result.stderr };
  }

  /** What the container wrote so far (or the part `since`/`tail` select), as a text stream. */
  logs(options: ContainerLogsOptions = {}): Promise<Readable> {
    return Promise.resolve(logStream(this.engine, this.#init.id, options));
  }

  /** Copies host files into the running container; missing parent directories are made. */
  async copyFilesToContainer(files: readonly FileToCopy[]): Promise<void> {
    await this.#copyIn(files, [], []);
  }

  /** Copies host directories (recursively) into the running container. */
  async copyDirectoriesToContainer(directories: readonly DirectoryToCopy[]): Promise<void> {
    await this.#copyIn([], directories, []);
  }

  /** Writes text or bytes as files in the running container. */
  async copyContentToContainer(contents: readonly ContentToCopy[]): Promise<void> {
    await this.#copyIn([], [], contents);
  }

  async #copyIn(files: readonly FileToCopy[], directories: readonly DirectoryToCopy[], contents: readonly ContentToCopy[]): Promise<void> {
    // Extracted at the deepest existing directory above every target rather than at `/`:
    // the engine refuses `/` of a running container (its root is reached through the
    // /proc/<pid>/root symlink, which its directory check takes for a file).
    let base = commonParent([...files, ...directories, ...contents].map((t) => t.target));
    for (;;) {
      try {
        await this.copyArchiveToContainer(await copyArchive(files, directories, contents, base), base);
        return;
      } catch (error) {
        if (base === "/" || !(isBerthError(error) && error.code === "BERTH_INVALID_ARGUMENT" && /Could not find/.test(error.message))) throw error;
        base = posix.dirname(base);
      }
    }
  }

  /** Extracts a tar into `target`, an existing directory of the container. @param target @default "/" */
  async copyArchiveToContainer(tar: Readable | Uint8Array, target = "/"): Promise<void> {
    await this.engine.copyToContainer(this.#init.id, target, tar instanceof Uint8Array ? Readable.from([Buffer.from(tar)]) : tar);
  }

  /** A tar of `path` in the container (a file or directory as one entry named after it; `dir/.` for its content). */
  copyArchiveFromContainer(path: string): Promise<Readable> {
    return this.engine.copyFromContainer(this.#init.id, path);
  }

  /** Stops and starts the container again; its published host ports may change. */
  async restart(options: RestartContainerOptions = {}): Promise<void> {
    // Taken before the restart: every line of the new run is later, every line of the old one
    // earlier. Log lines carry nanoseconds and Date.now() drops the part of the millisecond
    // already gone, so the old run's last line (which ended the first wait, often within the
    // same millisecond) would count as new; the next millisecond is past it, and the new run's
    // first line comes a stop and a start later, well after it.
    const since = Date.now() + 1;
    await this.engine.restart(this.#init.id, options.timeout !== undefined ? { timeout: Math.ceil(options.timeout / 1000) } : {});
    this.#state.addresses = await this.#init.readAddresses();
    await this.#init.waitAfterRestart?.(since, this.#state.addresses);
  }

  /** Commits the container's changes as an image; returns the image id. */
  commit(options: CommitContainerOptions = {}): Promise<string> {
    const tag = options.repo ? `${options.repo}:${options.tag ?? "latest"}` : undefined;
    return this.engine.commit(this.#init.id, {
      ...(tag ? { tag } : {}),
      ...(options.comment !== undefined ? { comment: options.comment } : {}),
      ...(options.author !== undefined ? { author: options.author } : {}),
    });
  }

  /** Stops the container and, unless `remove: false`, removes it. */
  async stop(options: StopContainerOptions = {}): Promise<StoppedTestContainer> {
    const { engine, id, name, hooks } = this.#init;
    await hooks?.containerStopping?.(this);
    this.#init.logFollow?.abort();
    try {
      await engine.stop(id, options.timeout !== undefined ? { timeout: Math.ceil(options.timeout / 1000) } : {});
      if (options.remove ?? this.#init.removeOnStop) {
        await engine.remove(id, { force: true, volumes: true });
        if (this.#init.registered) sessionReaper().unregister({ kind: "container", id: name });
      }
    } catch (error) {
      if (!(isBerthError(error) && error.code === "BERTH_CONTAINER_NOT_FOUND")) throw error;
    }
    this.#state.stopped = true;
    const stopped = new StoppedTestContainer(engine, id, name);
    await hooks?.containerStopped?.(stopped);
    return stopped;
  }

  /** Stops and removes the container; a reused container is left running for the next test. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state.stopped || this.#init.reused || this.#init.labels["org.berth.reuse-hash"]) return;
    // It is removed right after: nothing is gained by giving it time to shut down.
    await this.stop({ timeout: 0, remove: true });
  }
}
