import { expect, it } from "vitest";
import type { AttachSession } from "../../../src/runtime/engine/index.js";
import { readAll, until } from "../../helpers/stream-text.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { logLines, useEngineContext } from "./engine-context.js";

describeAsRoot("engine attach: stdin, output and exit through the monitor's attach socket", () => {
  const ctx = useEngineContext();

  it("pipes stdin to cat and gets it back, then the exit code when stdin ends", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["cat"], openStdin: true });
    const session = await engine.attach(id, { stdin: true, stdout: true, stderr: true, stream: true });
    await engine.start(id);
    const out = readAll(session.stdout);
    session.stdin!.write("hello\n");
    session.stdin!.end("world\n");
    expect(await out).toBe("hello\nworld\n");
    expect(await session.exitCode).toBe(0);
    expect(await engine.wait(id)).toBe(0);
    // The log has what the attach saw.
    expect(await logLines(engine, id)).toEqual(["stdout: hello", "stdout: world"]);
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("sh -c 'read x; echo got $x' reads a line typed after it started, stderr kept apart", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo ready; read x; echo got $x; echo oops >&2; exit 7"], openStdin: true });
    const session = await engine.attach(id, { stdin: true });
    const err = readAll(session.stderr);
    await engine.start(id);
    // Attached before the start: the first line is not missed.
    await until(session.stdout, /ready\n/);
    session.stdin!.write("berth\n");
    expect(await until(session.stdout, /got berth\n/)).toBe("got berth\n");
    expect(await session.exitCode).toBe(7);
    expect(await err).toBe("oops\n");
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("keeps stdin open across attaches: a detach leaves the container running, the next attach writes on", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "read a; echo first $a; read b; echo second $b"], openStdin: true });
    await engine.start(id);
    const one = await engine.attach(id, { stdin: true });
    one.stdin!.write("x\n");
    await until(one.stdout, /first x\n/);
    one.detach();
    expect(await one.exitCode).toBeUndefined();
    expect((await engine.inspect(id)).State.Running).toBe(true);
    const two = await engine.attach(id, { stdin: true });
    two.stdin!.write("y\n");
    expect(await readAll(two.stdout)).toBe("second y\n");
    expect(await two.exitCode).toBe(0);
    await engine.remove(id, { force: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("an auto-removed container attached before its start is gone after its exit", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "cat; echo done"], openStdin: true, autoRemove: true });
    const session = await engine.attach(id, { stdin: true });
    await engine.start(id);
    session.stdin!.end("line\n");
    expect(await readAll(session.stdout)).toBe("line\ndone\n");
    expect(await session.exitCode).toBe(0);
    await engine.wait(id).catch(() => 0);
    expect((await engine.list({ all: true })).map((c) => c.Id)).not.toContain(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("a container removed by force under two attached sessions ends both with 137 and leaves nothing", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo up; exec cat"], openStdin: true, tty: true });
    const one = await engine.attach(id, { stdin: true });
    await engine.start(id);
    await until(one.stdout, /up/);
    const two = await engine.attach(id, { stdin: true });
    two.stdin!.write("both\r");
    // Every session gets all output.
    await Promise.all([until(one.stdout, /both/), until(two.stdout, /both/)]);
    await engine.remove(id, { force: true });
    expect(await one.exitCode).toBe(137);
    expect(await two.exitCode).toBe(137);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("fails with BERTH_ATTACH_FAILED on a running container started without an attach endpoint", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "30"] });
    await engine.start(id);
    await expect(engine.attach(id)).rejects.toMatchObject({ code: "BERTH_ATTACH_FAILED" });
    await engine.remove(id, { force: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("a session whose start fails is rejected with the start's error and leaves nothing", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["/no/such/command"], openStdin: true });
    const session: AttachSession = await engine.attach(id, { stdin: true });
    await expect(engine.start(id)).rejects.toMatchObject({ code: "BERTH_CONTAINER_START_FAILED", exitCode: 127 });
    session.detach();
    expect(await session.exitCode).toBeUndefined();
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });
});
