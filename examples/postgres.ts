// PostgreSQL started with PostgreSqlContainer and queried with `pg`; a snapshot is taken,
// the data changed and the snapshot restored. The image is berth's fixture
// (berth-fixtures/postgres:15, Debian's PostgreSQL), made or restored into the state root
// (BERTH_ROOT, else /var/lib/berth) from the cache under ~/.cache/berth/fixtures: the first
// run builds it (mmdebstrap, apt-get; a few minutes), later ones take seconds or less.
//   npx tsx examples/postgres.ts
// Needs root (namespaces, mounts, cgroups, the bridge) and, the first time, Debian's archive.
import pg from "pg";
import { PostgreSqlContainer, isBerthError } from "../src/index.js";
import { stateRoot } from "../src/common/paths.js";
import { ensureFixtureImages, fixtureTags } from "../test/fixtures/fixture-images.js";

try {
  await ensureFixtureImages({ stateRoot: stateRoot(), images: ["postgres"], onProgress: (line) => line.includes('"output"') || console.error(line) });
  const started = Date.now();
  await using postgres = await new PostgreSqlContainer(fixtureTags.postgres).withDatabase("shop").start();
  console.error(`ready in ${Date.now() - started} ms at ${postgres.getConnectionUri()}`);

  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: postgres.getConnectionUri() });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  await query("CREATE TABLE items (name text)");
  await query("INSERT INTO items VALUES ('apple')");
  await postgres.snapshot();
  await query("INSERT INTO items VALUES ('pear')");
  console.log("before restore:", (await query("SELECT name FROM items")).map((r) => r.name));
  const restoring = Date.now();
  await postgres.restoreSnapshot();
  console.log(`after restore (${Date.now() - restoring} ms):`, (await query("SELECT name FROM items")).map((r) => r.name));
} catch (error) {
  console.error(isBerthError(error) ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
}
