// The `berth/vitest` entry point: vitest integration, re-exports only and one thin wrapper.
import { runBerthSetup, type BerthSetupContext, type BerthSetupOptions, type JSONValue } from "../harness/global-setup.js";

export type { BerthSetupContext, BerthSetupOptions, JSONValue };

/** The part of vitest's `TestProject` a global setup uses; structural, so berth needs no vitest at run time. */
export interface BerthSetupProject {
  provide(key: never, value: never): void;
}

/**
 * Makes a vitest `globalSetup` module's default export: runs `fn` once per run, hands every
 * key of the object it returns to tests through `provide` (read them with `inject(key)`),
 * and tears down what `fn` registered when the run ends. Resources also registered with the
 * session reaper go even when the run is killed.
 *
 * @example
 * ```ts
 * // test/global-setup.ts
 * export default defineBerthSetup(async (ctx) => {
 *   const redis = ctx.use(await new RedisContainer().start());
 *   return { redisUrl: redis.getConnectionUrl() };
 * });
 * // in a test: const url = inject("redisUrl");
 * ```
 */
export function defineBerthSetup<T extends Record<string, JSONValue>>(
  fn: (ctx: BerthSetupContext) => Promise<T> | T,
  options: BerthSetupOptions = {},
): (project: BerthSetupProject) => Promise<() => Promise<void>> {
  return async (project) => {
    const setup = await runBerthSetup(fn, options);
    const provide = project.provide.bind(project) as (key: string, value: unknown) => void;
    provide("berthSessionId", setup.sessionId);
    for (const [key, value] of Object.entries(setup.values)) provide(key, value);
    return setup.teardown;
  };
}
