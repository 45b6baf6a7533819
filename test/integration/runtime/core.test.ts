// The runtime's core behaviour on real bundles, against berth-runtime and runc alike: what
// the kernel shows the container process must be what its config.json asked for.
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { runtimesUnderTest, useRuntimeContext } from "../../helpers/runtime-context.js";
import type { OciSpec } from "../../../src/runtime/oci-spec.js";

describeAsRoot("OCI runtime core", () => {
  describe.each(runtimesUnderTest())("%s", (name) => {
    const ctx = useRuntimeContext(name);

    async function sh(script: string, mutate?: (spec: OciSpec) => void) {
      const bundle = await ctx.bundle(ctx.spec({ args: ["sh", "-c", script] }, mutate));
      return ctx.runtime.run(ctx.id(), bundle);
    }

    it("runs a process and returns its exit code and both streams", async () => {
      const result = await sh("echo out; echo err >&2; exit 3");
      expect(result).toEqual({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
    });

    it("passes stdin", async () => {
      const bundle = await ctx.bundle(ctx.spec({ args: ["cat"] }));
      const result = await ctx.runtime.run(ctx.id(), bundle, { input: "through\n" });
      expect(result.stdout).toBe("through\n");
    });

    it("sets the hostname", async () => {
      const result = await sh("hostname", (s) => (s.hostname = "berth-host"));
      expect(result.stdout.trim()).toBe("berth-host");
    });

    it("makes the process pid 1 of a new pid namespace", async () => {
      const result = await sh("echo $$; ls /proc | grep -c '^[0-9]'");
      // pid 1 plus the ls and grep of the pipeline... and nothing from the host.
      const [pid, count] = result.stdout.trim().split("\n");
      expect(pid).toBe("1");
      expect(Number(count)).toBeLessThan(5);
    });

    it("mounts proc, sysfs, tmpfs, devpts and ro/rw binds", async () => {
      const ro = join(ctx.dir, "ro-src");
      const rw = join(ctx.dir, "rw-src");
      await mkdir(ro, { recursive: true });
      await mkdir(rw, { recursive: true });
      await writeFile(join(ro, "file"), "from host\n");
      const result = await sh(
        "cat /tmp/ro/file; touch /tmp/ro/new 2>&1 || true; echo written > /tmp/rw/out; cat /proc/self/mounts",
        (s) => {
          // Targets inside the /tmp tmpfs: a target the runtime must create would otherwise be
          // made in the shared busybox fixture (before the root is made read-only, as runc does).
          s.mounts!.push({ destination: "/tmp/ro", type: "bind", source: ro, options: ["rbind", "ro"] });
          s.mounts!.push({ destination: "/tmp/rw", type: "bind", source: rw, options: ["rbind", "rw"] });
        },
      );
      expect(result.exitCode).toBe(0);
      const lines = result.stdout.split("\n");
      expect(lines[0]).toBe("from host");
      expect(lines[1]).toMatch(/Read-only file system/);
      const mounts = lines.slice(2).map((l) => l.split(" "));
      const at = (point: string) => mounts.find((m) => m[1] === point);
      expect(at("/proc")?.[2]).toBe("proc");
      expect(at("/sys")?.[2]).toBe("sysfs");
      expect(at("/sys")?.[3]).toMatch(/^ro\b/);
      expect(at("/tmp")?.[2]).toBe("tmpfs");
      expect(at("/dev/pts")?.[2]).toBe("devpts");
      expect(at("/tmp/ro")?.[3]).toMatch(/^ro\b/);
      expect(at("/tmp/rw")?.[3]).toMatch(/^rw\b/);
      expect(at("/")?.[3]).toMatch(/^ro\b/);
      expect(await readFile(join(rw, "out"), "utf8")).toBe("written\n");
    });

    it("masks files and directories (/proc/kcore where the kernel has one) and makes /proc/sys read-only", async () => {
      // This machine's kernel (a Firecracker VM) has no /proc/kcore; /proc/keys is a masked
      // file that exists everywhere, /proc/acpi a masked directory.
      const kcore = existsSync("/proc/kcore") ? "wc -c < /proc/kcore" : "echo 0";
      const result = await sh(`${kcore}; wc -c < /proc/keys; ls -A /proc/acpi | wc -l; { echo x > /proc/sys/kernel/domainname; } 2>&1; true`);
      const [kcoreSize, keysSize, acpiEntries, write] = result.stdout.trim().split("\n").map((l) => l.trim());
      expect(kcoreSize).toBe("0");
      expect(keysSize).toBe("0");
      expect(acpiEntries).toBe("0");
      expect(write).toMatch(/Read-only file system/);
    });

    it("gives the process exactly the capabilities asked for", async () => {
      const result = await sh("grep -E '^Cap(Bnd|Prm)' /proc/self/status", (s) => {
        s.process!.capabilities = { bounding: ["CAP_CHOWN", "CAP_KILL"], effective: ["CAP_CHOWN"], permitted: ["CAP_CHOWN", "CAP_KILL"] };
      });
      const caps = Object.fromEntries(result.stdout.trim().split("\n").map((l) => l.split(/:\s+/)));
      // CAP_CHOWN is bit 0, CAP_KILL bit 5. (Eff is not checked: exec as uid 0 makes it Prm.)
      expect(caps).toEqual({ CapBnd: "0000000000000021", CapPrm: "0000000000000021" });
    });

    it("sets no_new_privs", async () => {
      const result = await sh("grep NoNewPrivs /proc/self/status");
      expect(result.stdout).toMatch(/NoNewPrivs:\s+1/);
    });

    it("denies a syscall with EPERM through seccomp", async () => {
      const filter = (s: OciSpec) => {
        s.linux!.seccomp = {
          defaultAction: "SCMP_ACT_ALLOW",
          architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
        };
      };
      const denied = await sh("mkdir /tmp/x 2>&1; grep '^Seccomp:' /proc/self/status", filter);
      expect(denied.stdout).toMatch(/Operation not permitted/);
      expect(denied.stdout).toMatch(/Seccomp:\s+2/);
      const allowed = await sh("mkdir /tmp/x && echo made");
      expect(allowed.stdout).toBe("made\n");
    });

    it("sets rlimits", async () => {
      const result = await sh("ulimit -n; ulimit -Hn", (s) => {
        s.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 123, hard: 456 }];
      });
      expect(result.stdout).toBe("123\n456\n");
    });

    it("runs as the user, groups and umask asked for", async () => {
      const result = await sh("id; umask", (s) => {
        s.process!.user = { uid: 1000, gid: 1000, additionalGids: [5], umask: 0o027 };
      });
      expect(result.stdout).toBe("uid=1000(user) gid=1000(user) groups=5(tty)\n0027\n");
    });

    it("refuses writes to a read-only root filesystem", async () => {
      const result = await sh("touch /x 2>&1; echo rc=$?");
      expect(result.stdout).toMatch(/Read-only file system/);
      expect(result.stdout).toMatch(/rc=1/);
    });

    it("runs with cwd and env from the spec", async () => {
      const bundle = await ctx.bundle(ctx.spec({ args: ["sh", "-c", "pwd; echo $GREETING"], cwd: "/etc", env: ["GREETING=hi"] }));
      const result = await ctx.runtime.run(ctx.id(), bundle);
      expect(result.stdout).toBe("/etc\nhi\n");
    });

    it("goes through create, start, state, kill, delete", async () => {
      const id = ctx.id();
      const bundle = await ctx.bundle(ctx.spec({ args: ["sleep", "60"] }));
      const pidFile = join(ctx.dir, `${id}.pid`);
      await ctx.runtime.create(id, bundle, { pidFile });
      const created = await ctx.runtime.state(id);
      expect(created).toMatchObject({ id, status: "created", bundle });
      expect(Number(await readFile(pidFile, "utf8"))).toBe(created.pid);
      expect((await ctx.runtime.list()).map((s) => s.id)).toContain(id);
      await ctx.runtime.start(id);
      expect((await ctx.runtime.state(id)).status).toBe("running");
      expect(await ctx.runtime.ps(id)).toEqual([created.pid]);
      await ctx.runtime.kill(id, "KILL");
      await ctx.runtime.wait(id, { timeout: 10_000 });
      expect((await ctx.runtime.state(id)).status).toBe("stopped");
      await ctx.runtime.delete(id);
      expect((await ctx.runtime.list()).map((s) => s.id)).not.toContain(id);
    });

    it("pauses and resumes", async () => {
      const id = ctx.id();
      const bundle = await ctx.bundle(ctx.spec({ args: ["sleep", "60"] }));
      await ctx.runtime.run(id, bundle, { detach: true });
      await ctx.runtime.pause(id);
      expect((await ctx.runtime.state(id)).status).toBe("paused");
      await ctx.runtime.resume(id);
      expect((await ctx.runtime.state(id)).status).toBe("running");
    });

    describe("exec into a running container", () => {
      let id: string;
      beforeAll(async () => {
        // Not from ctx.id(): afterEach deletes those, and this one lives for the whole block.
        id = `${ctx.prefix}-exec`;
        const bundle = await ctx.bundle(ctx.spec({ args: ["sleep", "120"] }));
        await ctx.runtime.run(id, bundle, { detach: true });
      });
      afterAll(async () => {
        await ctx.runtime.delete(id, { force: true });
      });

      it("runs an argv with env, cwd and user", async () => {
        const result = await ctx.runtime.exec(id, ["sh", "-c", "echo $FOO; pwd; id -u; id -g"], {
          env: ["FOO=bar"],
          cwd: "/tmp",
          user: { uid: 1000, gid: 1000 },
        });
        expect(result).toEqual({ exitCode: 0, stdout: "bar\n/tmp\n1000\n1000\n", stderr: "" });
      });

      it("runs an OCI process document", async () => {
        const result = await ctx.runtime.exec(id, {
          args: ["sh", "-c", "echo $X; pwd; id -u; exit 7"],
          env: ["PATH=/bin:/usr/bin", "X=from-process"],
          cwd: "/etc",
          user: { uid: 65534, gid: 65534 },
        });
        expect(result).toEqual({ exitCode: 7, stdout: "from-process\n/etc\n65534\n", stderr: "" });
      });

      it("shares the container's pid namespace", async () => {
        const result = await ctx.runtime.exec(id, ["cat", "/proc/1/cmdline"]);
        expect(result.stdout).toBe("sleep\u0000120\u0000");
      });

      it("passes stdin to the process", async () => {
        const result = await ctx.runtime.exec(id, ["cat"], { input: "abc" });
        expect(result.stdout).toBe("abc");
      });
    });
  });
});
