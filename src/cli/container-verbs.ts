import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../common/index.js";
import { Container, type ContainerCreateOptions } from "../harness/container.js";
import { Image } from "../harness/image.js";
import type { ContainerInspect } from "../runtime/engine/container-inspect.js";
import { parseRestartPolicy } from "../runtime/engine/restart-policy.js";
import { parseMountFlag, parseTmpfsFlag } from "../volume/mount-spec.js";
import { applyCommitChanges } from "./commit-changes.js";
import { readDockerEnvFile } from "./docker-env-file.js";
import { renderTemplate } from "./format.js";
import { parseTailFlag } from "./tail-flag.js";
import type { CliIo } from "./main.js";
import type { FlagValue, ParsedCommand } from "./parse-args.js";
import { renderPs, type ContainerSummary, type PortSummary } from "./tables.js";
import { defaultDetachKeys, parseDetachKeys, runInteractive, type InteractiveTarget } from "./interactive-session.js";

type Flags = Record<string, FlagValue>;

const str = (v: FlagValue | undefined): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const list = (v: FlagValue | undefined): string[] => (Array.isArray(v) ? v : []);
const num = (v: FlagValue | undefined): number | undefined => (typeof v === "number" ? v : undefined);
const map = (v: FlagValue | undefined): Record<string, string | null> => (v && typeof v === "object" && !Array.isArray(v) ? v : {});

/**
 * Flags berth parses (they are Docker's) but cannot honour yet: given, they fail in one line
 * rather than being silently ignored.
 */
export function refuse(cmd: ParsedCommand, names: readonly string[]): void {
  for (const name of names) {
    const v = cmd.flags[name];
    const given = v !== undefined && v !== false && v !== "" && !(Array.isArray(v) && v.length === 0) && !(typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
    const isDefault = cmd.verb?.flags.find((f) => f.name === name)?.default === v;
    if (given && !isDefault) {
      throw new BerthError("BERTH_UNSUPPORTED", `berth ${cmd.path.join(" ")} does not support --${name} yet`, { command: cmd.path.join(" "), flag: name });
    }
  }
}

/** `-e` entries as the engine takes them: a bare `NAME` is looked up in the caller's environment. */
function envEntries(v: FlagValue | undefined): string[] {
  return Object.entries(map(v)).map(([k, val]) => (val === null ? k : `${k}=${val}`));
}

/** `run`/`create` flags as {@link Container.create} options: the CLI adds nothing the API lacks. */
export async function createOptions(cmd: ParsedCommand, io: CliIo): Promise<ContainerCreateOptions> {
  const f = cmd.flags;
  refuse(cmd, ["attach"]);
  const platform = str(f.platform);
  if (platform && platform !== `linux/${process.arch === "x64" ? "amd64" : process.arch}`) {
    throw new BerthError("BERTH_UNSUPPORTED", `--platform ${platform}: berth runs only the host's platform`, { flag: "platform", platform });
  }
  const [image, ...cmdArgs] = cmd.args;
  if (!image) throw new BerthError("BERTH_CLI_USAGE", `"berth ${cmd.path.join(" ")}" requires at least 1 argument`, { command: cmd.path.join(" ") });
  const env: Record<string, string> = {};
  for (const file of list(f["env-file"])) Object.assign(env, await readDockerEnvFile(file, io.env));
  const envList = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...envEntries(f.env)];
  const labels = Object.fromEntries(Object.entries(map(f.label)).map(([k, v]) => [k, v ?? ""]));
  const mounts = [...list(f.volume), ...list(f.mount).map((m) => parseMountFlag(m))];
  const tmpfs = list(f.tmpfs);
  for (const t of tmpfs) parseTmpfsFlag(t); // a bad --tmpfs is a usage error before anything is made
  const pull = str(f.pull) ?? "missing";
  if (pull !== "missing" && pull !== "always" && pull !== "never") {
    throw new BerthError("BERTH_CLI_USAGE", `invalid pull option: '${pull}': must be one of "always", "missing" or "never"`, { flag: "pull" });
  }
  const health: NonNullable<ContainerCreateOptions["healthcheck"]> = {};
  const ms = (v: FlagValue | undefined) => (typeof v === "number" && v > 0 ? `${v}ms` : undefined);
  if (str(f["health-cmd"])) health.test = str(f["health-cmd"])!;
  if (ms(f["health-interval"])) health.interval = ms(f["health-interval"])!;
  if (ms(f["health-timeout"])) health.timeout = ms(f["health-timeout"])!;
  if (ms(f["health-start-period"])) health.startPeriod = ms(f["health-start-period"])!;
  if (ms(f["health-start-interval"])) health.startInterval = ms(f["health-start-interval"])!;
  if (num(f["health-retries"])) health.retries = num(f["health-retries"])!;
  const resources: NonNullable<ContainerCreateOptions["resources"]> = {};
  if (num(f.memory)) resources.memory = num(f.memory)!;
  if (num(f.cpus)) resources.cpus = num(f.cpus)!;
  if (num(f["pids-limit"]) !== undefined && num(f["pids-limit"]) !== 0) resources.pidsLimit = num(f["pids-limit"])!;
  const entrypoint = typeof f.entrypoint === "string" ? f.entrypoint : undefined;
  const options: ContainerCreateOptions = {
    image,
    pull,
    ...(cmdArgs.length > 0 ? { cmd: cmdArgs } : {}),
    ...(entrypoint !== undefined ? { entrypoint: entrypoint === "" ? "" : [entrypoint] } : {}),
    ...(str(f.name) ? { name: str(f.name)! } : {}),
    ...(envList.length > 0 ? { env: envList, hostEnv: io.env } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(str(f.workdir) ? { workingDir: str(f.workdir)! } : {}),
    ...(str(f.user) ? { user: str(f.user)! } : {}),
    ...(str(f.hostname) ? { hostname: str(f.hostname)! } : {}),
    ...(str(f["stop-signal"]) ? { stopSignal: str(f["stop-signal"])! } : {}),
    ...(mounts.length > 0 ? { mounts } : {}),
    ...(tmpfs.length > 0 ? { tmpfs } : {}),
    ...(list(f.expose).length > 0 ? { exposedPorts: list(f.expose) } : {}),
    ...(list(f["add-host"]).length > 0 ? { extraHosts: list(f["add-host"]) } : {}),
    ...(list(f["cap-add"]).length > 0 ? { capAdd: list(f["cap-add"]) } : {}),
    ...(list(f["cap-drop"]).length > 0 ? { capDrop: list(f["cap-drop"]) } : {}),
    ...(Object.keys(resources).length > 0 ? { resources } : {}),
    ...(f["no-healthcheck"] === true ? { healthcheck: false as const } : Object.keys(health).length > 0 ? { healthcheck: health } : {}),
    ...(str(f.network) ? { networkMode: str(f.network)! } : {}),
    ...(list(f["network-alias"]).length > 0 ? { networkAliases: list(f["network-alias"]) } : {}),
    ...(list(f.publish).length > 0 ? { ports: list(f.publish) } : {}),
    autoRemove: f.rm === true,
    ...(str(f.restart) && str(f.restart) !== "no" ? { restartPolicy: parseRestartPolicy(str(f.restart)!) } : {}),
    init: f.init === true,
    privileged: f.privileged === true,
    readonlyRootfs: f["read-only"] === true,
    openStdin: f.interactive === true,
    tty: f.tty === true,
  };
  if (f["publish-all"] === true) {
    // -P publishes every exposed port (the image's and --expose's) to a free host port, which a
    // bare container port asks for. An image not pulled yet has none known here.
    const info = await Image.get(image).then((i) => i.inspect()).catch(() => undefined);
    const exposed = [...Object.keys(info?.config.config?.ExposedPorts ?? {}), ...list(f.expose)];
    options.ports = [...(options.ports ?? []), ...exposed];
  }
  return options;
}

interface LogFlags {
  follow?: boolean;
  tail?: number | "all";
  since?: string;
  until?: string;
  timestamps?: boolean;
}

async function streamLogs(c: Container, io: CliIo, options: LogFlags = {}): Promise<void> {
  // The engine's follower does not keep Node alive (a library must not); the command must,
  // or the process would exit mid-follow with nothing else pending.
  const keepAlive = options.follow ? setInterval(() => {}, 1 << 30) : undefined;
  try {
    await printLogs(c, io, options);
  } finally {
    clearInterval(keepAlive);
  }
}

async function printLogs(c: Container, io: CliIo, options: LogFlags): Promise<void> {
  const read = {
    follow: options.follow ?? false,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(options.since ? { since: options.since } : {}),
    ...(options.until ? { until: options.until } : {}),
  };
  for await (const entry of c.logs(read)) {
    const text = options.timestamps ? `${entry.time} ${entry.log}` : entry.log;
    if (entry.stream === "stderr") io.stderr(text);
    else io.stdout(text);
  }
}

/** `run`: foreground runs stream the container's output and exit with its code; `-d` prints the id. */
async function run(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const options = await createOptions(cmd, io);
  const detachKeys = parseDetachKeys(str(cmd.flags["detach-keys"]) ?? defaultDetachKeys);
  if ((options.openStdin || options.tty) && cmd.flags.detach !== true) {
    // Attached before the start, as docker run attaches: nothing the container writes first is missed.
    const c = await Container.create(options);
    return attachAndWait(c, io, { stdin: options.openStdin === true, tty: options.tty === true, detachKeys, start: true });
  }
  const c = await Container.run(options);
  if (cmd.flags.detach === true) {
    io.stdout(`${c.id}\n`);
    return 0;
  }
  // As docker run's --sig-proxy: SIGINT and SIGTERM go to the container, whose exit ends the run.
  const forward = (signal: NodeJS.Signals) => void c.kill(signal).catch(() => {});
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  try {
    await streamLogs(c, io, { follow: true });
    return await c.wait({ timeout: 24 * 3600 * 1000 }).catch((error: unknown) => {
      // --rm may remove the container as soon as it exits; its code went with the record.
      if ((error as { code?: string }).code === "BERTH_CONTAINER_NOT_FOUND") return 0;
      throw error;
    });
  } finally {
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
  }
}

/**
 * `run -i/-t`, `start -a -i`: the user's stdin and terminal to the container through its
 * attach session, then the container's exit code (0 after a detach, as docker's).
 */
async function attachAndWait(c: Container, io: CliIo, options: { stdin: boolean; tty: boolean; detachKeys: Buffer; start: boolean }): Promise<number> {
  const session = await c.engine.attach(c.id, { stdin: options.stdin, stdout: true, stderr: true, stream: true });
  const target: InteractiveTarget = {
    stdin: session.stdin,
    stdout: session.stdout,
    stderr: session.stderr,
    resize: (rows, cols) => session.resize(rows, cols),
    done: session.exitCode,
    detach: () => session.detach(),
    signal: (signal) => void c.kill(signal).catch(() => {}),
  };
  // Sizes are taken before the start: the process starts with the user's terminal's.
  const interaction = runInteractive(io, target, options);
  if (options.start) {
    try {
      await c.start();
    } catch (error) {
      session.detach();
      await interaction.catch(() => {});
      throw error;
    }
  }
  if ((await interaction) === "detached") return 0;
  const fromSession = await session.exitCode.catch(() => undefined);
  return c.wait({ timeout: 24 * 3600 * 1000 }).catch((error: unknown) => {
    // --rm removes the container as soon as it exits; the session saw its code.
    if ((error as { code?: string }).code === "BERTH_CONTAINER_NOT_FOUND") return fromSession ?? 0;
    throw error;
  });
}

async function each(cmd: ParsedCommand, io: CliIo, action: (c: Container, ref: string) => Promise<void>, echo = true): Promise<number> {
  let failed = false;
  for (const ref of cmd.args) {
    try {
      const c = await Container.get(ref);
      await action(c, ref);
      if (echo) io.stdout(`${ref}\n`);
    } catch (error) {
      failed = true;
      const message = error instanceof Error ? error.message : String(error);
      io.stderr(`berth: ${message}\n`);
    }
  }
  return failed ? 1 : 0;
}

/**
 * A container's published ports, from inspect's `NetworkSettings.Ports` as Docker's CLI reads
 * them: whichever network driver published them (the bridge's proxy, rootless slirp4netns).
 */
export function publishedPorts(i: ContainerInspect): PortSummary[] {
  if (!i.State.Running) return [];
  const out: PortSummary[] = [];
  for (const [key, bindings] of Object.entries(i.NetworkSettings?.Ports ?? {})) {
    const [privatePort, proto = "tcp"] = key.split("/");
    for (const b of bindings ?? []) out.push({ ip: b.HostIp, privatePort: Number(privatePort), publicPort: Number(b.HostPort), type: proto });
  }
  return out;
}

async function port(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const c = await Container.get(cmd.args[0]!);
  const want = cmd.args[1];
  const ports = publishedPorts(await c.inspect());
  const [wantPort, wantProto = "tcp"] = want ? want.split("/") : [];
  const shown = ports.filter((p) => !want || (String(p.privatePort) === wantPort && p.type === wantProto));
  if (want && shown.length === 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `no public port '${want}' published for ${cmd.args[0]}`, { container: cmd.args[0], port: want });
  }
  for (const p of shown) {
    const host = p.ip?.includes(":") ? `[${p.ip}]` : p.ip;
    io.stdout(want ? `${host}:${p.publicPort}\n` : `${p.privatePort}/${p.type} -> ${host}:${p.publicPort}\n`);
  }
  return 0;
}

/** A `ps` row from inspect; `compose ps` adds its service and project to the same row. */
export function toContainerSummary(i: ContainerInspect): ContainerSummary {
  const date = (s: string) => (s && !s.startsWith("0001") ? new Date(s) : undefined);
  const startedAt = date(i.State.StartedAt);
  const finishedAt = date(i.State.FinishedAt);
  const health = i.State.Health?.Status;
  return {
    id: i.Id,
    names: [i.Name.replace(/^\//, "")],
    image: i.Config.Image,
    command: [i.Path, ...i.Args].join(" "),
    created: new Date(i.Created),
    state: i.State.Status,
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
    exitCode: i.State.ExitCode,
    ...(health ? { health } : {}),
    ports: publishedPorts(i),
    labels: i.Config.Labels,
    networks: Object.keys(i.NetworkSettings.Networks),
  };
}

async function ps(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const f = cmd.flags;
  const filters: Record<string, string[]> = {};
  for (const spec of list(f.filter)) {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new BerthError("BERTH_CLI_USAGE", `bad format of filter (expected name=value): ${spec}`, { filter: spec });
    const key = spec.slice(0, eq);
    if (!["label", "status", "name", "id", "ancestor"].includes(key)) {
      throw new BerthError("BERTH_CLI_USAGE", `invalid filter '${key}': berth ps filters by label, status, name, id or ancestor`, { filter: spec });
    }
    (filters[key] ??= []).push(spec.slice(eq + 1));
  }
  refuse(cmd, ["size"]);
  const last = f.latest === true ? 1 : (num(f.last) ?? -1);
  const all = f.all === true || filters.status !== undefined || last > 0;
  let summaries = await Container.list({ all, ...filters });
  if (last > 0) summaries = [...summaries].sort((a, b) => b.Created - a.Created).slice(0, last);
  const rows: ContainerSummary[] = [];
  for (const s of summaries) {
    const c = await Container.get(s.Id).catch(() => undefined);
    const info = await c?.inspect().catch(() => undefined);
    if (info) rows.push(toContainerSummary(info));
  }
  io.stdout(renderPs(rows, { quiet: f.quiet === true, noTrunc: f["no-trunc"] === true, ...(str(f.format) ? { format: str(f.format)! } : {}) }));
  return 0;
}

async function inspect(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const out: ContainerInspect[] = [];
  let failed = false;
  for (const ref of cmd.args) {
    try {
      out.push(await (await Container.get(ref)).inspect());
    } catch (error) {
      failed = true;
      io.stderr(`berth: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  const format = str(cmd.flags.format);
  if (format) for (const i of out) io.stdout(renderTemplate(format, i));
  else io.stdout(`${JSON.stringify(out, null, 4)}\n`);
  return failed ? 1 : 0;
}

async function logs(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const f = cmd.flags;
  const c = await Container.get(cmd.args[0]!);
  const tail = parseTailFlag(f.tail);
  refuse(cmd, ["details"]);
  await streamLogs(c, io, { follow: f.follow === true, tail, ...(str(f.since) ? { since: str(f.since)! } : {}), ...(str(f.until) ? { until: str(f.until)! } : {}), timestamps: f.timestamps === true });
  return 0;
}

async function exec(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const f = cmd.flags;
  const [ref, ...argv] = cmd.args;
  // An exec's terminal lives in the relaying berth-runtime, which ends with this command:
  // there is nothing to detach from and leave running.
  refuse(cmd, ["privileged", "detach-keys"]);
  const c = await Container.get(ref!);
  const fileEnv: string[] = [];
  for (const file of list(f["env-file"])) fileEnv.push(...Object.entries(await readDockerEnvFile(file, io.env)).map(([k, v]) => `${k}=${v}`));
  // A bare `-e NAME` takes the caller's value, or is left out when the caller has none.
  const flagEnv = envEntries(f.env).flatMap((e) => (e.includes("=") ? [e] : io.env[e] !== undefined ? [`${e}=${io.env[e]}`] : []));
  const env = [...fileEnv, ...flagEnv];
  const options = {
    ...(env.length > 0 ? { env } : {}),
    ...(str(f.user) ? { user: str(f.user)! } : {}),
    ...(str(f.workdir) ? { workingDir: str(f.workdir)! } : {}),
  };
  if (f.detach === true) {
    const p = await c.execStream(argv, options);
    p.stdin.end();
    p.stdout.resume();
    p.stderr.resume();
    return 0;
  }
  if (f.interactive === true || f.tty === true) {
    const tty = f.tty === true;
    const out = process.stdout;
    const p = await c.execStream(argv, { ...options, tty, ...(tty && out.isTTY && out.rows > 0 ? { consoleSize: { rows: out.rows, cols: out.columns } } : {}) });
    if (f.interactive !== true) p.stdin.end();
    const target: InteractiveTarget = {
      stdin: p.stdin,
      stdout: p.stdout,
      stderr: p.stderr,
      resize: (rows, cols) => p.resize(rows, cols),
      done: p.exitCode,
      signal: (signal) => void p.kill(signal),
    };
    await runInteractive(io, target, { stdin: f.interactive === true, tty });
    return p.exitCode;
  }
  const result = await c.exec(argv, { ...options, timeout: 24 * 3600 * 1000 });
  io.stdout(result.stdout);
  io.stderr(result.stderr);
  return result.exitCode;
}

async function cp(cmd: ParsedCommand, io: CliIo): Promise<number> {
  refuse(cmd, ["archive", "follow-link"]);
  const [src, dst] = cmd.args as [string, string];
  const split = (s: string) => {
    const m = /^([^/:.][^:/]*):(.*)$/.exec(s);
    return m ? { ref: m[1]!, path: m[2]! } : undefined;
  };
  const from = split(src);
  const to = split(dst);
  if (from && to) throw new BerthError("BERTH_CLI_USAGE", "copying between containers is not supported", { command: "cp" });
  if (!from && !to) throw new BerthError("BERTH_CLI_USAGE", "must specify at least one container source", { command: "cp" });
  if (from) {
    const c = await Container.get(from.ref);
    const archive = await c.copyFrom(from.path);
    if (dst === "-") {
      for await (const chunk of archive) (io.stdoutBytes ?? ((b: Buffer) => io.stdout(b.toString("latin1"))))(chunk as Buffer);
      return 0;
    }
    await extractTo(archive, dst);
    return 0;
  }
  const c = await Container.get(to!.ref);
  if (src === "-") {
    if (!io.stdin) throw new BerthError("BERTH_CLI_USAGE", "cp - needs a tar archive on stdin", { command: "cp" });
    await c.copyTo(to!.path, io.stdin);
    return 0;
  }
  const { pack } = await import("tar-fs");
  const { dirname, basename } = await import("node:path");
  const { stat } = await import("node:fs/promises");
  const st = await stat(src).catch((error: unknown) => {
    throw new BerthError("BERTH_CLI_USAGE", `no such file or directory: ${src}`, { path: src, cause: error });
  });
  void st;
  await c.copyTo(to!.path, pack(dirname(src), { entries: [basename(src)] }) as unknown as Readable);
  return 0;
}

/**
 * `docker cp`'s naming on the host: into an existing directory the source keeps its name;
 * otherwise the source (file or directory) becomes `dst` itself.
 */
async function extractTo(archive: Readable, dst: string): Promise<void> {
  const { extract } = await import("tar-fs");
  const { stat } = await import("node:fs/promises");
  const { dirname, basename } = await import("node:path");
  const isDir = (await stat(dst).catch(() => undefined))?.isDirectory() === true;
  if (dst.endsWith("/") && !isDir) throw new BerthError("BERTH_CLI_USAGE", `destination directory ${dst} does not exist`, { path: dst });
  const target = isDir ? dst : dirname(dst);
  const rename = isDir ? undefined : basename(dst);
  await pipeline(
    archive,
    extract(target, {
      map: (header) => {
        if (rename) {
          const slash = header.name.indexOf("/");
          header.name = slash < 0 ? rename : `${rename}${header.name.slice(slash)}`;
        }
        return header;
      },
    }),
  );
}

/**
 * `top`, as Docker does it: the host's `ps` (with the given options, `-ef` by default), its rows
 * kept when their PID is one of the container's — the processes in its pid namespace.
 */
async function top(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const [ref, ...psArgs] = cmd.args;
  const info = await (await Container.get(ref!)).inspect();
  if (!info.State.Running || info.State.Pid <= 0) {
    throw new BerthError("BERTH_CONTAINER_NOT_RUNNING", `container ${ref} is not running`, { container: ref });
  }
  const { readdir, readlink } = await import("node:fs/promises");
  const ns = await readlink(`/proc/${info.State.Pid}/ns/pid`);
  const pids = new Set<string>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await readlink(`/proc/${entry}/ns/pid`).catch(() => "")) === ns) pids.add(entry);
  }
  const { execa } = await import("execa");
  const ps = await execa("ps", psArgs.length > 0 ? psArgs : ["-ef"], { reject: false, timeout: 30_000 });
  if (ps.exitCode !== 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `ps ${psArgs.join(" ")} failed: ${String(ps.stderr).split("\n")[0]}`, { container: ref, args: psArgs });
  }
  const [header = "", ...rows] = String(ps.stdout).split("\n");
  const column = header.trim().split(/\s+/).indexOf("PID");
  if (column < 0) throw new BerthError("BERTH_INVALID_ARGUMENT", `ps ${psArgs.join(" ")} prints no PID column`, { container: ref, args: psArgs });
  const kept = rows.filter((row) => pids.has(row.trim().split(/\s+/)[column] ?? ""));
  io.stdout(`${[header, ...kept].join("\n")}\n`);
  return 0;
}

function stopOptions(cmd: ParsedCommand): { timeout?: number; signal?: string } {
  return {
    ...(num(cmd.flags.timeout) !== undefined ? { timeout: num(cmd.flags.timeout)! } : {}),
    ...(str(cmd.flags.signal) ? { signal: str(cmd.flags.signal)! } : {}),
  };
}

/**
 * `attach`: a running container's streams. One started with `-i` or `-t` is attached through
 * its monitor (stdin, terminal, detach keys); any other has only output, which is followed
 * from now on in its log.
 */
async function attach(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const detachKeys = parseDetachKeys(str(cmd.flags["detach-keys"]) ?? defaultDetachKeys);
  const c = await Container.get(cmd.args[0]!);
  const info = await c.inspect();
  if (!info.State.Running) {
    throw new BerthError("BERTH_CONTAINER_NOT_RUNNING", "You cannot attach to a stopped container, start it first", { container: cmd.args[0]! });
  }
  if (info.Config.Tty || info.Config.OpenStdin) {
    return attachAndWait(c, io, { stdin: cmd.flags["no-stdin"] !== true && info.Config.OpenStdin, tty: info.Config.Tty, detachKeys, start: false });
  }
  await streamLogs(c, io, { follow: true, tail: 0 });
  return c.wait({ timeout: 24 * 3600 * 1000 });
}

/** Container verbs by path; each returns the exit code. */
export const containerVerbs: Record<string, (cmd: ParsedCommand, io: CliIo) => Promise<number>> = {
  run,
  attach,
  create: async (cmd, io) => {
    const c = await Container.create(await createOptions(cmd, io));
    io.stdout(`${c.id}\n`);
    return 0;
  },
  start: async (cmd, io) => {
    const detachKeys = parseDetachKeys(str(cmd.flags["detach-keys"]) ?? defaultDetachKeys);
    if (cmd.flags.attach === true || cmd.flags.interactive === true) {
      const c = await Container.get(cmd.args[0]!);
      const config = (await c.inspect()).Config;
      if (cmd.flags.interactive === true || config.Tty) {
        return attachAndWait(c, io, { stdin: cmd.flags.interactive === true && config.OpenStdin, tty: config.Tty, detachKeys, start: true });
      }
      await c.start();
      await streamLogs(c, io, { follow: true });
      return c.wait({ timeout: 24 * 3600 * 1000 });
    }
    return each(cmd, io, (c) => c.start());
  },
  stop: (cmd, io) => each(cmd, io, (c) => c.stop(stopOptions(cmd))),
  restart: (cmd, io) => each(cmd, io, (c) => c.restart(stopOptions(cmd))),
  kill: (cmd, io) => each(cmd, io, (c) => c.kill(str(cmd.flags.signal) ?? "SIGKILL")),
  rm: (cmd, io) => each(cmd, io, (c) => c.remove({ force: cmd.flags.force === true, volumes: cmd.flags.volumes === true })),
  pause: (cmd, io) => each(cmd, io, (c) => c.pause()),
  unpause: (cmd, io) => each(cmd, io, (c) => c.unpause()),
  wait: (cmd, io) =>
    each(
      cmd,
      io,
      async (c) => {
        io.stdout(`${await c.wait({ timeout: 24 * 3600 * 1000 })}\n`);
      },
      false,
    ),
  ps,
  inspect,
  "container inspect": inspect,
  logs,
  exec,
  cp,
  port,
  top,
  commit: async (cmd, io) => {
    // --pause is what the engine does anyway.
    const c = await Container.get(cmd.args[0]!);
    const changes = Array.isArray(cmd.flags.change) ? cmd.flags.change : [];
    const id = await c.commit({
      ...(cmd.args[1] ? { tag: cmd.args[1] } : {}),
      ...(changes.length > 0 ? { changes: applyCommitChanges((await c.inspect()).Config, changes) } : {}),
      ...(str(cmd.flags.message) ? { comment: str(cmd.flags.message)! } : {}),
      ...(str(cmd.flags.author) ? { author: str(cmd.flags.author)! } : {}),
    });
    io.stdout(`${id}\n`);
    return 0;
  },
};

