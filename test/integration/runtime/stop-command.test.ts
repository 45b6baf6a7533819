// berth-runtime's `stop`: the engine's stop in one request (signal, grace period, SIGKILL of
// every process, the stopped state), for running, paused, stubborn and already exited
// containers; it leaves the container deletable and nothing behind.
import { existsSync } from "node:fs";
import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { describeBerthRuntime, useRuntimeContext } from "../../helpers/runtime-context.js";
import { findLeaks } from "../../helpers/leaks.js";
import { isBerthError } from "../../../src/common/berth-error.js";


describeAsRoot("the runtime's stop command", () => {
  describeBerthRuntime(() => {
    const ctx = useRuntimeContext("berth-runtime");

    async function started(args: string[]): Promise<string> {
      const id = ctx.id();
      await ctx.runtime.run(id, await ctx.bundle(ctx.spec({ args })), { detach: true });
      return id;
    }

    /** A signal that comes before the trap is set is ignored (pid 1 without a handler): wait for it. */
    async function trapSet(id: string): Promise<void> {
      const pid = (await ctx.runtime.state(id)).pid;
      await expect.poll(() => existsSync(`/proc/${pid}/root/tmp/trap-set`), { timeout: 10_000, interval: 20 }).toBe(true);
    }

    it("stops a process that obeys the signal within the grace period, with its exit", async () => {
      const id = await started(["sh", "-c", "trap 'exit 3' TERM; touch /tmp/trap-set; while :; do sleep 0.05; done"]);
      await trapSet(id);
      const state = await ctx.runtime.stop(id, { signal: "SIGTERM", gracePeriod: 20_000 });
      expect(state).toMatchObject({ id, status: "stopped", exitCode: 3 });
      expect(state.finished).toBeTruthy();
      await ctx.runtime.delete(id);
      expect(findLeaks({ match: id, stateRoot: ctx.runtime.root })).toEqual([]);
    });

    it("SIGKILLs every process after the grace period when the signal is ignored", async () => {
      const id = await started(["sh", "-c", "trap '' TERM; sleep 100 & wait"]);
      const state = await ctx.runtime.stop(id, { gracePeriod: 200 });
      expect(state).toMatchObject({ status: "stopped", exitCode: 137 });
      await ctx.runtime.delete(id);
      expect(findLeaks({ match: id, stateRoot: ctx.runtime.root })).toEqual([]);
    });

    it("kills at once with a grace period of 0", async () => {
      const id = await started(["sleep", "100"]);
      expect(await ctx.runtime.stop(id, { gracePeriod: 0 })).toMatchObject({ status: "stopped", exitCode: 137 });
    });

    it("thaws a paused container before it signals it", async () => {
      const id = await started(["sh", "-c", "trap 'exit 0' TERM; touch /tmp/trap-set; while :; do sleep 0.05; done"]);
      await trapSet(id);
      await ctx.runtime.pause(id);
      expect((await ctx.runtime.state(id)).status).toBe("paused");
      expect(await ctx.runtime.stop(id, { gracePeriod: 20_000 })).toMatchObject({ status: "stopped", exitCode: 0 });
    });

    it("returns an exited container's state at once, and again when asked twice", async () => {
      const id = await started(["sh", "-c", "exit 5"]);
      await ctx.runtime.wait(id, { timeout: 10_000 });
      expect(await ctx.runtime.stop(id)).toMatchObject({ status: "stopped", exitCode: 5 });
      expect(await ctx.runtime.stop(id)).toMatchObject({ status: "stopped", exitCode: 5 });
    });

    it("fails with BERTH_CONTAINER_NOT_FOUND for an unknown container", async () => {
      const error = await ctx.runtime.stop(ctx.id()).catch((e: unknown) => e);
      expect(isBerthError(error) && error.code).toBe("BERTH_CONTAINER_NOT_FOUND");
    });
  });
});
