// The create and start fast paths: one record write per create, the rootfs mounted while the
// spec is written (with the image's user and working directory learnt once per image), the
// start marked on the run root instead of in the record. What they must not change: the
// resolved user and directory, and what a process killed half-way leaves.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { isOverlayMounted } from "../../../src/runtime/engine/overlay-rootfs.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { logLines, useEngineContext } from "./engine-context.js";
import { firstStdoutLine } from "../../helpers/first-line.js";

const hanger = fileURLToPath(new URL("./fixtures/create-and-hang.ts", import.meta.url));

describeAsRoot("the engine's create and start paths", () => {
  const ctx = useEngineContext();

  it("resolves the user and working directory in the rootfs for the first container of an image and the next ones alike", async () => {
    const { engine } = ctx;
    const cases = [
      { user: "user", workingDir: "/tmp" },
      { user: "nobody:tty", workingDir: "/made/at/create" },
      { user: "1234:5", workingDir: "/" },
      { user: "", workingDir: "/home/user", groupAdd: ["nogroup", 77] },
    ];
    const seen: string[][] = [];
    for (let round = 0; round < 2; round++) {
      for (const c of cases) {
        const id = await engine.create({ image: "busybox:test", cmd: ["sh", "-c", 'id -u; id -g; id -G; pwd; echo "$HOME"'], ...c });
        await engine.start(id);
        expect(await engine.wait(id)).toBe(0);
        const lines = await logLines(engine, id);
        await engine.remove(id);
        if (round === 0) seen.push(lines);
        else expect(lines).toEqual(seen[cases.indexOf(c)]);
      }
    }
    expect(seen).toEqual([
      ["stdout: 1000", "stdout: 1000", "stdout: 1000", "stdout: /tmp", "stdout: /home/user"],
      ["stdout: 65534", "stdout: 5", "stdout: 5", "stdout: /made/at/create", "stdout: /"],
      ["stdout: 1234", "stdout: 5", "stdout: 5", "stdout: /", "stdout: /"],
      ["stdout: 0", "stdout: 0", "stdout: 0 77 65534", "stdout: /home/user", "stdout: /root"],
    ]);
    // An unknown user fails the create every time, leaving nothing.
    const before = (await engine.list({ all: true })).length;
    for (let i = 0; i < 2; i++) {
      await expect(engine.create({ image: "busybox:test", cmd: ["true"], user: "ghost" })).rejects.toMatchObject({ code: "BERTH_INVALID_ARGUMENT" });
    }
    expect((await engine.list({ all: true })).length).toBe(before);
  }, 60_000);

  it("a start leaves no mark on the run root, whether it succeeded or failed", async () => {
    const { engine, root } = ctx;
    const marks = () => (existsSync(join(root, "run", "starting")) ? readdirSync(join(root, "run", "starting")) : []);
    const ok = await engine.create({ image: "busybox:test", cmd: ["true"] });
    await engine.start(ok);
    expect(marks()).toEqual([]);
    const missing = await engine.create({ image: "busybox:test", cmd: ["/no/such/command"] });
    await expect(engine.start(missing)).rejects.toMatchObject({ code: "BERTH_CONTAINER_START_FAILED", exitCode: 127 });
    expect(marks()).toEqual([]);
    // Docker shows a container whose start failed as created, with the exit code.
    expect((await engine.inspect(missing)).State).toMatchObject({ Status: "created", ExitCode: 127 });
    await engine.remove(ok);
    await engine.remove(missing);
  }, 30_000);

  it("a Node process SIGKILLed in the middle of create leaves a container that start refuses and remove({ force }) cleans", async () => {
    const { engine, root } = ctx;
    const child = spawn(process.execPath, ["--import", "tsx", hanger, root, join(root, "run", "runtime")], { stdio: ["ignore", "pipe", "inherit"] });
    const id = await firstStdoutLine(child, "its create hung");
    child.kill("SIGKILL");
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    // Its record was written first and its rootfs mounted: both are remove's to undo.
    expect(isOverlayMounted(join(root, "containers", id, "merged"))).toBe(true);
    await expect(engine.start("half-made")).rejects.toMatchObject({ code: "BERTH_CONTAINER_STATE" });
    await engine.remove("half-made", { force: true, volumes: true });
    expect(await ctx.leaksOf(id)).toEqual([]);
    expect(existsSync(join(root, "containers", id))).toBe(false);
    expect(existsSync(join(root, "containers", "names", "half-made"))).toBe(false);
    await expect(engine.store.resolve("half-made")).rejects.toMatchObject({ code: "BERTH_CONTAINER_NOT_FOUND" });
    const snapshots = join(root, "image", "snapshots");
    for (const s of readdirSync(snapshots).filter((e) => !e.startsWith("."))) {
      expect(existsSync(join(snapshots, s, "users", id))).toBe(false);
    }
  }, 60_000);
});
