import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { runBerthSetup } from "../../../src/harness/global-setup.js";

describe("runBerthSetup", () => {
  it("sets a session id once, hands back the values and tears down last in, first out", async () => {
    const env: NodeJS.ProcessEnv = {};
    const order: string[] = [];
    const setup = await runBerthSetup(
      (ctx) => {
        ctx.onTeardown(() => order.push("first"));
        ctx.use({ stop: async () => order.push("stop") });
        ctx.use({ [Symbol.asyncDispose]: async () => order.push("dispose") });
        return { url: "redis://127.0.0.1:1" };
      },
      { env },
    );
    expect(env.BERTH_SESSION_ID).toMatch(/^run-[0-9a-f-]{36}$/);
    expect(setup.sessionId).toBe(env.BERTH_SESSION_ID);
    expect(setup.values).toEqual({ url: "redis://127.0.0.1:1" });
    await setup.teardown();
    await setup.teardown();
    expect(order).toEqual(["dispose", "stop", "first"]);
  });

  it("keeps a session id given by the environment", async () => {
    const env: NodeJS.ProcessEnv = { BERTH_SESSION_ID: "ci-42" };
    expect((await runBerthSetup(() => ({}), { env })).sessionId).toBe("ci-42");
  });

  it("tears down what a failing setup had started, then rethrows its error", async () => {
    const order: string[] = [];
    const failure = new Error("redis did not start");
    await expect(
      runBerthSetup(
        (ctx) => {
          ctx.onTeardown(() => order.push("db removed"));
          throw failure;
        },
        { env: {} },
      ),
    ).rejects.toBe(failure);
    expect(order).toEqual(["db removed"]);
  });

  it("runs every step even when some fail, then reports them as BERTH_TEARDOWN_FAILED", async () => {
    const order: string[] = [];
    const setup = await runBerthSetup(
      (ctx) => {
        ctx.onTeardown(() => order.push("ran"));
        ctx.onTeardown(() => {
          throw new Error("stuck");
        });
        ctx.onTeardown(() => new Promise(() => {}));
        return {};
      },
      { env: {}, teardownTimeout: 50 },
    );
    const error = await setup.teardown().catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_TEARDOWN_FAILED")).toBe(true);
    expect((error as Error).message).toContain("2 teardown step(s) failed");
    expect(order).toEqual(["ran"]);
  });

  it("refuses to dispose something that cannot be disposed", async () => {
    const setup = await runBerthSetup((ctx) => {
      ctx.use({});
      return {};
    }, { env: {} });
    const error = await setup.teardown().catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_TEARDOWN_FAILED")).toBe(true);
    expect(hasErrorCode((error as Error).cause, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });
});
