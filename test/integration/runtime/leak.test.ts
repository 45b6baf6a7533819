// 200 run/delete cycles must leave nothing: no mount (nsfs included), cgroup, process or
// state directory. Half run in the foreground (the runtime deletes), half detached and
// deleted by the driver, which is how the engine uses it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createRuntimeContext, runtimesUnderTest, type RuntimeContext } from "../../helpers/runtime-context.js";
import { findLeaks } from "../../helpers/leaks.js";

const cycles = 200;

describeAsRoot("OCI runtime leaks", () => {
  describe.each(runtimesUnderTest())("%s", (name) => {
    let ctx: RuntimeContext;
    beforeAll(async () => {
      ctx = await createRuntimeContext(name);
    });
    afterAll(async () => {
      await ctx?.dispose();
    });

    it("sees a container left running (the check itself works)", async () => {
      const id = ctx.id();
      await ctx.runtime.run(id, await ctx.bundle(ctx.spec({ args: ["sleep", "60"] })), { detach: true });
      try {
        const leaks = findLeaks({ match: id, stateRoot: ctx.runtime.root });
        expect(leaks.some((l) => l.startsWith("process "))).toBe(true);
        expect(leaks.some((l) => l.startsWith("cgroup "))).toBe(true);
        expect(leaks.some((l) => l.startsWith("state "))).toBe(true);
      } finally {
        await ctx.runtime.delete(id, { force: true });
      }
      expect(findLeaks({ match: id, stateRoot: ctx.runtime.root })).toEqual([]);
    });

    it(`leaves nothing after ${cycles} run/delete cycles`, async () => {
      const bundle = await ctx.bundle(ctx.spec({ args: ["true"] }));
      for (let i = 0; i < cycles; i++) {
        const id = ctx.id();
        if (i % 2 === 0) {
          const result = await ctx.runtime.run(id, bundle);
          expect(result.exitCode).toBe(0);
        } else {
          await ctx.runtime.run(id, bundle, { detach: true });
          await ctx.runtime.wait(id, { timeout: 10_000 });
          await ctx.runtime.delete(id);
        }
      }
      expect(await ctx.runtime.list()).toEqual([]);
      expect(findLeaks({ match: ctx.prefix, paths: [ctx.dir], stateRoot: ctx.runtime.root })).toEqual([]);
    }, 120_000);
  });
});
