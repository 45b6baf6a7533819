import { expect, it } from "vitest";
import { until } from "../../helpers/stream-text.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { logLines, useEngineContext } from "./engine-context.js";

describeAsRoot("engine tty: a pseudo-terminal kept by the monitor (run -t) or by the exec process (exec -t)", () => {
  const ctx = useEngineContext();

  it("a tty container's stdin is /dev/pts/0, `stty size` follows a resize, and its log is the terminal's output", async () => {
    const { engine } = ctx;
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sh", "-c", "tty; stty size; read x; stty size; echo got $x"],
      tty: true,
      openStdin: true,
    });
    const session = await engine.attach(id, { stdin: true });
    // Sent before the start: the process starts with this size.
    session.resize(30, 100);
    await engine.start(id);
    expect(await until(session.stdout, /30 100\r\n/)).toBe("/dev/pts/0\r\n30 100\r\n");
    session.resize(50, 132);
    session.stdin!.write("hi\r");
    // The terminal echoes what was typed, then the new size.
    expect(await until(session.stdout, /got hi\r\n/)).toBe("hi\r\n50 132\r\ngot hi\r\n");
    expect(await session.exitCode).toBe(0);
    expect(await logLines(engine, id)).toEqual(["stdout: /dev/pts/0\r", "stdout: 30 100\r", "stdout: hi\r", "stdout: 50 132\r", "stdout: got hi\r"]);
    expect((await engine.inspect(id)).Config.Tty).toBe(true);
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("Ctrl-C typed into the terminal reaches the container as SIGINT (the pty makes it one)", async () => {
    const { engine } = ctx;
    // The init is pid 1: only a signal it handles reaches it, hence the trap.
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "trap 'echo INT; exit 5' INT; echo go; while :; do sleep 0.1; done"], tty: true, openStdin: true });
    const session = await engine.attach(id, { stdin: true });
    await engine.start(id);
    await until(session.stdout, /go\r\n/);
    session.stdin!.write("\x03");
    expect(await until(session.stdout, /INT\r\n/)).toMatch(/INT\r\n$/);
    expect(await session.exitCode).toBe(5);
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("Ctrl-C typed into an exec -t interrupts its `sleep` (exit 130)", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "60"] });
    await engine.start(id);
    const proc = await engine.execStream(id, ["sh", "-c", "echo go; exec sleep 60"], { tty: true });
    await until(proc.stdout, /go\r\n/);
    proc.stdin.write("\x03");
    expect(await proc.exitCode).toBe(130);
    await engine.remove(id, { force: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("EOF on the attached stdin does not close a terminal's stdin (^D is a byte there)", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "read x; echo got $x"], tty: true, openStdin: true });
    await engine.start(id);
    const one = await engine.attach(id, { stdin: true });
    one.stdin!.end();
    one.detach();
    await one.exitCode;
    expect((await engine.inspect(id)).State.Running).toBe(true);
    const two = await engine.attach(id, { stdin: true });
    two.stdin!.write("still\r");
    await until(two.stdout, /got still\r\n/);
    expect(await two.exitCode).toBe(0);
    await engine.remove(id);
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("exec -t: the process has a terminal of the given size, resizable, with its output on stdout", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "60"] });
    await engine.start(id);
    const result = await engine.exec(id, ["sh", "-c", "tty; stty size; echo err >&2"], { tty: true, consoleSize: { rows: 33, cols: 77 } });
    expect(result).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^\/dev\/pts\/\d+\r\n33 77\r\nerr\r\n$/), stderr: "" });

    const proc = await engine.execStream(id, ["sh", "-c", "read x; stty size; echo got $x; exit 4"], { tty: true });
    proc.resize(40, 90);
    proc.stdin.write("typed\r");
    const out = until(proc.stdout, /got typed\r\n/);
    expect(await proc.exitCode).toBe(4);
    expect(await out).toBe("typed\r\n40 90\r\ngot typed\r\n");
    await engine.remove(id, { force: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
  });

  it("exec -i without a terminal pipes stdin through", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "60"] });
    await engine.start(id);
    expect(await engine.exec(id, ["sh", "-c", "read x; echo got $x"], { input: "piped\n" })).toEqual({ exitCode: 0, stdout: "got piped\n", stderr: "" });
    await engine.remove(id, { force: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
  });
});
