// Resource limits, user namespaces and the terminal, against berth-runtime and runc.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { runtimesUnderTest, useRuntimeContext } from "../../helpers/runtime-context.js";

const receiver = fileURLToPath(new URL("../../fixtures/console-receiver.py", import.meta.url));

describeAsRoot("OCI runtime limits, user namespaces, terminal", () => {
  describe.each(runtimesUnderTest())("%s", (name) => {
    const ctx = useRuntimeContext(name);

    it("OOM-kills a process that allocates past a 32 MiB memory limit", async () => {
      const limit = 32 * 1024 * 1024;
      // dd's 64 MiB buffer is filled by the read from /dev/zero, so every page is touched.
      const spec = ctx.spec({ args: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1 && echo survived"] }, (s) => {
        s.linux!.resources = { ...s.linux!.resources, memory: { limit, swap: limit } };
      });
      const result = await ctx.runtime.run(ctx.id(), await ctx.bundle(spec));
      expect(result.stdout).not.toMatch(/survived/);
      // sh reports its child's SIGKILL as 137.
      expect(result.exitCode).toBe(137);
    });

    it("puts an exec'd process in every cgroup of its container (the v2 one it is born in, the limited v1 ones)", async () => {
      const id = ctx.id();
      const spec = ctx.spec({ args: ["sleep", "300"] }, (s) => {
        s.linux!.resources = { ...s.linux!.resources, pids: { limit: 50 }, memory: { limit: 64 * 1024 * 1024 } };
      });
      await ctx.runtime.run(id, await ctx.bundle(spec), { detach: true });
      const { pid } = await ctx.runtime.state(id);
      const init = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n").sort();
      // Read from the host, by pid: inside, a cgroup namespace would show both as `/`.
      const result = await ctx.runtime.exec(id, ["sh", "-c", "echo $$; exec sleep 5"], { detach: true, pidFile: join(ctx.dir, `${id}.exec.pid`) });
      expect(result.exitCode).toBe(0);
      const execPid = Number(readFileSync(join(ctx.dir, `${id}.exec.pid`), "utf8"));
      expect(readFileSync(`/proc/${execPid}/cgroup`, "utf8").trim().split("\n").sort()).toEqual(init);
      expect(init.some((line) => line.startsWith("0::") && line.includes(id))).toBe(true);
      await ctx.runtime.kill(id, "KILL", { all: true });
      await ctx.runtime.wait(id, { timeout: 10_000 });
      await ctx.runtime.delete(id);
    });

    it("contains a fork bomb with pids.max=20 and stays killable", async () => {
      const id = ctx.id();
      // A bounded bomb: an unbounded one would take the machine down if the limit failed.
      const spec = ctx.spec(
        // ash exits when a fork fails, so the bomb runs in a subshell and the container's
        // main process carries on as a sleep that must stay killable.
        { args: ["sh", "-c", "( i=0; while [ $i -lt 60 ]; do sleep 300 & i=$((i+1)); done ) 2>/dev/null; exec sleep 300"] },
        (s) => {
          s.linux!.resources = { ...s.linux!.resources, pids: { limit: 20 } };
        },
      );
      await ctx.runtime.run(id, await ctx.bundle(spec), { detach: true });
      // The loop ends quickly whether the forks succeed or fail.
      let pids: number[] = [];
      for (let i = 0; i < 100; i++) {
        const { pid } = await ctx.runtime.state(id);
        expect(pid).toBeGreaterThan(0);
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep")) {
          pids = await ctx.runtime.ps(id);
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      // 61 processes were asked for; the limit let about 20 exist.
      expect(pids.length).toBeGreaterThanOrEqual(15);
      expect(pids.length).toBeLessThanOrEqual(20);
      await ctx.runtime.kill(id, "KILL", { all: true });
      await ctx.runtime.wait(id, { timeout: 10_000 });
      await ctx.runtime.delete(id);
      for (const pid of pids) expect(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep")).toBe(false);
    });

    it("maps uid 0 inside a user namespace to 100000 outside", async () => {
      const id = ctx.id();
      // The shared fixture sits under /root (mode 700), out of reach of uid 100000.
      const rootfs = await ctx.privateRootfs();
      const spec = ctx.spec({ args: ["sleep", "60"], namespaces: ["pid", "network", "ipc", "uts", "mount", "user"] }, (s) => {
        s.root!.path = rootfs;
        s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      });
      await ctx.runtime.run(id, await ctx.bundle(spec), { detach: true });
      const { pid } = await ctx.runtime.state(id);
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      expect(status).toMatch(/^Uid:\s+100000\s+100000\s+100000\s+100000$/m);
      expect(status).toMatch(/^Gid:\s+100000\s+100000\s+100000\s+100000$/m);
      const inside = await ctx.runtime.exec(id, ["sh", "-c", "id -u; cat /proc/self/uid_map"]);
      expect(inside.stdout.split("\n")[0]).toBe("0");
      expect(inside.stdout.split("\n")[1]?.trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    });

    it("hands the pty master to the console socket", async () => {
      const id = ctx.id();
      const socket = join(ctx.dir, `${id}.sock`);
      const spec = ctx.spec({ args: ["sh", "-c", "tty; read line; echo got:$line"], terminal: true });
      const recv = execa("python3", [receiver, socket, "15", "typed\n"], { timeout: 20_000, reject: false });
      try {
        await new Promise<void>((resolve, reject) => {
          recv.stderr!.once("data", () => resolve());
          recv.once("exit", () => reject(new Error("console receiver exited early")));
        });
        await ctx.runtime.create(id, await ctx.bundle(spec), { consoleSocket: socket });
        await ctx.runtime.start(id);
        const result = await recv;
        expect(result.stdout).toMatch(/^\/dev\/pts\/\d+\r?$/m);
        expect(result.stdout).toMatch(/got:typed/);
      } finally {
        recv.kill();
      }
    });
  });
});
