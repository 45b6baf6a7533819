import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { BerthError } from "../common/index.js";
import { readEnvFile } from "./dotenv.js";
import { emptyService } from "./empty-service.js";
import { parseGoDuration, parseRamSize } from "./go-values.js";
import { isPlainObject } from "./interpolate.js";
import { toMapping } from "./merge.js";
import { isIp, parseShortPort, SyntaxProblem } from "./ports.js";
import { shellSplit } from "./shell-split.js";
import type {
  ComposeBuild,
  ComposeDependency,
  ComposeHealthcheck,
  ComposeNetwork,
  ComposePort,
  ComposeProject,
  ComposeResources,
  ComposeService,
  ComposeServiceNetwork,
  ComposeVolume,
  ComposeVolumeMount,
} from "./types.js";

/** What normalisation needs besides the merged document: the project's own fields among them. */
export interface NormaliseContext extends Pick<ComposeProject, "workingDir" | "configFiles" | "environment" | "profiles"> {
  projectName: string;
  /** Which file last defined each service, for error messages. */
  serviceFiles: Record<string, string>;
  /** `--scale service=n` overrides. */
  scale: Record<string, number>;
  /** Services named on the command line: enabled with their dependencies whatever their profiles. */
  selected?: string[];
}

/** A location in the merged document with the file it most likely came from. */
class At {
  constructor(
    readonly file: string,
    readonly path: string,
  ) {}
  key(k: string): At {
    return new At(this.file, this.path ? `${this.path}.${k}` : k);
  }
  index(i: number): At {
    return new At(this.file, `${this.path}[${i}]`);
  }
  fail(expected: string, got?: unknown): BerthError {
    const gotText = got === undefined ? "" : `, got ${describe(got)}`;
    return new BerthError("BERTH_COMPOSE_INVALID", `${this.file}: ${this.path}: ${expected}${gotText}`, {
      path: this.file,
      field: this.path,
    });
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}

const serviceKeys = new Set([
  "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
  "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
  "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop",
  "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
  "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add", "healthcheck",
  "hostname", "image", "init", "ipc", "isolation", "labels", "label_file", "links", "logging", "mac_address",
  "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "models", "network_mode", "networks",
  "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop",
  "privileged", "profiles", "provider", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets",
  "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls",
  "tmpfs", "tty", "ulimits", "use_api_socket", "user", "userns_mode", "uts", "volumes", "volumes_from",
  "working_dir",
]);

const modelledKeys = new Set([
  "build", "cap_add", "cap_drop", "command", "container_name", "depends_on", "deploy", "domainname",
  "entrypoint", "env_file", "environment", "expose", "extends", "extra_hosts", "healthcheck", "hostname", "image",
  "init", "labels", "networks", "platform", "ports", "privileged", "profiles", "pull_policy", "read_only",
  "restart", "scale", "stdin_open", "stop_grace_period", "stop_signal", "tmpfs", "tty", "user", "volumes",
  "working_dir", "mem_limit", "cpus", "pids_limit",
]);

/** Builds the typed model from the merged, interpolated document. */
export async function normaliseProject(doc: Record<string, unknown>, ctx: NormaliseContext): Promise<ComposeProject> {
  const mainFile = ctx.configFiles[ctx.configFiles.length - 1] ?? "compose.yaml";
  const root = new At(mainFile, "");
  const allowedTop = new Set(["version", "name", "services", "networks", "volumes", "secrets", "configs", "include", "models"]);
  for (const k of Object.keys(doc)) {
    if (!allowedTop.has(k) && !k.startsWith("x-")) throw root.fail(`additional property ${k} is not allowed`);
  }
  const rawServices = doc.services ?? {};
  if (!isPlainObject(rawServices)) throw root.key("services").fail("expected a mapping of services", rawServices);

  const networks = normaliseNetworks(doc.networks, root.key("networks"), ctx.projectName);
  const volumes = normaliseVolumes(doc.volumes, root.key("volumes"), ctx.projectName);

  const all: Record<string, ComposeService> = {};
  for (const [name, raw] of Object.entries(rawServices)) {
    const at = new At(ctx.serviceFiles[name] ?? mainFile, `services.${name}`);
    if (!/^[a-zA-Z0-9._-]+$/.test(name)) throw at.fail("a service name may contain only letters, digits, '.', '_' and '-'");
    all[name] = await normaliseService(name, raw ?? {}, at, ctx);
  }

  const services: Record<string, ComposeService> = {};
  const disabledServices: Record<string, ComposeService> = {};
  for (const [name, svc] of Object.entries(all)) {
    const enabled = svc.profiles.length === 0 || svc.profiles.some((p) => p === "*" || ctx.profiles.includes(p) || ctx.profiles.includes("*"));
    (enabled ? services : disabledServices)[name] = svc;
  }
  enableNamedServices(services, disabledServices, ctx.selected ?? []);

  // References between parts of the file: networks, volumes, dependencies.
  let usesDefault = false;
  for (const svc of Object.values(services)) {
    const at = new At(ctx.serviceFiles[svc.name] ?? mainFile, `services.${svc.name}`);
    for (const net of Object.keys(svc.networks)) {
      if (net === "default") usesDefault = true;
      else if (!networks[net]) throw at.key("networks").fail(`service "${svc.name}" refers to undefined network ${net}`);
    }
    svc.volumes.forEach((v, i) => {
      if (v.type === "volume" && v.source && !volumes[v.source]) {
        throw at.key("volumes").index(i).fail(`service "${svc.name}" refers to undefined volume ${v.source}`);
      }
    });
    for (const [dep, d] of Object.entries(svc.dependsOn)) {
      if (services[dep]) continue;
      if (disabledServices[dep]) {
        if (d.required) {
          throw at.key("depends_on").fail(`service "${svc.name}" depends on service "${dep}", which is not enabled by the active profiles`);
        }
      } else if (d.required) {
        throw at.key("depends_on").fail(`service "${svc.name}" depends on undefined service "${dep}"`);
      }
    }
  }
  if (usesDefault && !networks.default) {
    networks.default = { name: `${ctx.projectName}_default`, external: false, labels: {} };
  }

  const extra: Record<string, unknown> = {};
  for (const k of ["secrets", "configs", "models"]) if (doc[k] !== undefined) extra[k] = doc[k];
  for (const k of Object.keys(doc)) if (k.startsWith("x-")) extra[k] = doc[k];

  return {
    name: ctx.projectName,
    workingDir: ctx.workingDir,
    configFiles: ctx.configFiles,
    environment: ctx.environment,
    profiles: ctx.profiles,
    services,
    disabledServices,
    networks,
    volumes,
    extra,
  };
}

async function normaliseService(name: string, raw: unknown, at: At, ctx: NormaliseContext): Promise<ComposeService> {
  if (!isPlainObject(raw)) throw at.fail("expected a mapping", raw);
  for (const k of Object.keys(raw)) {
    if (!serviceKeys.has(k) && !k.startsWith("x-")) throw at.fail(`additional property ${k} is not allowed`);
  }
  const svc = emptyService(name);
  if (raw.image !== undefined) svc.image = str(raw.image, at.key("image"));
  if (raw.build !== undefined) svc.build = normaliseBuild(raw.build, at.key("build"), ctx.workingDir);
  if (!svc.image && !svc.build) throw at.fail(`service "${name}" has neither an image nor a build context specified`);
  if (raw.command !== undefined) svc.command = command(raw.command, at.key("command"));
  if (raw.entrypoint !== undefined) svc.entrypoint = command(raw.entrypoint, at.key("entrypoint"));

  // env_file values come first and `environment` overrides them, as in Compose.
  if (raw.env_file !== undefined) {
    const files = listOf(raw.env_file, at.key("env_file"), true).map((entry, i) => {
      const eat = at.key("env_file").index(i);
      if (typeof entry === "string") return { path: resolvePath(entry, ctx.workingDir), required: true };
      if (isPlainObject(entry) && typeof entry.path === "string") {
        return { path: resolvePath(entry.path, ctx.workingDir), required: entry.required === undefined ? true : bool(entry.required, eat.key("required")) };
      }
      throw eat.fail("expected a path or { path, required }", entry);
    });
    svc.envFile = files;
    for (const f of files) {
      if (!f.required && !existsSync(f.path)) continue;
      try {
        Object.assign(svc.environment, await readEnvFile(f.path, (k) => ctx.environment[k]));
      } catch (cause) {
        throw new BerthError("BERTH_COMPOSE_INVALID", `${at.file}: ${at.path}.env_file: env file ${f.path} not found`, {
          path: at.file,
          field: `${at.path}.env_file`,
          cause,
        });
      }
    }
  }
  if (raw.environment !== undefined) {
    for (const [k, v] of Object.entries(mapping(raw.environment, at.key("environment")))) {
      // A bare `KEY` (or `KEY:` with no value) takes the host's value, or stays unset.
      svc.environment[k] = v === null ? (ctx.environment[k] ?? null) : scalarString(v, at.key("environment").key(k));
    }
  }
  if (raw.ports !== undefined) {
    listOf(raw.ports, at.key("ports")).forEach((p, i) => svc.ports.push(...port(p, at.key("ports").index(i))));
  }
  if (raw.expose !== undefined) {
    svc.expose = listOf(raw.expose, at.key("expose")).map((e, i) => {
      const s = scalarString(e, at.key("expose").index(i));
      if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(s)) throw at.key("expose").index(i).fail("expected a port or range with an optional protocol", e);
      return s;
    });
  }
  if (raw.volumes !== undefined) {
    svc.volumes = listOf(raw.volumes, at.key("volumes")).map((v, i) => volumeMount(v, at.key("volumes").index(i), ctx.workingDir));
  }
  if (raw.tmpfs !== undefined) svc.tmpfs = stringList(raw.tmpfs, at.key("tmpfs"), true);
  if (raw.network_mode !== undefined && raw.networks !== undefined) {
    throw at.key("networks").fail("network_mode and networks cannot be combined");
  }
  if (raw.networks !== undefined) svc.networks = serviceNetworks(raw.networks, at.key("networks"));
  // A service with its own network mode (host, none, service:x) joins no project network.
  else if (raw.network_mode === undefined) svc.networks = { default: null };
  if (raw.depends_on !== undefined) svc.dependsOn = dependsOn(raw.depends_on, at.key("depends_on"));
  if (raw.healthcheck !== undefined) svc.healthcheck = healthcheck(raw.healthcheck, at.key("healthcheck"));
  if (raw.restart !== undefined) {
    const r = str(raw.restart, at.key("restart"));
    if (!/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(r)) throw at.key("restart").fail('expected "no", "always", "on-failure[:max-retries]" or "unless-stopped"', raw.restart);
    svc.restart = r;
  }
  if (raw.user !== undefined) svc.user = scalarString(raw.user, at.key("user"));
  if (raw.working_dir !== undefined) svc.workingDir = str(raw.working_dir, at.key("working_dir"));
  if (raw.labels !== undefined) svc.labels = stringMapping(raw.labels, at.key("labels"));
  if (raw.hostname !== undefined) svc.hostname = str(raw.hostname, at.key("hostname"));
  if (raw.domainname !== undefined) svc.domainname = str(raw.domainname, at.key("domainname"));
  if (raw.container_name !== undefined) svc.containerName = str(raw.container_name, at.key("container_name"));
  if (raw.init !== undefined) svc.init = bool(raw.init, at.key("init"));
  if (raw.privileged !== undefined) svc.privileged = bool(raw.privileged, at.key("privileged"));
  if (raw.read_only !== undefined) svc.readOnly = bool(raw.read_only, at.key("read_only"));
  if (raw.tty !== undefined) svc.tty = bool(raw.tty, at.key("tty"));
  if (raw.stdin_open !== undefined) svc.stdinOpen = bool(raw.stdin_open, at.key("stdin_open"));
  if (raw.cap_add !== undefined) svc.capAdd = stringList(raw.cap_add, at.key("cap_add"));
  if (raw.cap_drop !== undefined) svc.capDrop = stringList(raw.cap_drop, at.key("cap_drop"));
  if (raw.extra_hosts !== undefined) svc.extraHosts = extraHosts(raw.extra_hosts, at.key("extra_hosts"));
  if (raw.stop_signal !== undefined) svc.stopSignal = str(raw.stop_signal, at.key("stop_signal"));
  if (raw.stop_grace_period !== undefined) svc.stopGracePeriod = duration(raw.stop_grace_period, at.key("stop_grace_period"));
  if (raw.pull_policy !== undefined) {
    const p = str(raw.pull_policy, at.key("pull_policy"));
    if (!/^(always|never|missing|if_not_present|build|daily|weekly|every_\w+)$/.test(p)) throw at.key("pull_policy").fail("expected always, never, missing, build, daily or weekly", p);
    svc.pullPolicy = p;
  }
  if (raw.platform !== undefined) svc.platform = str(raw.platform, at.key("platform"));
  if (raw.profiles !== undefined) {
    svc.profiles = stringList(raw.profiles, at.key("profiles"));
    svc.profiles.forEach((p, i) => {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(p)) throw at.key("profiles").index(i).fail("expected a profile name of letters, digits, '.', '_' and '-'", p);
    });
  }
  if (raw.deploy !== undefined) svc.deploy = deploy(raw.deploy, at.key("deploy"));
  // The legacy service-level limits map onto deploy.resources.limits, as Compose does.
  const legacy: ComposeResources = {};
  if (raw.mem_limit !== undefined) legacy.memory = size(raw.mem_limit, at.key("mem_limit"));
  if (raw.cpus !== undefined) legacy.cpus = cpus(raw.cpus, at.key("cpus"));
  if (raw.pids_limit !== undefined) legacy.pids = int(raw.pids_limit, at.key("pids_limit"));
  if (Object.keys(legacy).length > 0) {
    svc.deploy ??= {};
    svc.deploy.resources ??= {};
    svc.deploy.resources.limits = { ...legacy, ...svc.deploy.resources.limits };
  }
  let scale = 1;
  if (raw.scale !== undefined) scale = int(raw.scale, at.key("scale"));
  if (svc.deploy?.replicas !== undefined) {
    if (raw.scale !== undefined && scale !== svc.deploy.replicas) throw at.fail(`scale (${scale}) and deploy.replicas (${svc.deploy.replicas}) disagree`);
    scale = svc.deploy.replicas;
  }
  if (ctx.scale[name] !== undefined) scale = ctx.scale[name]!;
  svc.scale = scale;
  if (svc.containerName && scale > 1) throw at.fail(`service "${name}" sets container_name and cannot be scaled to ${scale}`);

  for (const [k, v] of Object.entries(raw)) if (!modelledKeys.has(k)) svc.extra[k] = v;
  return svc;
}

function normaliseBuild(raw: unknown, at: At, workingDir: string): ComposeBuild {
  if (typeof raw === "string") return { context: resolveContext(raw, workingDir), dockerfile: "Dockerfile", args: {} };
  if (!isPlainObject(raw)) throw at.fail("expected a context path or a mapping", raw);
  const allowed = new Set(["context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "cache_from", "cache_to", "network", "shm_size", "no_cache", "pull", "ssh", "secrets", "tags", "platforms", "extra_hosts", "isolation", "privileged", "additional_contexts", "ulimits", "entitlements", "provenance", "sbom"]);
  for (const k of Object.keys(raw)) if (!allowed.has(k) && !k.startsWith("x-")) throw at.fail(`additional property ${k} is not allowed`);
  const build: ComposeBuild = {
    context: resolveContext(raw.context === undefined ? "." : str(raw.context, at.key("context")), workingDir),
    dockerfile: raw.dockerfile === undefined ? "Dockerfile" : str(raw.dockerfile, at.key("dockerfile")),
    args: {},
  };
  if (raw.args !== undefined) {
    for (const [k, v] of Object.entries(mapping(raw.args, at.key("args")))) build.args[k] = v === null ? null : scalarString(v, at.key("args").key(k));
  }
  if (raw.target !== undefined) build.target = str(raw.target, at.key("target"));
  if (raw.labels !== undefined) build.labels = stringMapping(raw.labels, at.key("labels"));
  if (raw.cache_from !== undefined) build.cacheFrom = stringList(raw.cache_from, at.key("cache_from"));
  if (raw.platforms !== undefined) build.platforms = stringList(raw.platforms, at.key("platforms"));
  if (raw.network !== undefined) build.network = str(raw.network, at.key("network"));
  if (raw.shm_size !== undefined) build.shmSize = size(raw.shm_size, at.key("shm_size"));
  if (raw.no_cache !== undefined) build.noCache = bool(raw.no_cache, at.key("no_cache"));
  if (raw.pull !== undefined) build.pull = bool(raw.pull, at.key("pull"));
  return build;
}

function resolveContext(context: string, workingDir: string): string {
  // Remote contexts (git URLs, tarballs over HTTP) are passed through untouched.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith("git@")) return context;
  return resolvePath(context, workingDir);
}

/** Resolves a relative or `~` path against the project directory. */
export function resolvePath(p: string, workingDir: string): string {
  if (p === "~" || p.startsWith("~/")) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(workingDir, p);
}

function command(raw: unknown, at: At): string[] | null {
  if (raw === null) return null;
  if (typeof raw === "string") {
    try {
      return shellSplit(raw, at.path);
    } catch (cause) {
      throw new BerthError("BERTH_COMPOSE_INVALID", `${at.file}: ${at.path}: unterminated quote in ${JSON.stringify(raw)}`, { path: at.file, field: at.path, cause });
    }
  }
  if (Array.isArray(raw)) return raw.map((a, i) => scalarString(a, at.index(i)));
  throw at.fail("expected a string or a list of strings", raw);
}

function port(raw: unknown, at: At): ComposePort[] {
  if (typeof raw === "string" || typeof raw === "number") {
    try {
      return parseShortPort(raw);
    } catch (e) {
      if (e instanceof SyntaxProblem) throw at.fail(`${e.message}; expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`);
      throw e;
    }
  }
  if (!isPlainObject(raw)) throw at.fail("expected a port string or a mapping with target", raw);
  const allowed = new Set(["target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"]);
  for (const k of Object.keys(raw)) if (!allowed.has(k) && !k.startsWith("x-")) throw at.fail(`additional property ${k} is not allowed`);
  if (raw.target === undefined) throw at.key("target").fail("expected a container port (target is required)");
  const target = int(raw.target, at.key("target"));
  if (target < 1 || target > 65535) throw at.key("target").fail("expected a port between 1 and 65535", raw.target);
  const p: ComposePort = { target, protocol: "tcp", mode: "ingress" };
  if (raw.published !== undefined && raw.published !== null) {
    const pub = scalarString(raw.published, at.key("published"));
    if (!/^\d+(-\d+)?$/.test(pub)) throw at.key("published").fail("expected a host port or range", raw.published);
    p.published = pub;
  }
  if (raw.host_ip !== undefined) {
    const ip = str(raw.host_ip, at.key("host_ip"));
    if (!isIp(ip)) throw at.key("host_ip").fail("expected an IP address", ip);
    p.hostIp = ip;
  }
  if (raw.protocol !== undefined) {
    const proto = str(raw.protocol, at.key("protocol")).toLowerCase();
    if (!["tcp", "udp", "sctp"].includes(proto)) throw at.key("protocol").fail("expected tcp, udp or sctp", raw.protocol);
    p.protocol = proto;
  }
  if (raw.mode !== undefined) {
    const mode = str(raw.mode, at.key("mode"));
    if (!["ingress", "host"].includes(mode)) throw at.key("mode").fail("expected ingress or host", raw.mode);
    p.mode = mode;
  }
  if (raw.name !== undefined) p.name = str(raw.name, at.key("name"));
  if (raw.app_protocol !== undefined) p.appProtocol = str(raw.app_protocol, at.key("app_protocol"));
  return [p];
}

const propagations = new Set(["shared", "rshared", "slave", "rslave", "private", "rprivate"]);

function volumeMount(raw: unknown, at: At, workingDir: string): ComposeVolumeMount {
  if (typeof raw === "string") return shortVolume(raw, at, workingDir);
  if (!isPlainObject(raw)) throw at.fail("expected a volume string or a mapping with type and target", raw);
  const allowed = new Set(["type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs", "image"]);
  for (const k of Object.keys(raw)) if (!allowed.has(k) && !k.startsWith("x-")) throw at.fail(`additional property ${k} is not allowed`);
  const type = str(raw.type, at.key("type"));
  if (!["volume", "bind", "tmpfs", "npipe", "image", "cluster"].includes(type)) throw at.key("type").fail("expected volume, bind, tmpfs, npipe, image or cluster", type);
  if (raw.target === undefined) throw at.key("target").fail("expected the path inside the container (target is required)");
  const m: ComposeVolumeMount = { type: type as ComposeVolumeMount["type"], target: str(raw.target, at.key("target")), readOnly: false };
  if (!m.target.startsWith("/")) throw at.key("target").fail("expected an absolute path", m.target);
  if (raw.source !== undefined && raw.source !== null && raw.source !== "") {
    const source = str(raw.source, at.key("source"));
    m.source = type === "bind" ? resolvePath(source, workingDir) : source;
  }
  if (type === "bind" && !m.source) throw at.key("source").fail("a bind mount needs a source path");
  if (type === "tmpfs" && m.source) throw at.key("source").fail("a tmpfs mount takes no source");
  if (raw.read_only !== undefined) m.readOnly = bool(raw.read_only, at.key("read_only"));
  if (raw.consistency !== undefined) m.consistency = str(raw.consistency, at.key("consistency"));
  if (raw.bind !== undefined) {
    const b = object(raw.bind, at.key("bind"));
    m.bind = {};
    if (b.propagation !== undefined) {
      const p = str(b.propagation, at.key("bind").key("propagation"));
      if (!propagations.has(p)) throw at.key("bind").key("propagation").fail("expected shared, rshared, slave, rslave, private or rprivate", p);
      m.bind.propagation = p;
    }
    if (b.create_host_path !== undefined) m.bind.createHostPath = bool(b.create_host_path, at.key("bind").key("create_host_path"));
    if (b.selinux !== undefined) m.bind.selinux = str(b.selinux, at.key("bind").key("selinux"));
  } else if (type === "bind") {
    // Compose creates a missing host path for bind mounts unless told otherwise.
    m.bind = { createHostPath: true };
  }
  if (raw.volume !== undefined) {
    const v = object(raw.volume, at.key("volume"));
    m.volume = {};
    if (v.nocopy !== undefined) m.volume.nocopy = bool(v.nocopy, at.key("volume").key("nocopy"));
    if (v.subpath !== undefined) m.volume.subpath = str(v.subpath, at.key("volume").key("subpath"));
  }
  if (raw.tmpfs !== undefined) {
    const t = object(raw.tmpfs, at.key("tmpfs"));
    m.tmpfs = {};
    if (t.size !== undefined) m.tmpfs.size = size(t.size, at.key("tmpfs").key("size"));
    if (t.mode !== undefined) m.tmpfs.mode = typeof t.mode === "string" ? Number.parseInt(t.mode, 8) : int(t.mode, at.key("tmpfs").key("mode"));
  }
  return m;
}

function shortVolume(spec: string, at: At, workingDir: string): ComposeVolumeMount {
  const parts = spec.split(":");
  if (parts.length > 3 || parts.some((p) => p === "")) throw at.fail("expected [SOURCE:]TARGET[:MODE]", spec);
  if (parts.length === 1) {
    if (!parts[0]!.startsWith("/")) throw at.fail("expected an absolute container path for an anonymous volume", spec);
    return { type: "volume", target: parts[0]!, readOnly: false };
  }
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (!target.startsWith("/")) throw at.fail("expected an absolute path inside the container", spec);
  const isPath = source.startsWith(".") || source.startsWith("/") || source.startsWith("~");
  const m: ComposeVolumeMount = isPath
    ? { type: "bind", source: resolvePath(source, workingDir), target, readOnly: false, bind: { createHostPath: true } }
    : { type: "volume", source, target, readOnly: false, volume: {} };
  if (!isPath && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) throw at.fail("expected a volume name or a path starting with '.', '/' or '~'", source);
  for (const opt of mode ? mode.split(",") : []) {
    if (opt === "ro") m.readOnly = true;
    else if (opt === "rw") m.readOnly = false;
    else if (opt === "z" || opt === "Z") {
      if (m.type !== "bind") throw at.fail(`option ${opt} applies to bind mounts only`, spec);
      m.bind!.selinux = opt;
    } else if (propagations.has(opt)) {
      if (m.type !== "bind") throw at.fail(`option ${opt} applies to bind mounts only`, spec);
      m.bind!.propagation = opt;
    } else if (opt === "nocopy") {
      if (m.type !== "volume") throw at.fail("option nocopy applies to volumes only", spec);
      m.volume = { nocopy: true };
    } else if (opt === "cached" || opt === "delegated" || opt === "consistent") {
      m.consistency = opt;
    } else {
      throw at.fail(`unknown volume option ${JSON.stringify(opt)}; expected ro, rw, z, Z, nocopy or a propagation mode`, spec);
    }
  }
  return m;
}

function serviceNetworks(raw: unknown, at: At): Record<string, ComposeServiceNetwork | null> {
  const out: Record<string, ComposeServiceNetwork | null> = {};
  if (Array.isArray(raw)) {
    raw.forEach((n, i) => {
      out[str(n, at.index(i))] = null;
    });
    return out;
  }
  if (!isPlainObject(raw)) throw at.fail("expected a list of network names or a mapping", raw);
  for (const [name, v] of Object.entries(raw)) {
    const nat = at.key(name);
    if (v === null || v === undefined) {
      out[name] = null;
      continue;
    }
    const o = object(v, nat);
    const allowed = new Set(["aliases", "ipv4_address", "ipv6_address", "priority", "link_local_ips", "mac_address", "driver_opts", "gw_priority", "interface_name"]);
    for (const k of Object.keys(o)) if (!allowed.has(k) && !k.startsWith("x-")) throw nat.fail(`additional property ${k} is not allowed`);
    const n: ComposeServiceNetwork = {};
    if (o.aliases !== undefined) n.aliases = stringList(o.aliases, nat.key("aliases"));
    if (o.ipv4_address !== undefined) {
      const ip = str(o.ipv4_address, nat.key("ipv4_address"));
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw nat.key("ipv4_address").fail("expected an IPv4 address", ip);
      n.ipv4Address = ip;
    }
    if (o.ipv6_address !== undefined) n.ipv6Address = str(o.ipv6_address, nat.key("ipv6_address"));
    if (o.priority !== undefined) n.priority = int(o.priority, nat.key("priority"));
    out[name] = n;
  }
  return out;
}

const conditions = new Set(["service_started", "service_healthy", "service_completed_successfully"]);

function dependsOn(raw: unknown, at: At): Record<string, ComposeDependency> {
  const out: Record<string, ComposeDependency> = {};
  if (Array.isArray(raw)) {
    raw.forEach((d, i) => {
      out[str(d, at.index(i))] = { condition: "service_started", restart: false, required: true };
    });
    return out;
  }
  if (!isPlainObject(raw)) throw at.fail("expected a list of service names or a mapping", raw);
  for (const [name, v] of Object.entries(raw)) {
    const dat = at.key(name);
    const o = v === null ? {} : object(v, dat);
    for (const k of Object.keys(o)) if (!["condition", "restart", "required"].includes(k)) throw dat.fail(`additional property ${k} is not allowed`);
    const condition = o.condition === undefined ? "service_started" : str(o.condition, dat.key("condition"));
    if (!conditions.has(condition)) throw dat.key("condition").fail("expected service_started, service_healthy or service_completed_successfully", condition);
    out[name] = {
      condition: condition as ComposeDependency["condition"],
      restart: o.restart === undefined ? false : bool(o.restart, dat.key("restart")),
      required: o.required === undefined ? true : bool(o.required, dat.key("required")),
    };
  }
  return out;
}

function healthcheck(raw: unknown, at: At): ComposeHealthcheck {
  const o = object(raw, at);
  const allowed = new Set(["test", "interval", "timeout", "start_period", "start_interval", "retries", "disable"]);
  for (const k of Object.keys(o)) if (!allowed.has(k) && !k.startsWith("x-")) throw at.fail(`additional property ${k} is not allowed`);
  const h: ComposeHealthcheck = {};
  if (o.test !== undefined) {
    if (typeof o.test === "string") {
      // A string is run by the shell; "NONE" alone disables the image's check.
      h.test = o.test === "NONE" ? ["NONE"] : ["CMD-SHELL", o.test];
    } else if (Array.isArray(o.test)) {
      h.test = o.test.map((t, i) => scalarString(t, at.key("test").index(i)));
      if (!["CMD", "CMD-SHELL", "NONE"].includes(h.test[0] ?? "")) throw at.key("test").index(0).fail('expected "CMD", "CMD-SHELL" or "NONE" first', h.test[0]);
    } else {
      throw at.key("test").fail("expected a string or a list", o.test);
    }
  }
  if (o.interval !== undefined) h.interval = duration(o.interval, at.key("interval"));
  if (o.timeout !== undefined) h.timeout = duration(o.timeout, at.key("timeout"));
  if (o.start_period !== undefined) h.startPeriod = duration(o.start_period, at.key("start_period"));
  if (o.start_interval !== undefined) h.startInterval = duration(o.start_interval, at.key("start_interval"));
  if (o.retries !== undefined) h.retries = int(o.retries, at.key("retries"));
  if (o.disable !== undefined) h.disable = bool(o.disable, at.key("disable"));
  if (h.disable && h.test && h.test[0] !== "NONE") throw at.fail("test and disable: true cannot be set together");
  return h;
}

function deploy(raw: unknown, at: At): NonNullable<ComposeService["deploy"]> {
  const o = object(raw, at);
  const out: NonNullable<ComposeService["deploy"]> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === "replicas") out.replicas = int(v, at.key("replicas"));
    else if (k === "resources") {
      const r = object(v, at.key("resources"));
      out.resources = {};
      for (const [rk, rv] of Object.entries(r)) {
        if (rk !== "limits" && rk !== "reservations") throw at.key("resources").fail(`additional property ${rk} is not allowed`);
        out.resources[rk] = resources(rv, at.key("resources").key(rk));
      }
    } else if (["mode", "endpoint_mode", "labels", "placement", "restart_policy", "rollback_config", "update_config"].includes(k) || k.startsWith("x-")) {
      out[k] = v;
    } else {
      throw at.fail(`additional property ${k} is not allowed`);
    }
  }
  return out;
}

function resources(raw: unknown, at: At): ComposeResources {
  const o = object(raw, at);
  const out: ComposeResources = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === "cpus") out.cpus = cpus(v, at.key("cpus"));
    else if (k === "memory") out.memory = size(v, at.key("memory"));
    else if (k === "pids") out.pids = int(v, at.key("pids"));
    else if (k !== "devices" && k !== "generic_resources") throw at.fail(`additional property ${k} is not allowed`);
  }
  return out;
}

function normaliseNetworks(raw: unknown, at: At, project: string): Record<string, ComposeNetwork> {
  const kindKeys = ["internal", "attachable", "enable_ipv4", "enable_ipv6", "ipam"];
  return topLevelSection<ComposeNetwork>(raw, at, project, kindKeys, (n, o, nat, key) => {
    if (o.internal !== undefined) n.internal = bool(o.internal, nat.key("internal"));
    if (o.attachable !== undefined) n.attachable = bool(o.attachable, nat.key("attachable"));
    if (o.enable_ipv6 !== undefined) n.enableIpv6 = bool(o.enable_ipv6, nat.key("enable_ipv6"));
    if (o.ipam !== undefined) {
      const ipam = object(o.ipam, nat.key("ipam"));
      n.ipam = { config: [] };
      if (ipam.driver !== undefined) n.ipam.driver = str(ipam.driver, nat.key("ipam").key("driver"));
      if (ipam.config !== undefined) {
        n.ipam.config = listOf(ipam.config, nat.key("ipam").key("config")).map((c, i) => {
          const cat = nat.key("ipam").key("config").index(i);
          const co = object(c, cat);
          const entry: { subnet?: string; gateway?: string; ipRange?: string } = {};
          if (co.subnet !== undefined) {
            entry.subnet = str(co.subnet, cat.key("subnet"));
            if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(entry.subnet)) throw cat.key("subnet").fail("expected a CIDR subnet such as 172.28.0.0/16", entry.subnet);
          }
          if (co.gateway !== undefined) entry.gateway = str(co.gateway, cat.key("gateway"));
          if (co.ip_range !== undefined) entry.ipRange = str(co.ip_range, cat.key("ip_range"));
          return entry;
        });
      }
    }
    if (n.external && (n.driver || n.ipam || n.internal)) throw nat.fail(`conflicting parameters "external" and "driver/ipam/internal" specified for network "${key}"`);
  });
}

function normaliseVolumes(raw: unknown, at: At, project: string): Record<string, ComposeVolume> {
  return topLevelSection<ComposeVolume>(raw, at, project, [], (vol, _o, vat, key) => {
    if (vol.external && (vol.driver || vol.driverOpts)) throw vat.fail(`conflicting parameters "external" and "driver" specified for volume "${key}"`);
  });
}

/**
 * A top-level `networks:` or `volumes:` section. Each entry (null: all defaults) may have the
 * keys both kinds share, its kind's `kindKeys` and `x-*` extensions; the shared ones are read
 * here, the rest by `more`. The name is Compose's: the one given, else the legacy
 * `external: { name }`, else the key for an external entry and `<project>_<key>` for one the
 * project owns.
 */
function topLevelSection<T extends ComposeVolume>(
  raw: unknown,
  at: At,
  project: string,
  kindKeys: readonly string[],
  more: (entry: T, o: Record<string, unknown>, at: At, key: string) => void,
): Record<string, T> {
  const out: Record<string, T> = {};
  if (raw === undefined || raw === null) return out;
  const allowed = new Set(["name", "driver", "driver_opts", "external", "labels", ...kindKeys]);
  for (const [key, v] of Object.entries(object(raw, at))) {
    const entryAt = at.key(key);
    const o = v === null ? {} : object(v, entryAt);
    for (const k of Object.keys(o)) if (!allowed.has(k) && !k.startsWith("x-")) throw entryAt.fail(`additional property ${k} is not allowed`);
    const external = externalFlag(o.external, entryAt.key("external"));
    const entry = {
      name: o.name !== undefined ? str(o.name, entryAt.key("name")) : externalName(o.external) ?? (external ? key : `${project}_${key}`),
      external,
      labels: o.labels === undefined ? {} : stringMapping(o.labels, entryAt.key("labels")),
    } as T;
    if (o.driver !== undefined) entry.driver = str(o.driver, entryAt.key("driver"));
    if (o.driver_opts !== undefined) entry.driverOpts = stringMapping(o.driver_opts, entryAt.key("driver_opts"));
    more(entry, o, entryAt, key);
    out[key] = entry;
  }
  return out;
}

/** `external: true` or the legacy `external: { name: x }`. */
function externalFlag(raw: unknown, at: At): boolean {
  if (raw === undefined) return false;
  if (isPlainObject(raw)) return true;
  return bool(raw, at);
}

function externalName(raw: unknown): string | undefined {
  return isPlainObject(raw) && typeof raw.name === "string" ? raw.name : undefined;
}

function extraHosts(raw: unknown, at: At): Record<string, string> {
  if (isPlainObject(raw)) return stringMapping(raw, at);
  const out: Record<string, string> = {};
  listOf(raw, at).forEach((e, i) => {
    const s = str(e, at.index(i));
    // Compose accepts `host=ip` and the older `host:ip` (the first colon, since IPv6 has more).
    const sep = s.includes("=") ? s.indexOf("=") : s.indexOf(":");
    if (sep <= 0) throw at.index(i).fail("expected HOST=IP or HOST:IP", s);
    out[s.slice(0, sep)] = s.slice(sep + 1);
  });
  return out;
}

// ---- scalar helpers: YAML gives numbers and booleans where strings were meant, and vice versa.

function str(v: unknown, at: At): string {
  if (typeof v === "string") return v;
  throw at.fail("expected a string", v);
}

function scalarString(v: unknown, at: At): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw at.fail("expected a string, number or boolean", v);
}

function bool(v: unknown, at: At): boolean {
  if (typeof v === "boolean") return v;
  // Interpolated values arrive as strings; Compose casts them back by the schema type.
  if (typeof v === "string" && /^(true|false|yes|no|on|off|y|n)$/i.test(v)) return /^(true|yes|on|y)$/i.test(v);
  throw at.fail("expected a boolean", v);
}

function int(v: unknown, at: At): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "string" && /^-?\d+$/.test(v.trim())) return Number(v);
  throw at.fail("expected an integer", v);
}

function cpus(v: unknown, at: At): number {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n < 0) throw at.fail("expected a number of CPUs such as 0.5", v);
  return n;
}

function size(v: unknown, at: At): number {
  const n = typeof v === "string" || typeof v === "number" ? parseRamSize(v) : undefined;
  if (n === undefined) throw at.fail("expected a byte size such as 512m or 1g", v);
  return n;
}

function duration(v: unknown, at: At): number {
  if (typeof v === "number" && Number.isInteger(v)) return v * 1e9;
  const n = typeof v === "string" ? parseGoDuration(v) : undefined;
  if (n === undefined) throw at.fail("expected a duration such as 30s, 1m30s or 500ms", v);
  return n;
}

function object(v: unknown, at: At): Record<string, unknown> {
  if (isPlainObject(v)) return v;
  throw at.fail("expected a mapping", v);
}

/** A list; a lone string only where the schema allows one (`env_file`, `tmpfs`, `dns`). */
function listOf(v: unknown, at: At, stringAllowed = false): unknown[] {
  if (Array.isArray(v)) return v;
  if (stringAllowed && typeof v === "string") return [v];
  throw at.fail(stringAllowed ? "expected a string or a list" : "expected a list", v);
}

function stringList(v: unknown, at: At, stringAllowed = false): string[] {
  return listOf(v, at, stringAllowed).map((e, i) => scalarString(e, at.index(i)));
}

function mapping(v: unknown, at: At): Record<string, unknown> {
  const m = toMapping(v);
  if (!m) throw at.fail("expected a mapping or a list of KEY=VALUE strings", v);
  return m;
}

function stringMapping(v: unknown, at: At): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(mapping(v, at))) out[k] = val === null ? "" : scalarString(val, at.key(k));
  return out;
}

/** Enables the named services and, transitively, what they depend on, whatever their profiles. */
function enableNamedServices(services: Record<string, ComposeService>, disabled: Record<string, ComposeService>, names: string[]): void {
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.shift()!;
    let svc = services[name];
    if (!svc) {
      svc = disabled[name];
      if (!svc) throw new BerthError("BERTH_COMPOSE_SERVICE_NOT_FOUND", `no such service: ${name}`, { service: name });
      services[name] = svc;
      delete disabled[name];
    }
    for (const dep of Object.keys(svc.dependsOn)) if (!services[dep] && disabled[dep]) queue.push(dep);
  }
}
