import { statSync, readFileSync, existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { createSocket } from "node:dgram";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { ContainerAttachment } from "../../../src/network/container-attachment.js";
import { hostRoutes, formatSubnet } from "../../../src/network/ipam.js";
import { Network } from "../../../src/network/network.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { startPeer, taggedRules } from "../network-native/net-native.js";
import { isProxyAlive, makeNetEnv, startFake, testSubnet, type FakeContainer, type NetEnv } from "./net-fixture.js";

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (isBerthError(error)) return error.code;
    throw error;
  }
}

function tcpEcho(host: string, port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${host}:${port} in 5 s`));
    }, 5_000);
    socket.on("connect", () => socket.end(message));
    socket.on("data", (chunk) => (data += chunk.toString()));
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function udpEcho(host: string, port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP reply from ${host}:${port} in 5 s`));
    }, 5_000);
    socket.on("message", (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg.toString());
    });
    socket.send(message, port, host);
  });
}

describeAsRoot("network: networks, names, ports", () => {
  let env: NetEnv;
  const manager = () => env.manager;

  beforeAll(async () => {
    env = await makeNetEnv();
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  it("creates, lists, gets, inspects and removes a network with its bridge and NAT rules", async () => {
    const { subnet, base } = testSubnet();
    const net = await Network.create({ name: "basic", subnet, labels: { team: "a" }, manager: manager() });
    expect(net.gateway).toBe(`${base}.1`);
    expect(net.bridge).toMatch(/^berth-[0-9a-f]{9}$/);
    expect(existsSync(`/sys/class/net/${net.bridge}`)).toBe(true);
    expect((await taggedRules(`berth:${net.bridge}`)).some((r) => r.includes("MASQUERADE"))).toBe(true);
    expect((await Network.list({ manager: manager() })).map((n) => n.name)).toContain("basic");
    expect((await Network.get("basic", { manager: manager() })).id).toBe(net.id);
    expect((await Network.get(net.id.slice(0, 12), { manager: manager() })).name).toBe("basic");
    const inspect = await net.inspect();
    expect(inspect).toMatchObject({ Name: "basic", Id: net.id, Driver: "bridge", Internal: false, Labels: { team: "a" } });
    expect(inspect.IPAM.Config).toEqual([{ Subnet: subnet, Gateway: `${base}.1` }]);
    expect(await codeOf(Network.create({ name: "basic", manager: manager() }))).toBe("BERTH_NETWORK_EXISTS");
    await net.remove();
    expect(existsSync(`/sys/class/net/${net.bridge}`)).toBe(false);
    expect(await taggedRules(`berth:${net.bridge}`)).toEqual([]);
    expect(await codeOf(Network.get("basic", { manager: manager() }))).toBe("BERTH_NETWORK_NOT_FOUND");
  });

  it("picks a free /24 of 10.89.0.0/16 when no subnet is given", async () => {
    const net = await Network.create({ manager: manager() });
    try {
      expect(net.subnet).toMatch(/^10\.89\.\d+\.0\/24$/);
      expect(net.name).toMatch(/^berth-net-/);
    } finally {
      await net.remove();
    }
  });

  it("takes a given gateway, refuses one outside the subnet, and names what is missing", async () => {
    const { subnet, base } = testSubnet();
    expect(await codeOf(Network.create({ name: "gw-bad", subnet, gateway: "10.1.1.1", manager: manager() }))).toBe("BERTH_INVALID_ARGUMENT");
    const net = await Network.create({ name: "gw", subnet, gateway: `${base}.254`, manager: manager() });
    const containers: FakeContainer[] = [];
    try {
      const one = await startFake(env, "gw-one", new BridgeAttachment({ networks: [net], manager: manager() }));
      containers.push(one);
      expect((await one.run(["ip", "route", "show", "default"])).stdout).toContain(`via ${base}.254`);
      expect(one.prep.hostsEntries).toEqual([`${base}.1`]);
      expect(await codeOf(net.connect("f".repeat(64)))).toBe("BERTH_CONTAINER_NOT_RUNNING");
      expect(await codeOf(manager().connect(one.id, { network: "no-such-network" }))).toBe("BERTH_NETWORK_NOT_FOUND");
      expect(await codeOf(net.connect(one.id))).toBe("BERTH_INVALID_ARGUMENT");
      expect(await codeOf(manager().removeNetwork("no-such-network"))).toBe("BERTH_NETWORK_NOT_FOUND");
    } finally {
      for (const c of containers) await c.remove();
      await net.remove();
    }
  });

  it("refuses a subnet overlapping another network or a host route", async () => {
    const { subnet, base } = testSubnet();
    const net = await Network.create({ name: "taken", subnet, manager: manager() });
    try {
      expect(await codeOf(Network.create({ name: "overlap", subnet: `${base}.128/25`, manager: manager() }))).toBe("BERTH_SUBNET_OVERLAP");
      const route = (await hostRoutes()).find((r) => !r.device.startsWith("berth"));
      if (route) expect(await codeOf(Network.create({ name: "on-host", subnet: formatSubnet(route.subnet), manager: manager() }))).toBe("BERTH_SUBNET_OVERLAP");
      expect(await codeOf(Network.create({ name: "bad", subnet: "10.1.2.3/16", manager: manager() }))).toBe("BERTH_INVALID_ARGUMENT");
    } finally {
      await net.remove();
    }
  });

  it("refuses an alias that is not a hostname", async () => {
    expect(() => new BridgeAttachment({ networks: [{ network: "x", aliases: ["not a host"] }], manager: manager() })).toThrow(
      expect.objectContaining({ code: "BERTH_ALIAS_INVALID" }),
    );
    expect(() => new BridgeAttachment({ networks: [{ network: "x", aliases: ["-dash"] }], manager: manager() })).toThrow(
      expect.objectContaining({ code: "BERTH_ALIAS_INVALID" }),
    );
  });

  it("a network that does not exist fails with BERTH_NETWORK_NOT_FOUND at start", async () => {
    const attachment = new BridgeAttachment({ networks: ["no-such-network"], manager: manager() });
    expect(await codeOf(startFake(env, "lost", attachment))).toBe("BERTH_NETWORK_NOT_FOUND");
    expect(await manager().store.listContainers()).toEqual([]);
  });

  it("containers on a user network resolve each other by name and alias, including one that joins later", async () => {
    const { subnet, base } = testSubnet();
    const net = await Network.create({ name: "names", subnet, manager: manager() });
    const on = (aliases: string[] = []) => new BridgeAttachment({ networks: [{ network: net, aliases }], manager: manager() });
    const containers: FakeContainer[] = [];
    try {
      const web = await startFake(env, "web", on(["frontend"]));
      containers.push(web);
      const db = await startFake(env, "db", on(["postgres", "primary.db.internal"]));
      containers.push(db);
      const inode = statSync(web.hostsPath).ino;

      expect((await web.run(["busybox", "ping", "-c", "1", "-W", "2", "db"])).exitCode).toBe(0);
      expect((await web.run(["busybox", "ping", "-c", "1", "-W", "2", "postgres"])).exitCode).toBe(0);
      expect((await db.run(["busybox", "ping", "-c", "1", "-W", "2", "frontend"])).exitCode).toBe(0);
      expect((await web.run(["getent", "hosts", "primary.db.internal"])).stdout).toContain(`${base}.3`);
      // host.berth.internal is the gateway: the host's address on the bridge.
      expect((await web.run(["getent", "hosts", "host.berth.internal"])).stdout).toContain(`${base}.1`);

      const late = await startFake(env, "late", on(["cache"]));
      containers.push(late);
      // The first container's hosts file was rewritten in place (a bind mount keeps its inode).
      expect(statSync(web.hostsPath).ino).toBe(inode);
      expect((await web.run(["getent", "hosts", "cache"])).stdout).toContain(`${base}.4`);
      expect((await web.run(["busybox", "ping", "-c", "1", "-W", "2", "late"])).exitCode).toBe(0);

      const inspect = await net.inspect();
      expect(Object.values(inspect.Containers).map((c) => c.Name).sort()).toEqual(["db", "late", "web"]);
      expect(inspect.Containers[db.id]).toMatchObject({ IPv4Address: `${base}.3/24`, MacAddress: expect.stringMatching(/^02:42:/) });

      expect(await codeOf(net.remove())).toBe("BERTH_NETWORK_IN_USE");

      await late.remove();
      containers.pop();
      expect(readFileSync(web.hostsPath, "utf8")).not.toContain("cache");
      expect(statSync(web.hostsPath).ino).toBe(inode);
    } finally {
      for (const c of containers) await c.remove();
      await net.remove();
    }
  });

  it("connects and disconnects a running container; several networks at once; container: mode", async () => {
    const a = testSubnet();
    let b = testSubnet();
    while (b.base === a.base) b = testSubnet();
    const netA = await Network.create({ name: "net-a", subnet: a.subnet, manager: manager() });
    const netB = await Network.create({ name: "net-b", subnet: b.subnet, manager: manager() });
    const containers: FakeContainer[] = [];
    try {
      const both = await startFake(env, "both", new BridgeAttachment({ networks: [netA, { network: netB, aliases: ["bee"] }], manager: manager() }));
      containers.push(both);
      expect(both.prep.hostsEntries).toEqual([`${a.base}.2`, `${b.base}.2`]);
      const links = await both.run(["ip", "-o", "-4", "addr"]);
      expect(links.stdout).toContain(`eth0    inet ${a.base}.2/24`);
      expect(links.stdout).toContain(`eth1    inet ${b.base}.2/24`);

      const onA = await startFake(env, "on-a", new BridgeAttachment({ networks: [netA], manager: manager() }));
      containers.push(onA);
      expect((await onA.run(["getent", "hosts", "bee"])).exitCode).toBe(2);

      await netB.connect(onA.id, { aliases: ["late-b"] });
      expect((await onA.run(["ip", "-o", "-4", "addr", "show", "eth1"])).stdout).toContain(`${b.base}.3/24`);
      expect((await onA.run(["getent", "hosts", "bee"])).stdout).toContain(`${b.base}.2`);
      expect((await both.run(["getent", "hosts", "late-b"])).stdout).toContain(`${b.base}.3`);
      expect((await both.run(["busybox", "ping", "-c", "1", "-W", "2", "late-b"])).exitCode).toBe(0);

      await netB.disconnect(onA.id);
      expect((await onA.run(["ip", "link", "show", "eth1"])).exitCode).not.toBe(0);
      expect((await both.run(["getent", "hosts", "late-b"])).exitCode).toBe(2);
      expect(Object.keys((await netB.inspect()).Containers)).toEqual([both.id]);

      const sidecar = await startFake(env, "sidecar", new ContainerAttachment("both", { manager: manager() }));
      containers.push(sidecar);
      expect(sidecar.prep.netnsPath).toBe(both.prep.netnsPath);
      expect((await sidecar.run(["ip", "-o", "-4", "addr", "show", "eth0"])).stdout).toContain(`${a.base}.2/24`);
      // The sidecar sees the names its namespace's owner sees, later ones included.
      expect((await sidecar.run(["getent", "hosts", "on-a"])).stdout).toContain(`${a.base}.3`);
      const later = await startFake(env, "later-a", new BridgeAttachment({ networks: [netA], manager: manager() }));
      containers.push(later);
      expect((await sidecar.run(["getent", "hosts", "later-a"])).stdout).toContain(`${a.base}.4`);
      expect(await codeOf(startFake(env, "orphan", new ContainerAttachment("no-such-container", { manager: manager() })))).toBe("BERTH_CONTAINER_NOT_RUNNING");
    } finally {
      for (const c of containers.reverse()) await c.remove();
      await netA.remove();
      await netB.remove();
    }
  });

  it("an internal network has no route out and DROP rules, yet names and the gateway work", async () => {
    const { subnet, base } = testSubnet();
    const net = await Network.create({ name: "internal", subnet, internal: true, manager: manager() });
    const containers: FakeContainer[] = [];
    try {
      const rules = await taggedRules(`berth:${net.bridge}`);
      expect(rules.filter((r) => r.includes("-j DROP"))).toHaveLength(2);
      expect(rules.some((r) => r.includes("MASQUERADE"))).toBe(false);
      const one = await startFake(env, "one", new BridgeAttachment({ networks: [net], manager: manager() }));
      containers.push(one);
      const two = await startFake(env, "two", new BridgeAttachment({ networks: [net], manager: manager() }));
      containers.push(two);
      // `ip route get` asks the routing table: no packet is sent.
      const out = await one.run(["ip", "route", "get", "192.0.2.200"]);
      expect(out.exitCode).not.toBe(0);
      expect(out.stderr).toMatch(/unreachable/i);
      expect((await one.run(["ip", "route", "get", `${base}.1`])).exitCode).toBe(0);
      expect((await one.run(["busybox", "ping", "-c", "1", "-W", "2", "two"])).exitCode).toBe(0);
      expect((await one.run(["busybox", "ping", "-c", "1", "-W", "2", "host.berth.internal"])).exitCode).toBe(0);
    } finally {
      for (const c of containers) await c.remove();
      await net.remove();
    }
  });

  it("the default bridge gives addresses from 10.88.0.0/16 on berth0 and no names between containers", async () => {
    const containers: FakeContainer[] = [];
    try {
      const one = await startFake(env, "dflt-one", new BridgeAttachment({ manager: manager() }));
      containers.push(one);
      const two = await startFake(env, "dflt-two", new BridgeAttachment({ manager: manager() }));
      containers.push(two);
      expect(one.prep.hostsEntries![0]).toMatch(/^10\.88\.\d+\.\d+$/);
      expect(existsSync("/sys/class/net/berth0")).toBe(true);
      expect((await one.run(["getent", "hosts", "dflt-two"])).exitCode).toBe(2);
      expect((await one.run(["getent", "hosts", "host.berth.internal"])).stdout).toContain("10.88.0.1");
      expect((await one.run(["busybox", "ping", "-c", "1", "-W", "2", two.prep.hostsEntries![0]!])).exitCode).toBe(0);
    } finally {
      for (const c of containers) await c.remove();
    }
  });

  it("publishes TCP and UDP ports on 127.0.0.1 and ::1; a port in use is refused naming it", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "ports", subnet, manager: manager() });
    const containers: FakeContainer[] = [];
    let blocker: Server | undefined;
    try {
      const attachment = new BridgeAttachment({ networks: [net], ports: ["0:7000", "0:7000/udp"], manager: manager() });
      const svc = await startFake(env, "svc", attachment);
      containers.push(svc);
      const peer = await startPeer(svc.prep.netnsPath!, 7000);
      try {
        const ports = attachment.publishedPorts;
        const tcp = ports.find((p) => p.proto === "tcp" && p.hostIp === "127.0.0.1")!;
        const udp = ports.find((p) => p.proto === "udp" && p.hostIp === "127.0.0.1")!;
        expect(ports.map((p) => `${p.proto} ${p.hostIp}`).sort()).toEqual(["tcp 127.0.0.1", "tcp ::1", "udp 127.0.0.1", "udp ::1"]);
        expect(ports.find((p) => p.proto === "tcp" && p.hostIp === "::1")!.hostPort).toBe(tcp.hostPort);
        expect(await tcpEcho("127.0.0.1", tcp.hostPort, "hello v4")).toContain("hello v4");
        expect(await tcpEcho("::1", tcp.hostPort, "hello v6")).toContain("hello v6");
        expect(await udpEcho("127.0.0.1", udp.hostPort, "udp v4")).toContain("udp v4");
        expect(await udpEcho("::1", udp.hostPort, "udp v6")).toContain("udp v6");
        // The proxy is recorded and detached: it is not this process's child.
        const state = await manager().container(svc.id);
        expect(state?.proxy?.ports).toHaveLength(4);
        const ppid = Number(readFileSync(`/proc/${state!.proxy!.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
        expect(ppid).not.toBe(process.pid);

        blocker = createServer();
        await new Promise<void>((resolve) => blocker!.listen(0, "127.0.0.1", resolve));
        const busy = (blocker.address() as { port: number }).port;
        let error: unknown;
        try {
          await startFake(env, "busy", new BridgeAttachment({ networks: [net], ports: [`${busy}:80`], manager: manager() }));
        } catch (e) {
          error = e;
        }
        expect(error).toMatchObject({ code: "BERTH_PORT_IN_USE", context: { port: busy } });
        expect(String((error as Error).message)).toContain(String(busy));
        // The failed start left no allocation behind.
        expect(Object.keys((await net.inspect()).Containers)).toEqual([svc.id]);
        const pid = state!.proxy!.pid;
        await svc.remove();
        containers.pop();
        expect(isProxyAlive(pid)).toBe(false);
      } finally {
        await peer.stop();
      }
    } finally {
      await new Promise((resolve) => (blocker ? blocker.close(resolve) : resolve(undefined)));
      for (const c of containers) await c.remove();
      await net.remove();
    }
  });

  it("published ports keep working after the process that published them exits", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "detached", subnet, manager: manager() });
    const script = fileURLToPath(new URL("./publish-and-exit.ts", import.meta.url));
    const tsx = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url));
    const child = await execa(tsx, [script, manager().store.stateRoot, manager().store.runRoot, "detached"], { timeout: 30_000 });
    const made = JSON.parse(child.stdout.trim().split("\n").pop()!) as { id: string; netnsPath: string; ports: { proto: string; hostIp: string; hostPort: number }[] };
    const peer = await startPeer(made.netnsPath, 7000);
    try {
      const tcp = made.ports.find((p) => p.proto === "tcp" && p.hostIp === "::1")!;
      const udp = made.ports.find((p) => p.proto === "udp" && p.hostIp === "127.0.0.1")!;
      expect(await tcpEcho("::1", tcp.hostPort, "after exit")).toContain("after exit");
      expect(await udpEcho("127.0.0.1", udp.hostPort, "udp after exit")).toContain("udp after exit");
    } finally {
      await peer.stop();
      await manager().release(made.id);
      await rm(`${manager().store.stateRoot}/containers/${made.id}`, { recursive: true, force: true });
      await net.remove();
    }
  });

  it("reconcile frees the allocation, namespace and proxy of a container whose record is gone", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "crashy", subnet, manager: manager() });
    const ghost = await startFake(env, "ghost", new BridgeAttachment({ networks: [net], ports: ["0:80"], manager: manager() }));
    const state = await manager().container(ghost.id);
    // The engine's record vanishes without a release: as after a crash.
    await rm(`${manager().store.stateRoot}/containers/${ghost.id}`, { recursive: true, force: true });
    expect(await manager().reconcile()).toEqual([ghost.id]);
    expect(existsSync(ghost.prep.netnsPath!)).toBe(false);
    expect(isProxyAlive(state!.proxy!.pid)).toBe(false);
    await net.remove();
  });

  it("concurrent attaches (serialised by the store's file lock) get distinct addresses and all see each other", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "crowd", subnet, manager: manager() });
    // A second manager on the same state root stands for another process.
    const other = new NetworkManager({ store: new NetworkStore({ stateRoot: manager().store.stateRoot, runRoot: manager().store.runRoot }) });
    const containers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => startFake(env, `crowd${i}`, new BridgeAttachment({ networks: ["crowd"], manager: i % 2 ? other : manager() }))),
    );
    try {
      const addresses = containers.map((c) => c.prep.hostsEntries![0]);
      expect(new Set(addresses).size).toBe(8);
      const text = readFileSync(containers[0]!.hostsPath, "utf8");
      for (let i = 1; i < 8; i++) expect(text).toMatch(new RegExp(`\tcrowd${i}(\t# berth)?\n`));
    } finally {
      for (const c of containers) await c.remove();
      await net.remove();
    }
  });

  it("leaves hosts lines the user wrote alone when it rewrites the file", async () => {
    const { subnet } = testSubnet();
    const net = await Network.create({ name: "userlines", subnet, manager: manager() });
    const containers: FakeContainer[] = [];
    try {
      const one = await startFake(env, "u1", new BridgeAttachment({ networks: [net], manager: manager() }));
      containers.push(one);
      await execa("sh", ["-c", `printf '192.0.2.77\\tmanual\\n' >> ${one.hostsPath}`]);
      containers.push(await startFake(env, "u2", new BridgeAttachment({ networks: [net], manager: manager() })));
      const text = readFileSync(one.hostsPath, "utf8");
      expect(text).toContain("192.0.2.77\tmanual");
      expect(text).toContain("\tu2");
      expect(text.match(/host\.berth\.internal/g)).toHaveLength(1);
    } finally {
      for (const c of containers) await c.remove();
      await net.remove();
    }
  });
});
