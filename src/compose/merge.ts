import { isPlainObject } from "./interpolate.js";
import { YamlTagged } from "./yaml-tags.js";

/**
 * Merges Compose documents as `docker compose -f a.yml -f b.yml` does (compose-spec
 * merge.md): mappings merge by key; most sequences append; a few keys replace; some
 * sequences are really keyed sets and merge by their key; `!reset` and `!override` win.
 */
export function mergeDocuments(base: unknown, override: unknown, path: string[] = []): unknown {
  if (override instanceof YamlTagged) {
    return override.tag === "!reset" ? undefined : stripTags(override.value);
  }
  if (base === undefined || base === null) return stripTags(override);
  const rule = ruleFor(path);
  if (rule === "replace") return stripTags(override);
  if (rule === "mapping") {
    const a = toMapping(base);
    const b = toMapping(override);
    if (a && b) return mergeMappings(a, b, path);
  }
  if (rule === "by-target" && Array.isArray(base) && Array.isArray(override)) {
    return mergeByKey(base, stripTags(override) as unknown[], volumeTarget);
  }
  if (rule === "unique" && Array.isArray(base) && Array.isArray(override)) {
    return mergeByKey(base, stripTags(override) as unknown[], (v) => JSON.stringify(v));
  }
  if (isPlainObject(base) && isPlainObject(override)) return mergeMappings(base, override, path);
  if (Array.isArray(base) && Array.isArray(override)) return [...base, ...(stripTags(override) as unknown[])];
  return stripTags(override);
}

function mergeMappings(a: Record<string, unknown>, b: Record<string, unknown>, path: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const merged = mergeDocuments(out[k], v, [...path, k]);
    if (merged === undefined) delete out[k];
    else out[k] = merged;
  }
  return out;
}

/** Removes `!reset`/`!override` wrappers from a value that is taken whole. */
export function stripTags(value: unknown): unknown {
  if (value instanceof YamlTagged) return value.tag === "!reset" ? undefined : stripTags(value.value);
  if (Array.isArray(value)) return value.map(stripTags).filter((v) => v !== undefined);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const s = stripTags(v);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return value;
}

type Rule = "replace" | "mapping" | "by-target" | "unique" | "default";

const serviceRules: Record<string, Rule> = {
  command: "replace",
  entrypoint: "replace",
  "healthcheck.test": "replace",
  environment: "mapping",
  labels: "mapping",
  annotations: "mapping",
  sysctls: "mapping",
  extra_hosts: "mapping",
  depends_on: "mapping",
  networks: "mapping",
  "build.args": "mapping",
  "build.labels": "mapping",
  "deploy.labels": "mapping",
  volumes: "by-target",
  devices: "by-target",
  secrets: "by-target",
  configs: "by-target",
  ports: "unique",
  expose: "unique",
  dns: "unique",
  dns_search: "unique",
  cap_add: "unique",
  cap_drop: "unique",
  profiles: "unique",
  external_links: "unique",
  links: "unique",
  security_opt: "unique",
  tmpfs: "unique",
  env_file: "unique",
  "build.cache_from": "unique",
};

function ruleFor(path: string[]): Rule {
  if (path[0] === "services" && path.length >= 3) return serviceRules[path.slice(2).join(".")] ?? "default";
  if ((path[0] === "networks" || path[0] === "volumes") && path.length === 3 && path[2] === "labels") return "mapping";
  return "default";
}

/**
 * Turns the list forms Compose accepts for mappings (`KEY=VALUE` strings, a list of names)
 * into mappings so that two files merge by key. Returns undefined when neither form fits.
 */
export function toMapping(value: unknown): Record<string, unknown> | undefined {
  if (isPlainObject(value)) return value;
  if (!Array.isArray(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const item of value) {
    if (typeof item !== "string") return undefined;
    const eq = item.indexOf("=");
    // A bare name (`- db` under depends_on or networks) maps to null, as Compose prints it.
    if (eq === -1) out[item] = null;
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function mergeByKey(base: unknown[], override: unknown[], key: (v: unknown) => string | undefined): unknown[] {
  const out = [...base];
  for (const item of override) {
    const k = key(item);
    const at = k === undefined ? -1 : out.findIndex((b) => key(b) === k);
    if (at === -1) out.push(item);
    else out[at] = item;
  }
  return out;
}

/** The container path of a volume entry, short or long syntax, which is its merge key. */
function volumeTarget(v: unknown): string | undefined {
  if (typeof v === "string") {
    const parts = v.split(":");
    return parts.length === 1 ? parts[0] : parts[1];
  }
  if (isPlainObject(v)) return typeof v.target === "string" ? v.target : typeof v.source === "string" ? v.source : undefined;
  return undefined;
}
