import { createRequire } from "node:module";
import { writeFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { BerthError } from "../common/index.js";
import { configHash } from "../compose/naming.js";
import { loadComposeProject } from "../compose/load-project.js";
import { projectToDocument, projectToYaml } from "../compose/config-output.js";
import { exitCodeFor, formatError } from "./exit-codes.js";
import { renderTemplate } from "./format.js";
import { formatVerbHelp, parseArgs, type FlagValue, type ParsedCommand } from "./parse-args.js";
import { berthCli } from "./verbs.js";
import { containerVerbs } from "./container-verbs.js";
import { objectVerbs } from "./object-verbs.js";
import { composeExit, composeVerbs } from "./compose-verbs.js";

/** Where the CLI writes; a seam so tests can run `main` in-process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Raw bytes for stdout (`save`, `cp … -`); text otherwise goes through `stdout`. @default stdout with latin1 text */
  stdoutBytes?: (bytes: Buffer) => void;
  /** The caller's stdin, for `exec -i`, `load`, `import -` and `cp -`. @default none */
  stdin?: Readable;
  /** Whether stdout is a terminal (progress bars redraw in place there). @default false */
  isTTY?: boolean;
  /** The terminal's width. @default 200 */
  columns?: number;
  env: Record<string, string | undefined>;
  cwd: string;
}

const require = createRequire(import.meta.url);

function version(): string {
  try {
    return (require("../package.json") as { version: string }).version;
  } catch {
    return (require("../../package.json") as { version: string }).version;
  }
}

/** Runs one `berth` command line and returns its exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const cmd = parseArgs(argv, berthCli);
    if (cmd.globals.version === true && cmd.path.length === 0) {
      io.stdout(`berth version ${version()}\n`);
      return 0;
    }
    if (cmd.path.length === 0) {
      io.stdout(topLevelHelp());
      return 0;
    }
    if (cmd.path[0] === "help") {
      // `berth help run` is `berth run --help`, as with docker.
      if (cmd.args.length === 0) {
        io.stdout(topLevelHelp());
        return 0;
      }
      return main([...cmd.args, "--help"], io);
    }
    if (cmd.help || cmd.verb?.group && cmd.path.length === 1) {
      io.stdout(formatVerbHelp(berthCli, cmd.verb!));
      return 0;
    }
    return await dispatch(cmd, io);
  } catch (error) {
    io.stderr(formatError(error));
    return exitCodeFor(error);
  }
}

async function dispatch(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const verb = cmd.path.join(" ");
  if (verb === "version") {
    const info = { Client: { Version: version(), Os: process.platform, Arch: process.arch, NodeVersion: process.version } };
    const format = cmd.flags.format as string | undefined;
    if (format) io.stdout(renderTemplate(format, info));
    else io.stdout(`Client:\n Version:           ${info.Client.Version}\n Node version:      ${info.Client.NodeVersion}\n OS/Arch:           ${info.Client.Os}/${info.Client.Arch}\n`);
    return 0;
  }
  if (verb === "compose config") return composeExit(composeConfig)(cmd, io);
  const compose = composeVerbs[verb];
  if (compose) return compose(cmd, io);
  const handler = containerVerbs[verb] ?? objectVerbs[verb] ?? containerVerbs[verb.replace(/^container /, "")] ?? objectVerbs[verb.replace(/^image /, "")];
  if (handler) return handler(cmd, io);
  throw new BerthError("BERTH_CLI_NOT_AVAILABLE", `'berth ${verb}' is not available yet: it arrives with the engine`, { command: verb });
}

async function composeConfig(cmd: ParsedCommand, io: CliIo): Promise<number> {
  const g = cmd.groupFlags;
  const list = (v: FlagValue | undefined) => (Array.isArray(v) ? v : []);
  const project = await loadComposeProject({
    files: list(g.file),
    projectName: typeof g["project-name"] === "string" ? g["project-name"] : undefined,
    projectDirectory: typeof g["project-directory"] === "string" ? g["project-directory"] : undefined,
    profiles: list(g.profile).length > 0 ? list(g.profile).flatMap((p) => p.split(",")) : undefined,
    envFiles: list(g["env-file"]),
    environment: io.env,
    cwd: io.cwd,
    services: cmd.args,
  });
  if (cmd.args.length > 0) {
    // Only the named services and what they depend on, as `docker compose config web` prints.
    const keep = new Set<string>();
    const add = (n: string) => {
      if (keep.has(n)) return;
      keep.add(n);
      for (const d of Object.keys(project.services[n]?.dependsOn ?? {})) add(d);
    };
    cmd.args.forEach(add);
    for (const n of Object.keys(project.services)) if (!keep.has(n)) delete project.services[n];
  }
  const f = cmd.flags;
  let text: string;
  if (f.quiet) return 0;
  if (f.services) text = Object.keys(project.services).map((s) => `${s}\n`).join("");
  else if (f.volumes) text = Object.keys(project.volumes).map((s) => `${s}\n`).join("");
  else if (f.profiles) {
    const all = new Set([...Object.values(project.services), ...Object.values(project.disabledServices)].flatMap((s) => s.profiles));
    text = [...all].sort().map((p) => `${p}\n`).join("");
  } else if (f.images) {
    text = Object.values(project.services)
      .map((s) => `${s.image ?? `${project.name}-${s.name}`}\n`)
      .join("");
  } else if (typeof f.hash === "string" && f.hash !== "") {
    const names = f.hash === "*" ? Object.keys(project.services) : f.hash.split(",");
    text = names
      .map((n) => {
        const s = project.services[n];
        if (!s) throw new BerthError("BERTH_COMPOSE_SERVICE_NOT_FOUND", `no such service: ${n}`, { service: n });
        return `${n} ${configHash(s)}\n`;
      })
      .join("");
  } else if (f.format === "json") text = `${JSON.stringify(projectToDocument(project), null, 4)}\n`;
  else if (f.format === "yaml" || f.format === undefined) text = projectToYaml(project);
  else throw new BerthError("BERTH_CLI_USAGE", `unsupported format "${String(f.format)}": expected yaml or json`, { command: "compose config" });
  if (typeof f.output === "string" && f.output !== "") await writeFile(f.output, text);
  else io.stdout(text);
  return 0;
}

function topLevelHelp(): string {
  const top = berthCli.verbs.filter((v) => v.path.length === 1);
  const width = Math.max(...top.map((v) => v.path[0]!.length));
  const groups = top.filter((v) => v.group);
  const plain = top.filter((v) => !v.group);
  const lines = (vs: typeof top) => vs.map((v) => `  ${v.path[0]!.padEnd(width)}   ${v.description}`).join("\n");
  return `
Usage:  berth [OPTIONS] COMMAND

A daemonless container engine with Docker's commands

Commands:
${lines(plain)}

Management Commands:
${lines(groups)}

Global Options:
${berthCliGlobalOptions()}

Run 'berth COMMAND --help' for more information on a command.
`;
}

function berthCliGlobalOptions(): string {
  const rows = berthCli.globalFlags.map((f) => [`${f.short ? `  -${f.short}, ` : "      "}--${f.name}${f.type === "bool" ? "" : ` ${f.type}`}`, f.description] as const);
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `${l.padEnd(width)}   ${d}`).join("\n");
}

// Run when executed as the `berth` binary (not when imported by tests).
const invokedDirectly = process.argv[1] !== undefined && /(?:^|[/\\])(?:cli\.js|main\.ts|berth)$/.test(process.argv[1]);
if (invokedDirectly) {
  const code = await main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stdoutBytes: (b) => process.stdout.write(b),
    stdin: process.stdin,
    isTTY: process.stdout.isTTY === true,
    ...(process.stdout.columns ? { columns: process.stdout.columns } : {}),
    env: process.env,
    cwd: process.cwd(),
  });
  process.exitCode = code;
}
