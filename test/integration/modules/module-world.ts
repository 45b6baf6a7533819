import pg from "pg";
import { ensureFixtureImages, type EnsureFixtureImagesOptions } from "../../fixtures/fixture-images.js";
import { createHarnessWorld, type HarnessWorld } from "../harness/harness-world.js";

/** A private state root holding the fixture images, an engine and a network manager over it: what the modules run on. */
export type ModuleWorld = HarnessWorld;

/**
 * Makes a {@link ModuleWorld} with the fixture images `images` (cold: mmdebstrap and apt-get
 * builds, minutes; warm: imports). What it made is removed if it fails half way.
 */
export async function createModuleWorld(prefix: string, images?: EnsureFixtureImagesOptions["images"]): Promise<ModuleWorld> {
  return createHarnessWorld(prefix, async (root) => {
    await ensureFixtureImages({ stateRoot: root, ...(images ? { images } : {}) });
  });
}

/** The rows `sql` gives on the container's database, over a connection of its own. */
export async function queryPostgres(container: { getConnectionUri(): string }, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: container.getConnectionUri() });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}
