import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Container } from "../../../src/harness/container.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createEngineContext, type EngineContext } from "./engine-context.js";

describeAsRoot("Container (the public facade of the engine)", () => {
  let ctx: EngineContext;
  beforeAll(async () => {
    ctx = await createEngineContext();
  });
  afterAll(async () => {
    await ctx?.dispose();
  });

  it("runs, execs, is found by name, and is removed on dispose", async () => {
    const c = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["sleep", "300"], name: "facade" });
    expect((await c.exec(["echo", "hi"])).stdout).toBe("hi\n");
    expect((await Container.get("facade", { engine: ctx.engine })).id).toBe(c.id);
    expect((await Container.list({ engine: ctx.engine, name: ["facade"] })).length).toBe(1);
    await c[Symbol.asyncDispose]();
    const gone = await Container.get("facade", { engine: ctx.engine }).catch((e: unknown) => e);
    expect(hasErrorCode(gone, "BERTH_CONTAINER_NOT_FOUND")).toBe(true);
  });

  it("run removes what it created when the start fails", async () => {
    const before = (await Container.list({ engine: ctx.engine, all: true })).length;
    const error = await Container.run({ engine: ctx.engine, image: "busybox:test", cmd: ["no-such"] }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_CONTAINER_START_FAILED")).toBe(true);
    expect((await Container.list({ engine: ctx.engine, all: true })).length).toBe(before);
  });
});
