// berth-runtime's extensions the engine relies on: the monitor (json-file logs, exit status,
// OOM, surviving its creator), `wait`, and `--init`. runc and crun lack them: the driver must
// say so with BERTH_UNSUPPORTED instead of passing flags they do not know.
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { describeBerthRuntime, runtimesUnderTest, useRuntimeContext } from "../../helpers/runtime-context.js";
import { hasErrorCode } from "../../../src/common/berth-error.js";

const creator = fileURLToPath(new URL("../../fixtures/create-and-exit.ts", import.meta.url));
const rfc3339Nano = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

interface LogLine {
  log: string;
  stream: string;
  time: string;
}

async function readLogLines(path: string): Promise<LogLine[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LogLine);
}

/** Polls the json-file log until `text` is a line of it; fails after `timeout` ms. */
async function waitForLogLine(path: string, text: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const lines = await readLogLines(path).catch(() => [] as LogLine[]);
    if (lines.some((l) => l.log === text)) return;
    if (Date.now() > deadline) throw new Error(`${JSON.stringify(text)} not in ${path} after ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Linux's O_PATH (x86-64 and arm64), which node's fs.constants does not export. */
const O_PATH = 0o10000000;

const runtimes = runtimesUnderTest();

describeAsRoot("berth-runtime extensions", () => {
  describeBerthRuntime(() => {
    const ctx = useRuntimeContext("berth-runtime");

    it("logs stdout and stderr apart in json-file format and records the exit", async () => {
      const id = ctx.id();
      const logPath = join(ctx.dir, `${id}.log`);
      const spec = ctx.spec({ args: ["sh", "-c", "echo out1; echo err1 >&2; sleep 0.05; echo out2; exit 5"] });
      await ctx.runtime.create(id, await ctx.bundle(spec), { monitor: { logPath } });
      await ctx.runtime.start(id);
      expect(await ctx.runtime.wait(id, { timeout: 10_000 })).toBe(5);
      const lines = await readLogLines(logPath);
      expect(lines.filter((l) => l.stream === "stdout").map((l) => l.log)).toEqual(["out1\n", "out2\n"]);
      expect(lines.filter((l) => l.stream === "stderr").map((l) => l.log)).toEqual(["err1\n"]);
      for (const line of lines) expect(line.time).toMatch(rfc3339Nano);
      const state = await ctx.runtime.state(id);
      expect(state).toMatchObject({ id, status: "stopped", exitCode: 5, oomKilled: false });
      expect(Date.parse(state.finished!)).toBeGreaterThanOrEqual(Date.parse(state.started!));
    });

    it("enforces linux.resources.devices: a denied device cannot be made, an allowed one can", async () => {
      // The default spec denies every device; the runtime adds the standard ones (/dev/null...)
      // and the spec allows mknod of 10:200. On v1 this is the devices cgroup, on a hybrid or
      // v2 host an eBPF device filter on the container's v2 cgroup. Here only: Debian's runc
      // let `mknod b 8:0` through on this hybrid host when tried.
      const spec = ctx.spec({ args: ["sh", "-c", "mknod /dev/blk b 8 0 2>/dev/null && echo made-blk; mknod /dev/tun c 10 200 && echo made-tun; echo x >/dev/null && echo null-ok"] }, (s) => {
        s.linux!.resources = {
          ...s.linux!.resources,
          devices: [...(s.linux!.resources?.devices ?? []), { allow: true, type: "c", major: 10, minor: 200, access: "m" }],
        };
      });
      const result = await ctx.runtime.run(ctx.id(), await ctx.bundle(spec));
      expect(result.stdout.split("\n").filter(Boolean)).toEqual(["made-tun", "null-ok"]);
    });

    const hybrid = existsSync("/sys/fs/cgroup/unified/cgroup.controllers") && existsSync("/sys/fs/cgroup/memory/cgroup.procs");
    (hybrid ? it : it.skip)(
      hybrid
        ? "on a hybrid cgroup host joins its v2 cgroup and only the v1 hierarchies its limits need"
        : "on a hybrid cgroup host joins its v2 cgroup and only the v1 hierarchies its limits need (skipped: this host is not hybrid v1/v2)",
      async () => {
        const id = ctx.id();
        const spec = ctx.spec({ args: ["cat", "/proc/self/cgroup"] }, (s) => {
          s.linux!.resources = { ...s.linux!.resources, memory: { limit: 64 * 1024 * 1024 } };
        });
        const result = await ctx.runtime.run(id, await ctx.bundle(spec));
        expect(result.exitCode).toBe(0);
        const byCtrl = new Map(
          result.stdout
            .trim()
            .split("\n")
            .map((l) => {
              const [, ctrl, path] = /^\d+:([^:]*):(.*)$/.exec(l)!;
              return [ctrl!, path!] as const;
            }),
        );
        expect(byCtrl.get("")).toMatch(new RegExp(`/berth/${id}$`));
        expect(byCtrl.get("memory")).toMatch(new RegExp(`/berth/${id}$`));
        // Joining a v1 hierarchy is a migration (an RCU grace period each): not for freezer.
        expect(byCtrl.get("freezer")).not.toContain(id);
      },
    );

    it("runs create/run from a copy of its binary that the container cannot write (CVE-2019-5736)", async () => {
      // The `_probe-exe` hook reports how the running binary is protected, for both ways.
      for (const env of [{}, { BERTH_RUNTIME_EXE_MEMFD: "1" }]) {
        const probe = await execa(ctx.runtime.binary, ["_probe-exe"], { env, reject: false });
        expect(probe.exitCode, probe.stderr).toBe(0);
        const report = JSON.parse(probe.stdout) as { protection: string; writable: boolean };
        expect(report.writable).toBe(false);
        expect(["readonly-mount", "memfd"]).toContain(report.protection);
      }
      // The attack itself: a handle on /proc/<runtime>/exe taken while the runtime runs,
      // reopened for writing once the runtime has exited.
      const id = ctx.id();
      const running = ctx.runtime.run(id, await ctx.bundle(ctx.spec({ args: ["sleep", "1"] })));
      let pid = 0;
      for (let i = 0; i < 200 && !pid; i++) {
        pid = (await ctx.runtime.state(id).catch(() => ({ pid: 0 }))).pid ?? 0;
        if (!pid) await new Promise((r) => setTimeout(r, 20));
      }
      expect(pid).toBeGreaterThan(0);
      const runtimePid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
      expect(readFileSync(`/proc/${runtimePid}/cmdline`, "utf8")).toContain("berth-runtime");
      const handle = openSync(`/proc/${runtimePid}/exe`, O_PATH);
      try {
        expect((await running).exitCode).toBe(0);
        expect(existsSync(`/proc/${runtimePid}`)).toBe(false);
        let error: NodeJS.ErrnoException | undefined;
        try {
          closeSync(openSync(`/proc/self/fd/${handle}`, "r+"));
        } catch (e) {
          error = e as NodeJS.ErrnoException;
        }
        expect(error?.code).toMatch(/^(EROFS|EACCES|EPERM|ETXTBSY)$/);
      } finally {
        closeSync(handle);
      }
    });

    it("keeps the container running after the process that created it exits", async () => {
      const id = ctx.id();
      const logPath = join(ctx.dir, `${id}.log`);
      const bundle = await ctx.bundle(ctx.spec({ args: ["sh", "-c", "echo up; exec sleep 60"] }));
      const made = await execa(process.execPath, ["--import", "tsx", creator, ctx.runtime.binary, ctx.runtime.root, id, bundle, logPath], {
        timeout: 30_000,
      });
      const creatorPid = Number(made.stdout.trim());
      const state = await ctx.runtime.state(id);
      expect(state.status).toBe("running");
      // The container's parent is the monitor, not the (gone) creator.
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${state.pid}/status`, "utf8"))![1]);
      expect(ppid).not.toBe(creatorPid);
      expect(readFileSync(`/proc/${ppid}/cmdline`, "utf8")).toContain("berth-runtime");
      // `run --detach` returns once the process runs, not once it has echoed: a SIGKILL sent
      // right away can land before `echo up` (an empty log under load). Wait for the line.
      await waitForLogLine(logPath, "up\n");
      await ctx.runtime.kill(id, "KILL");
      expect(await ctx.runtime.wait(id, { timeout: 10_000 })).toBe(137);
      expect((await readLogLines(logPath)).map((l) => l.log)).toEqual(["up\n"]);
    });

    it("reports an OOM kill in state", async () => {
      const id = ctx.id();
      const limit = 32 * 1024 * 1024;
      const spec = ctx.spec({ args: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"] }, (s) => {
        s.linux!.resources = { ...s.linux!.resources, memory: { limit, swap: limit } };
      });
      await ctx.runtime.create(id, await ctx.bundle(spec), { monitor: { logPath: join(ctx.dir, `${id}.log`) } });
      await ctx.runtime.start(id);
      expect(await ctx.runtime.wait(id, { timeout: 10_000 })).toBe(137);
      expect(await ctx.runtime.state(id)).toMatchObject({ status: "stopped", exitCode: 137, oomKilled: true });
    });

    it("times out `wait` on a container that keeps running", async () => {
      const id = ctx.id();
      await ctx.runtime.create(id, await ctx.bundle(ctx.spec({ args: ["sleep", "60"] })), { monitor: {} });
      await ctx.runtime.start(id);
      await expect(ctx.runtime.wait(id, { timeout: 1_000 })).rejects.toSatisfy((e) => hasErrorCode(e, "BERTH_TIMEOUT") || hasErrorCode(e, "BERTH_RUNTIME_FAILED"));
      expect((await ctx.runtime.state(id)).status).toBe("running");
    });

    it("runs an init as pid 1 that reaps orphans and forwards SIGTERM", async () => {
      const id = ctx.id();
      // The subshell's sleep is orphaned: reparented to pid 1, it stays a zombie unless pid 1
      // reaps. `sleep 60` ignores SIGTERM as pid 1, and dies of it as pid 2 under an init.
      const spec = ctx.spec({ args: ["sh", "-c", "(sleep 0 &); exec sleep 60"] });
      await ctx.runtime.create(id, await ctx.bundle(spec), { monitor: {}, init: true });
      await ctx.runtime.start(id);
      let zombies = -1;
      for (let i = 0; i < 50 && zombies !== 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const pids = await ctx.runtime.ps(id);
        zombies = pids.filter((pid) => {
          try {
            return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
          } catch {
            return false;
          }
        }).length;
        if (pids.length < 2) zombies = -1;
      }
      expect(zombies).toBe(0);
      const inside = await ctx.runtime.exec(id, ["cat", "/proc/2/cmdline"]);
      expect(inside.stdout).toBe("sleep\u000060\u0000");
      await ctx.runtime.kill(id, "TERM");
      expect(await ctx.runtime.wait(id, { timeout: 10_000 })).toBe(143);
    });

    it("honours the org.berth.init annotation like --init", async () => {
      const spec = ctx.spec({ args: ["cat", "/proc/1/cmdline"] }, (s) => {
        s.annotations = { "org.berth.init": "true" };
      });
      const result = await ctx.runtime.run(ctx.id(), await ctx.bundle(spec));
      expect(result.exitCode).toBe(0);
      expect(result.stdout).not.toBe("cat\u0000/proc/1/cmdline\u0000");
    });

    it("brings lo up in a new network namespace on org.berth.loopback: up (runc's down otherwise)", async () => {
      const operstate = async (annotations?: Record<string, string>) => {
        const spec = ctx.spec({ args: ["cat", "/sys/class/net/lo/operstate", "/sys/class/net/lo/flags"] }, (s) => {
          if (annotations) s.annotations = annotations;
        });
        const result = await ctx.runtime.run(ctx.id(), await ctx.bundle(spec));
        expect(result.exitCode).toBe(0);
        return result.stdout.trim().split("\n");
      };
      // `unknown` is what an up loopback reports; IFF_UP is bit 0 of the flags.
      const [state, flags] = await operstate({ "org.berth.loopback": "up" });
      expect(state).toBe("unknown");
      expect(Number.parseInt(flags!, 16) & 1).toBe(1);
      expect((await operstate())[0]).toBe("down");
      expect((await operstate({ "org.berth.loopback": "down" }))[0]).toBe("down");
    });

    it("refuses an org.berth.loopback value other than up or down, running nothing", async () => {
      const spec = ctx.spec({ args: ["true"] }, (s) => {
        s.annotations = { "org.berth.loopback": "yes" };
      });
      await expect(ctx.runtime.run(ctx.id(), await ctx.bundle(spec))).rejects.toThrow(/org\.berth\.loopback/);
    });
  });

  describe.each(runtimes.filter((r) => r !== "berth-runtime"))("%s (without berth's extensions)", (name) => {
    const ctx = useRuntimeContext(name);

    it("refuses monitor and init with BERTH_UNSUPPORTED, running nothing", async () => {
      const bundle = await ctx.bundle(ctx.spec({ args: ["true"] }));
      const id = ctx.id();
      await expect(ctx.runtime.create(id, bundle, { monitor: { logPath: join(ctx.dir, "x.log") } })).rejects.toSatisfy((e) =>
        hasErrorCode(e, "BERTH_UNSUPPORTED"),
      );
      await expect(ctx.runtime.run(id, bundle, { init: true })).rejects.toSatisfy((e) => hasErrorCode(e, "BERTH_UNSUPPORTED"));
      expect(await ctx.runtime.list()).toEqual([]);
    });

    it("waits by polling state", async () => {
      const id = ctx.id();
      await ctx.runtime.run(id, await ctx.bundle(ctx.spec({ args: ["sleep", "0.2"] })), { detach: true });
      await ctx.runtime.wait(id, { timeout: 10_000 });
      expect((await ctx.runtime.state(id)).status).toBe("stopped");
    });
  });
});
