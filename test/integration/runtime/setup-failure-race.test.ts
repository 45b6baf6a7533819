// Regression: "rejects a missing cwd" once failed with "receive file descriptor: Connection
// reset by peer". A container that fails its setup before it reads the runtime's CGROUP message
// exits with that message unread, and the kernel then reports ECONNRESET to the runtime once,
// ahead of the container's own error message. The runtime must read past it and report the
// container's error, every time. The race is decided by scheduling, so the test repeats it.
import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { describeBerthRuntime, useRuntimeContext } from "../../helpers/runtime-context.js";
import { findLeaks } from "../../helpers/leaks.js";
import { isBerthError } from "../../../src/common/berth-error.js";

const ROUNDS = 150;

describeAsRoot("a container failing setup before it reads the runtime's sync message", () => {
  describeBerthRuntime(() => {
    const ctx = useRuntimeContext("berth-runtime");

    it(`reports its own error (a missing cwd), not a connection reset, in ${ROUNDS} runs`, async () => {
      const bundle = await ctx.bundle(ctx.spec({ args: ["true"] }, (s) => (s.process!.cwd = "/no/such/dir")));
      const messages = new Map<string, number>();
      for (let i = 0; i < ROUNDS; i++) {
        const id = ctx.id();
        let message = "succeeded";
        try {
          await ctx.runtime.run(id, bundle);
        } catch (error) {
          message = isBerthError(error) ? error.message.replaceAll(id, "<id>") : String(error);
        }
        messages.set(message, (messages.get(message) ?? 0) + 1);
      }
      expect([...messages.keys()]).toHaveLength(1);
      expect([...messages.keys()][0]).toMatch(/config\.json: process\.cwd: `\/no\/such\/dir`: No such file or directory$/);
      expect(findLeaks({ match: ctx.prefix, paths: [bundle], stateRoot: ctx.runtime.root })).toEqual([]);
    });
  });
});
