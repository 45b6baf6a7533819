import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { BerthError, isBerthError } from "../common/index.js";
import { readEnvFile } from "./dotenv.js";
import { findDefaultConfigFiles, splitComposeFileVariable } from "./find-config-files.js";
import { interpolateTree, isPlainObject } from "./interpolate.js";
import { mergeDocuments, stripTags } from "./merge.js";
import { normaliseProject } from "./normalise.js";
import { resolveProjectName } from "./project-name.js";
import type { ComposeProject } from "./types.js";
import { composeYamlTags, YamlTagged } from "./yaml-tags.js";

/** Options of {@link loadComposeProject}; each mirrors a `docker compose` flag or variable. */
export interface LoadComposeOptions {
  /**
   * The compose files (`-f`), merged in order; relative to `cwd`.
   * @default `COMPOSE_FILE`, else `compose.yaml` (and the other default names) found in `cwd` or a parent, with its override file
   */
  files?: string[];
  /**
   * The project directory (`--project-directory`): relative paths and `.env` are resolved from it.
   * @default the directory of the first compose file
   */
  projectDirectory?: string;
  /**
   * The project name (`-p`).
   * @default `COMPOSE_PROJECT_NAME`, else the top-level `name:`, else the project directory's name
   */
  projectName?: string;
  /**
   * Env files for interpolation (`--env-file`), replacing the default `.env`.
   * @default `<project directory>/.env` when it exists
   */
  envFiles?: string[];
  /**
   * Profiles to enable (`--profile`).
   * @default `COMPOSE_PROFILES` split on commas, else none
   */
  profiles?: string[];
  /**
   * The process environment: it wins over `.env` values.
   * @default process.env
   */
  environment?: Record<string, string | undefined>;
  /**
   * The directory relative `-f` paths and the default file lookup start from.
   * @default process.cwd()
   */
  cwd?: string;
  /**
   * `--scale service=n` overrides.
   * @default {}
   */
  scale?: Record<string, number>;
  /**
   * Services named on the command line: they and their dependencies are enabled even when
   * their profiles are not, as `docker compose up web` does.
   * @default [] (every service the profiles enable)
   */
  services?: string[];
}

/**
 * Loads a Compose project as `docker compose` does: finds and reads the files, interpolates
 * variables from `.env` and the environment, resolves `extends`, merges the files, applies
 * profiles and validates everything into a {@link ComposeProject}. Throws a `BerthError`
 * (`BERTH_COMPOSE_INVALID`, `BERTH_COMPOSE_VARIABLE_REQUIRED`, `BERTH_COMPOSE_FILE_NOT_FOUND`)
 * naming the file and the path inside it before anything has started.
 */
export async function loadComposeProject(options: LoadComposeOptions = {}): Promise<ComposeProject> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const processEnv = options.environment ?? process.env;

  // COMPOSE_FILE and friends may themselves come from a .env beside where we start.
  const startDir = options.projectDirectory ? resolve(cwd, options.projectDirectory) : cwd;
  const earlyEnv = await interpolationEnvironment(startDir, options.envFiles, cwd, processEnv);

  let files: string[];
  if (options.files && options.files.length > 0) {
    files = options.files.map((f) => resolve(cwd, f));
  } else if (earlyEnv.COMPOSE_FILE) {
    files = splitComposeFileVariable(earlyEnv.COMPOSE_FILE, earlyEnv.COMPOSE_PATH_SEPARATOR || ":").map((f) => resolve(startDir, f));
  } else {
    files = findDefaultConfigFiles(startDir);
  }
  const workingDir = options.projectDirectory ? resolve(cwd, options.projectDirectory) : dirname(files[0]!);
  const environment = workingDir === startDir ? earlyEnv : await interpolationEnvironment(workingDir, options.envFiles, cwd, processEnv);
  const lookup = (name: string) => environment[name];

  let merged: Record<string, unknown> = {};
  const serviceFiles: Record<string, string> = {};
  for (const file of files) {
    const doc = await applyIncludes(await readComposeFile(file, lookup), file, processEnv, serviceFiles, [file]);
    const withExtends = await resolveAllExtends(doc, file, lookup, workingDir);
    if (isPlainObject(withExtends.services)) for (const name of Object.keys(withExtends.services)) serviceFiles[name] = file;
    merged = mergeDocuments(merged, withExtends) as Record<string, unknown>;
  }
  merged = stripTags(merged) as Record<string, unknown>;

  const topName = merged.name;
  if (topName !== undefined && typeof topName !== "string") {
    throw new BerthError("BERTH_COMPOSE_INVALID", `${files[0]}: name: expected a string`, { path: files[0], field: "name" });
  }
  const projectName = resolveProjectName({ flag: options.projectName, env: environment.COMPOSE_PROJECT_NAME, topLevel: topName, workingDir });

  const profiles = options.profiles ?? (environment.COMPOSE_PROFILES ? environment.COMPOSE_PROFILES.split(",").map((p) => p.trim()).filter(Boolean) : []);
  const project = await normaliseProject(merged, {
    projectName,
    workingDir,
    configFiles: files,
    environment,
    profiles,
    serviceFiles,
    scale: options.scale ?? {},
    selected: options.services ?? [],
  });
  for (const name of Object.keys(options.scale ?? {})) {
    if (!project.services[name] && !project.disabledServices[name]) {
      throw new BerthError("BERTH_COMPOSE_SERVICE_NOT_FOUND", `no such service: ${name}`, { service: name });
    }
  }
  return project;
}

/** `.env` (or the `--env-file`s) under the process environment, which wins. */
async function interpolationEnvironment(
  dir: string,
  envFiles: string[] | undefined,
  cwd: string,
  processEnv: Record<string, string | undefined>,
): Promise<Record<string, string>> {
  const fromFiles: Record<string, string> = {};
  const lookup = (k: string) => processEnv[k] ?? fromFiles[k];
  const paths = envFiles && envFiles.length > 0 ? envFiles.map((f) => resolve(cwd, f)) : existsSync(resolve(dir, ".env")) ? [resolve(dir, ".env")] : [];
  for (const p of paths) Object.assign(fromFiles, await readEnvFile(p, lookup));
  const out: Record<string, string> = { ...fromFiles };
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) out[k] = v;
  return out;
}

/** Reads, parses (anchors, merge keys, `!reset`/`!override`) and interpolates one file. */
export async function readComposeFile(file: string, lookup: (name: string) => string | undefined): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new BerthError(code === "ENOENT" ? "BERTH_COMPOSE_FILE_NOT_FOUND" : "BERTH_IO", `${file}: ${code === "ENOENT" ? "no such file" : "cannot be read"}`, {
      path: file,
      cause,
    });
  }
  const doc = parseDocument(text, { merge: true, customTags: composeYamlTags, uniqueKeys: true, prettyErrors: true });
  const problem = doc.errors[0];
  if (problem) {
    const line = problem.linePos?.[0];
    throw new BerthError(
      "BERTH_COMPOSE_INVALID",
      `${file}${line ? `:${line.line}:${line.col}` : ""}: invalid YAML: ${problem.message.split("\n")[0]}`,
      { path: file, line: line?.line, cause: problem },
    );
  }
  let raw: unknown;
  try {
    // Anchors expanded many times over are a YAML bomb; yaml's alias limit stops it.
    raw = doc.toJS({ maxAliasCount: 10_000 });
  } catch (cause) {
    throw new BerthError("BERTH_COMPOSE_INVALID", `${file}: invalid YAML: ${(cause as Error).message}`, { path: file, cause });
  }
  if (raw === null || raw === undefined) raw = {};
  if (!isPlainObject(raw) || raw instanceof YamlTagged) {
    throw new BerthError("BERTH_COMPOSE_INVALID", `${file}: expected a mapping at the top level`, { path: file });
  }
  return interpolateTree(raw, lookup, file) as Record<string, unknown>;
}

/** Resolves `extends` of every service of one file. */
async function resolveAllExtends(
  doc: Record<string, unknown>,
  file: string,
  lookup: (name: string) => string | undefined,
  workingDir: string,
): Promise<Record<string, unknown>> {
  if (!isPlainObject(doc.services)) return doc;
  const services: Record<string, unknown> = {};
  const cache = new Map<string, Record<string, unknown>>([[file, doc]]);
  for (const name of Object.keys(doc.services)) {
    services[name] = await resolveExtends(name, file, lookup, workingDir, cache, []);
  }
  return { ...doc, services };
}

async function resolveExtends(
  name: string,
  file: string,
  lookup: (name: string) => string | undefined,
  workingDir: string,
  cache: Map<string, Record<string, unknown>>,
  chain: string[],
): Promise<unknown> {
  const key = `${file}#${name}`;
  if (chain.includes(key)) {
    const cycle = [...chain.slice(chain.indexOf(key)), key].map((k) => k.split("#")[1]).join(" -> ");
    throw new BerthError("BERTH_COMPOSE_CYCLE", `${file}: services.${name}.extends: circular reference: ${cycle}`, { path: file, field: `services.${name}.extends` });
  }
  let doc = cache.get(file);
  if (!doc) {
    doc = await readComposeFile(file, lookup);
    cache.set(file, doc);
  }
  const services = isPlainObject(doc.services) ? doc.services : {};
  const service = services[name];
  if (service === undefined) {
    const from = chain.length > 0 ? chain[chain.length - 1]!.split("#") : [file, name];
    throw new BerthError("BERTH_COMPOSE_INVALID", `${from[0]}: services.${from[1]}.extends: cannot extend service "${name}" in ${file}: service not found`, {
      path: from[0],
      field: `services.${from[1]}.extends`,
    });
  }
  if (!isPlainObject(service) || service.extends === undefined) return service;
  const at = `services.${name}.extends`;
  let baseName: string;
  let baseFile = file;
  if (typeof service.extends === "string") {
    baseName = service.extends;
  } else if (isPlainObject(service.extends) && typeof service.extends.service === "string") {
    baseName = service.extends.service;
    if (service.extends.file !== undefined) {
      if (typeof service.extends.file !== "string") throw new BerthError("BERTH_COMPOSE_INVALID", `${file}: ${at}.file: expected a path`, { path: file, field: `${at}.file` });
      baseFile = resolve(dirname(file), service.extends.file);
    }
  } else {
    throw new BerthError("BERTH_COMPOSE_INVALID", `${file}: ${at}: expected a service name or { service, file }`, { path: file, field: at });
  }
  let base: unknown;
  try {
    base = await resolveExtends(baseName, baseFile, lookup, workingDir, cache, [...chain, key]);
  } catch (e) {
    if (isBerthError(e)) throw e;
    throw new BerthError("BERTH_COMPOSE_INVALID", `${file}: ${at}: ${(e as Error).message}`, { path: file, field: at, cause: e });
  }
  // Paths in a service taken from another file are relative to that file, not to us.
  if (baseFile !== file && isPlainObject(base)) base = rebasePaths(base, dirname(baseFile));
  const { extends: _dropped, ...own } = service;
  return mergeDocuments(base, own, ["services", name]);
}

/** Makes the relative paths of a service absolute against `dir`. */
function rebasePaths(service: Record<string, unknown>, dir: string): Record<string, unknown> {
  const abs = (p: string) => (isAbsolute(p) || p.startsWith("~") || /^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : resolve(dir, p));
  const out: Record<string, unknown> = { ...service };
  if (typeof out.build === "string") out.build = abs(out.build);
  else if (isPlainObject(out.build)) out.build = { ...out.build, context: abs(typeof out.build.context === "string" ? out.build.context : ".") };
  if (typeof out.env_file === "string") out.env_file = abs(out.env_file);
  else if (Array.isArray(out.env_file)) {
    out.env_file = out.env_file.map((e) => (typeof e === "string" ? abs(e) : isPlainObject(e) && typeof e.path === "string" ? { ...e, path: abs(e.path) } : e));
  }
  if (Array.isArray(out.volumes)) {
    out.volumes = out.volumes.map((v) => {
      if (typeof v === "string" && v.startsWith(".")) {
        const [src, ...rest] = v.split(":");
        return [abs(src!), ...rest].join(":");
      }
      if (isPlainObject(v) && v.type === "bind" && typeof v.source === "string") return { ...v, source: abs(v.source) };
      return v;
    });
  }
  return out;
}

/**
 * Brings in the files a top-level `include:` names, as Compose does: each is loaded as its
 * own small project (its directory, its `.env` or `env_file`, its own includes and extends),
 * its relative paths made absolute against that directory, and its services, networks and
 * volumes added to the including file. A name defined on both sides is an error.
 */
async function applyIncludes(
  doc: Record<string, unknown>,
  file: string,
  processEnv: Record<string, string | undefined>,
  serviceFiles: Record<string, string>,
  chain: string[],
): Promise<Record<string, unknown>> {
  if (doc.include === undefined) return doc;
  const fail = (field: string, message: string) => new BerthError("BERTH_COMPOSE_INVALID", `${file}: ${field}: ${message}`, { path: file, field });
  if (!Array.isArray(doc.include)) throw fail("include", "expected a list of paths or { path, project_directory, env_file }");
  const { include, ...out } = doc;
  const base = dirname(file);
  const strings = (v: unknown, field: string): string[] => {
    if (typeof v === "string") return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
    throw fail(field, "expected a path or a list of paths");
  };
  for (const [i, entry] of (include as unknown[]).entries()) {
    const at = `include[${i}]`;
    let paths: string[];
    let projectDir: string | undefined;
    let envFiles: string[] | undefined;
    if (typeof entry === "string") {
      paths = [entry];
    } else if (isPlainObject(entry) && entry.path !== undefined) {
      paths = strings(entry.path, `${at}.path`);
      if (entry.project_directory !== undefined) projectDir = strings(entry.project_directory, `${at}.project_directory`)[0];
      if (entry.env_file !== undefined) envFiles = strings(entry.env_file, `${at}.env_file`).map((f) => resolve(base, f));
    } else {
      throw fail(at, "expected a path or { path, project_directory, env_file }");
    }
    const files = paths.map((p) => resolve(base, p));
    const cyclic = files.find((f) => chain.includes(f));
    if (cyclic) {
      throw new BerthError("BERTH_COMPOSE_CYCLE", `${file}: ${at}: include cycle: ${[...chain, cyclic].join(" -> ")}`, { path: file, field: at });
    }
    const dir = projectDir ? resolve(base, projectDir) : dirname(files[0]!);
    const env = await interpolationEnvironment(dir, envFiles, base, processEnv);
    const lookup = (name: string) => env[name];
    let sub: Record<string, unknown> = {};
    const subFiles: Record<string, string> = {};
    for (const f of files) {
      const loaded = await applyIncludes(await readComposeFile(f, lookup), f, processEnv, subFiles, [...chain, f]);
      const resolved = await resolveAllExtends(loaded, f, lookup, dir);
      if (isPlainObject(resolved.services)) for (const name of Object.keys(resolved.services)) subFiles[name] ??= f;
      sub = mergeDocuments(sub, resolved) as Record<string, unknown>;
    }
    sub = stripTags(sub) as Record<string, unknown>;
    for (const section of ["services", "networks", "volumes", "secrets", "configs"]) {
      const imported = sub[section];
      if (!isPlainObject(imported)) continue;
      const own = isPlainObject(out[section]) ? out[section] : {};
      for (const name of Object.keys(imported)) {
        if (name in own) throw fail(`${section}.${name}`, `conflicts with imported resource from ${files.join(", ")}`);
      }
      const rebased =
        section === "services"
          ? Object.fromEntries(Object.entries(imported).map(([n, svc]) => [n, isPlainObject(svc) ? rebasePaths(svc, dir) : svc]))
          : imported;
      out[section] = { ...rebased, ...own };
    }
    for (const [name, f] of Object.entries(subFiles)) serviceFiles[name] = f;
  }
  return out;
}
