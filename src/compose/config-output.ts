import { stringify } from "yaml";
import { formatGoDuration } from "./go-values.js";
import type { ComposeHealthcheck, ComposePort, ComposeProject, ComposeResources, ComposeService, ComposeVolumeMount } from "./types.js";

/**
 * The normalised project as a plain document shaped like `docker compose config` prints it:
 * snake_case keys, service keys sorted, ports and volumes in long syntax, durations as Go
 * prints them (`1m30s`), sizes in bytes, relative paths made absolute.
 */
export function projectToDocument(project: ComposeProject): Record<string, unknown> {
  const doc: Record<string, unknown> = { name: project.name };
  const services: Record<string, unknown> = {};
  for (const name of Object.keys(project.services).sort()) services[name] = serviceToDocument(project.services[name]!);
  doc.services = services;
  const networks = Object.entries(project.networks);
  if (networks.length > 0) {
    const out: Record<string, unknown> = {};
    for (const [key, n] of networks.sort(([a], [b]) => (a < b ? -1 : 1))) {
      out[key] = compact({
        name: n.name,
        driver: n.driver,
        driver_opts: n.driverOpts,
        ipam: n.ipam && compact({ driver: n.ipam.driver, config: n.ipam.config.map((c) => compact({ subnet: c.subnet, gateway: c.gateway, ip_range: c.ipRange })) }),
        external: n.external || undefined,
        internal: n.internal,
        attachable: n.attachable,
        enable_ipv6: n.enableIpv6,
        labels: nonEmpty(n.labels),
      });
    }
    doc.networks = out;
  }
  const volumes = Object.entries(project.volumes);
  if (volumes.length > 0) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of volumes.sort(([a], [b]) => (a < b ? -1 : 1))) {
      out[key] = compact({ name: v.name, driver: v.driver, driver_opts: v.driverOpts, external: v.external || undefined, labels: nonEmpty(v.labels) });
    }
    doc.volumes = out;
  }
  for (const [k, v] of Object.entries(project.extra)) if (k !== "include") doc[k] = v;
  return doc;
}

/** `docker compose config`'s output: the normalised project as YAML. */
export function projectToYaml(project: ComposeProject): string {
  // YAML 1.1 rules quote strings such as "no" and "on" that older parsers read as booleans,
  // as Go's yaml does, so the output round-trips through any Compose implementation.
  return stringify(projectToDocument(project), { indent: 2, lineWidth: 0, nullStr: "null", version: "1.1" });
}

function serviceToDocument(s: ComposeService): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...s.extra,
    build: s.build && compact({
      context: s.build.context,
      dockerfile: s.build.dockerfile,
      args: nonEmpty(s.build.args),
      target: s.build.target,
      labels: s.build.labels,
      cache_from: s.build.cacheFrom,
      platforms: s.build.platforms,
      network: s.build.network,
      shm_size: s.build.shmSize === undefined ? undefined : String(s.build.shmSize),
      no_cache: s.build.noCache,
      pull: s.build.pull,
    }),
    cap_add: nonEmptyList(s.capAdd),
    cap_drop: nonEmptyList(s.capDrop),
    command: s.command,
    container_name: s.containerName,
    depends_on: nonEmpty(
      Object.fromEntries(
        Object.entries(sortKeys(s.dependsOn)).map(([k, d]) => [k, compact({ condition: d.condition, restart: d.restart || undefined, required: d.required })]),
      ),
    ),
    deploy: s.deploy && deployToDocument(s.deploy),
    domainname: s.domainname,
    entrypoint: s.entrypoint,
    env_file: s.envFile?.map((f) => ({ path: f.path, required: f.required })),
    environment: nonEmpty(sortKeys(s.environment)),
    expose: nonEmptyList(s.expose),
    extra_hosts: nonEmpty(s.extraHosts),
    healthcheck: s.healthcheck && healthcheckToDocument(s.healthcheck),
    hostname: s.hostname,
    image: s.image,
    init: s.init,
    labels: nonEmpty(sortKeys(s.labels)),
    networks: nonEmpty(
      Object.fromEntries(
        Object.entries(sortKeys(s.networks)).map(([k, n]) => [
          k,
          n === null ? null : compact({ aliases: n.aliases, ipv4_address: n.ipv4Address, ipv6_address: n.ipv6Address, priority: n.priority }),
        ]),
      ),
    ),
    platform: s.platform,
    ports: nonEmptyList(s.ports.map(portToDocument)),
    privileged: s.privileged,
    profiles: nonEmptyList(s.profiles),
    pull_policy: s.pullPolicy,
    read_only: s.readOnly,
    restart: s.restart,
    scale: s.scale !== 1 && s.deploy?.replicas === undefined ? s.scale : undefined,
    stdin_open: s.stdinOpen,
    stop_grace_period: s.stopGracePeriod === undefined ? undefined : formatGoDuration(s.stopGracePeriod),
    stop_signal: s.stopSignal,
    tmpfs: nonEmptyList(s.tmpfs),
    tty: s.tty,
    user: s.user,
    volumes: nonEmptyList(s.volumes.map(volumeToDocument)),
    working_dir: s.workingDir,
  };
  return sortKeys(compact(out));
}

function portToDocument(p: ComposePort): Record<string, unknown> {
  return compact({ name: p.name, mode: p.mode, host_ip: p.hostIp, target: p.target, published: p.published, protocol: p.protocol, app_protocol: p.appProtocol });
}

function volumeToDocument(v: ComposeVolumeMount): Record<string, unknown> {
  return compact({
    type: v.type,
    source: v.source,
    target: v.target,
    read_only: v.readOnly || undefined,
    consistency: v.consistency,
    bind: v.bind && compact({ propagation: v.bind.propagation, create_host_path: v.bind.createHostPath, selinux: v.bind.selinux }),
    volume: v.volume && compact({ nocopy: v.volume.nocopy, subpath: v.volume.subpath }),
    tmpfs: v.tmpfs && compact({ size: v.tmpfs.size, mode: v.tmpfs.mode }),
  });
}

function healthcheckToDocument(h: ComposeHealthcheck): Record<string, unknown> {
  const d = (ns: number | undefined) => (ns === undefined ? undefined : formatGoDuration(ns));
  return compact({
    test: h.test,
    timeout: d(h.timeout),
    interval: d(h.interval),
    retries: h.retries,
    start_period: d(h.startPeriod),
    start_interval: d(h.startInterval),
    disable: h.disable,
  });
}

function deployToDocument(deploy: NonNullable<ComposeService["deploy"]>): Record<string, unknown> {
  const { replicas, resources, ...rest } = deploy;
  const res = (r: ComposeResources | undefined) =>
    r && compact({ cpus: r.cpus, memory: r.memory === undefined ? undefined : String(r.memory), pids: r.pids });
  return compact({
    ...rest,
    replicas,
    resources: resources && compact({ limits: res(resources.limits), reservations: res(resources.reservations) }),
  });
}

function compact<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

function nonEmpty<T extends Record<string, unknown>>(o: T): T | undefined {
  return Object.keys(o).length > 0 ? o : undefined;
}

function nonEmptyList<T>(l: T[]): T[] | undefined {
  return l.length > 0 ? l : undefined;
}

function sortKeys<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as T;
}
