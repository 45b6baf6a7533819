import { posix } from "node:path";
import { BerthError } from "../common/index.js";
import { parseCopyFlags, type CopyFlags } from "./copy-flags.js";
import { parseDockerfile, parseHeredocWord, type Heredoc, type Instruction } from "./dockerfile-parser.js";
import { goDuration, goList, goQuote, goQuoteList, goQuoteRune } from "./go-format.js";
import { findStage, proxyArgs, type MetaArg } from "./build-plan.js";
import { parseRunMount, parseRunNetwork, parseRunSecurity, type RunMount, type RunNetwork, type RunSecurity } from "./run-mounts.js";
import { ShellLex } from "./shell-lex.js";

/**
 * Evaluates one stage's instructions against its base image config, as BuildKit's Dockerfile
 * frontend dispatches them: metadata instructions are applied to the image config and
 * history here; filesystem steps (RUN, COPY, ADD, WORKDIR's mkdir) are returned fully
 * expanded for the executor. A pure function: no file, process or clock is touched.
 */

/** Docker's healthcheck config, durations in nanoseconds. */
export interface DockerHealthcheck {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The `config` of a Docker/OCI image config, with Docker's field names. */
export interface ImageRunConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: DockerHealthcheck;
  OnBuild?: string[];
  Shell?: string[];
  ArgsEscaped?: boolean;
}

/** One history entry, as the image config stores it. */
export interface HistoryEntry {
  created_by: string;
  comment?: string;
  empty_layer?: boolean;
}

/** What every filesystem step runs with. */
export interface StepEnvironment {
  /** The full environment: image env plus the stage's ARG values (`KEY=value`). */
  env: string[];
  /** `USER`, empty for root. */
  user: string;
  /** The working directory, absolute. */
  workdir: string;
  /** The shell for shell-form commands. */
  shell: string[];
  /** The stage's declared ARGs with their values, in declaration order (for cache keys). */
  args: { name: string; value: string | undefined }[];
}

/** A RUN for the executor. */
export interface RunStep {
  kind: "run";
  instruction: Instruction;
  /** The argv to execute, shell already prepended for the shell form. */
  command: string[];
  /** Files to mount read-only before running (a heredoc script with a `#!` line). */
  files: { path: string; content: string; mode: number }[];
  mounts: RunMount[];
  network: RunNetwork;
  security: RunSecurity;
  environment: StepEnvironment;
  /** Proxy build args given but not declared: in the RUN's env only, never in keys or history. */
  proxyEnv: string[];
  history: HistoryEntry;
}

/** A COPY or ADD for the executor. */
export interface CopyStep {
  kind: "copy";
  instruction: Instruction;
  keyword: "COPY" | "ADD";
  /** File sources after expansion (context paths, URLs, git addresses). */
  sources: string[];
  /** Inline heredoc files: name and content (expanded when the delimiter was not quoted). */
  inline: { name: string; content: string }[];
  /** The destination as written after expansion (trailing slash kept). */
  destination: string;
  /** The destination made absolute against the working directory (trailing slash kept). */
  absoluteDestination: string;
  flags: CopyFlags;
  /** With `--from`: a stage index, or an image reference. */
  fromStage: number | undefined;
  fromImage: string | undefined;
  environment: StepEnvironment;
  history: HistoryEntry;
}

/** WORKDIR's directory creation (BuildKit makes it a layer unless it is `/`). */
export interface WorkdirStep {
  kind: "workdir";
  instruction: Instruction;
  path: string;
  /** Owner of created directories. */
  user: string;
  history: HistoryEntry;
}

/** A metadata instruction, already applied to the config. */
export interface MetadataStep {
  kind: "metadata";
  instruction: Instruction;
  /** Undefined for instructions that write no history (ONBUILD). */
  history: HistoryEntry | undefined;
}

export type BuildStep = RunStep | CopyStep | WorkdirStep | MetadataStep;

/** Input of {@link evaluateStage}. */
export interface EvaluateStageOptions {
  /** The base image's config (its `config` object); `undefined` for `scratch`. */
  baseConfig?: ImageRunConfig | undefined;
  /**
   * `--build-arg` values.
   * @default {}
   */
  buildArgs?: Readonly<Record<string, string>>;
  /**
   * Global ARGs (from {@link planBuild}).
   * @default []
   */
  metaArgs?: readonly MetaArg[];
  /**
   * The predefined platform args' values (TARGETPLATFORM...), usable once declared.
   * @default {}
   */
  platformArgs?: Readonly<Record<string, string>>;
  /**
   * Stage names by index, to resolve `--from` to a stage.
   * @default []
   */
  stageNames?: readonly (string | undefined)[];
  /**
   * The escape character of the Dockerfile.
   * @default "\\"
   */
  escape?: "\\" | "`";
  /**
   * Whether to run the base's ONBUILD triggers first. BuildKit runs them whether the base is
   * an image or an earlier stage (whose own ONBUILD instructions are then its triggers).
   * @default true
   */
  runOnBuildTriggers?: boolean;
}

/** The result of {@link evaluateStage}. */
export interface EvaluatedStage {
  steps: BuildStep[];
  /** The final image config. */
  config: ImageRunConfig;
  /** MAINTAINER's value, for the image's `author`. */
  author: string | undefined;
  /** History entries in order (filesystem ones are not marked empty; the executor may mark an empty diff). */
  history: HistoryEntry[];
}

/** The default PATH BuildKit puts in a scratch image. */
export const defaultPathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const defaultShell = ["/bin/sh", "-c"];
const nonEnvArgs = new Set(["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"]);
/** The history comment BuildKit's Dockerfile frontend writes. */
export const historyComment = "buildkit.dockerfile.v0";

function stepError(ins: Instruction, message: string, cause?: unknown): BerthError {
  return new BerthError("BERTH_DOCKERFILE_SYNTAX", `dockerfile error on line ${ins.startLine}: ${ins.keyword}: ${message}`, {
    line: ins.startLine,
    instruction: ins.keyword,
    cause,
  });
}

/** An insertion-ordered environment with Docker's "replace in place" update. */
class OrderedEnv {
  private readonly entries: [string, string][] = [];
  constructor(initial: readonly string[] = []) {
    for (const e of initial) {
      const eq = e.indexOf("=");
      this.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1));
    }
  }
  set(key: string, value: string): void {
    const found = this.entries.find((e) => e[0] === key);
    if (found) found[1] = value;
    else this.entries.push([key, value]);
  }
  get(key: string): string | undefined {
    return this.entries.find((e) => e[0] === key)?.[1];
  }
  has(key: string): boolean {
    return this.entries.some((e) => e[0] === key);
  }
  list(): string[] {
    return this.entries.map(([k, v]) => `${k}=${v}`);
  }
  lookup = (name: string): string | undefined => this.get(name);
}

/** Docker's `nat.ParsePortSpecs`, keeping only the container side (`80/tcp`). */
export function parseExposedPorts(specs: readonly string[]): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    let rest = spec;
    let proto = "tcp";
    const slash = rest.lastIndexOf("/");
    if (slash >= 0) {
      proto = rest.slice(slash + 1).toLowerCase();
      rest = rest.slice(0, slash);
    }
    if (!["tcp", "udp", "sctp"].includes(proto)) throw new Error(`invalid proto: ${proto}`);
    // `ip:hostPort:containerPort` publishes; EXPOSE keeps the container port only.
    const container = rest.includes(":") ? rest.slice(rest.lastIndexOf(":") + 1) : rest;
    const m = /^(\d+)(?:-(\d+))?$/.exec(container);
    if (!m) throw new Error(`invalid containerPort: ${container}`);
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > 65535 || end > 65535 || end < start) throw new Error(`invalid containerPort: ${container}`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

const signalNames = new Set([
  "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR",
  "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM",
  "WINCH", "XCPU", "XFSZ",
]);

/** Docker's `signal.ParseSignal`: a number, `SIGTERM`, `TERM` or `RTMIN+3`. */
export function isValidStopSignal(signal: string): boolean {
  if (/^\d+$/.test(signal)) return Number(signal) > 0 && Number(signal) <= 64;
  const name = signal.toUpperCase().replace(/^SIG/, "");
  if (signalNames.has(name)) return true;
  const rt = /^RTM(IN|AX)([+-]\d+)?$/.exec(name);
  return rt !== null;
}

/** `WORKDIR` normalisation: relative to the previous one, cleaned, absolute. */
export function normalizeWorkdir(current: string | undefined, next: string): string {
  const joined = next.startsWith("/") ? next : posix.join(current || "/", next);
  return posix.normalize(joined).replace(/(.)\/$/, "$1");
}

/** A COPY/ADD destination made absolute against `workdir`, keeping a trailing slash. */
export function absoluteDestination(workdir: string, destination: string): string {
  if (destination === "") return workdir;
  const keepSlash = destination.endsWith("/") || destination.endsWith("/.") || destination === ".";
  let p = posix.normalize(destination.startsWith("/") ? destination : posix.join(workdir || "/", destination));
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return keepSlash && p !== "/" ? `${p}/` : p;
}

function healthcheckHistory(h: DockerHealthcheck): string {
  return `HEALTHCHECK &{${goQuoteList(h.Test)} ${goQuote(goDuration(h.Interval ?? 0))} ${goQuote(goDuration(h.Timeout ?? 0))} ${goQuote(
    goDuration(h.StartPeriod ?? 0),
  )} ${goQuote(goDuration(h.StartInterval ?? 0))} ${goQuoteRune(h.Retries ?? 0)}}`;
}

function cloneConfig(config: ImageRunConfig | undefined): ImageRunConfig {
  return config ? (JSON.parse(JSON.stringify(config)) as ImageRunConfig) : {};
}

/** Evaluates one stage; see the module comment. */
export function evaluateStage(instructions: readonly Instruction[], options: EvaluateStageOptions = {}): EvaluatedStage {
  const scratch = options.baseConfig === undefined;
  const config = cloneConfig(options.baseConfig);
  if (scratch) config.WorkingDir = "/";
  // BuildKit makes sure every stage has a PATH (scratch and images without one alike).
  if (!(config.Env ?? []).some((e) => e.startsWith("PATH="))) config.Env = [...(config.Env ?? []), defaultPathEnv];
  const buildArgs = options.buildArgs ?? {};
  const metaArgs = options.metaArgs ?? [];
  const platformArgs = options.platformArgs ?? {};
  const lex = new ShellLex({ escapeToken: options.escape ?? "\\" });
  const heredocLex = new ShellLex({ escapeToken: options.escape ?? "\\", rawQuotes: true, rawEscapes: true });
  const state = new OrderedEnv(config.Env ?? []);
  const declaredArgs: { name: string; value: string | undefined }[] = [];
  const steps: BuildStep[] = [];
  const history: HistoryEntry[] = [];
  let author: string | undefined;
  let cmdSet = false;

  const triggers: Instruction[] = [];
  if ((options.runOnBuildTriggers ?? true) && config.OnBuild && config.OnBuild.length > 0) {
    for (const trigger of config.OnBuild) {
      let parsed;
      try {
        parsed = parseDockerfile(trigger);
      } catch (error) {
        throw new BerthError("BERTH_DOCKERFILE_SYNTAX", `invalid ONBUILD trigger of the base image: ${trigger}`, { field: "OnBuild", cause: error });
      }
      if (parsed.instructions.length !== 1) {
        throw new BerthError("BERTH_DOCKERFILE_SYNTAX", `onbuild trigger should be a single expression: ${trigger}`, { field: "OnBuild" });
      }
      triggers.push(parsed.instructions[0]!);
    }
  }
  // Triggers run once, in the first image built on the base; they are not inherited further.
  if (config.OnBuild) delete config.OnBuild;

  const word = (ins: Instruction, text: string): string => {
    try {
      return lex.processWord(text, state.lookup);
    } catch (error) {
      throw stepError(ins, (error as Error).message, error);
    }
  };
  const words = (ins: Instruction, text: string): string[] => {
    try {
      return lex.processWords(text, state.lookup);
    } catch (error) {
      throw stepError(ins, (error as Error).message, error);
    }
  };
  const environment = (): StepEnvironment => ({
    env: state.list(),
    user: config.User ?? "",
    workdir: config.WorkingDir || "/",
    shell: config.Shell && config.Shell.length > 0 ? [...config.Shell] : [...defaultShell],
    args: declaredArgs.map((a) => ({ ...a })),
  });
  const withShell = (args: string[]): string[] => [...(config.Shell && config.Shell.length > 0 ? config.Shell : defaultShell), args.join(" ")];
  const commit = (createdBy: string, layer: boolean): HistoryEntry => {
    const entry: HistoryEntry = { created_by: createdBy, comment: historyComment };
    if (!layer) entry.empty_layer = true;
    history.push(entry);
    return entry;
  };

  for (const ins of [...triggers, ...instructions]) {
    switch (ins.keyword) {
      case "FROM":
        throw stepError(ins, "FROM starts a new stage; pass one stage's instructions");
      case "ARG": {
        const parts: string[] = [];
        for (const def of ins.argDefinitions ?? []) {
          let value: string | undefined;
          if (Object.prototype.hasOwnProperty.call(buildArgs, def.name)) value = buildArgs[def.name];
          else if (def.value !== undefined) value = word(ins, def.value);
          else {
            const meta = metaArgs.find((m) => m.name === def.name);
            if (meta) value = meta.value;
            else if (Object.prototype.hasOwnProperty.call(platformArgs, def.name)) value = platformArgs[def.name];
          }
          // The SBOM scan switches configure BuildKit and never reach the environment.
          if (value !== undefined && !nonEnvArgs.has(def.name)) state.set(def.name, value);
          declaredArgs.push({ name: def.name, value });
          parts.push(value === undefined ? def.name : `${def.name}=${value}`);
        }
        steps.push({ kind: "metadata", instruction: ins, history: commit(`ARG ${parts.join(" ")}`, false) });
        break;
      }
      case "ENV": {
        const pairs = (ins.keyValues ?? []).map((kv) => ({ key: word(ins, kv.key), value: word(ins, kv.value) }));
        const env = new OrderedEnv(config.Env ?? []);
        for (const { key, value } of pairs) {
          if (key === "") throw stepError(ins, "ENV names can not be blank");
          state.set(key, value);
          env.set(key, value);
        }
        config.Env = env.list();
        steps.push({ kind: "metadata", instruction: ins, history: commit(`ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(" ")}`, false) });
        break;
      }
      case "LABEL": {
        const pairs = (ins.keyValues ?? []).map((kv) => ({ key: word(ins, kv.key), value: word(ins, kv.value) }));
        config.Labels ??= {};
        for (const { key, value } of pairs) {
          if (key === "") throw stepError(ins, "LABEL names can not be blank");
          config.Labels[key] = value;
        }
        steps.push({ kind: "metadata", instruction: ins, history: commit(`LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(" ")}`, false) });
        break;
      }
      case "MAINTAINER":
        author = ins.args[0]!;
        steps.push({ kind: "metadata", instruction: ins, history: commit(`MAINTAINER ${author}`, false) });
        break;
      case "USER": {
        const user = word(ins, ins.args[0]!);
        config.User = user;
        steps.push({ kind: "metadata", instruction: ins, history: commit(`USER ${user}`, false) });
        break;
      }
      case "WORKDIR": {
        const wd = normalizeWorkdir(config.WorkingDir, word(ins, ins.args[0]!));
        config.WorkingDir = wd;
        if (wd === "/") steps.push({ kind: "metadata", instruction: ins, history: commit(`WORKDIR ${wd}`, false) });
        else steps.push({ kind: "workdir", instruction: ins, path: wd, user: config.User ?? "", history: commit(`WORKDIR ${wd}`, true) });
        break;
      }
      case "EXPOSE": {
        let ports: string[];
        try {
          ports = parseExposedPorts(ins.args.flatMap((a) => words(ins, a)));
        } catch (error) {
          if (error instanceof BerthError) throw error;
          throw stepError(ins, (error as Error).message, error);
        }
        config.ExposedPorts ??= {};
        for (const p of ports) config.ExposedPorts[p] = {};
        const set = [...new Set(ports)].sort();
        steps.push({ kind: "metadata", instruction: ins, history: commit(`EXPOSE map[${set.map((p) => `${p}:{}`).join(" ")}]`, false) });
        break;
      }
      case "VOLUME": {
        const volumes = ins.args.map((a) => word(ins, a));
        config.Volumes ??= {};
        for (const v of volumes) {
          if (v === "") throw stepError(ins, "VOLUME specified can not be an empty string");
          config.Volumes[v] = {};
        }
        steps.push({ kind: "metadata", instruction: ins, history: commit(`VOLUME ${goList(volumes)}`, false) });
        break;
      }
      case "STOPSIGNAL": {
        const signal = word(ins, ins.args[0]!);
        if (!isValidStopSignal(signal)) throw stepError(ins, `Invalid signal: ${signal}`);
        config.StopSignal = signal;
        steps.push({ kind: "metadata", instruction: ins, history: commit(`STOPSIGNAL ${signal}`, false) });
        break;
      }
      case "SHELL":
        config.Shell = [...ins.args];
        steps.push({ kind: "metadata", instruction: ins, history: commit(`SHELL ${goList(ins.args)}`, false) });
        break;
      case "CMD": {
        const args = ins.json ? [...ins.args] : withShell(ins.args);
        config.Cmd = args;
        config.ArgsEscaped = true;
        cmdSet = true;
        steps.push({ kind: "metadata", instruction: ins, history: commit(`CMD ${goQuoteList(args)}`, false) });
        break;
      }
      case "ENTRYPOINT": {
        const args = ins.json ? [...ins.args] : withShell(ins.args);
        if (args.length === 0) delete config.Entrypoint;
        else config.Entrypoint = args;
        // An ENTRYPOINT resets the CMD inherited from the base, not one set in this stage.
        if (!cmdSet) delete config.Cmd;
        steps.push({ kind: "metadata", instruction: ins, history: commit(`ENTRYPOINT ${goQuoteList(args)}`, false) });
        break;
      }
      case "HEALTHCHECK": {
        const spec = ins.healthcheck!;
        const h: DockerHealthcheck = { Test: [...spec.test] };
        if (spec.interval) h.Interval = spec.interval;
        if (spec.timeout) h.Timeout = spec.timeout;
        if (spec.startPeriod) h.StartPeriod = spec.startPeriod;
        if (spec.startInterval) h.StartInterval = spec.startInterval;
        if (spec.retries) h.Retries = spec.retries;
        config.Healthcheck = h;
        steps.push({ kind: "metadata", instruction: ins, history: commit(healthcheckHistory(h), false) });
        break;
      }
      case "ONBUILD":
        config.OnBuild = [...(config.OnBuild ?? []), ins.triggerText ?? ""];
        steps.push({ kind: "metadata", instruction: ins, history: undefined });
        break;
      case "RUN":
        steps.push(evaluateRun(ins));
        break;
      case "COPY":
      case "ADD":
        steps.push(evaluateCopy(ins));
        break;
      default:
        throw stepError(ins, "unknown instruction");
    }
  }

  function evaluateRun(ins: Instruction): RunStep {
    let args = [...ins.args];
    const files: RunStep["files"] = [];
    if (ins.heredocs.length > 0) {
      if (args.length !== 1 || ins.json) throw stepError(ins, `parsing produced an invalid run command: ${goList(args)}`);
      const single = parseHeredocWord(args[0]!.trim());
      const first = ins.heredocs[0]!;
      if (single) {
        if (first.content.startsWith("#!")) {
          // A script with its own interpreter runs as a file, as BuildKit does (/dev/pipes/NAME).
          files.push({ path: `/dev/pipes/${first.name}`, content: first.content, mode: 0o755 });
          args = [`/dev/pipes/${first.name}`];
        } else {
          args = [first.content];
        }
      } else {
        args = [args[0] + ins.heredocs.map((h: Heredoc) => `\n${h.content}${h.name}`).join("")];
      }
    }
    if (!ins.json) args = withShell(args);
    const mounts: RunMount[] = [];
    let network: RunNetwork = "default";
    let security: RunSecurity = "sandbox";
    try {
      for (const f of ins.flags) {
        if (f.name === "mount") mounts.push(parseRunMount(f.value ?? "", (t) => word(ins, t)));
        else if (f.name === "network") network = parseRunNetwork(word(ins, f.value ?? ""));
        else if (f.name === "security") security = parseRunSecurity(word(ins, f.value ?? ""));
      }
    } catch (error) {
      if (error instanceof BerthError && error.code === "BERTH_BUILD_INVALID_FLAG") {
        throw new BerthError(error.code, `line ${ins.startLine}: RUN ${error.message}`, { ...error.context, line: ins.startLine, cause: error });
      }
      throw error;
    }
    const env = environment();
    const declared = new Set(declaredArgs.map((a) => a.name));
    const proxyEnv = Object.entries(buildArgs)
      .filter(([k]) => proxyArgs.has(k) && !declared.has(k) && !state.has(k))
      .map(([k, v]) => `${k}=${v}`);
    const argText = declaredArgs.map((a) => `${a.name}=${state.get(a.name) ?? a.value ?? ""}`);
    const prefix = argText.length > 0 ? `|${argText.length} ${argText.join(" ")} ` : "";
    return {
      kind: "run",
      instruction: ins,
      command: args,
      files,
      mounts,
      network,
      security,
      environment: env,
      proxyEnv,
      history: commit(`RUN ${prefix}${args.join(" ")} # buildkit`, true),
    };
  }

  function evaluateCopy(ins: Instruction): CopyStep {
    const keyword = ins.keyword as "COPY" | "ADD";
    let flags: CopyFlags;
    try {
      flags = parseCopyFlags({ ...ins, sources: (ins.sources ?? []).map((s) => word(ins, s)) }, (v) => word(ins, v));
    } catch (error) {
      if (error instanceof BerthError) throw error;
      throw stepError(ins, (error as Error).message, error);
    }
    const sources = (ins.sources ?? []).map((s) => word(ins, s));
    const destination = word(ins, ins.destination ?? "");
    const inline = ins.heredocs.map((h) => ({
      name: h.name,
      content: h.expand ? heredocLex.processWord(h.content, state.lookup) : h.content,
    }));
    let fromStage: number | undefined;
    let fromImage: string | undefined;
    if (flags.from !== undefined) {
      fromStage = findStage((options.stageNames ?? []).map((name) => ({ name })), flags.from, ins.startLine);
      if (fromStage === undefined) fromImage = flags.from;
    }
    const env = environment();
    let message = keyword;
    if (flags.parents) message += " --parents";
    if (flags.chown) message += ` --chown=${flagValueOf(ins, "chown", word)}`;
    if (flags.chmod) message += ` --chmod=${flags.chmod.text}`;
    for (const s of sources) message += ` ${s}`;
    for (const h of ins.heredocs) message += ` <<${h.name}`;
    message += ` ${destination}`;
    return {
      kind: "copy",
      instruction: ins,
      keyword,
      sources,
      inline,
      destination,
      absoluteDestination: absoluteDestination(env.workdir, destination),
      flags,
      fromStage,
      fromImage,
      environment: env,
      history: commit(`${message} # buildkit`, true),
    };
  }

  return { steps, config, author, history };
}

function flagValueOf(ins: Instruction, name: string, expand: (ins: Instruction, v: string) => string): string {
  const f = ins.flags.find((x) => x.name === name);
  return f?.value === undefined ? "" : expand(ins, f.value);
}
