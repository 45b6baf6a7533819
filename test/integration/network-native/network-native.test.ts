import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import {
  hostLinks,
  inNetns,
  isAlive,
  mountsUnder,
  net,
  netFails,
  netHelper,
  sendFromNetns,
  startPeer,
  startProxy,
  startProxyWith,
  taggedRules,
  uniqueNetwork,
} from "./net-native.js";

const PEER_PORT = 7000;

/** The host ends attached to a bridge. Other tests add and remove links at the same time,
 * so leaks are looked for on our own bridge only. */
function bridgePorts(bridge: string): string[] {
  return readdirSync(`/sys/class/net/${bridge}/brif`);
}

/** "10.201.7" → "0a:c9:07" */
function hex(base: string): string {
  return base.split(".").map((x) => Number(x).toString(16).padStart(2, "0")).join(":");
}

function tcpRoundTrip(host: string, port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port, allowHalfOpen: true }, () => socket.end(payload));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("end", () => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
    socket.on("error", reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error("no reply within 10 s")));
  });
}

function udpRoundTrip(host: string, port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("no UDP reply within 5 s"));
    }, 5_000);
    socket.on("message", (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg.toString());
    });
    socket.send(message, port, host);
  });
}

function tcpError(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => socket.write("hello"));
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.on("close", () => resolve("closed"));
    socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
  });
}

describeAsRoot("network-native: bridge, namespaces and veths", () => {
  const n = uniqueNetwork();
  let dir: string;
  let nsA: string;
  let nsB: string;
  let attachA: { hostIfname: string; mac: string };
  let attachB: { hostIfname: string; mac: string };
  let peer: { stop(): Promise<void> } | undefined;

  beforeAll(async () => {
    await netHelper();
    dir = await makeTempDir("berth-netns-");
    await net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`);
    nsA = (await net("netns-create", "--name", "a", "--dir", dir)).path;
    nsB = (await net("netns-create", "--name", "b", "--dir", dir)).path;
    attachA = await net("veth-attach", "--netns", nsA, "--bridge", n.bridge, "--addr", `${n.base}.2/24`, "--gateway", n.gateway);
    attachB = await net("veth-attach", "--netns", nsB, "--bridge", n.bridge, "--addr", `${n.base}.3/24`, "--gateway", n.gateway);
  });

  afterAll(async () => {
    await peer?.stop();
    for (const ns of [nsA, nsB]) if (ns) await net("netns-delete", "--path", ns);
    await net("bridge-delete", "--name", n.bridge);
    if (dir) {
      await execa("umount", [dir], { reject: false });
      await removeTempDir(dir);
    }
  });

  it("gives each container eth0 with its address, a MAC derived from it, and a default route", async () => {
    expect(attachA.mac).toBe(`02:42:${hex(n.base)}:02`);
    const addr = await inNetns(nsA, "ip", ["-o", "addr", "show", "eth0"]);
    expect(addr.stdout).toContain(`inet ${n.base}.2/24`);
    const link = await inNetns(nsA, "ip", ["-o", "link", "show", "eth0"]);
    expect(link.stdout).toContain("UP");
    expect(link.stdout).toContain(attachA.mac);
    const route = await inNetns(nsA, "ip", ["route", "show", "default"]);
    expect(route.stdout).toContain(`default via ${n.gateway} dev eth0`);
    const lo = await inNetns(nsA, "ip", ["-o", "link", "show", "lo"]);
    expect(lo.stdout).toContain("UP");
    // The host end is on the bridge.
    expect(readlinkSync(`/sys/class/net/${attachA.hostIfname}/master`)).toMatch(new RegExp(`/${n.bridge}$`));
  });

  it("pings between two namespaces and from a namespace to the gateway", async () => {
    const toB = await inNetns(nsA, "busybox", ["ping", "-c", "1", "-W", "3", `${n.base}.3`]);
    expect(toB.exitCode, toB.stderr).toBe(0);
    const toGateway = await inNetns(nsB, "busybox", ["ping", "-c", "1", "-W", "3", n.gateway]);
    expect(toGateway.exitCode, toGateway.stderr).toBe(0);
  });

  it("carries TCP between two namespaces by address, half-close included", async () => {
    peer = await startPeer(nsB, PEER_PORT);
    expect(await sendFromNetns(nsA, `${n.base}.3`, PEER_PORT, "hello over the bridge")).toBe("hello over the bridge");
  });

  it("is idempotent: bridge-ensure twice and racing, delete commands twice", async () => {
    const again = await Promise.all([
      net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`),
      net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`),
    ]);
    expect(again[0].name).toBe(n.bridge);
    const other = uniqueNetwork();
    const raced = await Promise.all(
      [0, 1, 2, 3].map(() => net("bridge-ensure", "--name", other.bridge, "--addr", `${other.gateway}/24`)),
    );
    expect(new Set(raced.map((r) => r.ifindex)).size).toBe(1);
    await net("bridge-delete", "--name", other.bridge);
    await net("bridge-delete", "--name", other.bridge);
    expect(await hostLinks()).not.toContain(other.bridge);
    await net("netns-delete", "--path", join(dir, "never-created"));
    await net("veth-detach", "--netns", join(dir, "never-created"));
  });

  it("refuses bad input with one line naming what was wrong, and leaves nothing behind", async () => {
    const missingBridge = await netFails("veth-attach", "--netns", nsA, "--bridge", "btnosuchbr0", "--ifname", "eth1");
    expect(missingBridge.exitCode).toBe(1);
    expect(missingBridge.stderr).toMatch(/^berth-runtime: .*bridge `btnosuchbr0` does not exist$/);

    const badCidr = await netFails("bridge-ensure", "--name", "btbad0", "--addr", "10.0.0.300/24");
    expect(badCidr.stderr).toBe("berth-runtime: --addr: invalid address `10.0.0.300/24`");
    const noPrefix = await netFails("bridge-ensure", "--name", "btbad0", "--addr", "10.0.0.1");
    expect(noPrefix.stderr).toContain("has no prefix length");
    expect(await hostLinks()).not.toContain("btbad0");

    const exists = await netFails("netns-create", "--name", "a", "--dir", dir);
    expect(exists.stderr).toContain("already exists");

    const notBridge = await netFails("bridge-delete", "--name", "lo");
    expect(notBridge.stderr).toContain("is not a bridge");

    const notNetns = await netFails("veth-attach", "--netns", "/etc/hostname", "--bridge", n.bridge);
    expect(notNetns.stderr).toContain("is not a network namespace");

    // eth0 already exists in the namespace: the half-made veth must not survive.
    const before = bridgePorts(n.bridge);
    const clash = await netFails("veth-attach", "--netns", nsA, "--bridge", n.bridge, "--addr", `${n.base}.9/24`);
    expect(clash.exitCode).toBe(1);
    expect(clash.stderr).toContain("eth0");
    expect(bridgePorts(n.bridge).filter((port) => !before.includes(port))).toEqual([]);

    const unknown = await netFails("veth-attach", "--netns", nsA, "--bogus", "1");
    expect(unknown.stderr).toBe("berth-runtime: veth-attach: unknown option `--bogus`");
  });

  it("detaches a veth: both ends go", async () => {
    const ns = (await net("netns-create", "--name", "c", "--dir", dir)).path;
    const attach = await net("veth-attach", "--netns", ns, "--bridge", n.bridge, "--addr", `${n.base}.4/24`, "--gateway", n.gateway);
    expect(await hostLinks()).toContain(attach.hostIfname);
    await net("veth-detach", "--netns", ns, "--ifname", "eth0");
    expect(await hostLinks()).not.toContain(attach.hostIfname);
    await net("veth-detach", "--netns", ns, "--ifname", "eth0");
    await net("netns-delete", "--path", ns);
    expect(existsSync(ns)).toBe(false);
    expect(mountsUnder(ns)).toEqual([]);
  });

  it("deletes a namespace with its veths in one request: their host ends are gone when it returns", async () => {
    const made = await net("netns-create", "--name", "d", "--dir", dir, "--bridge", n.bridge, "--addr", `${n.base}.8/24`);
    const second = await net("veth-attach", "--netns", made.path, "--bridge", n.bridge, "--ifname", "eth1", "--addr", `${n.base}.9/24`);
    expect(await hostLinks()).toEqual(expect.arrayContaining([made.hostIfname, second.hostIfname]));
    // eth7 does not exist: no failure, as for a link the kernel already took.
    await net("netns-delete", "--path", made.path, "--ifname", "eth0", "--ifname", "eth1", "--ifname", "eth7");
    const links = await hostLinks();
    expect(links).not.toContain(made.hostIfname);
    expect(links).not.toContain(second.hostIfname);
    expect(existsSync(made.path)).toBe(false);
    expect(mountsUnder(made.path)).toEqual([]);
    // Again, on nothing: success.
    await net("netns-delete", "--path", made.path, "--ifname", "eth0");
    const bad = await netFails("netns-delete", "--path", made.path, "--ifname", "bad/name");
    expect(bad.stderr).toContain("--ifname");
  });

  it("creates and attaches a namespace in one process (netns-create with the veth options)", async () => {
    const made = await net(
      "netns-create", "--name", "one", "--dir", dir,
      "--bridge", n.bridge, "--addr", `${n.base}.5/24`, "--gateway", n.gateway, "--mtu", "1450",
    );
    expect(made).toMatchObject({ path: join(dir, "one"), mac: `02:42:${hex(n.base)}:05` });
    expect((await inNetns(made.path, "ip", ["-o", "link", "show", "eth0"])).stdout).toContain("mtu 1450");
    expect(readFileSync(`/sys/class/net/${made.hostIfname}/mtu`, "utf8").trim()).toBe("1450");
    expect(await hostLinks()).toContain(made.hostIfname);
    const ping = await inNetns(made.path, "busybox", ["ping", "-c", "1", "-W", "3", `${n.base}.3`]);
    expect(ping.exitCode, ping.stderr).toBe(0);
    await net("netns-delete", "--path", made.path);
  });

  it("leaves no namespace file, mount or veth when the one-process attach fails", async () => {
    const before = bridgePorts(n.bridge);
    const noBridge = await netFails("netns-create", "--name", "x1", "--dir", dir, "--bridge", "btnosuchbr0");
    expect(noBridge.stderr).toBe(`berth-runtime: create network namespace \`${join(dir, "x1")}\`: bridge \`btnosuchbr0\` does not exist`);
    const badRoute = await netFails(
      "netns-create", "--name", "x2", "--dir", dir,
      "--bridge", n.bridge, "--addr", `${n.base}.7/24`, "--gateway", "192.0.2.1",
    );
    expect(badRoute.stderr).toContain("add default route via `192.0.2.1`");
    expect(existsSync(join(dir, "x1"))).toBe(false);
    expect(existsSync(join(dir, "x2"))).toBe(false);
    expect(mountsUnder(join(dir, "x1"))).toEqual([]);
    expect(mountsUnder(join(dir, "x2"))).toEqual([]);
    expect(bridgePorts(n.bridge).filter((port) => !before.includes(port))).toEqual([]);
  });

  it("attaches IPv6 too (a ULA subnet on the bridge)", async () => {
    const ula = `fd00:${n.base.split(".").slice(1).join(":")}::`;
    await net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`, "--addr", `${ula}1/64`);
    const ns = (await net("netns-create", "--name", "v6", "--dir", dir)).path;
    await net(
      "veth-attach", "--netns", ns, "--bridge", n.bridge,
      "--addr", `${n.base}.6/24`, "--gateway", n.gateway,
      "--addr", `${ula}6/64`, "--gateway", `${ula}1`,
    );
    const ping = await inNetns(ns, "busybox", ["ping", "-c", "1", "-W", "3", `${ula}1`]);
    expect(ping.exitCode, ping.stderr).toBe(0);
    await net("netns-delete", "--path", ns);
  });
});

describeAsRoot("network-native: port-proxy", () => {
  const n = uniqueNetwork();
  let dir: string;
  let ns: string;
  let peer: { stop(): Promise<void> } | undefined;
  const daemons: number[] = [];

  beforeAll(async () => {
    await netHelper();
    dir = await makeTempDir("berth-proxy-");
    await net("bridge-ensure", "--name", n.bridge, "--addr", `${n.gateway}/24`);
    ns = (await net("netns-create", "--name", "srv", "--dir", dir)).path;
    await net("veth-attach", "--netns", ns, "--bridge", n.bridge, "--addr", `${n.base}.2/24`, "--gateway", n.gateway);
    peer = await startPeer(ns, PEER_PORT);
  });

  afterAll(async () => {
    for (const pid of daemons) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    await peer?.stop();
    if (ns) await net("netns-delete", "--path", ns);
    await net("bridge-delete", "--name", n.bridge);
    if (dir) {
      await execa("umount", [dir], { reject: false });
      await removeTempDir(dir);
    }
  });

  async function proxy(...maps: string[]) {
    const started = await startProxy(join(dir, `proxy-${daemons.length}.pid`), maps);
    daemons.push(started.pid);
    return started;
  }

  it("forwards TCP through 127.0.0.1 and ::1 on one free port, byte-exact with half-close", async () => {
    const { ports } = await proxy(`tcp:loopback:0:${n.base}.2:${PEER_PORT}`);
    expect(ports.map((p) => p.hostIp)).toEqual(["127.0.0.1", "::1"]);
    expect(ports[0]!.hostPort).toBeGreaterThan(0);
    expect(ports[1]!.hostPort).toBe(ports[0]!.hostPort);
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 12)) & 0xff;
    for (const host of ["127.0.0.1", "::1"]) {
      expect((await tcpRoundTrip(host, ports[0]!.hostPort, payload)).equals(payload)).toBe(true);
    }
  });

  it("forwards UDP through 127.0.0.1 and ::1", async () => {
    const { ports } = await proxy(`udp:loopback:0:${n.base}.2:${PEER_PORT}`);
    expect(ports.map((p) => p.proto)).toEqual(["udp", "udp"]);
    expect(await udpRoundTrip("127.0.0.1", ports[0]!.hostPort, "ping-v4")).toBe("ping-v4");
    expect(await udpRoundTrip("::1", ports[1]!.hostPort, "ping-v6")).toBe("ping-v6");
  });

  it("serves several maps from one daemon, and a fixed host port", async () => {
    const fixed = await new Promise<number>((resolve) => {
      const probe: Server = createServer().listen(0, "127.0.0.1", () => {
        const port = (probe.address() as { port: number }).port;
        probe.close(() => resolve(port));
      });
    });
    const { ports } = await proxy(`tcp:127.0.0.1:${fixed}:${n.base}.2:${PEER_PORT}`, `udp:[::1]:0:${n.base}.2:${PEER_PORT}`);
    expect(ports[0]).toMatchObject({ proto: "tcp", hostIp: "127.0.0.1", hostPort: fixed, targetPort: PEER_PORT });
    expect(ports[1]).toMatchObject({ proto: "udp", hostIp: "::1" });
    expect((await tcpRoundTrip("127.0.0.1", fixed, Buffer.from("fixed"))).toString()).toBe("fixed");
    expect(await udpRoundTrip("::1", ports[1]!.hostPort, "second map")).toBe("second map");
  });

  it("fails with the port named when the host port is already in use, and leaves no daemon", async () => {
    const busy: Server = createServer();
    const port = await new Promise<number>((resolve) =>
      busy.listen(0, "127.0.0.1", () => resolve((busy.address() as { port: number }).port)),
    );
    try {
      const pidFile = join(dir, "busy.pid");
      const error = (await startProxy(pidFile, [`tcp:loopback:${port}:${n.base}.2:${PEER_PORT}`]).catch((e) => e)) as {
        message: string;
        ready: string;
        exitCode: number;
      };
      expect(error.exitCode).toBe(1);
      expect(error.message).toBe(`berth-runtime: port ${port} on 127.0.0.1 is already in use`);
      expect(JSON.parse(error.ready)).toEqual({ error: `port ${port} on 127.0.0.1 is already in use` });
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      busy.close();
    }
  });

  it("names ::1 when only the IPv6 half of a loopback port is taken, and keeps no IPv4 half", async () => {
    const busy: Server = createServer();
    const port = await new Promise<number>((resolve) =>
      busy.listen({ port: 0, host: "::1", ipv6Only: true }, () => resolve((busy.address() as { port: number }).port)),
    );
    try {
      const error = (await startProxy(join(dir, "busy6.pid"), [`tcp:loopback:${port}:${n.base}.2:${PEER_PORT}`]).catch(
        (e) => e,
      )) as { message: string };
      expect(error.message).toBe(`berth-runtime: port ${port} on ::1 is already in use`);
      expect(await tcpError("127.0.0.1", port)).toBe("ECONNREFUSED");
    } finally {
      busy.close();
    }
  });

  it("carries 50 concurrent connections", async () => {
    const { ports } = await proxy(`tcp:loopback:0:${n.base}.2:${PEER_PORT}`);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        tcpRoundTrip(i % 2 ? "::1" : "127.0.0.1", ports[0]!.hostPort, Buffer.from(`message ${i} `.repeat(1000))),
      ),
    );
    replies.forEach((reply, i) => expect(reply.toString()).toBe(`message ${i} `.repeat(1000)));
  });

  it("forgets an idle UDP flow after --udp-timeout", async () => {
    const pidFile = join(dir, "udp-timeout.pid");
    const ready = await startProxyWith(["--pid-file", pidFile, "--udp-timeout", "3", "--map", `udp:127.0.0.1:0:${n.base}.2:${PEER_PORT}`]);
    daemons.push(ready.pid);
    const fds = () => readdirSync(`/proc/${ready.pid}/fd`).length;
    const idle = fds();
    expect(await udpRoundTrip("127.0.0.1", ready.ports[0]!.hostPort, "flow")).toBe("flow");
    // A 3 s timeout, not 1 s: on a loaded machine a 1 s flow could be swept before this read.
    expect(fds()).toBe(idle + 1);
    // The sweep runs once a second; give it a generous bound, not a timing assertion.
    for (let i = 0; i < 200 && fds() > idle; i++) await new Promise((r) => setTimeout(r, 100));
    expect(fds()).toBe(idle);
    expect(await udpRoundTrip("127.0.0.1", ready.ports[0]!.hostPort, "new flow")).toBe("new flow");
  });

  it("resets the client when the target refuses the connection", async () => {
    const { ports } = await proxy(`tcp:127.0.0.1:0:${n.base}.2:${PEER_PORT + 99}`);
    expect(await tcpError("127.0.0.1", ports[0]!.hostPort)).toBe("ECONNRESET");
  });

  it("outlives the process that started it, in its own session", async () => {
    const pidFile = join(dir, "orphan.pid");
    const helper = await netHelper();
    // A throwaway Node process starts the proxy, prints the ready line, and is SIGKILLed.
    const starter = execa(
      process.execPath,
      [
        "-e",
        `const { spawnSync } = require("node:child_process");
         const r = spawnSync(process.argv[1], ["port-proxy", "--pid-file", process.argv[2], "--ready-fd", "3",
           "--map", process.argv[3]], { stdio: ["ignore", "inherit", "inherit", "pipe"] });
         process.stdout.write(String(r.output[3]));
         setInterval(() => {}, 1000);`,
        helper,
        pidFile,
        `tcp:loopback:0:${n.base}.2:${PEER_PORT}`,
      ],
      { buffer: false, reject: false },
    );
    const line = await new Promise<string>((resolve) => starter.stdout!.once("data", (c: Buffer) => resolve(c.toString())));
    const ready = JSON.parse(line) as { pid: number; ports: { hostPort: number }[] };
    daemons.push(ready.pid);
    starter.kill("SIGKILL");
    await starter;
    expect(isAlive(ready.pid)).toBe(true);
    const stat = readFileSync(`/proc/${ready.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    expect(Number(stat[1])).not.toBe(starter.pid); // ppid
    expect(Number(stat[3])).not.toBe(process.pid); // session
    expect((await tcpRoundTrip("::1", ready.ports[0]!.hostPort, Buffer.from("still here"))).toString()).toBe("still here");
  });

  it("exits cleanly on SIGTERM: pid file removed, port released", async () => {
    const pidFile = join(dir, "term.pid");
    const { pid, ports } = await startProxy(pidFile, [`tcp:127.0.0.1:0:${n.base}.2:${PEER_PORT}`]);
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    expect(await tcpError("127.0.0.1", ports[0]!.hostPort)).toBe("ECONNREFUSED");
  });

  it("connects from inside a namespace with --netns (the container's own loopback)", async () => {
    const pidFile = join(dir, "netns.pid");
    const ready = await startProxyWith(["--pid-file", pidFile, "--netns", ns, "--map", `tcp:127.0.0.1:0:127.0.0.1:${PEER_PORT}`]);
    daemons.push(ready.pid);
    expect((await tcpRoundTrip("127.0.0.1", ready.ports[0]!.hostPort, Buffer.from("via netns"))).toString()).toBe("via netns");
  });

  it("rejects a malformed map with the map named", async () => {
    const bad = await netFails("port-proxy", "--foreground", "--map", "tcp:127.0.0.1:80:10.0.0.2");
    expect(bad.stderr).toBe(
      "berth-runtime: --map `tcp:127.0.0.1:80:10.0.0.2`: expected PROTO:HOSTIP:HOSTPORT:TARGETIP:TARGETPORT",
    );
    const proto = await netFails("port-proxy", "--foreground", "--map", "sctp:127.0.0.1:80:10.0.0.2:80");
    expect(proto.stderr).toContain("protocol must be tcp or udp");
  });
});

describeAsRoot("network-native: NAT rules", () => {
  const n = uniqueNetwork();
  const tag = `berth:${n.bridge}`;
  const forwarding = "/proc/sys/net/ipv4/ip_forward";
  let forwardingBefore: string;

  beforeAll(() => {
    forwardingBefore = readFileSync(forwarding, "utf8");
  });

  afterAll(async () => {
    await net("nat-remove", "--bridge", n.bridge);
    // nat-ensure turns forwarding on, as it must; the machine gets it back as it was.
    writeFileSync(forwarding, forwardingBefore);
  });

  it("adds MASQUERADE and FORWARD rules once, tagged, and removes them all", async () => {
    await net("nat-ensure", "--subnet", n.subnet, "--bridge", n.bridge);
    await net("nat-ensure", "--subnet", n.subnet, "--bridge", n.bridge);
    const rules = await taggedRules(tag);
    expect(rules).toHaveLength(4);
    expect(rules.some((r) => r.includes(`-s ${n.subnet}`) && r.includes("MASQUERADE"))).toBe(true);
    expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("1");
    await net("nat-remove", "--bridge", n.bridge);
    expect(await taggedRules(tag)).toEqual([]);
  });

  it("an internal network gets DROP rules and no MASQUERADE, switching either way", async () => {
    await net("nat-ensure", "--subnet", n.subnet, "--bridge", n.bridge);
    await net("nat-ensure", "--subnet", n.subnet, "--bridge", n.bridge, "--internal");
    const internal = await taggedRules(tag);
    expect(internal.filter((r) => r.includes("DROP"))).toHaveLength(2);
    expect(internal.some((r) => r.includes("MASQUERADE"))).toBe(false);
    expect(internal).toHaveLength(3);
    await net("nat-remove", "--subnet", n.subnet, "--bridge", n.bridge);
    expect(await taggedRules(tag)).toEqual([]);
  });

  it("writes no sysctl already set: forwarding on and /proc/sys read-only is no failure", async () => {
    writeFileSync(forwarding, "1");
    const helper = await netHelper();
    // A private mount namespace where /proc/sys is read-only, as inside a container.
    const script = `mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$0" nat-ensure --subnet ${n.subnet} --bridge ${n.bridge}`;
    const result = await execa("unshare", ["-m", "--propagation", "private", "sh", "-c", script, helper], { reject: false, timeout: 20_000 });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect((await taggedRules(tag)).some((r) => r.includes("MASQUERADE"))).toBe(true);
    await net("nat-remove", "--bridge", n.bridge);
  });

  it("refuses a subnet without a prefix length", async () => {
    const bad = await netFails("nat-ensure", "--subnet", "10.1.2.3", "--bridge", n.bridge);
    expect(bad.stderr).toContain("has no prefix length");
  });
});

describe("network-native: argument checks without root", () => {
  it("names a missing required option", async () => {
    const result = await netFails("netns-create", "--dir", "/tmp");
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe("berth-runtime: netns-create: --name and --dir are required");
  });
});
