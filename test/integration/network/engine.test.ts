import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { pack } from "tar-stream";
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
import type { ContainerNetworkState } from "../../../src/network/network-store.js";
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
      runRoot: join(root, "run"),
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
    expect((await engine.inspect(id)).HostConfig.NetworkMode).toBe("web");
    expect(await httpGet(port)).toBe("hello from busybox\n");
    expect(await httpGet(port, "::1")).toBe("hello from busybox\n");
    const pid = (await manager.container(id))!.proxy!.pid;
    await engine.remove(id, { force: true });
    expect(isProxyAlive(pid)).toBe(false);
    await net.remove();
  });

  const serve = (name: string) => ["sh", "-c", `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 80 -h /www`];
  const ping = async (from: string, name: string) => (await engine.exec(from, ["ping", "-c", "1", "-W", "2", name])).exitCode;

  interface Held {
    state: ContainerNetworkState;
    hostIfnames: string[];
  }

  /** What a container holds in the network layer, to check that it is all gone later. */
  async function holdings(id: string): Promise<Held> {
    const state = await manager.container(id);
    expect(state).toBeDefined();
    const hostIfnames = (await manager.store.list()).map((n) => n.endpoints[id]?.hostIfname).filter((name): name is string => !!name);
    expect(hostIfnames.length).toBeGreaterThan(0);
    return { state: state!, hostIfnames };
  }

  async function expectReleased(id: string, held: Held, net: Network): Promise<void> {
    expect(await manager.container(id)).toBeUndefined();
    expect(existsSync(held.state.netnsPath)).toBe(false);
    if (held.state.proxy) expect(isProxyAlive(held.state.proxy.pid)).toBe(false);
    for (const record of await manager.store.list()) expect(record.endpoints[id]).toBeUndefined();
    expect((await net.inspect()).Containers[id]).toBeUndefined();
    for (const ifname of held.hostIfnames) expect((await execa("ip", ["link", "show", ifname], { reject: false })).exitCode).not.toBe(0);
  }

  it("two containers on one user network keep their own aliases and ports (regression: one attachment per network name)", async () => {
    const net = await Network.create({ name: "pair", subnet: testSubnet().subnet, manager });
    const make = async (name: string, alias: string) => {
      const attachment = new BridgeAttachment({ networks: [{ network: net, aliases: [alias] }], ports: ["0:80"], manager });
      const id = await engine.create({ image: "busybox:test", name, cmd: serve(name), network: attachment });
      return { id, attachment };
    };
    const a = await make("alpha", "first");
    const b = await make("beta", "second");
    // Started at once: each one's hosts file is written under the network lock, so the other's
    // attach finds it complete and adds itself to it.
    await Promise.all([engine.start(a.id), engine.start(b.id)]);
    // The mode is the network's name, not a per-attachment one.
    expect((await engine.inspect(b.id)).HostConfig.NetworkMode).toBe("pair");
    expect(await httpGet(a.attachment.publishedPorts[0]!.hostPort)).toBe("alpha\n");
    expect(await httpGet(b.attachment.publishedPorts[0]!.hostPort)).toBe("beta\n");
    expect(await ping(a.id, "second")).toBe(0);
    expect(await ping(a.id, "beta")).toBe(0);
    expect(await ping(b.id, "first")).toBe(0);
    expect(await ping(b.id, "alpha")).toBe(0);
    for (const c of [a, b]) await engine.remove(c.id, { force: true });
    await net.remove();
  });

  it("a fresh engine in a child process starts and removes a container created here, releasing everything", async () => {
    const net = await Network.create({ name: "shared", subnet: testSubnet().subnet, manager });
    const peerAttachment = new BridgeAttachment({ networks: [net], manager });
    const peer = await engine.create({ image: "busybox:test", name: "peer", cmd: ["sleep", "300"], network: peerAttachment });
    await engine.start(peer);
    const id = await engine.create({
      image: "busybox:test",
      name: "remote",
      cmd: serve("remote"),
      network: new BridgeAttachment({ networks: [{ network: net, aliases: ["far"] }], ports: ["0:80"], manager }),
    });
    const script = fileURLToPath(new URL("./engine-child.ts", import.meta.url));
    const tsx = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url));
    const child = async (action: string) => {
      const out = await execa(tsx, [script, root, join(root, "run"), action, id], { timeout: 60_000 });
      return (JSON.parse(out.stdout.trim().split("\n").pop()!) as { state: ContainerNetworkState | null }).state;
    };
    const state = await child("start");
    expect(state?.proxy?.ports.length).toBeGreaterThan(0);
    const port = state!.proxy!.ports.find((p) => p.hostIp === "127.0.0.1")!.hostPort;
    expect(await httpGet(port)).toBe("remote\n");
    expect(await ping(peer, "far")).toBe(0);
    expect(await ping(peer, "remote")).toBe(0);
    const held = await holdings(id);
    expect(await child("remove")).toBeNull();
    await expectReleased(id, held, net);
    await expect(engine.inspect(id)).rejects.toMatchObject({ code: "BERTH_CONTAINER_NOT_FOUND" });
    // The peer's /etc/hosts lost the removed container's names.
    expect((await engine.exec(peer, ["cat", "/etc/hosts"])).stdout).not.toContain("far");
    await engine.remove(peer, { force: true });
    await net.remove();
  });

  it("stop releases the network; restart re-attaches with the same address on a user network", async () => {
    const net = await Network.create({ name: "cycle", subnet: testSubnet().subnet, manager });
    const peer = await engine.create({ image: "busybox:test", cmd: ["sleep", "300"], network: new BridgeAttachment({ networks: [net], manager }) });
    await engine.start(peer);
    const attachment = new BridgeAttachment({ networks: [{ network: net, aliases: ["svc"] }], ports: ["0:80"], manager });
    const id = await engine.create({ image: "busybox:test", name: "cycled", cmd: serve("cycled"), network: attachment });
    await engine.start(id);
    const address = (await net.inspect()).Containers[id]!.IPv4Address;
    const held = await holdings(id);
    await engine.stop(id, { timeout: 1 });
    await expectReleased(id, held, net);
    expect((await engine.inspect(id)).NetworkSettings.SandboxKey).toBe("");
    // Stopping again is a no-op, and so is the release behind it.
    await engine.stop(id, { timeout: 1 });
    await engine.start(id);
    expect((await net.inspect()).Containers[id]!.IPv4Address).toBe(address);
    expect(await ping(peer, "svc")).toBe(0);
    expect(await httpGet(attachment.publishedPorts[0]!.hostPort)).toBe("cycled\n");
    const again = await holdings(id);
    await engine.restart(id, { timeout: 1 });
    expect(existsSync(again.state.netnsPath)).toBe(true);
    expect((await net.inspect()).Containers[id]!.IPv4Address).toBe(address);
    expect(await ping(peer, "cycled")).toBe(0);
    for (const c of [id, peer]) await engine.remove(c, { force: true });
    await net.remove();
  });

  it("a failed start releases everything, before and after the network was prepared", async () => {
    const net = await Network.create({ name: "fails", subnet: testSubnet().subnet, manager });
    const missing = await engine.create({
      image: "busybox:test",
      cmd: ["no-such-command"],
      network: new BridgeAttachment({ networks: [net], ports: ["0:80"], manager }),
    });
    await expect(engine.start(missing)).rejects.toMatchObject({ code: "BERTH_CONTAINER_START_FAILED", exitCode: 127 });
    expect(await manager.container(missing)).toBeUndefined();
    expect((await net.inspect()).Containers[missing]).toBeUndefined();

    // A script whose interpreter is missing passes the engine's command check and fails in
    // the runtime, after the namespace, address and proxy were made.
    const broken = await engine.create({
      image: "busybox:test",
      cmd: ["/broken.sh"],
      network: new BridgeAttachment({ networks: [{ network: net, aliases: ["broken"] }], ports: ["0:80"], manager }),
    });
    const archive = pack();
    archive.entry({ name: "broken.sh", mode: 0o755 }, "#!/no/such/interpreter\n");
    archive.finalize();
    await engine.copyToContainer(broken, "/", archive as unknown as Readable);
    let held: ContainerNetworkState | undefined;
    const watcher = setInterval(() => void manager.container(broken).then((s) => (held ??= s)), 1);
    const error = await engine.start(broken).catch((e: unknown) => e);
    clearInterval(watcher);
    expect(error).toMatchObject({ code: "BERTH_CONTAINER_START_FAILED" });
    expect(await manager.container(broken)).toBeUndefined();
    expect((await net.inspect()).Containers[broken]).toBeUndefined();
    if (held) {
      expect(existsSync(held.netnsPath)).toBe(false);
      if (held.proxy) expect(isProxyAlive(held.proxy.pid)).toBe(false);
    }
    for (const c of [missing, broken]) await engine.remove(c, { force: true });
    await net.remove();
  });
});
