// Redis started with RedisContainer (password required) and used with the `redis` client
// and redis-cli. The image is berth's fixture (berth-fixtures/redis:7, Debian's
// redis-server), made or restored into the state root (BERTH_ROOT, else /var/lib/berth) from
// the cache under ~/.cache/berth/fixtures: the first run builds it (a few minutes).
//   npx tsx examples/redis.ts
// Needs root (namespaces, mounts, cgroups, the bridge) and, the first time, Debian's archive.
import { createClient } from "redis";
import { RedisContainer, isBerthError } from "../src/index.js";
import { stateRoot } from "../src/common/paths.js";
import { ensureFixtureImages, fixtureTags } from "../test/fixtures/fixture-images.js";

try {
  await ensureFixtureImages({ stateRoot: stateRoot(), images: ["redis"], onProgress: (line) => line.includes('"output"') || console.error(line) });
  const started = Date.now();
  await using redis = await new RedisContainer(fixtureTags.redis).withPassword("example").start();
  console.error(`ready in ${Date.now() - started} ms at ${redis.getConnectionUrl()}`);

  const client = createClient({ url: redis.getConnectionUrl() });
  await client.connect();
  try {
    await client.set("greeting", "hello from berth");
    console.log("client GET:", await client.get("greeting"));
  } finally {
    client.destroy();
  }
  console.log("redis-cli GET:", (await redis.executeCliCmd("GET", ["greeting"])).trim());
} catch (error) {
  console.error(isBerthError(error) ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
}
