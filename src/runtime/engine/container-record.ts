import type { HostOptions } from "./container-setup.js";
import type { ResolvedContainerConfig } from "../container-config/merge-config.js";
import type { NetworkAttachmentConfig } from "./network-attachment.js";
import type { RestartPolicy } from "./restart-policy.js";
import type { ContainerMount, ResourceLimits } from "../container-config/oci-spec-builder.js";

/**
 * Where a container is in its life, as berth records it. A create writes `created` before it
 * makes anything (a create that died has no bundle, and start refuses it); a start marks
 * itself on the run root (`<runRoot>/starting/<id>`) until it records `running`; so a process
 * killed in the middle leaves a record that `remove({ force: true })` finds and cleans.
 * `creating` and `starting` are what earlier versions wrote instead, still understood.
 * `running` means "started by the monitor": the runtime's state says whether it still runs;
 * the next operation that sees it stopped records the exit and moves it to `exited` (the reap).
 */
export type ContainerRecordStatus = "creating" | "created" | "starting" | "running" | "exited" | "removing";

/** A health check probe result, as `docker inspect` shows it. */
export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** A container's health, as `docker inspect` shows it. */
export interface HealthState {
  Status: "starting" | "healthy" | "unhealthy";
  FailingStreak: number;
  /** The last five probe results, oldest first. */
  Log: HealthLogEntry[];
}

/** A mount as the record keeps it, with what is needed to release it on remove. */
export interface MountRecord {
  type: "bind" | "volume" | "tmpfs";
  /** Host path (binds, volumes' data dirs); absent for tmpfs. */
  source?: string;
  destination: string;
  readonly: boolean;
  /** The volume name, for volumes. */
  name?: string;
  /** Whether the volume was created anonymously for this container (removed with `remove({ volumes: true })`). */
  anonymous?: boolean;
  /** The mount as handed to the spec builder. */
  mount: ContainerMount;
}

/** The record of one container: `<stateRoot>/containers/<id>/config.json`. */
export interface ContainerRecord {
  /** 64 hex digits. */
  id: string;
  /** Without the leading `/`. */
  name: string;
  /** RFC 3339. */
  created: string;
  /** The image reference as given (or the image id). */
  image: string;
  /** The image id (config digest). */
  imageId: string;
  status: ContainerRecordStatus;
  config: ResolvedContainerConfig;
  /** overlayfs lowerdirs, top layer first. */
  lowerDirs: string[];
  mounts: MountRecord[];
  /**
   * The network: its mode as `docker inspect` shows it, the namespace while it runs, and the
   * attachment's configuration (networks, aliases, ports, address) that any process's engine
   * rebuilds it from to start, stop or remove the container.
   */
  network: { mode: string; netnsPath?: string; config?: NetworkAttachmentConfig };
  autoRemove: boolean;
  /** Absent in records written before restart policies existed: `no`. */
  restartPolicy?: Required<RestartPolicy>;
  init: boolean;
  privileged: boolean;
  readonlyRootfs: boolean;
  resources: ResourceLimits;
  /** The pid of the container's init on the host, while it runs. */
  pid: number;
  /**
   * That pid's start time (field 22 of /proc/<pid>/stat, clock ticks after boot), so that an
   * engine that cannot see the runtime's state (another run root) tells the container's live
   * init from a dead one whose pid was reused. Absent in records written before it existed.
   */
  pidStartTime?: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  oomKilled: boolean;
  /** Why the last start failed, as Docker's `State.Error`. */
  error: string;
  /** Restarts by the restart policy since the last start through the engine (the monitor's count, taken at the reap). */
  restartCount: number;
  /**
   * The options of the host side (capabilities, ulimits, /etc files...), needed again when a
   * start rebuilds the spec. Absent in records written before it was kept here: they are in
   * `host-options.json` beside the record.
   */
  hostOptions?: HostOptions;
}
