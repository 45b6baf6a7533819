// A Node process SIGKILLed inside `start` once the network is prepared: the container's record
// is written once, when the start is done, so what the network holds (namespace, veth,
// address, name, proxy) must be found from the record kept since create and the network
// layer's own state, by a later start, adopt or remove in another process.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { Network } from "../../../src/network/network.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore, type ContainerNetworkState } from "../../../src/network/network-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime, resolveRuntime } from "../../../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { firstStdoutLine } from "../../helpers/first-line.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { isProxyAlive, testSubnet } from "./net-fixture.js";

const child = fileURLToPath(new URL("./start-and-hang.ts", import.meta.url));

describeAsRoot("network: a start killed after the network was prepared", () => {
  let root: string;
  let engine: ContainerEngine;
  let manager: NetworkManager;
  let net: Network;
  let kills = 0;

  beforeAll(async () => {
    root = await makeTempDir("berth-netkill-");
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
    engine = new ContainerEngine({ stateRoot: root, runRoot: join(root, "run"), runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }), pull: async () => {} });
    manager = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
    net = await Network.create({ name: "killed", subnet: testSubnet().subnet, manager });
  });

  afterAll(async () => {
    if (!engine) return;
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true });
    engine.dispose();
    await net?.remove().catch(() => {});
    await execa("umount", [manager.store.netnsDir], { reject: false });
    await removeTempDir(root);
  });

  /**
   * Starts the child with a runtime wrapper that hangs at `run`, before running the container
   * (`before`) or once it runs (`after`), and SIGKILLs it there. Returns the container's id and
   * what the network layer held for it at that moment.
   */
  async function killInStart(when: "before" | "after"): Promise<{ id: string; held: ContainerNetworkState; hostIfname: string }> {
    const n = ++kills;
    const wrapper = join(root, `berth-runtime-hang-${n}`);
    const hangPid = join(root, `hang-${n}.pid`);
    const hang = `case " $* " in *" run "*) echo $$ > "${hangPid}"; exec sleep 300 ;; esac`;
    const runtime = `"${resolveRuntime("berth-runtime")}" "$@" || exit $?`;
    await writeFile(wrapper, `#!/bin/sh\n${when === "before" ? `${hang}\n${runtime}` : `${runtime}\n${hang}`}\n`);
    await chmod(wrapper, 0o755);
    const proc = spawn(process.execPath, ["--import", "tsx", child, root, join(root, "run"), wrapper, net.name], { stdio: ["ignore", "pipe", "inherit"] });
    const id = await firstStdoutLine(proc, "printing an id");
    await expect.poll(async () => (await readFile(hangPid, "utf8").catch(() => "")).trim() !== "", { timeout: 20_000, interval: 20 }).toBe(true);
    proc.kill("SIGKILL");
    // The wrapper's `sleep` outlives its parent: it is ours to end.
    process.kill(Number(await readFile(hangPid, "utf8")), "SIGKILL");
    const held = (await manager.container(id))!;
    expect(held).toBeDefined();
    expect(existsSync(held.netnsPath)).toBe(true);
    expect(isProxyAlive(held.proxy!.pid)).toBe(true);
    const hostIfname = (await manager.store.read(net.id))!.endpoints[id]!.hostIfname;
    return { id, held, hostIfname };
  }

  async function expectReleased(id: string, held: ContainerNetworkState, hostIfname: string): Promise<void> {
    expect(await manager.container(id)).toBeUndefined();
    expect(existsSync(held.netnsPath)).toBe(false);
    expect(isProxyAlive(held.proxy!.pid)).toBe(false);
    expect(existsSync(held.proxy!.pidFile)).toBe(false);
    expect((await manager.store.read(net.id))!.endpoints[id]).toBeUndefined();
    expect((await execa("ip", ["link", "show", hostIfname], { reject: false })).exitCode).not.toBe(0);
  }

  it("killed before the runtime ran it: remove({ force }) releases the namespace, veth, address and proxy", async () => {
    const { id, held, hostIfname } = await killInStart("before");
    expect((await engine.inspect(id)).State.Status).toBe("created");
    await engine.remove(id, { force: true });
    await expectReleased(id, held, hostIfname);
  }, 60_000);

  it("killed before the runtime ran it: a new start replaces what the dead one prepared", async () => {
    const { id, held, hostIfname } = await killInStart("before");
    await engine.start(id);
    expect((await engine.inspect(id)).State.Status).toBe("running");
    const now = (await manager.container(id))!;
    expect(isProxyAlive(held.proxy!.pid)).toBe(false);
    expect(isProxyAlive(now.proxy!.pid)).toBe(true);
    expect((await execa("ip", ["link", "show", hostIfname], { reject: false })).exitCode).not.toBe(0);
    await engine.remove(id, { force: true });
    await expectReleased(id, now, (await manager.store.read(net.id))?.endpoints[id]?.hostIfname ?? "gone");
  }, 60_000);

  it("killed once the container ran: a start adopts it with the network the dead start prepared, and remove releases it", async () => {
    const { id, held, hostIfname } = await killInStart("after");
    expect((await engine.inspect(id)).State.Status).toBe("created");
    await engine.start(id);
    const inspect = await engine.inspect(id);
    expect(inspect.State.Status).toBe("running");
    // Carried by the start mark, not by a record write after the prepare.
    expect(inspect.NetworkSettings.SandboxKey).toBe(held.netnsPath);
    // Adopted, not started again: the same proxy.
    expect((await manager.container(id))!.proxy!.pid).toBe(held.proxy!.pid);
    await engine.remove(id, { force: true });
    await expectReleased(id, held, hostIfname);
  }, 60_000);
});
