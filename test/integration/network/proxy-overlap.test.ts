// The port proxy starts beside the namespace (issue 7's Redis budget): whichever of the two
// fails, the other is undone, and a proxy no record names yet (its starter killed) is found by
// its pid file, by a release and by reconcile.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { Network } from "../../../src/network/network.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { isProxyAlive, makeNetEnv, ObservedNet, startFake, testSubnet, type NetEnv } from "./net-fixture.js";

/** The pids of the port-proxy daemons started with this pid file, or with one in this directory. */
function proxiesWith(pidFileOrDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes("port-proxy") && argv.some((a) => a === pidFileOrDir || dirname(a) === pidFileOrDir)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** The host ends of veths on a bridge. */
function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

async function listenOn(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describeAsRoot("network: the port proxy started beside the namespace", () => {
  let env: NetEnv;
  let manager: NetworkManager;

  beforeAll(async () => {
    env = await makeNetEnv();
    manager = env.manager;
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  it("a port in use fails the attach while the namespace is being made, and leaves no namespace, veth, record, hosts line or proxy", async () => {
    const net = await Network.create({ name: "busy", subnet: testSubnet().subnet, manager });
    const peer = await startFake(env, "peer", new BridgeAttachment({ networks: [net], manager }));
    const { server, port } = await listenOn("127.0.0.1");
    try {
      const record = (await manager.store.read(net.id))!;
      const veths = bridgePorts(record.bridge);
      const hosts = readFileSync(peer.hostsPath, "utf8");
      const native = new ObservedNet();
      const observed = new NetworkManager({ store: manager.store, native });
      const error = await startFake(env, "victim", new BridgeAttachment({ networks: [{ network: net, aliases: ["victim-alias"] }], ports: [`${port}:80`], manager: observed })).catch((e: unknown) => e);
      expect(isBerthError(error) && error.code).toBe("BERTH_PORT_IN_USE");
      // Both requests went out before either settled: the two were under way together.
      expect(native.events.slice(0, 2)).toEqual(["netns-create sent", "port-proxy sent"]);
      expect(native.events.slice(2).sort()).toEqual(["netns-create done", "port-proxy failed"]);
      expect(await manager.store.listContainers()).toEqual([peer.id]);
      expect(Object.keys((await manager.store.read(net.id))!.endpoints)).toEqual([peer.id]);
      expect(readdirSync(manager.store.netnsDir)).toEqual([peer.id]);
      expect(bridgePorts(record.bridge).sort()).toEqual(veths.sort());
      expect(readFileSync(peer.hostsPath, "utf8")).not.toContain("victim");
      // The same entries (a rewrite marks berth's lines).
      const entries = (text: string) => text.split("\n").filter(Boolean).map((l) => l.replace(/\t# berth$/, "")).sort();
      expect(entries(readFileSync(peer.hostsPath, "utf8"))).toEqual(entries(hosts));
      // The peer publishes nothing: no proxy of this state root is left at all.
      const pidDir = manager.store.proxyDir;
      expect(readdirOrEmpty(pidDir)).toEqual([]);
      expect(proxiesWith(pidDir)).toEqual([]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await peer.remove();
      await net.remove();
    }
  });

  it("a namespace that cannot be made stops the proxy started beside it", async () => {
    const net = await Network.create({ name: "nons", subnet: testSubnet().subnet, manager });
    // A record naming a link that is no bridge: berth-runtime cannot enslave the veth to it,
    // while the proxy (which needs no namespace to bind) starts.
    const record = (await manager.store.read(net.id))!;
    await manager.store.write({ ...record, bridge: "lo" });
    const id = randomBytes(32).toString("hex");
    const hostsDir = join(manager.store.stateRoot, "containers", id);
    await mkdir(hostsDir, { recursive: true });
    try {
      const error = await manager.attach({ id, name: "nons-victim", hostname: id.slice(0, 12) }, [{ network: net.id }], ["0:80"]).catch((e: unknown) => e);
      expect(isBerthError(error) && error.code).toBe("BERTH_NETWORK_FAILED");
      const pidFile = manager.store.proxyPidFile(id);
      expect(existsSync(pidFile)).toBe(false);
      expect(proxiesWith(pidFile)).toEqual([]);
      expect(await manager.container(id)).toBeUndefined();
      expect(Object.keys((await manager.store.read(net.id))!.endpoints)).toEqual([]);
      expect(existsSync(join(manager.store.netnsDir, id))).toBe(false);
    } finally {
      await manager.store.write({ ...(await manager.store.read(net.id))!, bridge: record.bridge });
      await rm(hostsDir, { recursive: true, force: true });
      await net.remove();
    }
  });

  it("a proxy no record names (its starter killed before the state was written) is stopped by release and by reconcile, by its pid file", async () => {
    for (const how of ["release", "reconcile"] as const) {
      const id = randomBytes(32).toString("hex");
      const pidFile = manager.store.proxyPidFile(id);
      await mkdir(dirname(pidFile), { recursive: true });
      const started = await manager.native.portProxy(["tcp:loopback:0:127.0.0.1:9"], pidFile);
      expect(isProxyAlive(started.pid)).toBe(true);
      if (how === "release") await manager.release(id);
      // No engine record under the state root: the container is gone.
      else expect(await manager.reconcile()).toContain(id);
      expect(isProxyAlive(started.pid)).toBe(false);
      expect(existsSync(pidFile)).toBe(false);
    }
  });

  it("a stale pid file whose pid now belongs to another process leaves that process alone", async () => {
    const id = randomBytes(32).toString("hex");
    const other = randomBytes(32).toString("hex");
    const pidFile = manager.store.proxyPidFile(id);
    const otherPidFile = manager.store.proxyPidFile(other);
    await mkdir(dirname(pidFile), { recursive: true });
    // Another container's live proxy, under the pid a dead one of `id` recorded.
    const live = await manager.native.portProxy(["tcp:loopback:0:127.0.0.1:9"], otherPidFile);
    writeFileSync(pidFile, `${live.pid}\n`);
    try {
      await manager.release(id);
      expect(isProxyAlive(live.pid)).toBe(true);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      await manager.release(other);
    }
    expect(isProxyAlive(live.pid)).toBe(false);
  });
});

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
