import { randomBytes } from "node:crypto";
import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import { GenericContainer, type GenericContainerEnvironment } from "../harness/generic-container.js";
import { StartedTestContainer } from "../harness/started-container.js";
import { Wait } from "../harness/wait/wait.js";
import type { WaitStrategy } from "../harness/wait/wait-strategy.js";
import { initialisedImage } from "./postgres-init-cache.js";
import { execOrThrow } from "./started-module.js";

const log = logger("postgresql");

const postgresPort = 5432;

/** How many copies of a snapshot are made ahead of the restores. */
const sparesAhead = 2;

/** A name psql can take unquoted in the checks below; quoting is still applied in SQL. */
const identifier = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function checkIdentifier(value: string, field: string): string {
  if (!identifier.test(value)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `${field} ${JSON.stringify(value)} is not a plain PostgreSQL identifier (letters, digits, _ and $, at most 63)`, { field });
  }
  return value;
}

/** The image `new PostgreSqlContainer()` runs, as testcontainers' module; pulled through `BERTH_REGISTRY_MIRROR` when set. */
export const defaultPostgresImage = "postgres:17";

const readyMessage = /database system is ready to accept connections/;

/** Whether `BERTH_POSTGRES_INIT_CACHE` turns the initialised-cluster cache off. */
function cacheDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(0|false|no|off)$/i.test(env.BERTH_POSTGRES_INIT_CACHE ?? "");
}

/**
 * A PostgreSQL server for tests, on an image that honours the official `postgres` image's
 * environment (`POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB`).
 *
 * The first start of an image with given options runs the image's initdb once in a helper
 * container and commits the initialised cluster as an image
 * (`localhost/berth-cache/postgres-init:<key>`, one per image and options, kept across
 * sessions and made under a file lock); every start then begins from it, so the entrypoint
 * finds `PG_VERSION`, skips initdb and the server is up in a fraction of the time. Turn it
 * off with {@link withInitCache}`(false)` or `BERTH_POSTGRES_INIT_CACHE=0`; it is also not
 * used when files are copied in (init scripts), mounts are set, the entrypoint is replaced or
 * the command is not the server's.
 *
 * Ready when the server has logged "database system is ready to accept connections": twice
 * when initdb runs (the official image starts a socket-only server for the init scripts
 * first), once from the cache. Runs with `fsync=off` and initdb `--no-sync` (unless
 * `POSTGRES_INITDB_ARGS` is set): durability is not what a test needs.
 *
 * @example
 * ```ts
 * await using pg = await new PostgreSqlContainer("postgres:17").withDatabase("app").start();
 * const client = new pg.Client({ connectionString: pg.getConnectionUri() });
 * ```
 */
export class PostgreSqlContainer extends GenericContainer {
  #database = "test";
  #username = "test";
  #password = "test";
  #initCache = true;
  /** The image as given: a second start() of this object must not cache the cached image. */
  readonly #base: { image: string; imageId: string | undefined };
  readonly #defaultWait: WaitStrategy;
  /** What the last start's use of the cache changed in the options, undone before the next start decides again. */
  #fromCache: { pgdata?: string; tmpfs?: string; wait?: WaitStrategy } = {};

  /**
   * @param image an image that behaves as the official one (`berth-fixtures/postgres:15` in berth's tests)
   * @default image "postgres:17" ({@link defaultPostgresImage})
   * @param environment the engine, network manager and reaper to use
   */
  constructor(image: ConstructorParameters<typeof GenericContainer>[0] = defaultPostgresImage, environment: GenericContainerEnvironment = {}) {
    super(image, environment);
    this.#base = { image: this.options.image, imageId: this.options.imageId };
    this.#defaultWait = Wait.forLogMessage(readyMessage, 2);
    this.withExposedPorts(postgresPort).withCommand(["postgres", "-c", "fsync=off"]).withWaitStrategy(this.#defaultWait).withStartupTimeout(120_000);
  }

  /** The database created at first start. @default "test" */
  withDatabase(database: string): this {
    this.#database = database;
    return this;
  }

  /** The superuser created at first start. @default "test" */
  withUsername(username: string): this {
    this.#username = username;
    return this;
  }

  /** The superuser's password. @default "test" */
  withPassword(password: string): this {
    this.#password = password;
    return this;
  }

  /**
   * Whether to start from a cached, already initialised cluster (see the class). The cached
   * images are tagged `localhost/berth-cache/postgres-init:*`; `berth rmi` removes them.
   * @default true, unless `BERTH_POSTGRES_INIT_CACHE` is `0`/`false`
   */
  withInitCache(enabled = true): this {
    this.#initCache = enabled;
    return this;
  }

  protected override async beforeContainerCreated(): Promise<void> {
    // Decided again below: this start may not use the cache (withInitCache(false) since).
    const last = this.#fromCache;
    if (last.pgdata !== undefined && this.options.env.PGDATA === last.pgdata) delete this.options.env.PGDATA;
    if (last.tmpfs !== undefined) this.options.tmpfs = this.options.tmpfs.filter((t) => t !== last.tmpfs);
    if (last.wait !== undefined && this.options.waitStrategy === last.wait) this.options.waitStrategy = this.#defaultWait;
    this.#fromCache = {};
    this.options.image = this.#base.image;
    if (this.#base.imageId === undefined) delete this.options.imageId;
    else this.options.imageId = this.#base.imageId;
    this.withEnvironment({ POSTGRES_DB: this.#database, POSTGRES_USER: this.#username, POSTGRES_PASSWORD: this.#password });
    // initdb's final fsync of the new cluster is a fifth of its time; a test database
    // never outlives a crash. A POSTGRES_INITDB_ARGS of the user's wins.
    if (this.options.env.POSTGRES_INITDB_ARGS === undefined) this.withEnvironment({ POSTGRES_INITDB_ARGS: "--no-sync" });
    if (!this.#canCache()) return;
    const hit = await initialisedImage({
      engine: await this.engine(),
      environment: this.environment,
      image: this.#base.image,
      imageId: this.#base.imageId,
      env: this.options.env,
      cmd: this.options.cmd,
      user: this.options.user,
      pullPolicy: this.options.pullPolicy,
      startupTimeout: this.options.startupTimeout ?? 120_000,
    });
    if (!hit) return;
    this.options.image = hit.reference;
    this.options.imageId = hit.imageId;
    if (hit.pgdata) {
      this.withEnvironment({ PGDATA: hit.pgdata });
      this.#fromCache.pgdata = hit.pgdata;
    }
    if (hit.vacatedVolume) {
      // The cluster lives outside the image's data VOLUME now. Left alone, that VOLUME would
      // still get an anonymous volume at every start (created, copied up, removed: tens of ms
      // on a busy host) that nothing uses; a tmpfs is one mount.
      this.withTmpFs({ [hit.vacatedVolume]: "" });
      this.#fromCache.tmpfs = hit.vacatedVolume;
    }
    // No initdb, so no socket-only server for init scripts: "ready" comes once.
    if (this.options.waitStrategy === this.#defaultWait) {
      this.options.waitStrategy = Wait.forLogMessage(readyMessage, 1);
      this.#fromCache.wait = this.options.waitStrategy;
    }
  }

  #canCache(): boolean {
    const o = this.options;
    if (!this.#initCache || cacheDisabledByEnv()) return false;
    // What these put in the container could change the cluster (init scripts, a data
    // volume, a tmpfs on PGDATA), or the helper could not tell when the server is up.
    if (o.files.length + o.directories.length + o.contents.length + o.archives.length + o.mounts.length + o.tmpfs.length > 0) return false;
    if (o.entrypoint) return false;
    const command = o.cmd?.[0];
    return command === undefined || command === "postgres" || command.startsWith("-");
  }

  /** Starts the server and waits until it accepts connections. */
  override async start(): Promise<StartedPostgreSqlContainer> {
    const started = await super.start();
    return new StartedPostgreSqlContainer(started, { database: this.#database, username: this.#username, password: this.#password });
  }
}

/** A running {@link PostgreSqlContainer}: connection details and template-database snapshots. */
export class StartedPostgreSqlContainer extends StartedTestContainer {
  readonly #database: string;
  readonly #username: string;
  readonly #password: string;
  /** The copies of each snapshot being made ahead of the next restores: each resolves to its name, or undefined when it failed. */
  readonly #spares = new Map<string, Promise<string | undefined>[]>();
  /** Drops of replaced databases, one after the other. */
  #dropping: Promise<unknown> = Promise.resolve();

  /** @param started what `GenericContainer.start()` returned for the server */
  constructor(started: StartedTestContainer, details: { database: string; username: string; password: string }) {
    super(started);
    this.#database = details.database;
    this.#username = details.username;
    this.#password = details.password;
  }

  /** The host port PostgreSQL is published on. */
  getPort(): number {
    return this.getMappedPort(postgresPort);
  }

  /** The database name. */
  getDatabase(): string {
    return this.#database;
  }

  /** The superuser's name. */
  getUsername(): string {
    return this.#username;
  }

  /** The superuser's password. */
  getPassword(): string {
    return this.#password;
  }

  /** `postgres://user:password@localhost:port/database`, for `pg`, Prisma, psql… */
  getConnectionUri(): string {
    const credentials = `${encodeURIComponent(this.#username)}:${encodeURIComponent(this.#password)}`;
    return `postgres://${credentials}@${this.getHost()}:${this.getPort()}/${encodeURIComponent(this.#database)}`;
  }

  /**
   * Copies the database into a template database named `name`, for {@link restoreSnapshot}.
   * Connections to the database are closed first (PostgreSQL copies only an unused
   * database); clients reconnect. Taking a snapshot again replaces it.
   * @param name at most 48 characters @default "migrated_template"
   */
  async snapshot(name = "migrated_template"): Promise<void> {
    const snapshot = this.#checkSnapshot(name);
    const db = this.#database;
    const spares = await this.#takeSpares(snapshot);
    await this.#psql(
      "snapshot",
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid()`,
      ...spares.map((spare) => `DROP DATABASE IF EXISTS "${spare}"`),
      `DROP DATABASE IF EXISTS "${snapshot}"`,
      `CREATE DATABASE "${snapshot}" WITH TEMPLATE "${db}" OWNER "${this.#username}"`,
      `ALTER DATABASE "${snapshot}" WITH is_template = true`,
    );
    this.#fillSpares(snapshot);
  }

  /**
   * Replaces the database by a copy of the snapshot `name` (made by {@link snapshot}):
   * connections to it are closed, and a copy of the template made ahead of time is renamed
   * into its place (else one is made now). The old database is dropped and the next copies
   * are made in the background, so a restore costs two renames; restores back to back wait
   * for the copies (two are made at a time).
   * @param name @default "migrated_template"
   */
  async restoreSnapshot(name = "migrated_template"): Promise<void> {
    const snapshot = this.#checkSnapshot(name);
    const db = this.#database;
    const spare = await this.#spares.get(snapshot)?.shift();
    const trash = `berth_trash_${randomBytes(6).toString("hex")}`;
    let swapped = false;
    if (spare !== undefined) {
      // Renamed rather than dropped: a DROP removes the files before it returns, and that is
      // most of a restore's time; the old database is dropped in the background instead.
      // Connections are refused first, then ended (waiting up to 5 s, PostgreSQL 14+), so none
      // can hold the database when it is renamed.
      swapped = await this.#psql(
        "restoreSnapshot",
        `ALTER DATABASE "${db}" WITH ALLOW_CONNECTIONS false`,
        `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid()`,
        `ALTER DATABASE "${db}" RENAME TO "${trash}"`,
        `ALTER DATABASE "${spare}" RENAME TO "${db}"`,
      ).then(
        () => true,
        () => false,
      );
    }
    if (!swapped) {
      // No copy was ready, or an older server or a lingering client refused the renames: the
      // slow path, which DROP ... WITH (FORCE) makes safe against clients.
      await this.#psql(
        "restoreSnapshot",
        `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`,
        ...(spare !== undefined ? [`DROP DATABASE IF EXISTS "${spare}"`] : []),
        `CREATE DATABASE "${db}" WITH TEMPLATE "${snapshot}" OWNER "${this.#username}"`,
      );
    }
    this.#background(`DROP DATABASE IF EXISTS "${trash}" WITH (FORCE)`);
    this.#fillSpares(snapshot);
  }

  /** Waits for the copies of `snapshot` being made and hands their names over (they may not exist). */
  async #takeSpares(snapshot: string): Promise<string[]> {
    const queue = this.#spares.get(snapshot) ?? [];
    this.#spares.delete(snapshot);
    const names = await Promise.all(queue);
    await this.#dropping;
    return names.filter((n): n is string => n !== undefined);
  }

  /** Starts copies of the template until two are ready or on their way. */
  #fillSpares(snapshot: string): void {
    const queue = this.#spares.get(snapshot) ?? [];
    this.#spares.set(snapshot, queue);
    while (queue.length < sparesAhead) {
      const spare = `${snapshot}_b${randomBytes(4).toString("hex")}`;
      // A failure (the container stopping, say) only means a restore copies the template
      // itself; it is never unhandled.
      queue.push(
        this.#psql("prepare the next restore", `CREATE DATABASE "${spare}" WITH TEMPLATE "${snapshot}" OWNER "${this.#username}"`).then(
          () => spare,
          () => undefined,
        ),
      );
    }
  }

  /** Runs `statement` after the background work before it; failures are only logged. */
  #background(statement: string): void {
    this.#dropping = this.#dropping.then(() => this.#psql("background cleanup", statement)).catch((error: unknown) => log("%O", error));
  }

  #checkSnapshot(name: string): string {
    checkIdentifier(this.#database, "database");
    checkIdentifier(this.#username, "username");
    if (this.#database === "postgres") {
      // psql connects to the postgres database to copy; it cannot drop it from there.
      throw new BerthError("BERTH_INVALID_ARGUMENT", "snapshots need a database other than postgres (withDatabase)", { field: "database" });
    }
    checkIdentifier(name, "snapshot name");
    if (name.length > 48) throw new BerthError("BERTH_INVALID_ARGUMENT", "a snapshot name has at most 48 characters", { field: "name" });
    if (name === this.#database) throw new BerthError("BERTH_INVALID_ARGUMENT", "a snapshot cannot have the database's name", { field: "name" });
    return name;
  }

  /** Each statement in its own `-c`: CREATE/DROP DATABASE refuse to run inside a transaction. */
  async #psql(what: string, ...statements: string[]): Promise<void> {
    const args = ["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q", "-U", this.#username, "-d", "postgres"];
    for (const statement of statements) args.push("-c", statement);
    await execOrThrow(this, args, what, { PGPASSWORD: this.#password });
  }
}
