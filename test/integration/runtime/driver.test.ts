// The driver's own contract, beyond what the runtime does: finding the binary, atomic
// bundles, time limits that clean up, errors that carry what a user needs.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { runtimesUnderTest, useRuntimeContext } from "../../helpers/runtime-context.js";
import { findLeaks } from "../../helpers/leaks.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";
import { hasErrorCode, isBerthError } from "../../../src/common/berth-error.js";

describe("OciRuntime without a runtime", () => {
  it("throws BERTH_RUNTIME_NOT_FOUND for an unknown name or path", () => {
    for (const runtime of ["no-such-runtime-xyz", "/nonexistent/berth-runtime"]) {
      expect(() => new OciRuntime({ runtime })).toThrow(expect.objectContaining({ code: "BERTH_RUNTIME_NOT_FOUND" }));
    }
  });

  it("refuses ids a runtime would take for flags or paths, before running anything", async () => {
    const runtime = new OciRuntime({ runtime: "berth-runtime", root: "/nonexistent" });
    for (const id of ["--help", "a/b", "..", "", "x y"]) {
      await expect(runtime.state(id)).rejects.toSatisfy((e) => hasErrorCode(e, "BERTH_INVALID_ARGUMENT"));
    }
  });

  it("finds the bundled berth-runtime by default", () => {
    const runtime = new OciRuntime({ runtime: "berth-runtime", root: "/nonexistent" });
    expect(runtime.binary).toMatch(/native\/build\/berth-runtime$/);
    expect(runtime.kind).toBe("berth-runtime");
  });
});

describeAsRoot("OciRuntime driver", () => {
  describe.each(runtimesUnderTest())("%s", (name) => {
    const ctx = useRuntimeContext(name);

    it("writes the bundle's config.json atomically, leaving no temporary file", async () => {
      const spec = ctx.spec({ args: ["true"] });
      const bundle = await ctx.bundle(spec);
      await ctx.runtime.writeBundle(bundle, { ...spec, hostname: "second" });
      expect(await readdir(bundle)).toEqual(["config.json"]);
      expect(JSON.parse(await readFile(join(bundle, "config.json"), "utf8")).hostname).toBe("second");
    });

    it("stops a foreground run at its timeout and leaves nothing behind", async () => {
      const id = ctx.id();
      const bundle = await ctx.bundle(ctx.spec({ args: ["sleep", "60"] }));
      const error = await ctx.runtime.run(id, bundle, { timeout: 1_000 }).catch((e: unknown) => e);
      expect(hasErrorCode(error, "BERTH_TIMEOUT")).toBe(true);
      expect(isBerthError(error) && error.context.container).toBe(id);
      expect(findLeaks({ match: id, paths: [bundle], stateRoot: ctx.runtime.root })).toEqual([]);
    });

    it("keeps the command, exit code and stderr of a failure", async () => {
      const id = ctx.id();
      const bundle = await ctx.bundle(ctx.spec({ args: ["true"] }));
      await ctx.runtime.create(id, bundle);
      const error = await ctx.runtime.create(id, bundle).catch((e: unknown) => e);
      expect(hasErrorCode(error, "BERTH_CONTAINER_EXISTS")).toBe(true);
      if (!isBerthError(error)) throw error;
      expect(error.exitCode).not.toBe(0);
      expect(error.context.command).toContain(" create ");
      expect(error.message).not.toMatch(/\n/);
      expect(error.cause).toBeDefined();
    });

    it("returns a killed process's exit code as 128+signal", async () => {
      const id = ctx.id();
      const running = ctx.runtime.run(id, await ctx.bundle(ctx.spec({ args: ["sleep", "60"] })));
      // pid 1 of a pid namespace cannot be SIGKILLed from inside: kill it from outside.
      for (let i = 0; i < 200; i++) {
        const state = await ctx.runtime.state(id).catch(() => undefined);
        if (state?.status === "running") break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await ctx.runtime.kill(id, "KILL");
      expect((await running).exitCode).toBe(137);
    });
  });
});
