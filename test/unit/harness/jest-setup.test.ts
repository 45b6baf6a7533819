import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { defineJestGlobalSetup, defineJestGlobalTeardown } from "../../../src/harness/jest-setup.js";

describe("defineJestGlobalSetup / defineJestGlobalTeardown", () => {
  it("puts the values into the environment (strings as they are, the rest as JSON) and the teardown undoes the setup once", async () => {
    const env: NodeJS.ProcessEnv = {};
    const order: string[] = [];
    const setup = defineJestGlobalSetup(
      (ctx) => {
        ctx.onTeardown(() => order.push("torn down"));
        return { REDIS_URL: "redis://localhost:1", REDIS_PORT: 1, FLAGS: { a: true } };
      },
      { env },
    );
    await setup();
    expect(env.REDIS_URL).toBe("redis://localhost:1");
    expect(env.REDIS_PORT).toBe("1");
    expect(env.FLAGS).toBe('{"a":true}');
    expect(env.BERTH_SESSION_ID).toMatch(/^run-/);
    await defineJestGlobalTeardown()();
    expect(order).toEqual(["torn down"]);
    // A second teardown has nothing left to undo: jest was configured wrongly, say so.
    const error = await defineJestGlobalTeardown()().catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("a setup that throws has torn down what it started, and leaves no teardown behind", async () => {
    const order: string[] = [];
    const setup = defineJestGlobalSetup(
      (ctx) => {
        ctx.onTeardown(() => order.push("torn down"));
        throw new Error("no image");
      },
      { env: {} },
    );
    await expect(setup()).rejects.toThrow("no image");
    expect(order).toEqual(["torn down"]);
    expect(hasErrorCode(await defineJestGlobalTeardown()().catch((e: unknown) => e), "BERTH_INVALID_ARGUMENT")).toBe(true);
  });
});
