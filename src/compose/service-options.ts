import { BerthError } from "../common/berth-error.js";
import { BridgeAttachment, type BridgeEndpoint } from "../network/bridge-attachment.js";
import type { PortSpec } from "../network/port-spec.js";
import type { CreateContainerOptions } from "../runtime/engine/container-options.js";
import { parseRestartPolicy, validateRestartPolicy, type RestartPolicy } from "../runtime/engine/restart-policy.js";
import type { ComposeContext } from "./compose-context.js";
import { containerLabels } from "./naming.js";
import type { ComposePort, ComposeProject, ComposeService } from "./types.js";

/** The image a service runs: its `image`, else the one `build` makes, named `<project>-<service>` as Compose names it. */
export function serviceImage(project: ComposeProject, service: ComposeService): string {
  return service.image ?? `${project.name}-${service.name}`;
}

/** Compose's `pull_policy` as the engine's `pull`; `build` means the image is built, never pulled. */
function pullPolicy(service: ComposeService): CreateContainerOptions["pull"] {
  switch (service.pullPolicy) {
    case "always":
      return "always";
    case "never":
    case "build":
      return "never";
    default:
      // A service with `build` and no policy is built by `up`, so by now it is there or failed.
      return service.build ? "never" : "missing";
  }
}

/**
 * The published ports of replica `n`. A host range (`8000-8010:80`) gives replica n the n-th
 * port of the range, as Compose spreads replicas over it; no host port picks a free one.
 * Without `host_ip` berth binds loopback only (127.0.0.1 and ::1), not every address as
 * Docker does: a test engine should not open ports to the network.
 */
export function servicePorts(service: ComposeService, n: number): PortSpec[] {
  return service.ports.map((p: ComposePort) => {
    const protocol = p.protocol === "udp" ? "udp" : "tcp";
    if (p.protocol !== "tcp" && p.protocol !== "udp") {
      throw new BerthError("BERTH_UNSUPPORTED", `service ${service.name}: port protocol ${p.protocol} is not supported (tcp and udp are)`, { service: service.name });
    }
    let hostPort = 0;
    if (p.published !== undefined && p.published !== "") {
      const [low, high] = p.published.split("-").map(Number);
      hostPort = high !== undefined ? Math.min(low! + n - 1, high) : low!;
    }
    return { containerPort: p.target, hostPort, protocol, ...(p.hostIp ? { hostIp: p.hostIp } : {}) };
  });
}

/** The service's mounts: named volumes by their real names, binds, anonymous volumes; tmpfs apart. */
function serviceMounts(project: ComposeProject, service: ComposeService): { mounts: string[]; tmpfs: string[] } {
  const mounts: string[] = [];
  const tmpfs: string[] = [...service.tmpfs];
  for (const m of service.volumes) {
    const ro = m.readOnly ? ":ro" : "";
    if (m.type === "tmpfs") {
      const opts = [m.tmpfs?.size !== undefined ? `size=${m.tmpfs.size}` : "", m.tmpfs?.mode !== undefined ? `mode=${m.tmpfs.mode.toString(8)}` : "", m.readOnly ? "ro" : ""].filter(Boolean);
      tmpfs.push(opts.length > 0 ? `${m.target}:${opts.join(",")}` : m.target);
    } else if (m.type === "volume") {
      if (!m.source) mounts.push(m.target);
      else mounts.push(`${project.volumes[m.source]?.name ?? m.source}:${m.target}${ro}`);
    } else if (m.type === "bind") {
      mounts.push(`${m.source}:${m.target}${ro}`);
    } else {
      throw new BerthError("BERTH_UNSUPPORTED", `service ${service.name}: volume type ${m.type} is not supported (volume, bind and tmpfs are)`, { service: service.name, field: "volumes" });
    }
  }
  return { mounts, tmpfs };
}

/**
 * The service's networks in Compose's order (higher `priority` first, then by name), each
 * with the service name as an alias: every container answers to its service name and its
 * aliases on every network it is on, and to its container name (the network layer adds that).
 */
export function serviceEndpoints(project: ComposeProject, service: ComposeService): BridgeEndpoint[] {
  return Object.entries(service.networks)
    .sort(([a, x], [b, y]) => (y?.priority ?? 0) - (x?.priority ?? 0) || (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, attachment]) => {
      const network = project.networks[key];
      if (!network) throw new BerthError("BERTH_COMPOSE_INVALID", `service ${service.name} refers to undefined network ${key}`, { service: service.name, field: `services.${service.name}.networks` });
      return {
        network: network.name,
        aliases: [...new Set([service.name, ...(attachment?.aliases ?? [])])],
        ...(attachment?.ipv4Address ? { ipv4Address: attachment.ipv4Address } : {}),
      };
    });
}

/** Options of {@link serviceCreateOptions}. */
export interface ServiceCreateOptionsInput {
  /** The replica number (from 1). */
  number: number;
  /** The container name. */
  name: string;
  /** A one-off `compose run` container. @default false */
  oneoff?: boolean;
  /** Labels added after Compose's own (the session reaper's). @default {} */
  extraLabels?: Record<string, string>;
  /** Publish the service's ports (`run` does not unless `--service-ports`). @default true */
  publish?: boolean;
}

/**
 * What the engine is asked to create for one container of a service: every key of the
 * service berth models, mapped to `docker create`'s options.
 */
export function serviceCreateOptions(context: ComposeContext, project: ComposeProject, service: ComposeService, input: ServiceCreateOptionsInput): CreateContainerOptions {
  const { mounts, tmpfs } = serviceMounts(project, service);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.environment)) if (v !== null) env[k] = v;
  const hc = service.healthcheck;
  const limits = service.deploy?.resources?.limits;
  const ports = input.publish === false ? [] : servicePorts(service, input.number);
  const endpoints = serviceEndpoints(project, service);
  const network = new BridgeAttachment({ manager: context.networks, ports, ...(endpoints.length > 0 ? { networks: endpoints } : {}) });
  return {
    image: serviceImage(project, service),
    name: input.name,
    pull: pullPolicy(service),
    ...(service.command ? { cmd: service.command } : {}),
    ...(service.entrypoint ? { entrypoint: service.entrypoint.length === 0 ? "" : service.entrypoint } : {}),
    env,
    hostEnv: {},
    labels: { ...containerLabels(project, service, input.number, input.oneoff ?? false), ...input.extraLabels },
    // A one-off container (`compose run`) is never restarted, as with Compose.
    ...(input.oneoff ? {} : restartPolicyOf(service)),
    exposedPorts: [...service.expose, ...service.ports.map((p) => `${p.target}/${p.protocol}`)],
    mounts,
    tmpfs,
    network,
    extraHosts: Object.entries(service.extraHosts).map(([host, ip]) => `${host}:${ip}`),
    ...(hc?.disable || hc?.test?.[0] === "NONE"
      ? { healthcheck: false as const }
      : hc
        ? {
            healthcheck: {
              ...(hc.test ? { test: hc.test } : {}),
              ...(hc.interval !== undefined ? { interval: hc.interval } : {}),
              ...(hc.timeout !== undefined ? { timeout: hc.timeout } : {}),
              ...(hc.startPeriod !== undefined ? { startPeriod: hc.startPeriod } : {}),
              ...(hc.startInterval !== undefined ? { startInterval: hc.startInterval } : {}),
              ...(hc.retries !== undefined ? { retries: hc.retries } : {}),
            },
          }
        : {}),
    ...(service.user !== undefined ? { user: service.user } : {}),
    ...(service.workingDir !== undefined ? { workingDir: service.workingDir } : {}),
    ...(service.hostname !== undefined ? { hostname: service.hostname } : {}),
    ...(service.domainname !== undefined ? { domainname: service.domainname } : {}),
    ...(service.init ? { init: true } : {}),
    ...(service.privileged ? { privileged: true } : {}),
    ...(service.readOnly ? { readonlyRootfs: true } : {}),
    ...(service.tty ? { tty: true } : {}),
    ...(service.stdinOpen ? { openStdin: true } : {}),
    capAdd: service.capAdd,
    capDrop: service.capDrop,
    ...(service.stopSignal ? { stopSignal: service.stopSignal } : {}),
    ...(service.stopGracePeriod !== undefined ? { stopTimeout: Math.ceil(service.stopGracePeriod / 1e9) } : {}),
    ...(limits
      ? {
          resources: {
            ...(limits.memory !== undefined ? { memory: limits.memory } : {}),
            ...(limits.cpus !== undefined ? { cpus: limits.cpus } : {}),
            ...(limits.pids !== undefined ? { pidsLimit: limits.pids } : {}),
          },
        }
      : {}),
  };
}

const conditions: Readonly<Record<string, RestartPolicy["name"]>> = { none: "no", no: "no", "on-failure": "on-failure", any: "always", always: "always", "unless-stopped": "unless-stopped" };

/**
 * The service's restart policy as Compose maps it: `restart:` (`on-failure[:N]`), overridden
 * by `deploy.restart_policy` (`condition`: `none`, `on-failure` or `any` (the default),
 * `max_attempts`). Its `delay` and `window` have no engine equivalent (Docker's own backoff
 * applies) and are ignored, as `docker compose` does.
 */
export function restartPolicyOf(service: ComposeService): { restartPolicy?: RestartPolicy } {
  let policy: RestartPolicy | undefined = service.restart ? parseRestartPolicy(service.restart) : undefined;
  const deployed = service.deploy?.restart_policy;
  if (deployed !== undefined && deployed !== null) {
    const field = `services.${service.name}.deploy.restart_policy`;
    if (typeof deployed !== "object") throw new BerthError("BERTH_COMPOSE_INVALID", `${field} must be a mapping`, { field });
    const { condition = "any", max_attempts: max } = deployed as { condition?: unknown; max_attempts?: unknown };
    const name = typeof condition === "string" ? conditions[condition] : undefined;
    if (!name) throw new BerthError("BERTH_COMPOSE_INVALID", `${field}.condition must be one of none, on-failure, any`, { field: `${field}.condition` });
    if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max < 0)) {
      throw new BerthError("BERTH_COMPOSE_INVALID", `${field}.max_attempts must be a non-negative integer`, { field: `${field}.max_attempts` });
    }
    // A count with another condition than on-failure is refused below, as Docker refuses it.
    policy = { name, ...(max ? { maximumRetryCount: max } : {}) };
  }
  if (!policy || policy.name === "no") return {};
  return { restartPolicy: validateRestartPolicy(policy) };
}
