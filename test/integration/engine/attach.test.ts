import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AttachSession } from "../../../src/runtime/engine/index.js";
import { findLeaks } from "../../helpers/leaks.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { createEngineContext, logLines, type EngineContext } from "./engine-context.js";

/** Everything a stream gives until it ends. */
async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Resolves once `stream` has given text matching `pattern` (the text so far is returned). */
function until(stream: Readable, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (pattern.test(seen)) {
        stream.off("data", onData);
        resolve(seen);
      }
    };
    stream.on("data", onData);
    stream.once("end", () => reject(new Error(`stream ended before ${pattern}: ${JSON.stringify(seen)}`)));
  });
}

/** Nothing of the container is left: mounts, cgroups, processes, state, runtime state. */
async function expectNoLeaks(ctx: EngineContext, id: string): Promise<void> {
  const leaks = findLeaks({ match: id, paths: [join(ctx.root, "containers", id)] });
  const runtimeState = await readdir(join(ctx.root, "run", "runtime")).catch(() => [] as string[]);
  leaks.push(...runtimeState.filter((e) => e.includes(id)).map((e) => `runtime state ${e}`));
  expect(leaks).toEqual([]);
}

describeAsRoot("engine attach: stdin, output and exit through the monitor's attach socket", () => {
  let ctx: EngineContext;
  beforeAll(async () => {
    ctx = await createEngineContext();
  });
  afterAll(async () => {
    await ctx?.dispose();
  });

  it("pipes stdin to cat and gets it back, then the exit code when stdin ends", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["cat"], openStdin: true });
    const session = await engine.attach(id, { stdin: true, stdout: true, stderr: true, stream: true });
    await engine.start(id);
    const out = text(session.stdout);
    session.stdin!.write("hello\n");
    session.stdin!.end("world\n");
    expect(await out).toBe("hello\nworld\n");
    expect(await session.exitCode).toBe(0);
    expect(await engine.wait(id)).toBe(0);
    // The log has what the attach saw.
    expect(await logLines(engine, id)).toEqual(["stdout: hello", "stdout: world"]);
    await engine.remove(id);
    await expectNoLeaks(ctx, id);
  });

  it("sh -c 'read x; echo got $x' reads a line typed after it started, stderr kept apart", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "echo ready; read x; echo got $x; echo oops >&2; exit 7"], openStdin: true });
    const session = await engine.attach(id, { stdin: true });
    const err = text(session.stderr);
    await engine.start(id);
    // Attached before the start: the first line is not missed.
    await until(session.stdout, /ready\n/);
    session.stdin!.write("berth\n");
    expect(await until(session.stdout, /got berth\n/)).toBe("got berth\n");
    expect(await session.exitCode).toBe(7);
    expect(await err).toBe("oops\n");
    await engine.remove(id);
    await expectNoLeaks(ctx, id);
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
    expect(await text(two.stdout)).toBe("second y\n");
    expect(await two.exitCode).toBe(0);
    await engine.remove(id, { force: true });
    await expectNoLeaks(ctx, id);
  });

  it("an auto-removed container attached before its start is gone after its exit", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", "cat; echo done"], openStdin: true, autoRemove: true });
    const session = await engine.attach(id, { stdin: true });
    await engine.start(id);
    session.stdin!.end("line\n");
    expect(await text(session.stdout)).toBe("line\ndone\n");
    expect(await session.exitCode).toBe(0);
    await engine.wait(id).catch(() => 0);
    expect((await engine.list({ all: true })).map((c) => c.Id)).not.toContain(id);
    await expectNoLeaks(ctx, id);
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
    await expectNoLeaks(ctx, id);
  });

  it("fails with BERTH_ATTACH_FAILED on a running container started without an attach endpoint", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "30"] });
    await engine.start(id);
    await expect(engine.attach(id)).rejects.toMatchObject({ code: "BERTH_ATTACH_FAILED" });
    await engine.remove(id, { force: true });
    await expectNoLeaks(ctx, id);
  });

  it("a session whose start fails is rejected with the start's error and leaves nothing", async () => {
    const { engine } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["/no/such/command"], openStdin: true });
    const session: AttachSession = await engine.attach(id, { stdin: true });
    await expect(engine.start(id)).rejects.toMatchObject({ code: "BERTH_CONTAINER_START_FAILED", exitCode: 127 });
    session.detach();
    expect(await session.exitCode).toBeUndefined();
    await engine.remove(id);
    await expectNoLeaks(ctx, id);
  });
});
