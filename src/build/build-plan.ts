import { BerthError } from "../common/index.js";
import { parseDockerfile, type Instruction, type ParsedDockerfile, type ParseWarning } from "./dockerfile-parser.js";
import { ShellLex, type VariableSource } from "./shell-lex.js";

/**
 * The stage planner: global ARGs and FROM lines, stages and their bases, the dependency graph
 * (FROM, COPY --from, RUN --mount=from), pruning to the target, cycles, and a topological
 * order in groups that can build concurrently.
 */

/** A platform as `os/arch[/variant]`. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Where a stage starts. */
export type StageBase =
  | { kind: "scratch" }
  | { kind: "image"; reference: string }
  | { kind: "stage"; index: number; name: string };

/** One stage of the Dockerfile. */
export interface BuildStage {
  /** Position among the stages, from 0. */
  index: number;
  /** The `AS` name, lower-cased, when given. */
  name: string | undefined;
  /** The FROM instruction. */
  from: Instruction;
  /** The base after expanding global ARGs. */
  base: StageBase;
  /** `--platform` after expansion, when given. */
  platform: string | undefined;
  /** The instructions after FROM. */
  instructions: Instruction[];
  /** Indices of the stages this one needs (its base, COPY --from, RUN --mount from). */
  dependencies: number[];
  /** Images (not stages) named by COPY --from or RUN --mount from, expanded where possible. */
  imageDependencies: string[];
}

/** A global ARG (declared before the first FROM) with its resolved value. */
export interface MetaArg {
  name: string;
  /** undefined when declared without a default and not given as a build arg. */
  value: string | undefined;
}

/** Options of {@link planBuild}. */
export interface PlanBuildOptions {
  /**
   * `--build-arg` values.
   * @default {}
   */
  buildArgs?: Readonly<Record<string, string>>;
  /**
   * The stage to build, by name (case-insensitive).
   * @default the last stage
   */
  target?: string;
  /**
   * The target platform.
   * @default the platform of this machine
   */
  platform?: Platform;
  /**
   * The platform the build runs on.
   * @default the platform of this machine
   */
  buildPlatform?: Platform;
}

/** The result of {@link planBuild}. */
export interface BuildPlan {
  parsed: ParsedDockerfile;
  metaArgs: MetaArg[];
  stages: BuildStage[];
  /** Index of the target stage. */
  target: number;
  /** Indices of the stages the target needs (itself included), in Dockerfile order. */
  needed: number[];
  /** The needed stages in an order where each comes after what it needs. */
  order: number[];
  /** The same stages in groups: every stage of a group only needs stages of earlier groups. */
  groups: number[][];
  /** Build args that no ARG declared (Docker warns that they were not consumed). */
  unusedBuildArgs: string[];
  /** The parser's warnings and the planner's (duplicate stage names). */
  warnings: ParseWarning[];
  /** The values of the predefined platform args (TARGETPLATFORM, BUILDARCH...). */
  platformArgs: Record<string, string>;
  targetPlatform: Platform;
  buildPlatform: Platform;
}

/** Proxy args: usable without being declared, never in the cache key or history unless declared. */
export const proxyArgs: ReadonlySet<string> = new Set([
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
]);

/** The platform of this machine, in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  const architecture = arch[process.arch] ?? process.arch;
  return architecture === "arm" ? { os: "linux", architecture, variant: "v7" } : { os: "linux", architecture };
}

/** `linux/arm64/v8` → Platform. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant] = text.toLowerCase().split("/");
  if (!os || !architecture) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid platform "${text}": expected os/arch[/variant]`, { field: "platform" });
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Platform → `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** The predefined platform args as BuildKit sets them. */
export function platformArgs(target: Platform, build: Platform): Record<string, string> {
  return {
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? "",
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? "",
  };
}

function stageError(message: string, context: Record<string, unknown>): BerthError {
  return new BerthError("BERTH_BUILD_STAGE_NOT_FOUND", message, context);
}

/**
 * Looks a `--from` value up as Docker does: a stage name (case-insensitive) first, then a
 * stage index; anything else is an image. Returns the stage index or undefined for an image.
 */
export function findStage(stages: readonly { name: string | undefined }[], nameOrIndex: string, line?: number): number | undefined {
  const lower = nameOrIndex.toLowerCase();
  const byName = lastIndexOfName(stages, lower);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(nameOrIndex)) {
    const index = Number.parseInt(nameOrIndex, 10);
    if (index >= stages.length) {
      throw stageError(`invalid stage index ${index}: the Dockerfile has ${stages.length} stage(s)`, { stage: nameOrIndex, line });
    }
    return index;
  }
  return undefined;
}

/**
 * Plans a build: which stages, from what, in what order. Accepts the Dockerfile text or its
 * parse. Throws `BERTH_BUILD_STAGE_NOT_FOUND` for an unknown target or stage index, and
 * `BERTH_BUILD_STAGE_CYCLE` naming the stages of a cycle.
 */
export function planBuild(dockerfile: string | ParsedDockerfile, options: PlanBuildOptions = {}): BuildPlan {
  const parsed = typeof dockerfile === "string" ? parseDockerfile(dockerfile) : dockerfile;
  const buildArgs = options.buildArgs ?? {};
  const targetPlatform = options.platform ?? hostPlatform();
  const buildPlatform = options.buildPlatform ?? hostPlatform();
  const predefined = platformArgs(targetPlatform, buildPlatform);
  const lex = new ShellLexForPlan(parsed.directives.escape);

  const warnings: ParseWarning[] = [...parsed.warnings];
  const metaArgs: MetaArg[] = [];
  const metaEnv = new Map<string, string>(Object.entries(predefined));
  const declared = new Set<string>();
  let i = 0;
  const instructions = parsed.instructions;
  for (; i < instructions.length && instructions[i]!.keyword !== "FROM"; i++) {
    const ins = instructions[i]!;
    if (ins.keyword !== "ARG") {
      throw new BerthError("BERTH_DOCKERFILE_SYNTAX", `dockerfile parse error on line ${ins.startLine}: no build stage in current context`, {
        line: ins.startLine,
      });
    }
    for (const def of ins.argDefinitions ?? []) {
      declared.add(def.name);
      let value: string | undefined;
      if (Object.prototype.hasOwnProperty.call(buildArgs, def.name)) value = buildArgs[def.name];
      else if (def.value !== undefined) value = lex.word(def.value, metaEnv, ins.startLine);
      metaArgs.push({ name: def.name, value });
      if (value !== undefined) metaEnv.set(def.name, value);
      else metaEnv.delete(def.name);
    }
  }
  if (i >= instructions.length) {
    throw new BerthError("BERTH_DOCKERFILE_SYNTAX", "the Dockerfile has no FROM instruction", { line: instructions.at(-1)?.startLine });
  }

  const stages: BuildStage[] = [];
  for (; i < instructions.length; i++) {
    const ins = instructions[i]!;
    if (ins.keyword === "FROM") {
      const stage = ins.stage!;
      const baseText = lex.word(stage.base, metaEnv, ins.startLine);
      if (baseText === "") {
        throw new BerthError("BERTH_DOCKERFILE_SYNTAX", `dockerfile parse error on line ${ins.startLine}: base name (${stage.base}) should not be blank`, {
          line: ins.startLine,
        });
      }
      if (stage.name !== undefined && stages.some((s) => s.name === stage.name)) {
        // BuildKit only lints this (DuplicateStageName); references then find the last one.
        warnings.push({ line: ins.startLine, message: `Duplicate stage name "${stage.name}", stage names should be unique` });
      }
      stages.push({
        index: stages.length,
        name: stage.name,
        from: ins,
        base: baseText.toLowerCase() === "scratch" ? { kind: "scratch" } : { kind: "image", reference: baseText },
        platform: stage.platform === undefined ? undefined : lex.word(stage.platform, metaEnv, ins.startLine),
        instructions: [],
        dependencies: [],
        imageDependencies: [],
      });
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
    if (ins.keyword === "ARG") for (const d of ins.argDefinitions ?? []) declared.add(d.name);
  }

  // Stage references are resolved once all stages are known: a forward one is a cycle or,
  // for COPY --from, an error once the stage is needed (checked below).
  const copyFrom: { stage: number; from: number; ref: string; line: number }[] = [];
  for (const stage of stages) {
    const deps = new Set<number>();
    if (stage.base.kind === "image") {
      const ref = stage.base.reference.toLowerCase();
      // FROM sees only the stages defined before it (BuildKit registers names as it goes).
      const byName = lastIndexOfName(stages.slice(0, stage.index), ref);
      if (byName >= 0) {
        stage.base = { kind: "stage", index: byName, name: stages[byName]!.name! };
        deps.add(byName);
      }
    }
    for (const ins of stage.instructions) {
      // `--from` is resolved as written, never expanded, as BuildKit resolves it.
      for (const ref of stageReferences(ins)) {
        const index = findStage(stages, ref, ins.startLine);
        if (index === undefined) stage.imageDependencies.push(ref);
        else {
          deps.add(index);
          if (ins.keyword !== "RUN") copyFrom.push({ stage: stage.index, from: index, ref, line: ins.startLine });
        }
      }
    }
    stage.dependencies = [...deps].sort((a, b) => a - b);
  }

  let target = stages.length - 1;
  if (options.target !== undefined && options.target !== "") {
    const lower = options.target.toLowerCase();
    // BuildKit finds a target by name only (a stage index is not a target).
    const byName = lastIndexOfName(stages, lower);
    if (byName >= 0) target = byName;
    else {
      const names = stages.map((s) => s.name).filter(Boolean);
      throw stageError(`target stage "${options.target}" could not be found${names.length ? ` (stages: ${names.join(", ")})` : ""}`, {
        stage: options.target,
      });
    }
  }

  const needed = new Set<number>();
  const visit = (index: number, path: number[]): void => {
    if (path.includes(index)) {
      const cycle = [...path.slice(path.indexOf(index)), index].map((n) => stageLabel(stages[n]!));
      throw new BerthError("BERTH_BUILD_STAGE_CYCLE", `circular dependency detected on stage: ${cycle.join(" -> ")}`, {
        stage: stageLabel(stages[index]!),
        cycle,
      });
    }
    if (needed.has(index)) return;
    for (const dep of stages[index]!.dependencies) visit(dep, [...path, index]);
    needed.add(index);
  };
  visit(target, []);
  // Docker also refuses a cycle among stages the target does not need.
  for (const s of stages) {
    const seen = new Set<number>();
    const walk = (index: number, path: number[]): void => {
      if (path.includes(index)) {
        const cycle = [...path.slice(path.indexOf(index)), index].map((n) => stageLabel(stages[n]!));
        throw new BerthError("BERTH_BUILD_STAGE_CYCLE", `circular dependency detected on stage: ${cycle.join(" -> ")}`, {
          stage: stageLabel(stages[index]!),
          cycle,
        });
      }
      if (seen.has(index)) return;
      seen.add(index);
      for (const dep of stages[index]!.dependencies) walk(dep, [...path, index]);
    };
    walk(s.index, []);
  }

  for (const c of copyFrom) {
    if (needed.has(c.stage) && c.from >= c.stage) {
      const here = stageLabel(stages[c.stage]!);
      throw stageError(`cannot copy from stage "${c.ref}", it needs to be defined before current stage "${here}"`, { stage: c.ref, line: c.line });
    }
  }

  const neededSorted = [...needed].sort((a, b) => a - b);
  const groups: number[][] = [];
  const done = new Set<number>();
  while (done.size < neededSorted.length) {
    const group = neededSorted.filter((n) => !done.has(n) && stages[n]!.dependencies.every((d) => done.has(d)));
    for (const n of group) done.add(n);
    groups.push(group);
  }

  const unusedBuildArgs = Object.keys(buildArgs)
    .filter((k) => !declared.has(k) && !proxyArgs.has(k) && !(k in predefined) && !k.startsWith("BUILDKIT_"))
    .sort();

  return {
    parsed,
    metaArgs,
    stages,
    target,
    needed: neededSorted,
    order: groups.flat(),
    groups,
    unusedBuildArgs,
    warnings,
    platformArgs: predefined,
    targetPlatform,
    buildPlatform,
  };
}

/** The last stage with `name` (BuildKit's name map keeps the last), skipping `except`. */
function lastIndexOfName(stages: readonly { name: string | undefined }[], name: string, except = -1): number {
  for (let i = stages.length - 1; i >= 0; i--) if (i !== except && stages[i]!.name === name) return i;
  return -1;
}

function stageLabel(stage: BuildStage): string {
  return stage.name ?? String(stage.index);
}

/** The stage names or indices an instruction reads from (COPY --from, RUN --mount from=). */
export function stageReferences(ins: Instruction): string[] {
  const out: string[] = [];
  const target = ins.keyword === "ONBUILD" ? undefined : ins;
  if (!target) return out;
  for (const f of target.flags) {
    if ((target.keyword === "COPY" || target.keyword === "ADD") && f.name === "from" && f.value) out.push(f.value);
    if (target.keyword === "RUN" && f.name === "mount" && f.value) {
      const m = /(?:^|,)\s*from=([^,]+)/.exec(f.value);
      if (m) out.push(m[1]!.replace(/^"|"$/g, ""));
    }
  }
  return out;
}

/** The planner's use of the lexer, with errors carrying the line. */
class ShellLexForPlan {
  private readonly lex: ShellLex;
  constructor(escape: "\\" | "`") {
    this.lex = new ShellLex({ escapeToken: escape });
  }
  word(text: string, env: VariableSource, line: number): string {
    try {
      return this.lex.processWord(text, env);
    } catch (error) {
      if (error instanceof BerthError) {
        throw new BerthError(error.code, `line ${line}: ${error.message}`, { ...error.context, line, cause: error });
      }
      throw error;
    }
  }
}
