import { GenericContainer, type GenericContainerEnvironment } from "../harness/generic-container.js";
import { StartedTestContainer } from "../harness/started-container.js";
import { Wait } from "../harness/wait/wait.js";
import { execOrThrow } from "./started-module.js";

const redisPort = 6379;

/** Where the image keeps its data (its `VOLUME`). */
const dataDir = "/data";

/** The image `new RedisContainer()` runs, as testcontainers' module; pulled through `BERTH_REGISTRY_MIRROR` when set. */
export const defaultRedisImage = "redis:7";

/**
 * A Redis server for tests, on an image that behaves as the official `redis` one
 * (`redis-server` as its command, data in `/data`). Ready when it logs "Ready to accept
 * connections". As with `docker run redis` and testcontainers, `/data` is the image's
 * anonymous volume (removed with the container): the RDB file Redis saves when it is stopped
 * is there again after `restart()`, so the data survives it.
 *
 * @example
 * ```ts
 * await using redis = await new RedisContainer("redis:7").withPassword("secret").start();
 * const client = createClient({ url: redis.getConnectionUrl() });
 * ```
 */
export class RedisContainer extends GenericContainer {
  #password: string | undefined;
  #persistence: { dir: string | undefined } | undefined;

  /**
   * @param image an image that behaves as the official one (`berth-fixtures/redis:7` in berth's tests)
   * @default image "redis:7" ({@link defaultRedisImage})
   * @param environment the engine, network manager and reaper to use
   */
  constructor(image: ConstructorParameters<typeof GenericContainer>[0] = defaultRedisImage, environment: GenericContainerEnvironment = {}) {
    super(image, environment);
    this.withExposedPorts(redisPort).withWaitStrategy(Wait.forLogMessage("Ready to accept connections")).withStartupTimeout(60_000);
  }

  /** Requires this password (`--requirepass`). @default none: no authentication */
  withPassword(password: string): this {
    this.#password = password;
    return this;
  }

  /**
   * Writes an append-only file and snapshots every second with a change (`--appendonly yes
   * --save "1 1"`) into `/data`, bound to the host directory `dir` when given, so a new
   * container on the same directory finds the data; without `dir`, on the image's anonymous
   * `/data` volume, so the data survives `restart()`.
   * @param dir @default the image's anonymous `/data` volume
   */
  withPersistence(dir?: string): this {
    this.#persistence = { dir };
    return this;
  }

  protected override async beforeContainerCreated(): Promise<void> {
    const command = ["redis-server"];
    if (this.#persistence) {
      command.push("--appendonly", "yes", "--save", "1 1");
      if (this.#persistence.dir && !this.#mountsData()) this.withBindMounts([{ source: this.#persistence.dir, target: dataDir, mode: "rw" }]);
    }
    if (this.#password !== undefined) command.push("--requirepass", this.#password);
    // A command the user set wins, as in testcontainers: the module's options then only
    // affect the getters.
    if (!this.options.cmd) this.withCommand(command);
  }

  /** Whether a mount at /data was asked for (by the user, or by an earlier start of this builder). */
  #mountsData(): boolean {
    const target = (path: string | undefined) => path?.replace(/\/+$/, "") === dataDir;
    return this.options.mounts.some((m) => target(m.split(":")[1])) || this.options.tmpfs.some((t) => target(t.split(":")[0]));
  }

  /** Starts the server and waits until it accepts connections. */
  override async start(): Promise<StartedRedisContainer> {
    return new StartedRedisContainer(await super.start(), { password: this.#password });
  }
}

/** A running {@link RedisContainer}. */
export class StartedRedisContainer extends StartedTestContainer {
  readonly #password: string | undefined;

  /** @param started what `GenericContainer.start()` returned for the server */
  constructor(started: StartedTestContainer, details: { password: string | undefined }) {
    super(started);
    this.#password = details.password;
  }

  /** The host port Redis is published on. */
  getPort(): number {
    return this.getMappedPort(redisPort);
  }

  /** The password, when one was set. */
  getPassword(): string | undefined {
    return this.#password;
  }

  /** `redis://[:password@]localhost:port`, for node-redis, ioredis… */
  getConnectionUrl(): string {
    const auth = this.#password === undefined ? "" : `:${encodeURIComponent(this.#password)}@`;
    return `redis://${auth}${this.getHost()}:${this.getPort()}`;
  }

  /**
   * Runs `redis-cli <command> <args…>` in the container (authenticated when a password is
   * set) and returns its output. A failing `redis-cli` is `BERTH_MODULE_COMMAND_FAILED`; a
   * Redis error reply is output, as redis-cli prints it.
   * @param args @default []
   */
  async executeCliCmd(command: string, args: readonly string[] = []): Promise<string> {
    // The password goes through the environment (REDISCLI_AUTH), not argv, where ps shows it.
    return execOrThrow(this, ["redis-cli", command, ...args], `redis-cli ${command}`, this.#password === undefined ? undefined : { REDISCLI_AUTH: this.#password });
  }
}
