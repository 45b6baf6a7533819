import { execFile } from "node:child_process";
import { execa } from "execa";
import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import { resolveRuntime } from "../runtime/oci-runtime.js";
import { runtimeServer, ServeUnavailable } from "../runtime/runtime-server.js";

const log = logger("network:native");

/** Options of {@link NativeNet}. */
export interface NativeNetOptions {
  /**
   * The binary carrying the `netns-*`, `bridge-*`, `veth-*`, `port-proxy` and `nat-*`
   * commands. @default process.env.BERTH_NET_HELPER, else the bundled berth-runtime
   */
  binary?: string;
  /** How long one command may run before it is killed and fails with `BERTH_TIMEOUT`, in ms. @default 20000 */
  timeout?: number;
}

/** One listener a `port-proxy` daemon bound. */
export interface ProxiedPort {
  proto: "tcp" | "udp";
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

/** The veth a container got on a bridge. */
export interface VethResult {
  hostIfname: string;
  mac: string;
}

/** Options of {@link NativeNet.vethAttach} (and of the one-spawn form of {@link NativeNet.netnsCreate}). */
export interface VethOptions {
  bridge: string;
  /** @default "eth0" */
  ifname?: string;
  /** Addresses with their prefix (`10.88.0.2/16`). @default none */
  addrs?: string[];
  /** Default-route gateways. @default none */
  gateways?: string[];
  /** @default derived from the first IPv4 address as Docker does */
  mac?: string;
  /** The host end's name; a name that is taken fails the command. @default `vb` and 8 random hex digits, another one when taken */
  hostIfname?: string;
}

/**
 * A thin driver for berth-runtime's networking commands (docs/network-native.md): each call
 * is one bounded command, run by berth-runtime's co-process (`serve`) or, for a binary
 * without one, spawned; the command's one-line error becomes a BerthError.
 */
export class NativeNet {
  readonly #binary: string | undefined;
  readonly #timeout: number;

  constructor(options: NativeNetOptions = {}) {
    this.#binary = options.binary ?? process.env.BERTH_NET_HELPER;
    this.#timeout = options.timeout ?? 20_000;
  }

  get binary(): string {
    return this.#binary ?? resolveRuntime("berth-runtime");
  }

  /** Creates a namespace pinned at `dir/name`, attached to a bridge in the same spawn when `veth` is given. */
  async netnsCreate(name: string, dir: string, veth?: VethOptions): Promise<{ path: string } & Partial<VethResult>> {
    return (await this.#run("netns-create", ["--name", name, "--dir", dir, ...(veth ? vethArgs(veth) : [])])) as {
      path: string;
    } & Partial<VethResult>;
  }

  /**
   * Unpins a namespace; a missing one is success.
   * @param ifnames links inside it to delete first, in the same request, so that their host
   * ends are gone when it returns (the kernel frees a dead namespace's links later otherwise);
   * one that cannot be deleted does not stop the unpinning. It returns once the kernel has
   * taken them off every list, not once it has freed them (an RCU grace period later, 20-30 ms
   * that a detached berth-runtime child waits out); `BERTH_NET_SYNC_LINK_DELETE=1` waits for
   * the freeing too, the baseline of bench/network-release.bench.ts. Default: none.
   */
  async netnsDelete(path: string, ifnames: readonly string[] = []): Promise<void> {
    const wait = ifnames.length > 0 && process.env.BERTH_NET_SYNC_LINK_DELETE === "1" ? ["--wait-freed"] : [];
    await this.#run("netns-delete", ["--path", path, ...ifnames.flatMap((i) => ["--ifname", i]), ...wait]);
  }

  async bridgeEnsure(name: string, addrs: string[]): Promise<void> {
    await this.#run("bridge-ensure", ["--name", name, ...addrs.flatMap((a) => ["--addr", a])]);
  }

  /** Deletes a bridge; a missing one is success. */
  async bridgeDelete(name: string): Promise<void> {
    await this.#run("bridge-delete", ["--name", name]);
  }

  async vethAttach(netnsPath: string, veth: VethOptions): Promise<VethResult> {
    return (await this.#run("veth-attach", ["--netns", netnsPath, ...vethArgs(veth)])) as VethResult;
  }

  /** Deletes the pair behind `ifname` in the namespace; a missing one is success. */
  async vethDetach(netnsPath: string, ifname: string): Promise<void> {
    await this.#run("veth-detach", ["--netns", netnsPath, "--ifname", ifname]);
  }

  async natEnsure(subnet: string, bridge: string, internal: boolean): Promise<void> {
    await this.#run("nat-ensure", ["--subnet", subnet, "--bridge", bridge, ...(internal ? ["--internal"] : [])]);
  }

  async natRemove(bridge: string): Promise<void> {
    await this.#run("nat-remove", ["--bridge", bridge]);
  }

  /**
   * Starts a detached `port-proxy` daemon; resolves once every listener is bound. A port
   * that cannot be bound fails with `BERTH_PORT_IN_USE` naming it.
   */
  async portProxy(maps: string[], pidFile: string): Promise<{ pid: number; ports: ProxiedPort[] }> {
    let result: { exitCode: number | undefined; stderr: unknown };
    let ready: string;
    if (runtimeServer(this.binary)?.available) {
      // Through the co-process: the daemon writes its ready line on stdout (a memfd there, read
      // once the starter exits, which it does only after the line is written).
      const served = await this.#execFile(["port-proxy", "--pid-file", pidFile, ...maps.flatMap((m) => ["--map", m])]);
      result = served;
      ready = served.stdout.trim().split("\n").pop() ?? "";
    } else {
      const args = ["port-proxy", "--pid-file", pidFile, "--ready-fd", "3", ...maps.flatMap((m) => ["--map", m])];
      const spawned = await this.#spawn(args, { stdio: ["ignore", "pipe", "pipe", "pipe"] });
      result = { exitCode: spawned.exitCode, stderr: spawned.stderr };
      ready = String(spawned.stdio[3] ?? "").trim();
    }
    let parsed: { pid?: number; ports?: ProxiedPort[]; error?: string } = {};
    try {
      parsed = ready ? JSON.parse(ready) : {};
    } catch {
      // Reported below with the command's stderr.
    }
    if (result.exitCode === 0 && parsed.pid && parsed.ports) return { pid: parsed.pid, ports: parsed.ports };
    const message = parsed.error ?? oneLine(result.stderr) ?? `exit ${result.exitCode}`;
    const inUse = /port (\d+) on (\S+) is already in use/.exec(message);
    if (inUse) {
      throw new BerthError("BERTH_PORT_IN_USE", `cannot publish port ${inUse[1]} on ${inUse[2]}: it is already in use`, {
        port: Number(inUse[1]),
        hostIp: inUse[2],
      });
    }
    throw new BerthError("BERTH_NETWORK_FAILED", `port-proxy failed: ${message}`, { command: "port-proxy", maps, exitCode: result.exitCode });
  }

  async #run(command: string, args: string[]): Promise<unknown> {
    const result = await this.#execFile([command, ...args]);
    if (result.exitCode !== 0) {
      const line = oneLine(result.stderr) ?? `exit ${result.exitCode}`;
      throw new BerthError("BERTH_NETWORK_FAILED", `${command} failed: ${line.replace(/^berth-runtime: /, "")}`, {
        command,
        args,
        ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      });
    }
    const stdout = String(result.stdout ?? "").trim();
    return stdout ? JSON.parse(stdout) : undefined;
  }

  /**
   * The per-container commands go through child_process.execFile, not execa: measured here,
   * execa adds 1.5–3 ms a spawn, as much as the kernel work of a container's whole setup.
   */
  async #execFile(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const binary = this.binary;
    const started = performance.now();
    // Through berth-runtime's co-process when the binary has one: a fork (~0.1 ms) instead of
    // a spawn from Node (~3 ms), which is most of a container's network setup.
    const server = runtimeServer(binary);
    if (server?.available) {
      try {
        const r = await server.run(args, this.#timeout);
        log("%s %s: %s (%s ms, served)", args[0], args.slice(1).join(" "), r.exitCode ?? r.signal, (performance.now() - started).toFixed(1));
        if (r.timedOut) throw new BerthError("BERTH_TIMEOUT", `${args[0]} did not finish within ${this.#timeout} ms`, { command: args[0], args });
        return { exitCode: r.exitCode ?? 128, stdout: r.stdout, stderr: r.stderr };
      } catch (error) {
        if (!(error instanceof ServeUnavailable) || error.sent) {
          if (error instanceof BerthError) throw error;
          throw new BerthError("BERTH_NETWORK_FAILED", `${args[0]} failed: ${(error as Error).message}`, { command: args[0], args, cause: error });
        }
      }
    }
    return this.#spawnFile(binary, args, started);
  }

  #spawnFile(binary: string, args: string[], started: number): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(binary, args, { timeout: this.#timeout, killSignal: "SIGKILL", encoding: "utf8" }, (error, stdout, stderr) => {
        log("%s %s: %s (%s ms)", args[0], args.slice(1).join(" "), error ? (error.code ?? error.signal) : 0, (performance.now() - started).toFixed(1));
        if (!error) return resolve({ exitCode: 0, stdout, stderr });
        if (typeof error.code === "number") return resolve({ exitCode: error.code, stdout, stderr });
        if (error.killed) {
          return reject(new BerthError("BERTH_TIMEOUT", `${args[0]} did not finish within ${this.#timeout} ms`, { command: args[0], args }));
        }
        reject(
          new BerthError("BERTH_NETWORK_FAILED", `cannot run ${binary} ${args[0]}: ${error.message}`, {
            command: args[0],
            path: binary,
            cause: error,
          }),
        );
      });
    });
  }

  async #spawn(args: string[], extra: { stdio?: readonly ("ignore" | "pipe")[] }) {
    const binary = this.binary;
    const started = performance.now();
    const result = await execa(binary, args, {
      timeout: this.#timeout,
      reject: false,
      ...(extra.stdio ? { stdio: extra.stdio as ["ignore", "pipe", "pipe", "pipe"] } : {}),
    });
    log("%s %s: %d (%s ms)", args[0], args.slice(1).join(" "), result.exitCode, (performance.now() - started).toFixed(1));
    if (result.timedOut) {
      throw new BerthError("BERTH_TIMEOUT", `${args[0]} did not finish within ${this.#timeout} ms`, { command: args[0], args });
    }
    if (result.exitCode === undefined) {
      throw new BerthError("BERTH_NETWORK_FAILED", `cannot run ${binary} ${args[0]}: ${result.shortMessage}`, {
        command: args[0],
        path: binary,
        cause: result,
      });
    }
    return result;
  }
}

function vethArgs(veth: VethOptions): string[] {
  return [
    "--bridge",
    veth.bridge,
    ...(veth.ifname ? ["--ifname", veth.ifname] : []),
    ...(veth.addrs ?? []).flatMap((a) => ["--addr", a]),
    ...(veth.gateways ?? []).flatMap((g) => ["--gateway", g]),
    ...(veth.mac ? ["--mac", veth.mac] : []),
    ...(veth.hostIfname ? ["--host-ifname", veth.hostIfname] : []),
  ];
}

function oneLine(stderr: unknown): string | undefined {
  const text = String(stderr ?? "").trim();
  return text ? text.split("\n").pop() : undefined;
}
