import { BerthError } from "../common/berth-error.js";
import { runBerthSetup, type BerthSetupContext, type BerthSetupOptions, type JSONValue } from "./global-setup.js";

/** Where the teardown waits between jest's globalSetup and globalTeardown, which share one context. */
const teardownKey = Symbol.for("berth.jestTeardown");

/**
 * Makes a jest `globalSetup` module's default export: runs `fn` once per run and puts every
 * key of the object it returns into `process.env`, which jest's test workers inherit (strings
 * as they are, anything else as JSON). Pair it with {@link defineJestGlobalTeardown}. What
 * `fn` registers with the session reaper goes even when the run is killed.
 *
 * @example
 * ```js
 * // jest.global-setup.mjs
 * export default defineJestGlobalSetup(async (ctx) => {
 *   const redis = ctx.use(await new RedisContainer().start());
 *   return { REDIS_URL: redis.getConnectionUrl() };
 * });
 * // jest.global-teardown.mjs
 * export default defineJestGlobalTeardown();
 * ```
 */
export function defineJestGlobalSetup<T extends Record<string, JSONValue>>(fn: (ctx: BerthSetupContext) => Promise<T> | T, options: BerthSetupOptions = {}): () => Promise<void> {
  return async () => {
    const setup = await runBerthSetup(fn, options);
    const env = options.env ?? process.env;
    for (const [key, value] of Object.entries(setup.values)) env[key] = typeof value === "string" ? value : JSON.stringify(value);
    (globalThis as { [teardownKey]?: () => Promise<void> })[teardownKey] = setup.teardown;
  };
}

/** Makes a jest `globalTeardown` module's default export: undoes what {@link defineJestGlobalSetup} did. */
export function defineJestGlobalTeardown(): () => Promise<void> {
  return async () => {
    const holder = globalThis as { [teardownKey]?: () => Promise<void> };
    const teardown = holder[teardownKey];
    if (!teardown) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", "no berth setup to tear down: set globalSetup to a module made with defineJestGlobalSetup", { field: "globalTeardown" });
    }
    delete holder[teardownKey];
    await teardown();
  };
}
