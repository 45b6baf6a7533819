import { BerthError, hasErrorCode } from "../common/index.js";
import { runRoot, stateRoot } from "../common/paths.js";
import { composeContext, type ComposeContext } from "../compose/compose-context.js";
import { formatComposeEvent, type ComposeEventListener } from "../compose/compose-events.js";
import { buildServices, pullServices } from "../compose/compose-images.js";
import { composeDown, composeRestart, composeStart, composeStop } from "../compose/compose-lifecycle.js";
import { composeLogs } from "../compose/compose-logs.js";
import { composeRun, serviceContainer } from "../compose/compose-run.js";
import { composeUp, selectServices } from "../compose/compose-up.js";
import { loadComposeProject } from "../compose/load-project.js";
import { composeLabels } from "../compose/naming.js";
import { projectContainers } from "../compose/project-containers.js";
import { projectFromLabels } from "../compose/project-from-labels.js";
import { parseScaleFlags } from "../compose/scale.js";
import type { ComposeProject } from "../compose/types.js";
import { NetworkManager } from "../network/network-manager.js";
import { NetworkStore } from "../network/network-store.js";
import { ContainerEngine } from "../runtime/engine/container-engine.js";
import type { ContainerInspect } from "../runtime/engine/container-inspect.js";
import { refuse, toContainerSummary } from "./container-verbs.js";
import { formatError } from "./exit-codes.js";
import { parseTailFlag } from "./tail-flag.js";
import type { CliIo } from "./main.js";
import type { FlagValue, ParsedCommand } from "./parse-args.js";
import { renderComposePs, type ComposeContainerSummary } from "./tables.js";

type Handler = (cmd: ParsedCommand, io: CliIo) => Promise<number>;

const list = (v: FlagValue | undefined): string[] => (Array.isArray(v) ? v : []);
const str = (v: FlagValue | undefined): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const int = (v: FlagValue | undefined): number | undefined => (typeof v === "number" ? v : undefined);

/** The project the group flags (`-f`, `-p`, `--profile`, `--env-file`, `--project-directory`) describe. */
async function loadProject(cmd: ParsedCommand, io: CliIo, services: readonly string[] = [], scale: Record<string, number> = {}): Promise<ComposeProject> {
  const g = cmd.groupFlags;
  return loadComposeProject({
    files: list(g.file),
    projectName: str(g["project-name"]),
    projectDirectory: str(g["project-directory"]),
    profiles: list(g.profile).length > 0 ? list(g.profile).flatMap((p) => p.split(",")) : undefined,
    envFiles: list(g["env-file"]),
    environment: io.env,
    cwd: io.cwd,
    services: [...services],
    scale,
  });
}

/**
 * The project for verbs that only act on what exists (`down`, `ps`, `logs`, `stop`, `start`,
 * `restart`): from the files, or, when there are none and the project is named (`-p`,
 * `COMPOSE_PROJECT_NAME`), from its containers' labels, as `docker compose -p NAME down` does.
 */
async function loadExisting(cmd: ParsedCommand, io: CliIo, context: ComposeContext): Promise<ComposeProject> {
  try {
    return await loadProject(cmd, io);
  } catch (error) {
    const name = str(cmd.groupFlags["project-name"]) ?? io.env.COMPOSE_PROJECT_NAME;
    if (!name || list(cmd.groupFlags.file).length > 0 || !hasErrorCode(error, "BERTH_COMPOSE_FILE_NOT_FOUND")) throw error;
    return projectFromLabels(context, name);
  }
}

/** One context per command, over the roots the command's environment names. */
function contextFor(io: CliIo): ComposeContext {
  const env = io.env as NodeJS.ProcessEnv;
  const engine = new ContainerEngine({ stateRoot: stateRoot(env), runRoot: runRoot(env) });
  return composeContext({ engine, networks: new NetworkManager({ store: new NetworkStore({ stateRoot: engine.stateRoot, runRoot: engine.runRoot }) }) });
}

/** Progress lines on stderr, as `docker compose` writes them there. */
function events(io: CliIo, quiet = false): ComposeEventListener {
  return (event) => {
    if (!quiet || event.kind === "Warning") io.stderr(formatComposeEvent(event));
  };
}

/** Aborts on Ctrl-C / SIGTERM while `fn` runs, and keeps Node alive meanwhile (the engine's followers do not). */
async function untilInterrupted<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    return await fn(controller.signal);
  } finally {
    clearInterval(keepAlive);
    process.off("SIGINT", abort);
    process.off("SIGTERM", abort);
  }
}

const up: Handler = async (cmd, io) => {
  const f = cmd.flags;
  const scale = parseScaleFlags(list(f.scale));
  const project = await loadProject(cmd, io, cmd.args, scale);
  const context = contextFor(io);
  const waitTimeout = int(f["wait-timeout"]);
  const result = await composeUp(context, project, {
    services: cmd.args,
    ...(f.build === true ? { build: true } : {}),
    ...(f["no-build"] === true ? { noBuild: true } : {}),
    ...(f["no-deps"] === true ? { noDeps: true } : {}),
    ...(f["remove-orphans"] === true ? { removeOrphans: true } : {}),
    ...(f.wait === true ? { wait: true } : {}),
    ...(waitTimeout !== undefined ? { timeout: waitTimeout * 1000 } : {}),
    onEvent: events(io),
    onBuildOutput: (service, line) => io.stderr(`${service}  | ${line}\n`),
  });
  if (f.detach === true || f.wait === true) return 0;
  // Attached: the containers' output until they all exit or Ctrl-C, which stops them, as Compose does.
  const stopped = await untilInterrupted(async (signal) => {
    for await (const line of composeLogs(context, project, { services: [...new Set(result.containers.map((c) => c.service))], follow: true, signal })) io.stdout(line.formatted);
    return signal.aborted;
  });
  if (stopped) {
    io.stderr("Gracefully stopping... (press Ctrl+C again to force)\n");
    const timeout = int(f.timeout);
    await composeStop(context, project, { ...(timeout !== undefined ? { timeout } : {}), onEvent: events(io) });
  }
  for (const c of await projectContainers(context, project.name, { services: cmd.args })) {
    // Named as the log prefix names it (`web-1`), as Compose v2 prints it.
    if (c.state === "exited") io.stdout(`${c.service}-${c.number} exited with code ${await context.engine.wait(c.id, { timeout: 10_000 })}\n`);
  }
  // As a shell reports a Ctrl-C'd command, and as `docker compose up` exits after one.
  return stopped ? 130 : 0;
};

const down: Handler = async (cmd, io) => {
  refuse(cmd, ["rmi"]);
  const f = cmd.flags;
  const context = contextFor(io);
  const project = await loadExisting(cmd, io, context);
  const timeout = int(f.timeout);
  await composeDown(context, project, {
    ...(f.volumes === true ? { volumes: true } : {}),
    ...(f["remove-orphans"] === true ? { removeOrphans: true } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
    onEvent: events(io),
  });
  return 0;
};

function toComposeSummary(i: ContainerInspect): ComposeContainerSummary {
  return {
    ...toContainerSummary(i),
    service: i.Config.Labels[composeLabels.service] ?? "",
    project: i.Config.Labels[composeLabels.project] ?? "",
  };
}

const ps: Handler = async (cmd, io) => {
  const f = cmd.flags;
  const context = contextFor(io);
  const project = await loadExisting(cmd, io, context);
  const statusFilter = new Set(list(f.status));
  for (const spec of list(f.filter)) {
    const [key, value] = spec.split("=", 2);
    if (key !== "status" || !value) throw new BerthError("BERTH_CLI_USAGE", `invalid filter '${spec}': berth compose ps filters by status=<status>`, { filter: spec });
    statusFilter.add(value);
  }
  const containers = (await projectContainers(context, project.name, { services: cmd.args, all: f.all === true || statusFilter.size > 0, oneoff: f.all === true })).filter(
    (c) => statusFilter.size === 0 || statusFilter.has(c.state),
  );
  if (f.services === true) {
    io.stdout([...new Set(containers.map((c) => c.service))].map((s) => `${s}\n`).join(""));
    return 0;
  }
  const rows: ComposeContainerSummary[] = [];
  for (const c of containers) {
    const info = await context.engine.inspect(c.id).catch(() => undefined);
    if (!info) continue;
    rows.push(toComposeSummary(info));
  }
  io.stdout(renderComposePs(rows, { quiet: f.quiet === true, noTrunc: f["no-trunc"] === true, ...(str(f.format) ? { format: str(f.format)! } : {}) }));
  return 0;
};

const logs: Handler = async (cmd, io) => {
  const f = cmd.flags;
  const context = contextFor(io);
  const project = await loadExisting(cmd, io, context);
  const tail = parseTailFlag(f.tail);
  for (const s of cmd.args) if (!project.services[s]) throw new BerthError("BERTH_COMPOSE_SERVICE_NOT_FOUND", `no such service: ${s}`, { service: s });
  const options = {
    services: cmd.args,
    tail,
    ...(str(f.since) ? { since: str(f.since)! } : {}),
    ...(f.timestamps === true ? { timestamps: true } : {}),
    ...(f["no-log-prefix"] === true ? { noPrefix: true } : {}),
  };
  const print = (line: { stream: string; formatted: string }) => (line.stream === "stderr" && f["no-log-prefix"] === true ? io.stderr(line.formatted) : io.stdout(line.formatted));
  if (f.follow !== true) {
    for await (const line of composeLogs(context, project, options)) print(line);
    return 0;
  }
  await untilInterrupted(async (signal) => {
    for await (const line of composeLogs(context, project, { ...options, follow: true, signal })) print(line);
  });
  return 0;
};

const build: Handler = async (cmd, io) => {
  const f = cmd.flags;
  const project = await loadProject(cmd, io, cmd.args);
  const names = selectServices(project, cmd.args, true);
  const buildArgs: Record<string, string> = {};
  for (const arg of list(f["build-arg"])) {
    const eq = arg.indexOf("=");
    if (eq > 0) buildArgs[arg.slice(0, eq)] = arg.slice(eq + 1);
    else if (io.env[arg] !== undefined) buildArgs[arg] = io.env[arg]!;
  }
  const quiet = f.quiet === true;
  await buildServices(contextFor(io), project, names.map((n) => project.services[n]!), {
    always: true,
    ...(f["no-cache"] === true ? { noCache: true } : {}),
    buildArgs,
    onEvent: events(io, quiet),
    ...(quiet ? {} : { onBuildOutput: (service: string, line: string) => io.stderr(`${service}  | ${line}\n`) }),
  });
  return 0;
};

const pull: Handler = async (cmd, io) => {
  const f = cmd.flags;
  const project = await loadProject(cmd, io, cmd.args);
  const names = selectServices(project, cmd.args, true);
  await pullServices(contextFor(io), names.map((n) => project.services[n]!), {
    always: true,
    ...(f["ignore-pull-failures"] === true ? { ignoreFailures: true } : {}),
    onEvent: events(io, f.quiet === true),
  });
  return 0;
};

function envFlag(v: FlagValue | undefined, io: CliIo): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, value] of Object.entries(v)) {
      // A bare `-e NAME` takes the caller's value, or is left out when the caller has none.
      const resolved = value ?? io.env[k];
      if (resolved !== undefined) out[k] = resolved;
    }
  }
  return out;
}

const exec: Handler = async (cmd, io) => {
  const f = cmd.flags;
  refuse(cmd, ["privileged"]);
  const [service, ...argv] = cmd.args;
  const project = await loadProject(cmd, io);
  const context = contextFor(io);
  const index = int(f.index) || 1;
  const target = await serviceContainer(context, project, service!, index);
  const env = Object.entries(envFlag(f.env, io)).map(([k, v]) => `${k}=${v}`);
  const options = {
    ...(env.length > 0 ? { env } : {}),
    ...(str(f.user) ? { user: str(f.user)! } : {}),
    ...(str(f.workdir) ? { workingDir: str(f.workdir)! } : {}),
  };
  const p = await context.engine.execStream(target.id, argv, options);
  if (f.detach === true) {
    p.stdin.end();
    p.stdout.resume();
    p.stderr.resume();
    return 0;
  }
  // `docker compose exec` is interactive by default: the caller's stdin goes to the command
  // (`echo 'select 1' | docker compose exec -T db psql`), until the command exits.
  const stdin = io.stdin;
  if (stdin) {
    stdin.pipe(p.stdin);
    p.stdin.on("error", () => {});
  } else p.stdin.end();
  p.stdout.on("data", (chunk: Buffer) => io.stdout(chunk.toString()));
  p.stderr.on("data", (chunk: Buffer) => io.stderr(chunk.toString()));
  try {
    return await p.exitCode;
  } finally {
    if (stdin) {
      stdin.unpipe(p.stdin);
      // A terminal's stdin would keep the process alive once the command is done.
      stdin.pause();
      if ("unref" in stdin && typeof stdin.unref === "function") (stdin as unknown as { unref(): void }).unref();
    }
  }
};

const run: Handler = async (cmd, io) => {
  const f = cmd.flags;
  refuse(cmd, ["volume", "publish"]);
  const [service, ...command] = cmd.args;
  const project = await loadProject(cmd, io, [service!]);
  const context = contextFor(io);
  const entrypoint = str(f.entrypoint);
  const labels = f.label && typeof f.label === "object" && !Array.isArray(f.label) ? Object.fromEntries(Object.entries(f.label).map(([k, v]) => [k, v ?? ""])) : {};
  const container = await composeRun(context, project, service!, {
    ...(command.length > 0 ? { command } : {}),
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    env: envFlag(f.env, io),
    labels,
    ...(str(f.name) ? { name: str(f.name)! } : {}),
    ...(str(f.user) ? { user: str(f.user)! } : {}),
    ...(str(f.workdir) ? { workingDir: str(f.workdir)! } : {}),
    ...(f["service-ports"] === true ? { servicePorts: true } : {}),
    ...(f["no-deps"] === true ? { noDeps: true } : {}),
    // Attached, the container is removed here once its exit code is read; detached, the engine does it.
    ...(f.rm === true && f.detach === true ? { autoRemove: true } : {}),
    onEvent: events(io),
  });
  if (f.detach === true) {
    io.stdout(`${(await container.inspect()).Name.replace(/^\//, "")}\n`);
    return 0;
  }
  try {
    await untilInterrupted(async (signal) => {
      for await (const entry of container.logs({ follow: true, signal })) {
        if (entry.stream === "stderr") io.stderr(entry.log);
        else io.stdout(entry.log);
      }
    });
    return await container.wait();
  } finally {
    if (f.rm === true) {
      await container.remove({ force: true, volumes: true }).catch((error: unknown) => {
        // The engine's auto-remove may have been first.
        if (!hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND")) throw error;
      });
    }
  }
};

/** `restart` and `stop`: the named services (every one when none is named), `-t` seconds before SIGKILL. */
function withStopTimeout(act: typeof composeStop): Handler {
  return async (cmd, io) => {
    const context = contextFor(io);
    const project = await loadExisting(cmd, io, context);
    const timeout = int(cmd.flags.timeout);
    await act(context, project, { services: cmd.args, ...(timeout !== undefined ? { timeout } : {}), onEvent: events(io) });
    return 0;
  };
}

const restart = withStopTimeout(composeRestart);
const stop = withStopTimeout(composeStop);

const start: Handler = async (cmd, io) => {
  const context = contextFor(io);
  const project = await loadExisting(cmd, io, context);
  await composeStart(context, project, { services: cmd.args, onEvent: events(io) });
  return 0;
};

/**
 * `docker compose` exits 1 when a command fails (an invalid file, a dependency that failed
 * to start), where the docker CLI's own verbs exit 125; usage errors are caught before this.
 */
export function composeExit(handler: Handler): Handler {
  return async (cmd, io) => {
    try {
      return await handler(cmd, io);
    } catch (error) {
      io.stderr(formatError(error));
      return 1;
    }
  };
}

/** The `berth compose` verbs but `config` (in main.ts), by their path. */
export const composeVerbs: Record<string, Handler> = Object.fromEntries(
  Object.entries({ up, down, ps, logs, build, pull, exec, run, restart, stop, start }).map(([verb, handler]) => [`compose ${verb}`, composeExit(handler)]),
);
