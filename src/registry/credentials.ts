import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { BerthError, logger, withFileLock, writeFileAtomic } from "../common/index.js";
import type { RegistryAuth } from "./types.js";
import { dockerHubConfigKey } from "./registry-hosts.js";

const log = logger("registry:credentials");

/** Where credentials are looked for, and how credential helpers run. */
export interface CredentialOptions {
  /**
   * The environment read for `DOCKER_AUTH_CONFIG`, `DOCKER_CONFIG` and `HOME`, and given to
   * credential helpers (their `PATH` finds them).
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * The Docker config file to read and write.
   * @default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`
   */
  configPath?: string;
  /**
   * How long a credential helper may run, in ms.
   * @default 30000
   */
  helperTimeout?: number;
}

/** The outcome of a credential lookup. */
export interface ResolvedCredentials {
  /** The credentials found, if any. */
  auth: RegistryAuth | undefined;
  /** Where they came from (`DOCKER_AUTH_CONFIG`, `/root/.docker/config.json (auths)`...). */
  source: string | undefined;
  /** Every place that was looked at, in order, for an error message when the registry refuses. */
  searched: string[];
}

/** The parts of Docker's `config.json` berth reads. */
interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** The Docker config file path: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  return join(env.HOME || homedir(), ".docker", "config.json");
}

/**
 * The key Docker files a registry's credentials under: `https://index.docker.io/v1/` for
 * Docker Hub, the registry name (`host[:port]`) otherwise. This is also the server URL given
 * to credential helpers.
 */
export function credentialKey(registry: string): string {
  return isDockerHub(registry) ? dockerHubConfigKey : registry;
}

function isDockerHub(registry: string): boolean {
  return ["docker.io", "index.docker.io", "registry-1.docker.io"].includes(registry.toLowerCase());
}

/**
 * The host part of a config key, as Docker's `ConvertToHostname` makes it: the scheme and
 * any path dropped, so `https://ghcr.io/v1/` and `ghcr.io` name the same registry.
 */
function keyHostname(key: string): string {
  const withoutScheme = key.replace(/^[a-z]+:\/\//i, "");
  const host = withoutScheme.split("/")[0]!.toLowerCase();
  return isDockerHub(host) ? "index.docker.io" : host;
}

function findEntry<T>(map: Record<string, T> | undefined, registry: string): [string, T] | undefined {
  if (!map) return undefined;
  const key = credentialKey(registry);
  if (Object.hasOwn(map, key)) return [key, map[key]!];
  const want = keyHostname(key);
  for (const [k, v] of Object.entries(map)) {
    if (keyHostname(k) === want) return [k, v];
  }
  return undefined;
}

async function readDockerConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new BerthError("BERTH_IO", `cannot read Docker config ${path}`, { path, cause: error });
  }
  return parseDockerConfig(text, path);
}

function parseDockerConfig(text: string, where: string): DockerConfig {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new TypeError("not an object");
    return parsed as DockerConfig;
  } catch (error) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `${where} is not a valid Docker config (JSON object expected)`, {
      path: where,
      cause: error,
    });
  }
}

function decodeAuthEntry(
  entry: NonNullable<DockerConfig["auths"]>[string],
  where: string,
): RegistryAuth | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.registrytoken) return { registryToken: entry.registrytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `the "auth" entry in ${where} is not base64 of user:password`, {
        path: where,
      });
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Runs `docker-credential-<helper> get` for `registry`; undefined when it has nothing. */
export async function credentialHelperGet(
  helper: string,
  registry: string,
  options: CredentialOptions = {},
): Promise<RegistryAuth | undefined> {
  const serverUrl = credentialKey(registry);
  const stdout = await runHelper(helper, "get", serverUrl, options, true);
  if (stdout === undefined) return undefined;
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch (error) {
    throw new BerthError("BERTH_CREDENTIAL_HELPER_FAILED", `docker-credential-${helper} get printed no JSON`, {
      helper,
      registry,
      cause: error,
    });
  }
  if (!parsed.Secret) return undefined;
  // Docker's convention: a helper returns an identity token with the user name `<token>`.
  if (parsed.Username === "<token>") return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? "", password: parsed.Secret };
}

/**
 * Runs a credential helper action. Returns its stdout, or undefined when the helper says it
 * has no credentials (exit 1 with "credentials not found", the helpers' shared wording).
 */
async function runHelper(
  helper: string,
  action: "get" | "store" | "erase",
  input: string,
  options: CredentialOptions,
  notFoundIsUndefined: boolean,
): Promise<string | undefined> {
  const command = `docker-credential-${helper}`;
  const env = options.env ?? process.env;
  log("%s %s", command, action);
  const result = await execa(command, [action], {
    input,
    env,
    extendEnv: false,
    reject: false,
    timeout: options.helperTimeout ?? 30_000,
    stripFinalNewline: true,
  });
  if (result.exitCode === 0) return result.stdout;
  const output = `${result.stdout}\n${result.stderr}`.trim();
  if (notFoundIsUndefined && /credentials not found/i.test(output)) return undefined;
  const reason = result.timedOut
    ? `timed out after ${options.helperTimeout ?? 30_000} ms`
    : (result as { code?: string }).code === "ENOENT"
      ? `is not installed (not found in PATH)`
      : `failed with exit code ${result.exitCode ?? "none"}`;
  throw new BerthError("BERTH_CREDENTIAL_HELPER_FAILED", `${command} ${action} ${reason}`, {
    helper,
    exitCode: result.exitCode,
    lastLines: output ? output.split("\n").slice(-5) : undefined,
    cause: result.cause ?? undefined,
  });
}

/**
 * Finds credentials for a registry the way Docker does, in this order:
 * `DOCKER_AUTH_CONFIG` (a `config.json` document in the environment, as CI systems set it),
 * then the config file: `credHelpers` for this registry, else `credsStore`, else `auths`
 * (base64 `auth`, `identitytoken`). A helper that has nothing falls through to `auths`,
 * as Docker's native store does.
 */
export async function resolveCredentials(registry: string, options: CredentialOptions = {}): Promise<ResolvedCredentials> {
  const env = options.env ?? process.env;
  const searched: string[] = [];
  const fromDocument = async (config: DockerConfig, where: string): Promise<ResolvedCredentials | undefined> => {
    const helperEntry = findEntry(config.credHelpers, registry);
    const helper = helperEntry?.[1] ?? config.credsStore;
    if (helper) {
      const label = `${where} (${helperEntry ? "credHelpers" : "credsStore"}: docker-credential-${helper})`;
      searched.push(label);
      const auth = await credentialHelperGet(helper, registry, options);
      if (auth) return { auth, source: label, searched };
    }
    const label = `${where} (auths)`;
    searched.push(label);
    const entry = findEntry(config.auths, registry);
    const auth = entry ? decodeAuthEntry(entry[1], where) : undefined;
    if (auth) return { auth, source: label, searched };
    return undefined;
  };

  if (env.DOCKER_AUTH_CONFIG) {
    const found = await fromDocument(parseDockerConfig(env.DOCKER_AUTH_CONFIG, "DOCKER_AUTH_CONFIG"), "DOCKER_AUTH_CONFIG");
    if (found) return found;
  }
  const path = options.configPath ?? dockerConfigPath(env);
  const config = await readDockerConfig(path);
  if (config) {
    const found = await fromDocument(config, path);
    if (found) return found;
  } else {
    searched.push(`${path} (absent)`);
  }
  return { auth: undefined, source: undefined, searched };
}

/**
 * Saves credentials as `docker login` does: through the credential helper configured for the
 * registry (`credHelpers`, else `credsStore`), else base64 in `auths`. The config file is
 * rewritten atomically under a lock, mode 0600, keeping every other key. Returns where the
 * credentials went.
 */
export async function storeCredentials(
  registry: string,
  auth: { username: string; password: string } | { identityToken: string; username?: string },
  options: CredentialOptions = {},
): Promise<string> {
  const env = options.env ?? process.env;
  const path = options.configPath ?? dockerConfigPath(env);
  const key = credentialKey(registry);
  return withConfig(path, async (config) => {
    const helper = findEntry(config.credHelpers, registry)?.[1] ?? config.credsStore;
    if (helper) {
      const secret = "identityToken" in auth ? auth.identityToken : auth.password;
      const username = "identityToken" in auth ? "<token>" : auth.username;
      await runHelper(helper, "store", JSON.stringify({ ServerURL: key, Username: username, Secret: secret }), options, false);
      // Docker keeps an empty entry in auths so that `docker info` lists the registry.
      config.auths = { ...config.auths, [key]: {} };
      return { config, where: `docker-credential-${helper}` };
    }
    const existing = findEntry(config.auths, registry);
    const auths = { ...config.auths };
    if (existing) delete auths[existing[0]];
    auths[key] =
      "identityToken" in auth
        ? { auth: Buffer.from(`${auth.username ?? ""}:`).toString("base64"), identitytoken: auth.identityToken }
        : { auth: Buffer.from(`${auth.username}:${auth.password}`).toString("base64") };
    config.auths = auths;
    return { config, where: `${path} (auths)` };
  });
}

/**
 * Removes a registry's credentials as `docker logout` does: from its credential helper and
 * from `auths`. Returns whether anything was removed.
 */
export async function eraseCredentials(registry: string, options: CredentialOptions = {}): Promise<boolean> {
  const env = options.env ?? process.env;
  const path = options.configPath ?? dockerConfigPath(env);
  return withConfig(path, async (config) => {
    let removed = false;
    const helper = findEntry(config.credHelpers, registry)?.[1] ?? config.credsStore;
    if (helper) {
      const had = (await credentialHelperGet(helper, registry, options)) !== undefined;
      if (had) await runHelper(helper, "erase", credentialKey(registry), options, true);
      removed ||= had;
    }
    const existing = findEntry(config.auths, registry);
    if (existing) {
      const auths = { ...config.auths };
      delete auths[existing[0]];
      config.auths = auths;
      removed = true;
    }
    return { config, where: removed };
  });
}

async function withConfig<T>(path: string, edit: (config: DockerConfig) => Promise<{ config: DockerConfig; where: T }>): Promise<T> {
  const dir = join(path, "..");
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw new BerthError("BERTH_IO", `cannot create ${dir}`, { path: dir, cause: error });
  });
  return withFileLock(`${path}.lock`, async () => {
    const config = (await readDockerConfig(path)) ?? {};
    const { config: next, where } = await edit(config);
    try {
      await writeFileAtomic(path, `${JSON.stringify(next, null, "\t")}\n`, { mode: 0o600 });
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot write Docker config ${path}`, { path, cause: error });
    }
    return where;
  });
}
