import { afterAll, afterEach, beforeAll } from "vitest";

/**
 * Something a suite makes in `beforeAll` and disposes of in `afterAll`, handed out at once
 * as a stand-in that reads through to it: `const ctx = useSuiteFixture(...)` at the top of a
 * `describe`, then `const { engine } = ctx` inside a test. Reading it before `beforeAll` has
 * run (while the suite is collected) throws, rather than yielding `undefined` fields.
 * `afterEachTest`, when given, tidies what one test made (it is skipped, as `dispose` is,
 * when `make` failed).
 */
export function useSuiteFixture<T extends object>(
  what: string,
  make: () => Promise<T>,
  dispose: (value: T) => Promise<void>,
  afterEachTest?: (value: T) => Promise<void>,
): T {
  let value: T | undefined;
  beforeAll(async () => {
    value = await make();
  });
  if (afterEachTest) {
    afterEach(async () => {
      if (value) await afterEachTest(value);
    });
  }
  afterAll(async () => {
    if (value) await dispose(value);
  });
  return new Proxy({} as T, {
    get(_target, key) {
      if (!value) throw new Error(`${what} is made in beforeAll: use it inside a test`);
      const field: unknown = Reflect.get(value, key);
      return typeof field === "function" ? field.bind(value) : field;
    },
  });
}
