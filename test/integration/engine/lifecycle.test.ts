import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import tar from "tar-stream";
import { expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";
import { failure as rejection } from "../../helpers/failure.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { logLines, useEngineContext } from "./engine-context.js";

async function tarOf(files: Record<string, string>): Promise<Readable> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, body);
  pack.finalize();
  return pack as unknown as Readable;
}

async function namesIn(stream: Readable): Promise<Record<string, string>> {
  const extract = tar.extract();
  const out: Record<string, string> = {};
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on("data", (c: unknown) => chunks.push(c as Buffer));
      body.on("end", () => {
        out[header.name] = Buffer.concat(chunks).toString();
        next();
      });
    });
    extract.on("finish", () => resolve());
    extract.on("error", reject);
  });
  stream.pipe(extract);
  await done;
  return out;
}

const follower = fileURLToPath(new URL("./fixtures/follow-logs.ts", import.meta.url));

describeAsRoot("container engine", () => {
  const ctx = useEngineContext();

  it("runs a container to its exit code and keeps stdout and stderr apart in its logs", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"] });
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    expect((await engine.inspect(id)).State.Status).toBe("created");
    await engine.start(id);
    expect(await engine.wait(id)).toBe(3);
    expect(await logLines(engine, id)).toEqual(["stdout: out", "stderr: err"]);
    expect(await logLines(engine, id, { stderr: false })).toEqual(["stdout: out"]);
    expect(await logLines(engine, id, { tail: 1 })).toEqual(["stderr: err"]);
    const info = await engine.inspect(id.slice(0, 12));
    expect(info.State).toMatchObject({ Status: "exited", Running: false, ExitCode: 3, OOMKilled: false, Pid: 0 });
    expect(Date.parse(info.State.FinishedAt)).toBeGreaterThanOrEqual(Date.parse(info.State.StartedAt));
    await engine.remove(id);
    expect((await rejection(engine.inspect(id))).code).toBe("BERTH_CONTAINER_NOT_FOUND");
  });

  it("merges config as Docker: env, workdir created when missing, user from /etc/passwd, hostname", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sh", "-c", 'echo "$FOO $HOME $(id -u):$(id -g) $(pwd) $(hostname)"'],
      env: { FOO: "bar" },
      workingDir: "/made/here",
      user: "user",
    });
    await engine.start(id);
    expect(await engine.wait(id)).toBe(0);
    expect(await logLines(engine, id)).toEqual([`stdout: bar /home/user 1000:1000 /made/here ${id.slice(0, 12)}`]);
    await engine.remove(id);
  });

  it("names are unique and resolve like ids; a taken name is BERTH_CONTAINER_NAME_IN_USE", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", name: "web-1", cmd: ["true"] });
    expect((await engine.inspect("web-1")).Id).toBe(id);
    expect((await engine.inspect("/web-1")).Name).toBe("/web-1");
    const error = await rejection(engine.create({ image: "busybox:test", name: "web-1" }));
    expect(error.code).toBe("BERTH_CONTAINER_NAME_IN_USE");
    const generated = await engine.create({ image: "busybox:test", cmd: ["true"] });
    expect((await engine.inspect(generated)).Name).toMatch(/^\/[a-z]+_[a-z_]+\d?$/);
    await engine.remove("web-1");
    // The name is free again.
    const again = await engine.create({ image: "busybox:test", name: "web-1", cmd: ["true"] });
    await engine.remove(again);
    await engine.remove(generated);
  });

  it("stops with the stop signal, then SIGKILL after the timeout; stopping twice is a no-op", async () => {
    const { engine } = ctx;
    // sh as pid 1 ignores SIGTERM: the stop falls back to SIGKILL.
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(id);
    expect((await engine.inspect(id)).State).toMatchObject({ Status: "running", Running: true });
    expect((await engine.inspect(id)).State.Pid).toBeGreaterThan(0);
    await engine.stop(id, { timeout: 1 });
    expect((await engine.inspect(id)).State).toMatchObject({ Status: "exited", ExitCode: 137 });
    await engine.stop(id);
    // With --init the TERM reaches sleep, which exits on it.
    const trapped = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], init: true });
    await engine.start(trapped);
    await engine.stop(trapped, { timeout: 20 });
    expect((await engine.inspect(trapped)).State.ExitCode).toBe(143);
    await engine.remove(id);
    await engine.remove(trapped);
  });

  it("kill, pause/unpause, restart, and remove refusing a running container without force", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(id);
    await engine.pause(id);
    expect((await engine.inspect(id)).State).toMatchObject({ Status: "paused", Paused: true, Running: true });
    await engine.unpause(id);
    expect((await engine.inspect(id)).State.Status).toBe("running");
    const pid = (await engine.inspect(id)).State.Pid;
    await engine.restart(id, { timeout: 0 });
    expect((await engine.inspect(id)).State.Status).toBe("running");
    expect((await engine.inspect(id)).State.Pid).not.toBe(pid);
    const refused = await rejection(engine.remove(id));
    expect(refused.code).toBe("BERTH_CONTAINER_STATE");
    await engine.kill(id, "SIGKILL");
    expect(await engine.wait(id)).toBe(137);
    expect((await rejection(engine.kill(id))).code).toBe("BERTH_CONTAINER_NOT_RUNNING");
    const running = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(running);
    await engine.remove(running, { force: true });
    await engine.remove(id);
    expect((await rejection(engine.start(id))).code).toBe("BERTH_CONTAINER_NOT_FOUND");
  });

  it("lists with all and filters by label, status, name, id and ancestor", async () => {
    const { engine } = ctx;
    const a = await engine.create({ image: "busybox:test", name: "list-a", cmd: ["sleep", "300"], labels: { app: "x", tier: "db" } });
    const b = await engine.create({ image: "busybox:test", name: "list-b", cmd: ["true"], labels: { app: "y" } });
    await engine.start(a);
    const names = async (o: Parameters<typeof engine.list>[0]) => (await engine.list(o)).map((c) => c.Names[0]).sort();
    expect(await names({ name: ["list-"] })).toEqual(["/list-a"]);
    expect(await names({ all: true, name: ["list-"] })).toEqual(["/list-a", "/list-b"]);
    expect(await names({ all: true, label: ["app=y"] })).toEqual(["/list-b"]);
    expect(await names({ all: true, label: ["tier"] })).toEqual(["/list-a"]);
    expect(await names({ all: true, status: ["created"], name: ["list-"] })).toEqual(["/list-b"]);
    expect(await names({ all: true, id: [b.slice(0, 8)] })).toEqual(["/list-b"]);
    expect((await names({ all: true, ancestor: ["busybox:test"], name: ["list-"] })).length).toBe(2);
    await engine.remove(a, { force: true });
    await engine.remove(b);
  });

  it("auto-removes a container once it has exited (reaped by wait)", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["true"], autoRemove: true, mounts: ["/anon"] });
    const volume = (await engine.inspect(id)).Mounts[0]!.Name!;
    await engine.start(id);
    expect(await engine.wait(id)).toBe(0);
    expect((await rejection(engine.inspect(id))).code).toBe("BERTH_CONTAINER_NOT_FOUND");
    expect(await engine.volumes.exists(volume)).toBe(false);
  });

  it("mounts anonymous and named volumes (copied up from the image), binds and tmpfs", async () => {
    const { engine, root } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "300"],
      volumes: ["/anon"],
      mounts: ["etc-copy:/etc", `${root}/bind-src:/bound:ro`],
      tmpfs: ["/scratch:size=1m"],
    });
    await engine.start(id);
    const result = await engine.exec(id, ["sh", "-c", "cat /etc/passwd | head -1; touch /bound/x 2>&1; grep -c scratch /proc/mounts"]);
    expect(result.stdout).toContain("root:x:0:0");
    expect(result.stdout).toMatch(/Read-only file system/);
    expect(result.stdout.trim().endsWith("1")).toBe(true);
    const mounts = (await engine.inspect(id)).Mounts;
    expect(mounts.map((m) => m.Destination).sort()).toEqual(["/anon", "/bound", "/etc", "/scratch"]);
    expect(existsSync(join(root, "bind-src"))).toBe(true);
    const anon = mounts.find((m) => m.Destination === "/anon")!.Name!;
    await engine.remove(id, { force: true, volumes: true });
    expect(await engine.volumes.exists(anon)).toBe(false);
    // Named volumes outlive their containers.
    expect(await engine.volumes.exists("etc-copy")).toBe(true);
    await engine.volumes.remove("etc-copy");
  });

  it("execs with env, user, workdir and stdin; a missing command is Docker's 127", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], env: { A: "1" } });
    await engine.start(id);
    const r = await engine.exec(id, ["sh", "-c", 'echo "$A $B $(id -u) $(pwd)"; cat; echo e >&2; exit 4'], {
      env: ["B=2"],
      user: "nobody",
      workingDir: "/tmp",
      input: "from-stdin\n",
    });
    expect(r).toEqual({ exitCode: 4, stdout: "1 2 65534 /tmp\nfrom-stdin\n", stderr: "e\n" });
    const missing = await engine.exec(id, ["no-such-command"]);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
    expect((await engine.exec(id, ["/etc/passwd"])).exitCode).toBe(126);
    await engine.remove(id, { force: true });
  });

  it("copies tar streams in and out with Docker's path rules, running and stopped", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    // Stopped: the rootfs is mounted for the copy.
    await engine.copyToContainer(id, "/tmp", await tarOf({ "a.txt": "A", "sub/b.txt": "B" }));
    await engine.start(id);
    expect((await engine.exec(id, ["cat", "/tmp/a.txt", "/tmp/sub/b.txt"])).stdout).toBe("AB");
    await engine.exec(id, ["sh", "-c", "mkdir -p /data/d && echo C > /data/d/c && ln -s /etc /data/link"]);
    expect(Object.keys(await namesIn(await engine.copyFromContainer(id, "/data/d"))).sort()).toEqual(["d", "d/c"]);
    expect(Object.keys(await namesIn(await engine.copyFromContainer(id, "/data/d/."))).sort()).toContain("c");
    // A symlink is copied as a link; /etc in it is the container's, resolved inside its root.
    expect(Object.keys(await namesIn(await engine.copyFromContainer(id, "/data/link")))).toEqual(["link"]);
    const passwd = await namesIn(await engine.copyFromContainer(id, "/data/link/passwd"));
    expect(passwd.passwd).toContain("user:x:1000");
    // A symlink pointing at / inside the container does not lead to the host's files.
    await engine.exec(id, ["ln", "-s", "/", "/tmp/up"]);
    await engine.copyToContainer(id, "/tmp/up/tmp", await tarOf({ "escape.txt": "no" }));
    expect(existsSync("/tmp/escape.txt")).toBe(false);
    expect((await engine.exec(id, ["cat", "/tmp/escape.txt"])).stdout).toBe("no");
    await engine.stop(id, { timeout: 0 });
    expect((await namesIn(await engine.copyFromContainer(id, "/tmp/a.txt")))["a.txt"]).toBe("A");
    expect((await rejection(engine.copyFromContainer(id, "/nope"))).code).toBe("BERTH_INVALID_ARGUMENT");
    await engine.remove(id);
  });

  it("commits the upper dir as a layer with whiteouts and the new config", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo new > /added && rm /bin/vi && rm -rf /home && mkdir /home && echo h > /home/x"] });
    await engine.start(id);
    expect(await engine.wait(id)).toBe(0);
    const imageId = await engine.commit(id, { tag: "committed:1", changes: { Cmd: ["cat", "/added"] }, comment: "test" });
    expect(imageId).toMatch(/^sha256:/);
    const child = await engine.create({ image: "committed:1" });
    await engine.start(child);
    expect(await engine.wait(child)).toBe(0);
    expect(await logLines(engine, child)).toEqual(["stdout: new"]);
    // /bin/vi was deleted (a whiteout); /home was replaced (an opaque directory hides the image's /home/user).
    const check = await engine.create({ image: "committed:1", cmd: ["sh", "-c", "ls /bin/vi 2>&1; ls /home"] });
    await engine.start(check);
    await engine.wait(check);
    const out = await logLines(engine, check);
    expect(out.join("\n")).toMatch(/No such file or directory/);
    expect(out).toContain("stdout: x");
    expect(out.join("\n")).not.toContain("user");
    for (const c of [id, child, check]) await engine.remove(c);
  });

  it("runs health checks: starting, then healthy, then unhealthy after retries, with the last results", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sleep", "300"],
      healthcheck: { test: "test ! -e /tmp/sick", interval: "100ms", timeout: "2s", retries: 2 },
    });
    await engine.start(id);
    expect((await engine.inspect(id)).State.Health?.Status).toBe("starting");
    await expect.poll(async () => (await engine.inspect(id)).State.Health?.Status, { timeout: 10_000, interval: 50 }).toBe("healthy");
    await engine.exec(id, ["touch", "/tmp/sick"]);
    await expect.poll(async () => (await engine.inspect(id)).State.Health?.Status, { timeout: 10_000, interval: 50 }).toBe("unhealthy");
    const health = (await engine.inspect(id)).State.Health!;
    expect(health.Log.length).toBeLessThanOrEqual(5);
    expect(health.FailingStreak).toBeGreaterThanOrEqual(2);
    await engine.remove(id, { force: true });
  });

  it("bad input: missing image, command not found (127), bad mount target, unknown container", async () => {
    const { engine } = ctx;
    const before = (await engine.list({ all: true })).length;
    expect((await rejection(engine.create({ image: "nope:1", pull: "never" }))).code).toBe("BERTH_IMAGE_NOT_FOUND");
    expect((await rejection(engine.create({ image: "nope:1" }))).code).toBe("BERTH_IMAGE_NOT_FOUND");
    const id = await engine.create({ image: "busybox:test", name: "no-cmd", cmd: ["no-such-binary"] });
    const failed = await rejection(engine.start(id));
    expect(failed.code).toBe("BERTH_CONTAINER_START_FAILED");
    expect(failed.exitCode).toBe(127);
    expect(failed.message).toContain('exec: "no-such-binary": executable file not found in $PATH');
    expect(failed.context?.container).toBe("no-cmd");
    expect((await engine.inspect(id)).State).toMatchObject({ Status: "created", ExitCode: 127 });
    await engine.remove(id);
    const removedOnFailure = await engine.create({ image: "busybox:test", cmd: ["no-such-binary"], autoRemove: true });
    expect((await rejection(engine.start(removedOnFailure))).code).toBe("BERTH_CONTAINER_START_FAILED");
    expect((await rejection(engine.inspect(removedOnFailure))).code).toBe("BERTH_CONTAINER_NOT_FOUND");
    const badMount = await rejection(engine.create({ image: "busybox:test", mounts: [{ type: "tmpfs", target: "relative", readonly: false }] }));
    expect(badMount.code).toBe("BERTH_MOUNT_INVALID");
    const badUser = await rejection(engine.create({ image: "busybox:test", user: "ghost" }));
    expect(badUser.message).toContain("unable to find user ghost");
    expect((await rejection(engine.stop("no-such-container"))).code).toBe("BERTH_CONTAINER_NOT_FOUND");
    // Nothing of the failed creates is left.
    expect((await engine.list({ all: true })).length).toBe(before);
  });

  it("a start killed half-way (record left 'starting') is found and removed by remove({ force })", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(id);
    // What a Node process killed after the runtime ran but before the record said so leaves behind.
    await engine.update(id, async (record) => {
      record.status = "starting";
    });
    expect((await engine.list({ all: true })).map((c) => c.Id)).toContain(id);
    // A start finds the container running and adopts it rather than starting a second one.
    const pid = (await engine.runtime.state(id)).pid;
    await engine.start(id);
    expect((await engine.inspect(id)).State).toMatchObject({ Status: "running", Pid: pid });
    await engine.update(id, async (record) => {
      record.status = "starting";
    });
    await engine.remove(id, { force: true });
    expect(existsSync(join(ctx.root, "containers", id))).toBe(false);
    expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(id);
  });

  it("two processes' worth of concurrent operations on one container see one consistent state", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await Promise.all([engine.start(id), engine.start(id), engine.start(id)]);
    expect((await engine.inspect(id)).State.Status).toBe("running");
    await Promise.all([engine.stop(id, { timeout: 0 }), engine.stop(id, { timeout: 0 })]);
    expect((await engine.inspect(id)).State.Status).toBe("exited");
    const results = await Promise.allSettled([engine.remove(id), engine.remove(id)]);
    expect(results.filter((r) => r.status === "fulfilled").length).toBeGreaterThanOrEqual(1);
    for (const r of results) if (r.status === "rejected") expect(hasErrorCode(r.reason, "BERTH_CONTAINER_NOT_FOUND")).toBe(true);
  });
  it("copies a file to /x of a running container (was: /proc/<pid>/root is a symlink: not a directory)", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(id);
    await engine.copyToContainer(id, "/", await tarOf({ x: "at the root" }));
    expect((await engine.exec(id, ["cat", "/x"])).stdout).toBe("at the root");
    expect(existsSync("/x")).toBe(false);
    expect((await namesIn(await engine.copyFromContainer(id, "/x"))).x).toBe("at the root");
    await engine.remove(id, { force: true });
  });

  it("an engine with another run root sees a running container as running and keeps it (was: reaped as dead)", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(id);
    const pid = (await engine.inspect(id)).State.Pid;
    const otherRun = join(ctx.root, "run-other");
    const other = new ContainerEngine({ stateRoot: ctx.root, runRoot: otherRun, runtime: new OciRuntime({ root: join(otherRun, "runtime"), timeout: 20_000 }) });
    try {
      expect((await other.inspect(id)).State).toMatchObject({ Status: "running", Running: true, Pid: pid });
      expect((await other.list()).map((c) => c.Id)).toContain(id);
      // Its runtime cannot act on the container: it says so instead of deleting the record.
      expect((await rejection(other.remove(id, { force: true }))).code).toBe("BERTH_CONTAINER_STATE");
      expect((await rejection(other.stop(id))).code).toBe("BERTH_CONTAINER_STATE");
      expect((await rejection(other.kill(id))).code).toBe("BERTH_CONTAINER_STATE");
      expect(existsSync(`/proc/${pid}`)).toBe(true);
      expect((await engine.inspect(id)).State.Status).toBe("running");
      await engine.stop(id, { timeout: 0 });
      expect((await other.inspect(id)).State.Status).toBe("exited");
    } finally {
      other.dispose();
    }
    await engine.remove(id);
  });

  it("a log follower does not keep Node alive while the container runs (was: follow timers not unref'd)", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo first; exec sleep 300"] });
    await engine.start(id);
    await expect.poll(async () => (await logLines(engine, id)).length, { timeout: 10_000 }).toBe(1);
    // The guard: a follower that kept Node alive would hold the child until the container stops.
    const child = await execa(process.execPath, ["--import", "tsx", follower, ctx.root, join(ctx.root, "run", "runtime"), id], { timeout: 30_000, reject: false });
    expect(child.timedOut).toBe(false);
    expect(child.exitCode).toBe(0);
    expect(child.stdout).toBe("first");
    expect((await engine.inspect(id)).State.Status).toBe("running");
    await engine.remove(id, { force: true });
  });

  it("follows logs until the container exits; since and timestamps", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done"] });
    await engine.start(id);
    const followed = await logLines(engine, id, { follow: true });
    expect(followed).toEqual(["stdout: line1", "stdout: line2", "stdout: line3"]);
    expect((await engine.inspect(id)).State.Status).toBe("exited");
    const entries = [];
    for await (const entry of engine.logs(id)) entries.push(entry);
    expect(entries[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
    expect(await logLines(engine, id, { since: entries[2]!.time })).toEqual(["stdout: line3"]);
    await engine.remove(id);
  });

  it("streams an exec's stdin and stdout", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"] });
    await engine.start(id);
    const proc = await engine.execStream(id, ["sh", "-c", "read x; echo got $x; echo bye >&2"]);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on("data", (c: Buffer) => out.push(c));
    proc.stderr.on("data", (c: Buffer) => err.push(c));
    proc.stdin.end("hello\n");
    expect(await proc.exitCode).toBe(0);
    expect(Buffer.concat(out).toString()).toBe("got hello\n");
    expect(Buffer.concat(err).toString()).toBe("bye\n");
    await engine.remove(id, { force: true });
  });
  it("applies limits and security options: memory, pids, read-only root, cap drop, extra hosts, host network", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; touch /x 2>&1; grep CapEff /proc/self/status; grep db.local /etc/hosts; ip -o link | wc -l"],
      resources: { memory: "64m", pidsLimit: 50 },
      readonlyRootfs: true,
      capDrop: ["ALL"],
      extraHosts: ["db.local:10.1.2.3"],
    });
    await engine.start(id);
    expect(await engine.wait(id)).toBe(0);
    const out = (await logLines(engine, id)).map((l) => l.replace(/^stdout: /, ""));
    expect(out[0]).toBe(String(64 * 1024 * 1024));
    expect(out[1]).toBe("50");
    expect(out[2]).toMatch(/Read-only file system/);
    expect(out[3]).toMatch(/CapEff:\s+0+$/);
    expect(out[4]).toBe("10.1.2.3\tdb.local");
    // --network none: loopback only.
    expect(out[5]).toBe("1");
    const host = await engine.create({ image: "busybox:test", cmd: ["hostname"], network: "host" });
    await engine.start(host);
    await engine.wait(host);
    expect(await logLines(engine, host)).toEqual([`stdout: ${(await import("node:os")).hostname()}`]);
    expect((await engine.inspect(host)).HostConfig.NetworkMode).toBe("host");
    await engine.remove(id);
    await engine.remove(host);
  });

  it("records an OOM kill", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"],
      resources: { memory: "16m", memorySwap: "16m" },
    });
    await engine.start(id);
    const code = await engine.wait(id);
    const state = (await engine.inspect(id)).State;
    expect(state.OOMKilled).toBe(true);
    expect(code).toBe(137);
    await engine.remove(id);
  });
  it("pull policy: missing pulls only what is absent, always pulls, never does not", async () => {
    const pulls: string[] = [];
    const engine = new ContainerEngine({
      stateRoot: ctx.root,
      runtime: ctx.engine.runtime,
      pull: async (_images, reference) => {
        pulls.push(reference);
      },
    });
    const present = await engine.create({ image: "busybox:test", cmd: ["true"] });
    expect(pulls).toEqual([]);
    const always = await engine.create({ image: "busybox:test", cmd: ["true"], pull: "always" });
    expect(pulls).toEqual(["busybox:test"]);
    expect((await rejection(engine.create({ image: "absent:1" }))).code).toBe("BERTH_IMAGE_NOT_FOUND");
    expect(pulls).toEqual(["busybox:test", "absent:1"]);
    expect((await rejection(engine.create({ image: "absent:1", pull: "never" }))).code).toBe("BERTH_IMAGE_NOT_FOUND");
    expect(pulls.length).toBe(2);
    const byImage = await engine.create({ image: ctx.image, cmd: ["true"] });
    expect((await engine.inspect(byImage)).Image).toBe(ctx.image.id);
    for (const id of [present, always, byImage]) await engine.remove(id);
  });
});
