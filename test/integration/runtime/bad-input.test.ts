// The bad inputs of issue 2: each must fail with a non-zero exit and one line naming what
// was wrong, and leave nothing behind: no mount under the bundle, no cgroup named after the
// id, no state entry, no process.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { describeBerthRuntime, useRuntimeContext } from "../../helpers/runtime-context.js";
import { findLeaks } from "../../helpers/leaks.js";
import { isBerthError, type BerthError } from "../../../src/common/berth-error.js";
import type { BerthErrorCode } from "../../../src/common/error-codes.js";
import type { OciSpec } from "../../../src/runtime/oci-spec.js";


async function failure(promise: Promise<unknown>): Promise<BerthError> {
  try {
    await promise;
  } catch (error) {
    if (isBerthError(error)) return error;
    throw error;
  }
  throw new Error("expected a failure, got success");
}

describeAsRoot("OCI runtime bad input", () => {
  describeBerthRuntime(() => {
    const ctx = useRuntimeContext("berth-runtime");

    /** The runtime's own message: the part of ours after "<runtime> <verb> <id>: ". */
    function runtimeMessage(error: BerthError, id: string): string {
      return error.message.slice(error.message.indexOf(`${id}: `) + id.length + 2);
    }

    async function expectCleanFailure(
      id: string,
      bundle: string,
      attempt: Promise<unknown>,
      expected: { code?: BerthErrorCode; names: RegExp; exitCode?: number },
    ): Promise<void> {
      const error = await failure(attempt);
      expect(error.code).toBe(expected.code ?? "BERTH_RUNTIME_FAILED");
      expect(error.exitCode).toBe(expected.exitCode ?? error.exitCode);
      expect(error.exitCode).not.toBe(0);
      const message = runtimeMessage(error, id);
      expect(message).not.toMatch(/\n/);
      expect(message).toMatch(expected.names);
      expect(findLeaks({ match: id, paths: [bundle], stateRoot: ctx.runtime.root })).toEqual([]);
    }

    async function badSpec(mutate: (spec: OciSpec) => void): Promise<{ id: string; bundle: string }> {
      const spec = ctx.spec({ args: ["true"] }, mutate);
      return { id: ctx.id(), bundle: await ctx.bundle(spec) };
    }

    it("rejects a malformed config.json", async () => {
      const id = ctx.id();
      const bundle = join(ctx.dir, `bundle-${id}`);
      await mkdir(bundle);
      await writeFile(join(bundle, "config.json"), '{"ociVersion": "1.0.2", "process": {"args": [');
      await expectCleanFailure(id, bundle, ctx.runtime.run(id, bundle), { names: /config\.json/ });
    });

    it("rejects a missing rootfs", async () => {
      const { id, bundle } = await badSpec((s) => (s.root!.path = "/nonexistent/rootfs"));
      await expectCleanFailure(id, bundle, ctx.runtime.run(id, bundle), { names: /root\.path|\/nonexistent\/rootfs/ });
    });

    it("rejects an unknown namespace type", async () => {
      const { id, bundle } = await badSpec((s) => s.linux!.namespaces!.push({ type: "bogus" as "pid" }));
      await expectCleanFailure(id, bundle, ctx.runtime.run(id, bundle), { names: /linux\.namespaces.*|bogus/ });
    });

    it("rejects an invalid uid map", async () => {
      const { id, bundle } = await badSpec((s) => {
        s.linux!.namespaces!.push({ type: "user" });
        s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 0 }];
        s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      });
      await expectCleanFailure(id, bundle, ctx.runtime.run(id, bundle), { names: /linux\.uidMappings|uid_?map/i });
    });

    it("rejects a missing cwd", async () => {
      const { id, bundle } = await badSpec((s) => (s.process!.cwd = "/no/such/dir"));
      await expectCleanFailure(id, bundle, ctx.runtime.run(id, bundle), { names: /process\.cwd|\/no\/such\/dir/ });
    });

    it("exits 127 on a missing executable", async () => {
      const { id, bundle } = await badSpec((s) => (s.process!.args = ["/no/such/program"]));
      await expectCleanFailure(id, bundle, ctx.runtime.run(id, bundle), {
        names: /process\.args|\/no\/such\/program/,
        exitCode: 127,
      });
    });

    it("refuses exec into a stopped container", async () => {
      const id = ctx.id();
      const bundle = await ctx.bundle(ctx.spec({ args: ["true"] }));
      await ctx.runtime.create(id, bundle);
      await ctx.runtime.start(id);
      await ctx.runtime.wait(id, { timeout: 10_000 });
      const error = await failure(ctx.runtime.exec(id, ["echo", "hi"]));
      expect(["BERTH_CONTAINER_NOT_RUNNING", "BERTH_RUNTIME_FAILED"]).toContain(error.code);
      expect(runtimeMessage(error, id)).toMatch(/stopped|not running/);
      await ctx.runtime.delete(id);
      expect(findLeaks({ match: id, paths: [bundle], stateRoot: ctx.runtime.root })).toEqual([]);
    });

    it("says an unknown id does not exist, for every command", async () => {
      const id = `${ctx.prefix}-never-created`;
      // Thunks, run one at a time: a promise made early and awaited late rejects unhandled.
      for (const attempt of [
        () => ctx.runtime.state(id),
        () => ctx.runtime.start(id),
        () => ctx.runtime.kill(id, "KILL"),
        () => ctx.runtime.delete(id),
        () => ctx.runtime.exec(id, ["true"]),
        () => ctx.runtime.pause(id),
      ]) {
        const error = await failure(attempt());
        expect(error.code).toBe("BERTH_CONTAINER_NOT_FOUND");
        expect(error.context.container).toBe(id);
      }
      // A forced delete of nothing is not an error: cleanup paths rely on it.
      await ctx.runtime.delete(id, { force: true });
    });
  });
});
