import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type Options } from "execa";

const nativeDir = fileURLToPath(new URL("../../../native/", import.meta.url));
const peerScript = fileURLToPath(new URL("./net-peer.mjs", import.meta.url));

let helper: Promise<string> | undefined;

/**
 * The binary carrying the net-* commands: berth-runtime once its dispatcher routes to them,
 * until then the stand-alone `net-test` build of the same sources (`make -C native net-test`).
 * BERTH_NET_HELPER overrides both.
 */
export function netHelper(): Promise<string> {
  helper ??= (async () => {
    if (process.env.BERTH_NET_HELPER) return process.env.BERTH_NET_HELPER;
    const main = join(nativeDir, "build/berth-runtime");
    // netns-delete of a missing path is a no-op that succeeds only where the command exists.
    const probe = await execa(main, ["netns-delete", "--path", "/nonexistent/berth-net-probe"], {
      reject: false,
      timeout: 5_000,
    });
    if (probe.exitCode === 0) return main;
    await execa("make", ["-s", "-C", nativeDir, "net-test"], { timeout: 180_000 });
    return join(nativeDir, "build/net-test");
  })();
  return helper;
}

/** The C peer of the benchmark (`make -C native net-test` builds it; built here if missing). */
export async function benchPeer(): Promise<string> {
  const peer = join(nativeDir, "build/net-bench-peer");
  if (!existsSync(peer)) await execa("make", ["-s", "-C", nativeDir, "build/net-bench-peer"], { timeout: 180_000 });
  return peer;
}

/**
 * Runs the helper. A spawn that fails with EACCES, ETXTBSY or ENOENT is retried for a
 * moment: while native/ is being rebuilt (make runs beside the tests during development) the
 * binary is briefly missing or not yet executable.
 */
interface HelperResult {
  exitCode?: number;
  code?: string;
  stdout: unknown;
  stderr: unknown;
  stdio: unknown[];
}

async function runHelper(args: string[], options: Options = {}): Promise<HelperResult> {
  const binary = await netHelper();
  for (let attempt = 0; ; attempt++) {
    const result = (await execa(binary, args, { timeout: 20_000, ...options, reject: false })) as unknown as HelperResult;
    const code = result.code;
    const busy = code === "EACCES" || code === "ETXTBSY" || code === "ENOENT";
    if (!busy || attempt >= 20) return result;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs a net command that must succeed; returns its JSON output, or undefined when silent. */
export async function net(command: string, ...args: string[]): Promise<any> {
  const result = await runHelper([command, ...args]);
  if (result.exitCode !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.exitCode ?? result.code}): ${String(result.stderr)}`);
  }
  const stdout = String(result.stdout).trim();
  return stdout ? JSON.parse(stdout) : undefined;
}

/** Runs a net command expected to fail; returns its exit code and stderr. */
export async function netFails(command: string, ...args: string[]): Promise<{ exitCode: number; stderr: string }> {
  const result = await runHelper([command, ...args]);
  return { exitCode: result.exitCode ?? -1, stderr: String(result.stderr) };
}

/** A bridge name and a /24 unlikely to meet another test's, which may run at the same time. */
export function uniqueNetwork(): { bridge: string; base: string; subnet: string; gateway: string } {
  const [a, b] = randomBytes(2);
  const base = `10.${200 + (a! % 50)}.${b}`;
  return {
    bridge: `bt${randomBytes(5).toString("hex")}`,
    base,
    subnet: `${base}.0/24`,
    gateway: `${base}.1`,
  };
}

/** Runs a command inside a network namespace. */
export function inNetns(nsPath: string, file: string, args: string[], options: { timeout?: number } = {}) {
  return execa("nsenter", [`--net=${nsPath}`, file, ...args], { timeout: options.timeout ?? 20_000, reject: false });
}

/** A TCP + UDP echo server inside a namespace; resolves once it listens. */
export async function startPeer(nsPath: string, port: number): Promise<{ stop(): Promise<void> }> {
  const child = execa("nsenter", [`--net=${nsPath}`, process.execPath, peerScript, "serve", String(port)], {
    reject: false,
    buffer: false,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the peer did not listen within 10 s")), 10_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the peer exited with ${code}`));
    });
  });
  return {
    async stop() {
      child.kill("SIGKILL");
      await child;
    },
  };
}

/** Sends a message from inside a namespace and returns the reply. */
export async function sendFromNetns(nsPath: string, host: string, port: number, message: string): Promise<string> {
  const result = await inNetns(nsPath, process.execPath, [peerScript, "send", host, String(port), message]);
  if (result.exitCode !== 0) throw new Error(`send failed: ${result.stderr}`);
  return result.stdout;
}

export interface ProxyPort {
  proto: "tcp" | "udp";
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

/** Starts a port-proxy daemon; resolves with its ready line once it serves. */
export async function startProxyWith(args: string[]): Promise<{ pid: number; ports: ProxyPort[] }> {
  const result = await runHelper(["port-proxy", "--ready-fd", "3", ...args], { stdio: ["ignore", "pipe", "pipe", "pipe"] as const });
  if (result.exitCode !== 0) throw new Error(String(result.stderr));
  return JSON.parse(String(result.stdio[3]));
}

/** Starts a port-proxy daemon with a pid file; checks the file names the daemon. */
export async function startProxy(pidFile: string, maps: string[]): Promise<{ pid: number; ports: ProxyPort[] }> {
  const args = ["port-proxy", "--pid-file", pidFile, "--ready-fd", "3", ...maps.flatMap((m) => ["--map", m])];
  const result = await runHelper(args, { stdio: ["ignore", "pipe", "pipe", "pipe"] as const });
  const ready = String(result.stdio[3] ?? "").trim();
  if (result.exitCode !== 0) throw Object.assign(new Error(String(result.stderr)), { ready, exitCode: result.exitCode });
  const parsed = JSON.parse(ready) as { pid: number; ports: ProxyPort[] };
  if (Number(readFileSync(pidFile, "utf8")) !== parsed.pid) throw new Error("the pid file does not name the daemon");
  return parsed;
}

/** Whether a process exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Every iptables or ip6tables rule carrying a comment tag. */
export async function taggedRules(tag: string): Promise<string[]> {
  const rules: string[] = [];
  for (const tool of ["iptables-save", "ip6tables-save"]) {
    const result = await execa(tool, [], { reject: false, timeout: 20_000 });
    rules.push(...result.stdout.split("\n").filter((line) => line.includes(`"${tag}"`) || line.includes(` ${tag} `)));
  }
  return rules;
}

/** Names of every link on the host (`ip -o link`). */
export async function hostLinks(): Promise<string[]> {
  const result = await execa("ip", ["-o", "link"], { timeout: 20_000 });
  return result.stdout
    .split("\n")
    .map((line) => line.split(":")[1]?.trim().split("@")[0] ?? "")
    .filter(Boolean);
}

/** Mount points under a directory, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}
