import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../common/index.js";

/** Docker Hub as image references name it. */
export const dockerHubRegistry = "docker.io";
/** Where Docker Hub's distribution API actually answers. */
export const dockerHubApiHost = "registry-1.docker.io";
/**
 * The key Docker stores Docker Hub credentials under in `config.json` and passes to
 * credential helpers: a v1 URL kept for compatibility since Docker 1.x.
 */
export const dockerHubConfigKey = "https://index.docker.io/v1/";

/** One place a registry's API can be reached. */
export interface RegistryEndpoint {
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000`: no trailing slash, no path. */
  baseUrl: string;
  /** The registry name this endpoint serves (`docker.io`), for messages and credentials. */
  registry: string;
  /** Whether this endpoint is a mirror; a failed mirror falls back to the next endpoint. */
  mirror: boolean;
}

/** Options that decide how a registry name becomes endpoints. */
export interface RegistryHostOptions {
  /**
   * Registries reached over plain HTTP, as `host` or `host:port` (Docker's
   * `insecure-registries`). Loopback registries (`localhost`, `127.0.0.1`, `::1`) are always
   * plain HTTP.
   * @default the comma-separated list in `BERTH_INSECURE_REGISTRIES`, else none
   */
  insecureRegistries?: readonly string[];
  /**
   * Mirrors tried before the registry itself, by registry name, as URLs
   * (`https://mirror.example.com`). Docker only mirrors Docker Hub (`registry-mirrors`);
   * berth accepts any registry here, as containerd does.
   * @default `{ "docker.io": [...] }` from the comma-separated `BERTH_REGISTRY_MIRROR`, else none
   */
  mirrors?: Readonly<Record<string, readonly string[]>>;
}

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The host options as set in the environment (`BERTH_INSECURE_REGISTRIES`, `BERTH_REGISTRY_MIRROR`). */
export function hostOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Required<RegistryHostOptions> {
  const mirrors = splitList(env.BERTH_REGISTRY_MIRROR);
  return {
    insecureRegistries: splitList(env.BERTH_INSECURE_REGISTRIES),
    mirrors: mirrors.length > 0 ? { [dockerHubRegistry]: mirrors } : {},
  };
}

/** The host of a `host[:port]` registry name, without brackets around an IPv6 address. */
export function registryHostname(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(1, registry.indexOf("]"));
  const colons = registry.split(":").length - 1;
  // A bare IPv6 address (`::1`) has several colons and no port.
  if (colons > 1) return registry;
  return registry.split(":")[0]!;
}

/** Whether a registry is on this machine's loopback, which Docker always reaches over HTTP. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registryHostname(registry).toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Whether a registry is reached over plain HTTP. */
export function isInsecureRegistry(registry: string, insecure: readonly string[]): boolean {
  if (isLoopbackRegistry(registry)) return true;
  const host = registryHostname(registry).toLowerCase();
  return insecure.some((entry) => {
    const e = entry.replace(/^https?:\/\//, "").replace(/\/+$/, "").toLowerCase();
    // `host` matches every port of that host, `host:port` only that port.
    return e === registry.toLowerCase() || e === host;
  });
}

/** The API host of a registry name: Docker Hub's name differs from where its API answers. */
export function registryApiHost(registry: string): string {
  return registry === dockerHubRegistry || registry === "index.docker.io" ? dockerHubApiHost : registry;
}

function urlHost(registry: string): string {
  // A bare IPv6 address needs brackets in a URL; `[::1]:5000` has them already.
  if (!registry.startsWith("[") && registry.split(":").length > 2) return `[${registry}]`;
  return registry;
}

/**
 * The endpoints to try for a registry, mirrors first. `forPush` leaves mirrors out:
 * Docker pushes to the registry itself and only pulls through mirrors.
 */
export function registryEndpoints(
  registry: string,
  options: Required<RegistryHostOptions>,
  forPush = false,
): RegistryEndpoint[] {
  const endpoints: RegistryEndpoint[] = [];
  if (!forPush) {
    for (const mirror of options.mirrors[registry] ?? []) {
      let url: URL;
      try {
        url = new URL(mirror.includes("://") ? mirror : `https://${mirror}`);
      } catch (error) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `registry mirror ${JSON.stringify(mirror)} is not a URL`, {
          field: "mirrors",
          cause: error,
        });
      }
      endpoints.push({ baseUrl: `${url.protocol}//${url.host}`, registry, mirror: true });
    }
  }
  const apiHost = registryApiHost(registry);
  const scheme = isInsecureRegistry(apiHost, options.insecureRegistries) ? "http" : "https";
  endpoints.push({ baseUrl: `${scheme}://${urlHost(apiHost)}`, registry, mirror: false });
  return endpoints;
}

/** TLS material for one registry host, as Docker's `certs.d` convention lays it out. */
export interface RegistryTlsFiles {
  /** PEM CA certificates (`*.crt`). */
  ca: string[];
  /** A client certificate and key (`*.cert` with the `*.key` of the same name). */
  cert?: { cert: string; key: string };
}

/**
 * Reads `<certsDir>/<host>/`: every `*.crt` is a CA, and `name.cert` with `name.key` is a
 * client certificate, as Docker reads `/etc/docker/certs.d`. A missing directory is no TLS
 * material; an unreadable file is an error, since silently ignoring it would turn into a
 * confusing certificate failure later.
 */
export async function readCertsDir(certsDir: string, host: string): Promise<RegistryTlsFiles> {
  // Docker names the directory as the registry is written, with `:port`; on Windows `:` is
  // replaced, which does not concern berth.
  const dir = join(certsDir, host);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") {
      return { ca: [] };
    }
    throw new BerthError("BERTH_IO", `cannot read registry certificates in ${dir}`, { path: dir, cause: error });
  }
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(join(dir, name), "utf8");
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot read registry certificate ${join(dir, name)}`, {
        path: join(dir, name),
        cause: error,
      });
    }
  };
  const result: RegistryTlsFiles = { ca: [] };
  for (const name of names) {
    if (name.endsWith(".crt")) result.ca.push(await read(name));
  }
  const certName = names.find((n) => n.endsWith(".cert"));
  if (certName) {
    const keyName = `${certName.slice(0, -".cert".length)}.key`;
    if (!names.includes(keyName)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `client certificate ${join(dir, certName)} has no ${keyName} beside it`, {
        path: join(dir, certName),
      });
    }
    result.cert = { cert: await read(certName), key: await read(keyName) };
  }
  return result;
}
