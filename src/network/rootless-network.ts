import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { closeSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import { runRoot } from "../common/paths.js";
import { processStart } from "../common/process-start.js";
import {
  registerNetworkDriver,
  type NetworkAttachment,
  type NetworkAttachmentConfig,
  type NetworkContainer,
  type NetworkDescription,
  type NetworkDriverContext,
} from "../runtime/engine/network-attachment.js";
import type { RootlessPreparation } from "../runtime/rootless/rootless-engine.js";
import { rootlessIdMappings, unshareArgs, type RootlessIdMappings } from "../common/user-namespace.js";
import { NativeNet, type ProxiedPort } from "./native-net.js";
import { parsePortSpec, proxyMap, type PortSpec } from "./port-spec.js";

const log = logger("network:rootless");

/** The driver name under which container records keep a {@link RootlessNetworkAttachment}. */
export const rootlessDriverName = "berth-rootless-slirp4netns";

/** The name containers resolve to the host by, as Docker's `host.docker.internal`. */
export const hostInternalName = "host.berth.internal";

/** Options of {@link RootlessNetworkAttachment}. */
export interface RootlessNetworkAttachmentOptions {
  /**
   * Published ports, as for bridge networks: `hostPort:containerPort[/tcp|udp]`, a bare
   * container port (a free host port is chosen), `hostIp:hostPort:containerPort`, or a
   * {@link PortSpec}. The default address is 127.0.0.1 and ::1 together. @default []
   */
  ports?: readonly (string | number | PortSpec)[];
  /** Where the helpers' API sockets, pid and log files go. @default `<runRoot()>/rootless-net` */
  runDir?: string;
  /** The `slirp4netns` binary (Debian package slirp4netns). @default "slirp4netns" */
  slirp4netns?: string;
  /** How long the namespace and slirp4netns may take to come up, in ms. @default 20000 */
  timeout?: number;
  /** @default rootlessIdMappings() */
  mappings?: RootlessIdMappings;
}

/** What a container record keeps: what another process needs to release the network. */
interface RootlessConfig {
  ports: (string | number | PortSpec)[];
  runDir: string;
  holder?: { pid: number; start: string };
  slirp?: { pid: number; start: string; files: string[] };
  proxy?: { pid: number; start: string; pidFile: string };
  published?: ProxiedPort[];
}

/**
 * Rootless networking with slirp4netns: the container gets a network namespace owned by a
 * user namespace berth makes for it (the same mappings as the container's, which joins both),
 * and slirp4netns connects that namespace to the host's sockets. Outbound traffic leaves
 * through the user's own sockets (no privileges); connections to the gateway, 10.0.2.2, reach
 * the host's loopback, which `host.berth.internal` names. Published ports are slirp4netns's
 * host forwards on 127.0.0.1, TCP and UDP; the same port on ::1 is a berth port-proxy to it.
 *
 * Why not pasta (Debian's passt, 2023-03-09 in bookworm), which is faster: its forwarding of
 * UDP from the host's loopback drops every reply (measured: the datagram reaches the
 * container, the answer never leaves pasta), and it binds one address per port.
 *
 * The namespace's holder (a `sleep` in the namespaces), slirp4netns and the proxy are detached: the
 * container's network outlives the Node process that started it, like the container. Their
 * pids (with start times, against reuse) are kept in the container's record; `release` ends
 * them. Each also writes its pid to a file named after the container (`<runDir>/<id>.holder.pid`,
 * `.slirp.pid`, `.proxy.pid`) as it starts, before the record names it: a Node process killed
 * in between leaves helpers that the next start or `release` (any process's, from the record
 * kept since create) finds and ends.
 */
export class RootlessNetworkAttachment implements NetworkAttachment {
  readonly name = "slirp4netns";
  readonly #ports: readonly (string | number | PortSpec)[];
  readonly #runDir: string;
  readonly #slirp: string;
  readonly #timeout: number;
  readonly #mappings: RootlessIdMappings | undefined;
  #state: RootlessConfig;

  constructor(options: RootlessNetworkAttachmentOptions = {}, kept?: RootlessConfig) {
    options.ports?.forEach((p) => parsePortSpec(p));
    this.#ports = options.ports ?? [];
    this.#runDir = options.runDir ?? join(runRoot(), "rootless-net");
    this.#slirp = options.slirp4netns ?? "slirp4netns";
    this.#timeout = options.timeout ?? 20_000;
    this.#mappings = options.mappings;
    this.#state = kept ?? { ports: [...this.#ports], runDir: this.#runDir };
  }

  /** Rebuilds an attachment from what a container record kept. */
  static fromConfig(options: unknown, context: NetworkDriverContext): RootlessNetworkAttachment {
    const config = options as Partial<RootlessConfig> | undefined;
    if (!config || !Array.isArray(config.ports)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", "a container record's rootless network configuration is malformed", { field: "network.config" });
    }
    const runDir = config.runDir ?? join(context.runRoot, "rootless-net");
    return new RootlessNetworkAttachment({ ports: config.ports, runDir }, { ...config, ports: config.ports, runDir } as RootlessConfig);
  }

  get config(): NetworkAttachmentConfig {
    return { driver: rootlessDriverName, options: this.#state };
  }

  /** The ports published by the last `prepare` (both loopback addresses of each). */
  get publishedPorts(): readonly ProxiedPort[] {
    return this.#state.published ?? [];
  }

  async prepare(container: NetworkContainer): Promise<RootlessPreparation> {
    // A start after a crash may find the last start's helpers: they go first.
    const kept = container.config?.driver === rootlessDriverName ? (container.config.options as RootlessConfig) : undefined;
    if (kept) await releaseHelpers(kept);
    // Short names: a unix socket's path has room for 107 bytes.
    const base = helperBase(this.#runDir, container.id);
    // What a start killed before its record named the helpers left (see releaseHelpers).
    await releaseHelpers({ ports: [], runDir: this.#runDir }, base);
    const mappings = this.#mappings ?? rootlessIdMappings();
    await mkdir(this.#runDir, { recursive: true, mode: 0o700 });
    const state: RootlessConfig = { ports: [...this.#ports], runDir: this.#runDir };
    this.#state = state;
    try {
      state.holder = await startHolder(mappings, this.#timeout, container.name, `${base}.holder.pid`);
      const ports = await choosePorts(this.#ports.map((p) => parsePortSpec(p)));
      const files = [`${base}.sock`, `${base}.log`];
      state.slirp = { ...(await startSlirp(this.#slirp, state.holder.pid, files[0]!, files[1]!, `${base}.slirp.pid`, this.#timeout, container.name)), files };
      for (const port of ports) await addHostForward(files[0]!, port, this.#timeout, container.name);
      state.published = ports.map((p) => ({ proto: p.protocol, hostIp: p.hostIp === "loopback" ? "127.0.0.1" : p.hostIp, hostPort: p.hostPort, targetIp: "", targetPort: p.containerPort }));
      const v6 = ports.filter((p) => p.hostIp === "loopback");
      if (v6.length > 0) {
        const proxyPid = `${base}.proxy.pid`;
        // ::1 -> the same port on 127.0.0.1, where slirp4netns listens.
        const maps = v6.map((p) => proxyMap({ ...p, hostIp: "::1", containerPort: p.hostPort }, "127.0.0.1"));
        const proxy = await new NativeNet().portProxy(maps, proxyPid);
        state.proxy = { pid: proxy.pid, start: processStart(proxy.pid) ?? "", pidFile: proxyPid };
        state.published.push(...v6.map((p) => ({ proto: p.protocol, hostIp: "::1", hostPort: p.hostPort, targetIp: "", targetPort: p.containerPort })));
      }
    } catch (error) {
      await releaseHelpers(state, base);
      throw error;
    }
    log("network of %s: holder %d, slirp4netns %d, ports %o", container.name, state.holder.pid, state.slirp.pid, state.published);
    if (process.env.BERTH_TEST_PAUSE_AFTER_NETWORK) await pauseForTest(process.env.BERTH_TEST_PAUSE_AFTER_NETWORK);
    return {
      mode: "path",
      netnsPath: `/proc/${state.holder.pid}/ns/net`,
      usernsPath: `/proc/${state.holder.pid}/ns/user`,
      hostsEntries: [slirpAddress],
      extraHosts: [{ name: hostInternalName, ip: slirpGateway }],
      // slirp4netns's forwarder to the host's resolver (loopback resolvers included), as
      // Podman gives its rootless containers.
      dnsConfig: { nameservers: [slirpDns] },
      ipv6: false,
      config: this.config,
    };
  }

  /**
   * The published ports and slirp4netns's fixed address, for `inspect`'s `NetworkSettings`
   * (the harness's `getMappedPort` reads them there): any process's engine rebuilds the
   * attachment from the record, which keeps them.
   */
  async describe(): Promise<NetworkDescription | undefined> {
    if (!this.#state.holder) return undefined;
    return {
      endpoints: [{ network: this.name, networkId: "", ipAddress: slirpAddress, prefixLen: 24, gateway: slirpGateway, macAddress: "", aliases: [] }],
      ports: (this.#state.published ?? []).map((p) => ({ containerPort: p.targetPort, proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort })),
    };
  }

  async release(container: NetworkContainer): Promise<void> {
    const kept = container.config?.driver === rootlessDriverName ? (container.config.options as RootlessConfig) : undefined;
    await releaseHelpers(this.#state);
    if (kept) await releaseHelpers(kept);
    // Helpers a killed start left before the record named them.
    await releaseHelpers({ ports: [], runDir: this.#runDir }, helperBase(this.#runDir, container.id));
    this.#state = { ports: [...this.#ports], runDir: this.#runDir };
  }
}

/** Where a container's helpers keep their files: `<base>.sock`, `<base>.holder.pid`... */
function helperBase(runDir: string, id: string): string {
  return join(runDir, id.slice(0, 16));
}

/**
 * The test hook of the crash test (test/integration/rootless): the helpers run and the record
 * does not name them yet. Writes `marker` and waits to be killed.
 */
async function pauseForTest(marker: string): Promise<never> {
  writeFileSync(marker, String(process.pid));
  return new Promise<never>(() => setInterval(() => {}, 60_000));
}

/**
 * The namespaces' holder: `sleep` as root of a new user namespace (rootless mappings) with a
 * new network namespace. It writes its own pid file before it says it is ready, so a Node
 * process killed at any moment after the spawn leaves a holder that the file names.
 */
async function startHolder(mappings: RootlessIdMappings, timeout: number, container: string, pidFile: string): Promise<{ pid: number; start: string }> {
  const script = 'echo $$ > "$1" && echo ready && exec sleep infinity';
  const child = spawn("unshare", [...unshareArgs(mappings), "--net", "--", "sh", "-c", script, "sh", pidFile], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeout);
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      if (c.includes("ready")) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.once("error", () => resolve(false));
    child.once("exit", () => resolve(false));
  });
  child.stdout!.destroy();
  child.stderr!.destroy();
  child.unref();
  const start = child.pid ? processStart(child.pid) : undefined;
  if (!ok || !child.pid || !start) {
    if (child.pid) killIf({ pid: child.pid, start: start ?? "" });
    throw new BerthError("BERTH_ROOTLESS_FAILED", `cannot make the network namespace of container ${container}: ${stderr.trim() || "timed out"}`, {
      container,
      lastLines: stderr.split("\n").filter(Boolean).slice(-3),
    });
  }
  return { pid: child.pid, start };
}

/**
 * slirp4netns on the holder's namespaces: a `tap0` configured as 10.0.2.100/24, default route
 * via 10.0.2.2, which also answers for the host's loopback (published as host.berth.internal);
 * DNS at 10.0.2.3 forwards to the host's resolver. It runs detached, its output in a log
 * file: a pipe closed by an exited Node would end it at its next message. slirp4netns has no
 * pid file of its own: a shell writes one and execs it (same pid), as the holder does.
 */
async function startSlirp(binary: string, target: number, apiSocket: string, logPath: string, pidFile: string, timeout: number, container: string): Promise<{ pid: number; start: string }> {
  await rm(apiSocket, { force: true });
  const log = openSync(logPath, "w", 0o600);
  const args = ["--configure", "--mtu=65520", `--api-socket=${apiSocket}`, "--ready-fd=3", String(target), "tap0"];
  let child;
  try {
    child = spawn("sh", ["-c", 'echo $$ > "$0" && exec "$@"', pidFile, binary, ...args], { detached: true, stdio: ["ignore", log, log, "pipe"] });
  } finally {
    closeSync(log);
  }
  let exitCode: number | null = null;
  const outcome = await new Promise<"ready" | "exited" | "timeout" | Error>((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), timeout);
    (child.stdio[3] as NodeJS.ReadableStream).on("data", () => {
      clearTimeout(timer);
      resolve("ready");
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve(error);
    });
    child.once("exit", (code) => {
      exitCode = code;
      clearTimeout(timer);
      resolve("exited");
    });
  });
  (child.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
  child.unref();
  const start = child.pid ? processStart(child.pid) : undefined;
  if (outcome !== "ready" || !child.pid || !start) {
    if (child.pid) killIf({ pid: child.pid, start: start ?? "" });
    const text = (await readFile(logPath, "utf8").catch(() => "")).trim();
    // The shell's 127: the exec found no such program.
    const missing = outcome === "exited" && exitCode === 127;
    throw new BerthError(
      "BERTH_ROOTLESS_FAILED",
      missing
        ? `${binary} is not installed (Debian package slirp4netns): rootless networking needs it`
        : `slirp4netns failed for container ${container}: ${text.split("\n").pop() || outcome}`,
      { container, command: [binary, ...args].join(" "), lastLines: text.split("\n").filter(Boolean).slice(-3), ...(outcome instanceof Error ? { cause: outcome } : {}) },
    );
  }
  return { pid: child.pid, start };
}

/** Publishes one port through slirp4netns's API (`add_hostfwd`). */
async function addHostForward(apiSocket: string, port: Required<PortSpec>, timeout: number, container: string): Promise<void> {
  const hostAddr = port.hostIp === "loopback" ? "127.0.0.1" : port.hostIp;
  const request = { execute: "add_hostfwd", arguments: { proto: port.protocol, host_addr: hostAddr, host_port: port.hostPort, guest_port: port.containerPort } };
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = createConnection(apiSocket);
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new BerthError("BERTH_TIMEOUT", `slirp4netns did not answer within ${timeout} ms`, { container, timeout }));
    }, timeout);
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => (data += c));
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(new BerthError("BERTH_ROOTLESS_FAILED", `cannot reach slirp4netns's API socket ${apiSocket}`, { container, cause: error }));
    });
    socket.end(JSON.stringify(request));
  });
  let parsed: { return?: unknown; error?: { desc?: string } } = {};
  try {
    parsed = JSON.parse(reply) as typeof parsed;
  } catch {
    // Reported below.
  }
  if (parsed.return !== undefined) return;
  // libslirp says only "failed": a port another listener holds is the usual reason, and the
  // one the user can act on, so it is checked for.
  const free = await freePort(port.protocol, hostAddr, port.hostPort).then(
    () => true,
    () => false,
  );
  if (!free) {
    throw new BerthError("BERTH_PORT_IN_USE", `cannot publish port ${port.hostPort} on ${hostAddr}: it is already in use`, { container, port: port.hostPort, hostIp: hostAddr });
  }
  throw new BerthError("BERTH_ROOTLESS_FAILED", `slirp4netns cannot publish ${port.protocol} port ${hostAddr}:${port.hostPort}: ${parsed.error?.desc ?? reply}`, { container, port: port.hostPort });
}

/**
 * Host ports for the specs that gave none: free on 127.0.0.1 (and on ::1 for the default
 * loopback pair), found by binding port 0 (slirp4netns cannot choose one). Another process
 * may take one before slirp4netns binds it; the start then fails with the port named.
 */
async function choosePorts(specs: Required<PortSpec>[]): Promise<Required<PortSpec>[]> {
  const out: Required<PortSpec>[] = [];
  for (const spec of specs) {
    if (spec.hostPort !== 0) {
      out.push(spec);
      continue;
    }
    let port = 0;
    for (let attempt = 0; attempt < 20 && port === 0; attempt++) {
      const candidate = await freePort(spec.protocol, spec.hostIp === "loopback" ? "127.0.0.1" : spec.hostIp, 0);
      if (spec.hostIp !== "loopback" || (await freePort(spec.protocol, "::1", candidate).catch(() => 0)) === candidate) port = candidate;
    }
    if (port === 0) throw new BerthError("BERTH_PORT_IN_USE", "no free host port on both 127.0.0.1 and ::1", { field: "ports" });
    out.push({ ...spec, hostPort: port });
  }
  return out;
}

function freePort(proto: "tcp" | "udp", host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    if (proto === "udp") {
      const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
      socket.once("error", reject);
      socket.bind(port, host, () => {
        const chosen = socket.address().port;
        socket.close(() => resolve(chosen));
      });
      return;
    }
    const server = createServer();
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const chosen = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(chosen));
    });
  });
}

/**
 * Ends the helpers `state` names and, given `base`, those the pid files there name (see
 * {@link RootlessNetworkAttachment}), then removes their files.
 */
async function releaseHelpers(state: RootlessConfig, base?: string): Promise<void> {
  const pidFiles = base ? [`${base}.proxy.pid`, `${base}.slirp.pid`, `${base}.holder.pid`] : [];
  // By pid and start time, not by name: a proxy forked by `berth-runtime serve` keeps serve's
  // command line.
  const helpers = [state.proxy, state.slirp, state.holder, ...pidFiles.map(pidFileProcess)];
  for (const p of helpers) if (p) killIf(p);
  // Waited for, so a caller that checks for leftovers right after finds none.
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline && helpers.some((p) => p && isSame(p))) await new Promise((r) => setTimeout(r, 10));
  const files = [...(state.slirp?.files ?? []), ...(state.proxy ? [state.proxy.pidFile] : [])];
  if (base) files.push(`${base}.sock`, `${base}.log`, ...pidFiles);
  for (const file of files) await rm(file, { force: true });
  delete state.proxy;
  delete state.slirp;
  delete state.holder;
  delete state.published;
}

/**
 * The live process a pid file names, or undefined. The process wrote the file after it
 * started (or its starter did): one that started later than the file was written took the
 * pid over from a helper that is gone, and is not ours to kill.
 */
function pidFileProcess(path: string): { pid: number; start: string } | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    const start = pid > 1 ? processStart(pid) : undefined;
    if (!start) return undefined;
    const startedAt = (bootTime() + Number(start) / clockTicks) * 1000;
    // One second of slack: a tick is 10 ms, the boot time is whole seconds.
    return startedAt <= statSync(path).mtimeMs + 1_000 ? { pid, start } : undefined;
  } catch {
    return undefined;
  }
}

/** USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on every Linux architecture Node runs on. */
const clockTicks = 100;
let bootSeconds: number | undefined;

function bootTime(): number {
  return (bootSeconds ??= Number(/^btime (\d+)/m.exec(readFileSync("/proc/stat", "utf8"))?.[1] ?? 0));
}

function killIf(p: { pid: number; start: string }): void {
  if (!isSame(p)) return;
  try {
    process.kill(p.pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}

/** Whether `pid` is still the process recorded (its start time unchanged, not a zombie). */
function isSame(p: { pid: number; start: string }): boolean {
  return p.start !== "" && processStart(p.pid) === p.start;
}

/**
 * What the harness and `Container` throw for networks between rootless containers (user
 * networks, aliases, fixed addresses), which rootless mode does not have: each container has
 * its own slirp4netns. The message says what works instead.
 */
export function rootlessNetworksUnsupported(what: string, context: Record<string, unknown> = {}): BerthError {
  return new BerthError(
    "BERTH_UNSUPPORTED",
    `${what}: not supported in rootless mode, where each container has its own slirp4netns network and there are no networks between containers. ` +
      `Instead, publish the other container's port (withExposedPorts, or ports) and reach it from this container at ${hostInternalName}:<its mapped host port> ` +
      `(getMappedPort), or run as root for user networks and names (docs/rootless.md)`,
    context,
  );
}

/** slirp4netns's fixed addresses (its default 10.0.2.0/24): the container's, and the gateway that is the host. */
const slirpAddress = "10.0.2.100";
const slirpGateway = "10.0.2.2";
const slirpDns = "10.0.2.3";

registerNetworkDriver(rootlessDriverName, (options, context) => RootlessNetworkAttachment.fromConfig(options, context));
