import { BerthError } from "../common/berth-error.js";
import { GenericContainer, type GenericContainerEnvironment } from "../harness/generic-container.js";
import { StartedTestContainer } from "../harness/started-container.js";
import { Wait } from "../harness/wait/wait.js";
import { adoptStarted, execOrThrow } from "./started-module.js";

const postgresPort = 5432;

/** A name psql can take unquoted in the checks below; quoting is still applied in SQL. */
const identifier = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function checkIdentifier(value: string, field: string): string {
  if (!identifier.test(value)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `${field} ${JSON.stringify(value)} is not a plain PostgreSQL identifier (letters, digits, _ and $, at most 63)`, { field });
  }
  return value;
}

/**
 * A PostgreSQL server for tests, on an image that honours the official `postgres` image's
 * environment (`POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB`).
 *
 * Ready when the server has logged "database system is ready to accept connections" twice:
 * the official image (and berth's fixture) start a socket-only server for the init scripts
 * first, then the real one. Runs with `fsync=off` and initdb `--no-sync` (unless
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

  /**
   * @param image an image that behaves as the official one (`berth-fixtures/postgres:15` in berth's tests)
   * @default image "postgres:17"
   * @param environment the engine, network manager and reaper to use
   */
  constructor(image: ConstructorParameters<typeof GenericContainer>[0] = "postgres:17", environment: GenericContainerEnvironment = {}) {
    super(image, environment);
    this.withExposedPorts(postgresPort)
      .withCommand(["postgres", "-c", "fsync=off"])
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(120_000);
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

  protected override async beforeContainerCreated(): Promise<void> {
    this.withEnvironment({ POSTGRES_DB: this.#database, POSTGRES_USER: this.#username, POSTGRES_PASSWORD: this.#password });
    // initdb's final fsync of the new cluster is a fifth of its time; a test database
    // never outlives a crash. A POSTGRES_INITDB_ARGS of the user's wins.
    if (this.options.env.POSTGRES_INITDB_ARGS === undefined) this.withEnvironment({ POSTGRES_INITDB_ARGS: "--no-sync" });
  }

  /** Starts the server and waits until it accepts connections. */
  override async start(): Promise<StartedPostgreSqlContainer> {
    const started = await super.start();
    return adoptStarted(started, StartedPostgreSqlContainer.prototype, {
      database: this.#database,
      username: this.#username,
      password: this.#password,
      spares: new Map(),
    } as Partial<StartedPostgreSqlContainer>);
  }
}

/** A running {@link PostgreSqlContainer}: connection details and template-database snapshots. */
export class StartedPostgreSqlContainer extends StartedTestContainer {
  /** @internal set by {@link PostgreSqlContainer.start} */
  declare database: string;
  /** @internal */
  declare username: string;
  /** @internal */
  declare password: string;
  /** @internal the copy of each snapshot being made ahead of the next restore: resolves to whether it exists */
  declare spares: Map<string, Promise<boolean>>;

  /** The host port PostgreSQL is published on. */
  getPort(): number {
    return this.getMappedPort(postgresPort);
  }

  /** The database name. */
  getDatabase(): string {
    return this.database;
  }

  /** The superuser's name. */
  getUsername(): string {
    return this.username;
  }

  /** The superuser's password. */
  getPassword(): string {
    return this.password;
  }

  /** `postgres://user:password@localhost:port/database`, for `pg`, Prisma, psql… */
  getConnectionUri(): string {
    const credentials = `${encodeURIComponent(this.username)}:${encodeURIComponent(this.password)}`;
    return `postgres://${credentials}@${this.getHost()}:${this.getPort()}/${encodeURIComponent(this.database)}`;
  }

  /**
   * Copies the database into a template database named `name`, for {@link restoreSnapshot}.
   * Connections to the database are closed first (PostgreSQL copies only an unused
   * database); clients reconnect. Taking a snapshot again replaces it.
   * @param name at most 48 characters @default "migrated_template"
   */
  async snapshot(name = "migrated_template"): Promise<void> {
    const snapshot = checkSnapshot(this, name);
    const db = this.database;
    await this.spares.get(snapshot);
    this.spares.delete(snapshot);
    await psql(
      this,
      "snapshot",
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid()`,
      `DROP DATABASE IF EXISTS "${spareName(snapshot)}"`,
      `DROP DATABASE IF EXISTS "${snapshot}"`,
      `CREATE DATABASE "${snapshot}" WITH TEMPLATE "${db}" OWNER "${this.username}"`,
      `ALTER DATABASE "${snapshot}" WITH is_template = true`,
    );
    prepareSpare(this, snapshot);
  }

  /**
   * Replaces the database by a copy of the snapshot `name` (made by {@link snapshot}):
   * connections to it are closed and it is dropped; a copy of the template made ahead of
   * time (after the snapshot or the previous restore) is renamed into its place, else one
   * is made now. The next copy is then made in the background.
   * @param name @default "migrated_template"
   */
  async restoreSnapshot(name = "migrated_template"): Promise<void> {
    const snapshot = checkSnapshot(this, name);
    const db = this.database;
    const spare = spareName(snapshot);
    const ready = (await this.spares.get(snapshot)) ?? false;
    this.spares.delete(snapshot);
    await psql(
      this,
      "restoreSnapshot",
      `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`,
      ready ? `ALTER DATABASE "${spare}" RENAME TO "${db}"` : `CREATE DATABASE "${db}" WITH TEMPLATE "${snapshot}" OWNER "${this.username}"`,
    );
    prepareSpare(this, snapshot);
  }
}

// Functions, not private methods: a started container is re-parented onto the subclass's
// prototype (see adoptStarted), so it carries no private brand of the subclass.

function checkSnapshot(container: StartedPostgreSqlContainer, name: string): string {
  checkIdentifier(container.database, "database");
  checkIdentifier(container.username, "username");
  if (container.database === "postgres") {
    // psql connects to the postgres database to copy; it cannot drop it from there.
    throw new BerthError("BERTH_INVALID_ARGUMENT", "snapshots need a database other than postgres (withDatabase)", { field: "database" });
  }
  checkIdentifier(name, "snapshot name");
  if (name.length > 48) throw new BerthError("BERTH_INVALID_ARGUMENT", "a snapshot name has at most 48 characters", { field: "name" });
  if (name === container.database) throw new BerthError("BERTH_INVALID_ARGUMENT", "a snapshot cannot have the database's name", { field: "name" });
  return name;
}

/** Each statement in its own `-c`: CREATE/DROP DATABASE refuse to run inside a transaction. */
async function psql(container: StartedPostgreSqlContainer, what: string, ...statements: string[]): Promise<void> {
  const args = ["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q", "-U", container.username, "-d", "postgres"];
  for (const statement of statements) args.push("-c", statement);
  await execOrThrow(container, args, what, { PGPASSWORD: container.password });
}

/** The name of the ready-made copy of `snapshot`: at most 63 characters, PostgreSQL's limit. */
function spareName(snapshot: string): string {
  return `${snapshot}_berth_next`;
}

/**
 * Makes the next restore's copy in the background, so that a restore is a drop and a rename.
 * A failure (the container stopping, say) only means the next restore copies the template
 * itself; it is never unhandled.
 */
function prepareSpare(container: StartedPostgreSqlContainer, snapshot: string): void {
  const spare = spareName(snapshot);
  const made = psql(
    container,
    "prepare the next restore",
    `DROP DATABASE IF EXISTS "${spare}"`,
    `CREATE DATABASE "${spare}" WITH TEMPLATE "${snapshot}" OWNER "${container.username}"`,
  ).then(
    () => true,
    () => false,
  );
  container.spares.set(snapshot, made);
}
