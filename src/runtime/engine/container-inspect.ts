import { join } from "node:path";
import { ramInBytes } from "../../common/units.js";
import type { OciState } from "../oci-spec.js";
import type { ContainerRecord, HealthState } from "./container-record.js";
import { readHealthState } from "./health-state.js";
import type { NetworkDescription } from "./network-attachment.js";

/** `State` of {@link ContainerInspect}, as `docker inspect` shows it. */
export interface ContainerInspectState {
  Status: "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: HealthState;
}

/** A container as `docker inspect` shows it (the fields berth has). */
export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerInspectState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string;
  RestartCount: number;
  Driver: "overlay";
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean; Driver?: string }[];
  Config: {
    Hostname: string;
    Domainname: string;
    User: string;
    Tty: boolean;
    OpenStdin: boolean;
    Env: string[];
    Cmd: string[];
    Entrypoint: string[];
    Image: string;
    WorkingDir: string;
    Labels: Record<string, string>;
    StopSignal: string;
    StopTimeout: number;
    ExposedPorts: Record<string, object>;
    Volumes: Record<string, object>;
    Healthcheck?: { Test: string[]; Interval: number; Timeout: number; StartPeriod: number; StartInterval: number; Retries: number };
  };
  HostConfig: {
    NetworkMode: string;
    AutoRemove: boolean;
    RestartPolicy: { Name: "no" | "always" | "on-failure" | "unless-stopped"; MaximumRetryCount: number };
    Privileged: boolean;
    ReadonlyRootfs: boolean;
    Init: boolean;
    /** Bytes; 0 unlimited. */
    Memory: number;
    MemoryReservation: number;
    /** Bytes of memory + swap; -1 unlimited, 0 unset. */
    MemorySwap: number;
    /** `--cpus` × 10⁹. */
    NanoCpus: number;
    CpuShares: number;
    /** µs. */
    CpuPeriod: number;
    /** µs. */
    CpuQuota: number;
    CpusetCpus: string;
    CpusetMems: string;
    PidsLimit: number;
  };
  GraphDriver: { Name: "overlay"; Data: { LowerDir: string; UpperDir: string; WorkDir: string; MergedDir: string } };
  NetworkSettings: NetworkSettings;
}

/** One network of a container in `NetworkSettings.Networks`, as `docker inspect` shows it. */
export interface EndpointSettings {
  IPAMConfig: null;
  Links: null;
  Aliases: string[] | null;
  MacAddress: string;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

/**
 * `NetworkSettings` as `docker inspect` shows it. The top-level address fields describe the
 * default `bridge` network only (Docker's legacy fields); `Ports` maps each exposed
 * `port/proto` to its host bindings, or `null` when it is exposed and not published.
 * Addresses exist only while the container runs; the network layer reports them.
 */
export interface NetworkSettings {
  Bridge: string;
  SandboxID: string;
  SandboxKey: string;
  Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  Networks: Record<string, EndpointSettings>;
}

/** One line of {@link ContainerEngine.list}, as `docker ps --format json` gives it. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  /** Unix seconds. */
  Created: number;
  State: ContainerInspectState["Status"];
  /** `Up 3 seconds`, `Exited (0) 2 minutes ago`... */
  Status: string;
  Labels: Record<string, string>;
}

/** The status Docker would show, from the record and (for a started one) the runtime's state. */
export function displayStatus(record: ContainerRecord, state: OciState | undefined): ContainerInspectState["Status"] {
  switch (record.status) {
    case "creating":
    case "created":
      return "created";
    case "starting":
      return "created";
    case "removing":
      return "removing";
    case "exited":
      return record.startedAt.startsWith("0001") ? "created" : "exited";
    case "running":
      if (state?.status === "restarting") return "restarting";
      return state?.status === "paused" ? "paused" : state === undefined || state.status === "stopped" ? "exited" : "running";
  }
}

function bytes(value: number | string | undefined): number {
  if (value === undefined) return 0;
  if (value === -1 || value === "-1") return -1;
  try {
    return ramInBytes(value);
  } catch {
    // Validated at create; a record from an older berth shows what it can.
    return 0;
  }
}

/** Docker's HostConfig resource fields from the options the record keeps (Docker's units). */
function hostResources(record: ContainerRecord) {
  const r = record.resources;
  const memory = bytes(r.memory);
  const swap = bytes(r.memorySwap);
  return {
    Memory: memory,
    MemoryReservation: bytes(r.memoryReservation),
    // The daemon fills in twice the memory when only `--memory` is given.
    MemorySwap: memory > 0 && swap === 0 ? memory * 2 : swap,
    NanoCpus: r.cpus !== undefined ? Math.round(Number(r.cpus) * 1e9) : 0,
    CpuShares: r.cpuShares ?? 0,
    CpuPeriod: r.cpuPeriod ?? 0,
    CpuQuota: r.cpuQuota ?? 0,
    CpusetCpus: r.cpusetCpus ?? "",
    CpusetMems: r.cpusetMems ?? "",
    PidsLimit: r.pidsLimit ?? 0,
  };
}

function endpointSettings(record: ContainerRecord, e?: NetworkDescription["endpoints"][number]): EndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: e && e.network !== "bridge" ? [...e.aliases] : null,
    MacAddress: e?.macAddress ?? "",
    NetworkID: e?.networkId ?? "",
    EndpointID: "",
    Gateway: e?.gateway ?? "",
    IPAddress: e?.ipAddress ?? "",
    IPPrefixLen: e?.prefixLen ?? 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    // Docker 25+: the names the container resolves by on a user network.
    DNSNames: e && e.network !== "bridge" ? [...new Set([record.name, ...e.aliases, record.id.slice(0, 12)])] : null,
  };
}

/** `NetworkSettings` from the record and, while it runs, what its network layer reports. */
export function networkSettings(record: ContainerRecord, running: boolean, network: NetworkDescription | undefined): NetworkSettings {
  const networks: Record<string, EndpointSettings> = {};
  for (const e of network?.endpoints ?? []) networks[e.network] = endpointSettings(record, e);
  // A container sharing another's namespace (`container:<id>`) has no network of its own, as in Docker.
  if (Object.keys(networks).length === 0 && !record.network.mode.startsWith("container:")) networks[record.network.mode] = endpointSettings(record);
  const ports: NetworkSettings["Ports"] = {};
  if (running) {
    for (const p of record.config.exposedPorts) ports[p.includes("/") ? p : `${p}/tcp`] = null;
    for (const p of network?.ports ?? []) {
      const key = `${p.containerPort}/${p.proto}`;
      (ports[key] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
    }
  }
  const bridge = network?.endpoints.find((e) => e.network === "bridge");
  return {
    Bridge: "",
    SandboxID: "",
    SandboxKey: running ? (record.network.netnsPath ?? "") : "",
    Ports: ports,
    Gateway: bridge?.gateway ?? "",
    IPAddress: bridge?.ipAddress ?? "",
    IPPrefixLen: bridge?.prefixLen ?? 0,
    MacAddress: bridge?.macAddress ?? "",
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    Networks: networks,
  };
}

export function toInspect(record: ContainerRecord, state: OciState | undefined, dir: string, logPath: string, network?: NetworkDescription): ContainerInspect {
  const status = displayStatus(record, state);
  const running = status === "running" || status === "paused";
  const restarted = record.status === "running" && (state?.restartCount ?? 0) > 0;
  const c = record.config;
  const health = readHealthState(dir, record, running);
  return {
    Id: record.id,
    Created: record.created,
    Path: c.args[0] ?? "",
    Args: c.args.slice(1),
    State: {
      Status: status,
      // Docker's: a container between two runs of its restart policy still counts as running.
      Running: running || status === "restarting",
      Paused: status === "paused",
      Restarting: status === "restarting",
      OOMKilled: record.oomKilled,
      Dead: false,
      // After a restart by the policy the runtime's state is newer than the record.
      Pid: running ? (state?.pid || record.pid) : 0,
      ExitCode: restarted ? (status === "restarting" ? (state?.exitCode ?? record.exitCode) : 0) : record.exitCode,
      Error: record.error,
      StartedAt: running && state?.started ? state.started : record.startedAt,
      FinishedAt: restarted && state?.finished ? state.finished : record.finishedAt,
      ...(health ? { Health: health } : {}),
    },
    Image: record.imageId,
    ResolvConfPath: join(dir, "resolv.conf"),
    HostnamePath: join(dir, "hostname"),
    HostsPath: join(dir, "hosts"),
    LogPath: logPath,
    Name: `/${record.name}`,
    RestartCount: record.restartCount + (record.status === "running" ? (state?.restartCount ?? 0) : 0),
    Driver: "overlay",
    Mounts: record.mounts.map((m) => ({
      Type: m.type,
      ...(m.name ? { Name: m.name, Driver: "local" } : {}),
      Source: m.source ?? "",
      Destination: m.destination,
      RW: !m.readonly,
    })),
    Config: {
      Hostname: c.hostname,
      Domainname: c.domainname,
      User: c.user,
      Tty: c.tty,
      OpenStdin: c.openStdin,
      Env: c.env,
      Cmd: c.cmd,
      Entrypoint: c.entrypoint,
      Image: record.image,
      WorkingDir: c.workingDir,
      Labels: c.labels,
      StopSignal: c.stopSignal,
      StopTimeout: c.stopTimeout,
      ExposedPorts: Object.fromEntries(c.exposedPorts.map((p) => [p, {}])),
      Volumes: Object.fromEntries(c.volumes.map((v) => [v, {}])),
      ...(c.healthcheck
        ? {
            Healthcheck: {
              Test: c.healthcheck.test,
              Interval: c.healthcheck.interval,
              Timeout: c.healthcheck.timeout,
              StartPeriod: c.healthcheck.startPeriod,
              StartInterval: c.healthcheck.startInterval,
              Retries: c.healthcheck.retries,
            },
          }
        : {}),
    },
    HostConfig: {
      NetworkMode: record.network.mode,
      AutoRemove: record.autoRemove,
      RestartPolicy: { Name: record.restartPolicy?.name ?? "no", MaximumRetryCount: record.restartPolicy?.maximumRetryCount ?? 0 },
      Privileged: record.privileged,
      ReadonlyRootfs: record.readonlyRootfs,
      Init: record.init,
      ...hostResources(record),
    },
    GraphDriver: {
      Name: "overlay",
      Data: { LowerDir: record.lowerDirs.join(":"), UpperDir: join(dir, "upper"), WorkDir: join(dir, "work"), MergedDir: join(dir, "merged") },
    },
    NetworkSettings: networkSettings(record, running, network),
  };
}

export function toSummary(record: ContainerRecord, state: OciState | undefined): ContainerSummary {
  const status = displayStatus(record, state);
  return {
    Id: record.id,
    Names: [`/${record.name}`],
    Image: record.image,
    ImageID: record.imageId,
    Command: record.config.args.join(" "),
    Created: Math.floor(Date.parse(record.created) / 1000),
    State: status,
    Status:
      status === "running"
        ? `Up since ${record.startedAt}`
        : status === "paused"
          ? `Up since ${record.startedAt} (Paused)`
          : status === "exited"
            ? `Exited (${record.exitCode}) at ${record.finishedAt}`
            : status === "created"
              ? "Created"
              : status === "restarting"
                ? `Restarting (${state?.exitCode ?? record.exitCode}) since ${state?.finished ?? record.finishedAt}`
                : status,
    Labels: record.config.labels,
  };
}
