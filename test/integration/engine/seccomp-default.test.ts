import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { logLines, useEngineContext } from "./engine-context.js";

// Docker's default seccomp profile, as berth-runtime loads it (compiled by libseccomp as a
// binary tree over the syscall numbers, native/src/seccomp.c), seen from inside a container:
// what the profile refuses fails with EPERM, what it allows by argument is allowed, and a
// privileged container (no filter) does what the default one may not.
describeAsRoot("Docker's default seccomp profile in a container", () => {
  const ctx = useEngineContext();

  /** Runs `script` in busybox and returns its output lines (stdout and stderr). */
  async function run(script: string, options: { privileged?: boolean } = {}): Promise<string[]> {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", script], ...options });
    try {
      await engine.start(id);
      expect(await engine.wait(id)).toBe(0);
      return (await logLines(engine, id)).map((l) => l.replace(/^std(out|err): /, ""));
    } finally {
      await ctx.engine.remove(id, { force: true });
    }
  }

  it("refuses unshare without CAP_SYS_ADMIN, allows personality(PER_LINUX32), and a privileged container has no filter", async () => {
    // A user namespace needs no capability: only the filter refuses it.
    const script = "unshare -U true 2>&1; echo unshare=$?; linux32 true; echo linux32=$?; grep '^Seccomp:' /proc/self/status";
    const confined = await run(script);
    expect(confined).toContainEqual(expect.stringMatching(/Operation not permitted/));
    expect(confined).toContain("unshare=1");
    expect(confined).toContain("linux32=0");
    expect(confined).toContainEqual(expect.stringMatching(/^Seccomp:\s+2$/));

    const privileged = await run(script, { privileged: true });
    expect(privileged).toContain("unshare=0");
    expect(privileged).toContain("linux32=0");
    expect(privileged).toContainEqual(expect.stringMatching(/^Seccomp:\s+0$/));
  });

  it("allows what the profile allows for an ordinary program: files, processes, sockets, time", async () => {
    const out = await run("mkdir /tmp/d && echo x > /tmp/d/f && cat /tmp/d/f; (sleep 0; echo child) & wait; nc -l -p 0 -w 1 127.0.0.1 2>&1 | head -1; date +%Y >/dev/null && echo time");
    expect(out).toContain("x");
    expect(out).toContain("child");
    expect(out).toContain("time");
    expect(out).not.toContainEqual(expect.stringMatching(/Operation not permitted|Bad system call/));
  });
});
