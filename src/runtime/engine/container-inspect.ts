import { join } from "node:path";
import type { OciState } from "../oci-spec.js";
import type { ContainerRecord, HealthState } from "./container-record.js";

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
    Privileged: boolean;
    ReadonlyRootfs: boolean;
    Init: boolean;
    Memory: number | string;
    NanoCpus: number | string;
    PidsLimit: number;
  };
  GraphDriver: { Name: "overlay"; Data: { LowerDir: string; UpperDir: string; WorkDir: string; MergedDir: string } };
  /** Filled by the network layer; `none`/`host` have no addresses. */
  NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> };
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
      return state?.status === "paused" ? "paused" : state === undefined || state.status === "stopped" ? "exited" : "running";
  }
}

export function toInspect(record: ContainerRecord, state: OciState | undefined, dir: string, logPath: string): ContainerInspect {
  const status = displayStatus(record, state);
  const running = status === "running" || status === "paused";
  const c = record.config;
  return {
    Id: record.id,
    Created: record.created,
    Path: c.args[0] ?? "",
    Args: c.args.slice(1),
    State: {
      Status: status,
      Running: running,
      Paused: status === "paused",
      Restarting: false,
      OOMKilled: record.oomKilled,
      Dead: false,
      Pid: running ? record.pid : 0,
      ExitCode: record.exitCode,
      Error: record.error,
      StartedAt: record.startedAt,
      FinishedAt: record.finishedAt,
      ...(record.health ? { Health: record.health } : {}),
    },
    Image: record.imageId,
    ResolvConfPath: join(dir, "resolv.conf"),
    HostnamePath: join(dir, "hostname"),
    HostsPath: join(dir, "hosts"),
    LogPath: logPath,
    Name: `/${record.name}`,
    RestartCount: record.restartCount,
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
      Privileged: record.privileged,
      ReadonlyRootfs: record.readonlyRootfs,
      Init: record.init,
      Memory: record.resources.memory ?? 0,
      NanoCpus: record.resources.cpus ?? 0,
      PidsLimit: record.resources.pidsLimit ?? 0,
    },
    GraphDriver: {
      Name: "overlay",
      Data: { LowerDir: record.lowerDirs.join(":"), UpperDir: join(dir, "upper"), WorkDir: join(dir, "work"), MergedDir: join(dir, "merged") },
    },
    NetworkSettings: { SandboxKey: record.status === "running" ? (record.network.netnsPath ?? "") : "", Networks: { [record.network.mode]: { IPAddress: "" } } },
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
              : status,
    Labels: record.config.labels,
  };
}
