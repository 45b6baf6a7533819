import { existsSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { Network } from "../../../src/network/network.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { isProxyAlive, testSubnet } from "./net-fixture.js";

async function httpGet(port: number, host = "127.0.0.1"): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const response = await fetch(`http://${host.includes(":") ? `[${host}]` : host}:${port}/`, { signal: AbortSignal.timeout(2_000) });
      return await response.text();
    } catch (error) {
      // httpd may not listen yet: the proxy resets the connection until it does.
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describeAsRoot("network: through the container engine (busybox)", () => {
  let root: string;
  let engine: ContainerEngine;
  let manager: NetworkManager;

  beforeAll(async () => {
    root = await makeTempDir("berth-netengine-");
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
    engine = new ContainerEngine({
      stateRoot: root,
      runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }),
      pull: async () => {},
    });
    manager = new NetworkManager({ store: new NetworkStore({ stateRoot: root, runRoot: join(root, "run") }) });
  });

  afterAll(async () => {
    if (!engine) return;
    engine.dispose();
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true });
    for (const n of await manager.store.list()) await manager.removeNetwork(n.id).catch(() => {});
    await execa("umount", [manager.store.netnsDir], { reject: false });
    await removeTempDir(root);
  });

  it("busybox containers on a user network ping each other by name and alias, one started later too", async () => {
    const net = await Network.create({ name: "app", subnet: testSubnet().subnet, manager });
    const run = async (name: string, aliases: string[] = []) => {
      const id = await engine.create({
        image: "busybox:test",
        name,
        cmd: ["sleep", "300"],
        network: new BridgeAttachment({ networks: [{ network: net, aliases }], manager }),
      });
      await engine.start(id);
      return id;
    };
    const db = await run("db", ["database"]);
    const web = await run("web");
    expect((await engine.exec(web, ["ping", "-c", "1", "-W", "2", "db"])).exitCode).toBe(0);
    expect((await engine.exec(web, ["ping", "-c", "1", "-W", "2", "database"])).exitCode).toBe(0);
    expect((await engine.exec(db, ["ping", "-c", "1", "-W", "2", "web"])).exitCode).toBe(0);
    // Started after web: web's /etc/hosts (a bind mount) is rewritten in place.
    const late = await run("late", ["cache"]);
    expect((await engine.exec(web, ["ping", "-c", "1", "-W", "2", "cache"])).exitCode).toBe(0);
    expect((await engine.exec(late, ["ping", "-c", "1", "-W", "2", "db"])).exitCode).toBe(0);
    expect((await engine.exec(web, ["ping", "-c", "1", "-W", "2", "host.berth.internal"])).exitCode).toBe(0);

    // A restart gets a fresh namespace and its names again.
    await engine.stop(db, { timeout: 1 });
    await engine.start(db);
    expect((await engine.exec(web, ["ping", "-c", "1", "-W", "2", "database"])).exitCode).toBe(0);
    expect((await engine.exec(db, ["ping", "-c", "1", "-W", "2", "late"])).exitCode).toBe(0);

    const netnsPath = (await manager.container(web))!.netnsPath;
    await expect(net.remove()).rejects.toMatchObject({ code: "BERTH_NETWORK_IN_USE" });
    for (const id of [db, web, late]) await engine.remove(id, { force: true });
    expect(existsSync(netnsPath)).toBe(false);
    expect(Object.keys((await net.inspect()).Containers)).toEqual([]);
    await net.remove();
  });

  it("publishes a busybox httpd's port on 127.0.0.1 and ::1, and stops the proxy on remove", async () => {
    const net = await Network.create({ name: "web", subnet: testSubnet().subnet, manager });
    const attachment = new BridgeAttachment({ networks: [net], ports: ["0:80"], manager });
    const id = await engine.create({
      image: "busybox:test",
      cmd: ["sh", "-c", "mkdir -p /www && echo hello from busybox > /www/index.html && exec httpd -f -p 80 -h /www"],
      network: attachment,
    });
    await engine.start(id);
    const port = attachment.publishedPorts[0]!.hostPort;
    expect(await httpGet(port)).toBe("hello from busybox\n");
    expect(await httpGet(port, "::1")).toBe("hello from busybox\n");
    const pid = (await manager.container(id))!.proxy!.pid;
    await engine.remove(id, { force: true });
    expect(isProxyAlive(pid)).toBe(false);
    await net.remove();
  });
});
