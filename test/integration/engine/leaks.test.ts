import { spawn } from "node:child_process";
import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { resolveRuntime } from "../../../src/runtime/oci-runtime.js";
import { findLeaks } from "../../helpers/leaks.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useEngineContext, type EngineContext } from "./engine-context.js";
import { firstStdoutLine } from "../../helpers/first-line.js";

const hanger = fileURLToPath(new URL("./fixtures/start-and-hang.ts", import.meta.url));
const operator = fileURLToPath(new URL("./fixtures/engine-op.ts", import.meta.url));

/** Runs one engine operation in a separate Node process; resolves with what it printed. */
function inAnotherProcess(root: string, op: string, ref: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", operator, root, join(root, "run", "runtime"), op, ref], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    child.on("error", reject);
    child.on("exit", () => {
      clearTimeout(timer);
      resolve(out.trim());
    });
  });
}

/** Everything berth could leave of the containers of this state root: mounts, cgroups, processes, dirs. */
async function leaksOf(ctx: EngineContext, ids: string[]): Promise<string[]> {
  const leaks: string[] = [];
  for (const id of ids) leaks.push(...findLeaks({ match: id, paths: [join(ctx.root, "containers")] }));
  const entries = (await readdir(join(ctx.root, "containers"))).filter((e) => ids.some((id) => e.includes(id)));
  leaks.push(...entries.map((e) => `state ${e}`));
  const runtimeState = await readdir(join(ctx.root, "run", "runtime")).catch(() => [] as string[]);
  leaks.push(...runtimeState.filter((e) => ids.some((id) => e.includes(id))).map((e) => `runtime state ${e}`));
  return leaks;
}

describeAsRoot("container engine leaks", () => {
  const ctx = useEngineContext();

  it("100 run/remove cycles leave no mount, cgroup, process, runtime state or container dir", async () => {
    const { engine } = ctx;
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const id = await engine.create({ image: "busybox:test", cmd: ["true"], mounts: ["/anon"] });
      ids.push(id);
      await engine.start(id);
      expect(await engine.wait(id)).toBe(0);
      await engine.remove(id, { volumes: true });
    }
    expect(await leaksOf(ctx, ids)).toEqual([]);
    expect(await engine.volumes.list()).toEqual([]);
    expect(await readdir(join(ctx.root, "containers", "names"))).toEqual([]);
  }, 120_000);

  it("a Node process SIGKILLed in the middle of start leaves what remove({ force }) finds and cleans", async () => {
    const { engine, root } = ctx;
    // A runtime that runs the container and then hangs, so the engine is stuck inside `start`.
    const wrapper = join(root, "berth-runtime-hang");
    const hangPid = join(root, "hang.pid");
    await writeFile(
      wrapper,
      `#!/bin/sh\n"${resolveRuntime("berth-runtime")}" "$@" || exit $?\ncase " $* " in *" run "*) echo $$ > "${hangPid}"; exec sleep 300 ;; esac\n`,
    );
    await chmod(wrapper, 0o755);
    const child = spawn(process.execPath, ["--import", "tsx", hanger, root, join(root, "run", "runtime"), wrapper], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const id = await firstStdoutLine(child, "printing an id");
    await expect.poll(async () => (await engine.runtime.state(id).catch(() => undefined))?.status, { timeout: 20_000, interval: 50 }).toBe("running");
    expect((await engine.inspect(id)).State.Status).toBe("created");
    // The wrapper writes its pid once `run` returned, a moment after the container runs.
    await expect.poll(async () => (await readFile(hangPid, "utf8").catch(() => "")).trim() !== "", { timeout: 20_000, interval: 20 }).toBe(true);
    child.kill("SIGKILL");
    // The wrapper's `sleep` outlives its parent: it is ours to end.
    process.kill(Number(await readFile(hangPid, "utf8")), "SIGKILL");
    await engine.remove(id, { force: true, volumes: true });
    expect(await leaksOf(ctx, [id])).toEqual([]);
  }, 60_000);
  it("two processes starting, then stopping, then removing one container at once see one consistent state", async () => {
    const { engine, root } = ctx;
    const id = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], mounts: ["/anon"] });
    const volume = (await engine.inspect(id)).Mounts[0]!.Name!;
    expect(await Promise.all([inAnotherProcess(root, "start", id), inAnotherProcess(root, "start", id)])).toEqual(["ok", "ok"]);
    expect((await engine.inspect(id)).State.Status).toBe("running");
    expect((await engine.runtime.list()).filter((s) => s.id === id).length).toBe(1);
    expect(await Promise.all([inAnotherProcess(root, "stop", id), inAnotherProcess(root, "stop", id)])).toEqual(["ok", "ok"]);
    expect((await engine.inspect(id)).State.Status).toBe("exited");
    const removed = (await Promise.all([inAnotherProcess(root, "remove", id), inAnotherProcess(root, "remove", id)])).sort();
    expect(removed).toEqual(["BERTH_CONTAINER_NOT_FOUND", "ok"]);
    expect(await leaksOf(ctx, [id])).toEqual([]);
    expect(await engine.volumes.exists(volume)).toBe(false);
  }, 60_000);
});
