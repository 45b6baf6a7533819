import { readdir, rmdir, writeFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable, type Writable } from "node:stream";
import { BerthError, hasErrorCode, isBerthError } from "../../common/berth-error.js";
import { logger } from "../../common/logger.js";
import { runRoot, stateRoot } from "../../common/paths.js";
import { ImageStore } from "../../image/image-store.js";
import type { ImageRuntimeConfig } from "../container-config/image-config.js";
import { readLogs, type LogEntry, type ReadLogsOptions } from "../container-config/log-reader.js";
import { mergeConfig, replaceOrAppendEnv, signalNumber, type ResolvedContainerConfig } from "../container-config/merge-config.js";
import type { NetworkMode } from "../container-config/oci-spec-builder.js";
import { resolveUser, type ResolvedUser } from "../container-config/resolve-user.js";
import { VolumeStore } from "../../volume/volume-store.js";
import { pullImage } from "../../registry/pull.js";
import { RegistryClient } from "../../registry/registry-client.js";
import { OciRuntime, type OciMonitorOptions } from "../oci-runtime.js";
import type { OciState } from "../oci-spec.js";
import type {
  CreateContainerOptions,
  ExecContainerOptions,
  ExecResult,
  ListContainersOptions,
  RemoveContainerOptions,
  StopOptions,
  WaitContainerOptions,
} from "./container-options.js";
import type { ContainerRecord } from "./container-record.js";
import { extractIntoRoot, packFromRoot } from "./container-copy.js";
import { commitLayer, diffUpperDir, type CommitOptions } from "./container-commit.js";
import { prepareHealthCheck } from "./health-state.js";
import type { ContainerConfig, ImageConfig } from "../../image/oci.js";
import { ContainerStore } from "./container-store.js";
import { buildContainerSpec, containerHostsPath, containerHostsText, createWorkdir, planMounts, prepareMounts, specForPreparedNetwork, type HostOptions, type PlannedMount } from "./container-setup.js";
import { findCommandProblem } from "./executable.js";
import { AttachSession, type AttachOptions } from "./attach-session.js";
import {
  hostName,
  hostNetwork,
  networkDriver,
  noneNetwork,
  type NetworkAttachment,
  type NetworkContainer,
  type NetworkDriver,
  type NetworkPreparation,
} from "./network-attachment.js";
import { isMountPoint, mountOverlay, unmountOverlay } from "./overlay-rootfs.js";
import { isRootless, RootlessSupport, type RootfsView } from "../rootless/rootless-engine.js";
import { directRootfsView, isPermissionError } from "../rootless/rootfs-view.js";
import { restartAnnotations, validateRestartPolicy, type RestartPolicy } from "./restart-policy.js";
import { trace, type Trace } from "./trace-timings.js";
import { toInspect, type ContainerInspect, type ContainerSummary, toSummary, displayStatus } from "./container-inspect.js";

const log = logger("engine");

/** Options of {@link ContainerEngine}. Each is a seam: tests give their own. */
export interface ContainerEngineOptions {
  /** The state root (images, containers, volumes). @default stateRoot() */
  stateRoot?: string;
  /** The run root (the runtime's state). @default runRoot() */
  runRoot?: string;
  /** The OCI runtime driver. @default new OciRuntime({ root: `${runRoot}/runtime` }) */
  runtime?: OciRuntime;
  /** The image store. @default new ImageStore(stateRoot) */
  images?: ImageStore;
  /** The volume store. @default new VolumeStore(`${stateRoot}/volumes`) */
  volumes?: VolumeStore;
  /**
   * Network attachments by network mode, for containers created with an attachment that has
   * no `config` (so cannot be rebuilt from the record) and operated on by another engine
   * (`none` and `host` are built in). @default {}
   */
  networks?: Readonly<Record<string, NetworkAttachment>>;
  /**
   * Network drivers by name, which rebuild a container's attachment from its record; they
   * take precedence over those the network layer registered (`registerNetworkDriver`).
   * @default {}
   */
  networkDrivers?: Readonly<Record<string, NetworkDriver>>;
  /** Pulls a reference into the store. @default a registry pull with berth's RegistryClient */
  pull?: (images: ImageStore, reference: string) => Promise<void>;
  /** The cgroup parent of containers. @default "/berth" */
  cgroupParent?: string;
  /** Rootless operation (docs/rootless.md). @default a RootlessSupport when not root (or BERTH_ROOTLESS=1) */
  rootless?: RootlessSupport;
}

/** A process started by {@link ContainerEngine.execStream}. */
export interface ExecProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Settles with the exit code (128+N when killed by signal N). */
  exitCode: Promise<number>;
  /** Signals the runtime's exec process, which forwards the signal. @default "SIGTERM" */
  kill(signal?: NodeJS.Signals): boolean;
  /** Sets the size of the process's terminal (with `tty`; nothing without). */
  resize(rows: number, cols: number): void;
}

/**
 * The container engine: `docker create/start/stop/rm/wait/logs/exec/inspect/ps` as a
 * TypeScript API, daemonless. Every process works directly on the state root; each
 * container's changes are made under its file lock and its record is written atomically, so
 * many processes can operate on one container and see a consistent state.
 *
 * A started container is held by berth-runtime's monitor, not by Node: it outlives the
 * process that started it. Its exit is recorded by the monitor; the next engine call that
 * looks at it (inspect, list, wait, stop, remove...) reaps it: records the exit, unmounts its
 * rootfs, deletes the runtime's state, and removes it when it was created with `autoRemove`.
 */
export class ContainerEngine {
  readonly stateRoot: string;
  readonly runtime: OciRuntime;
  readonly images: ImageStore;
  readonly volumes: VolumeStore;
  readonly store: ContainerStore;
  readonly runRoot: string;
  readonly #networks: Record<string, NetworkAttachment>;
  readonly #drivers: Readonly<Record<string, NetworkDriver>>;
  /** Attachments without a `config`, by container id: only this engine can rebuild them. */
  readonly #attachments = new Map<string, NetworkAttachment>();
  readonly #pull: (images: ImageStore, reference: string) => Promise<void>;
  readonly #cgroupParent: string;
  /** Sessions attached to a container before its start, by id: the start connects them. */
  readonly #pendingAttach = new Map<string, AttachSession[]>();
  /** Set when running as an unprivileged user (docs/rootless.md). */
  readonly rootless: RootlessSupport | undefined;

  constructor(options: ContainerEngineOptions = {}) {
    this.stateRoot = options.stateRoot ?? stateRoot();
    const run = options.runRoot ?? runRoot();
    this.runRoot = run;
    this.runtime = options.runtime ?? new OciRuntime({ root: join(run, "runtime") });
    this.images = options.images ?? new ImageStore(this.stateRoot);
    this.volumes = options.volumes ?? new VolumeStore(join(this.stateRoot, "volumes"));
    this.store = new ContainerStore(join(this.stateRoot, "containers"));
    this.#networks = { none: noneNetwork, host: hostNetwork, ...(options.networks ?? {}) };
    this.#drivers = options.networkDrivers ?? {};
    this.#pull =
      options.pull ??
      (async (images, reference) => {
        await pullImage(images, new RegistryClient(), reference);
      });
    this.#cgroupParent = options.cgroupParent ?? "/berth";
    this.rootless = options.rootless ?? (isRootless() ? new RootlessSupport() : undefined);
  }

  // ---------------------------------------------------------------- create

  /** Creates a container (`docker create`); returns its id. */
  async create(options: CreateContainerOptions): Promise<string> {
    const reference = typeof options.image === "string" ? options.image : (options.image.reference ?? options.image.id);
    const tr = trace("create", reference);
    const layers = await this.#imageLayers(options);
    tr.mark("image");
    const network = this.#networkOf(options.network);
    const id = await this.store.allocate();
    tr.mark("allocate");
    let name: string;
    try {
      name = await this.store.reserveName(id, options.name);
      tr.mark("name");
    } catch (error) {
      await this.store.removeDir(id);
      throw error;
    }
    const imageConfig = (layers.config.config ?? {}) as ImageRuntimeConfig;
    let config: ResolvedContainerConfig;
    let restartPolicy: Required<RestartPolicy>;
    try {
      restartPolicy = validateRestartPolicy(options.restartPolicy ?? { name: "no" }, options.autoRemove ?? false);
      config = mergeConfig(imageConfig, options, id);
      if (network.name === "host" && !options.hostname) config.hostname = hostName();
      if (config.args.length === 0) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", "no command specified", { container: name, field: "cmd" });
      }
    } catch (error) {
      await this.#discard(id, name);
      throw withContainer(error, name);
    }
    const dir = this.store.dir(id);
    const record: ContainerRecord = {
      id,
      name,
      created: new Date().toISOString(),
      image: reference,
      imageId: layers.imageId,
      // Written once, before anything is made (below): `created` at once rather than
      // `creating` then `created`, as a record write costs a rename on the state root's disk.
      // What a create that died leaves is told by its bundle, written last (start refuses it).
      status: "created",
      config,
      lowerDirs: [...layers.layerDirs].reverse(),
      mounts: [],
      network: {
        mode: network.name,
        ...(network.config ? { config: network.config } : {}),
      },
      autoRemove: options.autoRemove ?? false,
      restartPolicy,
      init: options.init ?? false,
      privileged: options.privileged ?? false,
      readonlyRootfs: options.readonlyRootfs ?? false,
      resources: options.resources ?? {},
      pid: 0,
      startedAt: "0001-01-01T00:00:00Z",
      finishedAt: "0001-01-01T00:00:00Z",
      exitCode: 0,
      oomKilled: false,
      error: "",
      restartCount: 0,
    };
    const hostOptions: HostOptions = {
      capAdd: options.capAdd ?? [],
      capDrop: options.capDrop ?? [],
      ulimits: (options.ulimits ?? []) as HostOptions["ulimits"],
      shmSize: options.shmSize,
      groupAdd: options.groupAdd ?? [],
      sysctls: options.sysctls ?? {},
      noNewPrivileges: options.noNewPrivileges ?? false,
      extraHosts: (options.extraHosts ?? []) as HostOptions["extraHosts"],
      dns: options.dns,
      dnsSearch: options.dnsSearch,
      dnsOptions: options.dnsOptions,
    };
    let planned: PlannedMount[];
    try {
      planned = planMounts(this.volumes, record, options);
    } catch (error) {
      await this.#discard(id, name);
      throw withContainer(error, name);
    }
    let view: RootfsView | undefined;
    let mounting: Promise<void> | undefined;
    let preparing: Promise<void> | undefined;
    try {
      await this.store.locked(id, async () => {
        tr.mark("lock");
        // The one write, before anything is made: from here on a process that dies leaves a
        // record that remove finds (and undoes the mount, snapshot users and name from).
        record.hostOptions = hostOptions;
        // Every mount, volumes by name, is in that write: made below, released by remove.
        record.mounts = planned.map((m) => m.record);
        await this.store.writeFirst(record);
        tr.mark("write");
        const overlay = this.#overlay(record);
        // The co-process mounts the overlay while this process records the snapshot users and
        // writes the spec, the /etc files and the bundle: none of them needs the rootfs once
        // the image's user and working directory are known (rootfsFacts). Awaited before the
        // record says `created`, and before any cleanup, so no mount outlives a failure.
        if (!this.rootless) {
          mounting = mountOverlay(overlay, id, this.runtime.server);
          mounting.catch(() => {});
        }
        // Recorded before the image can be removed under us; removed with the container.
        await this.images.addSnapshotUser(layers.imageId, id);
        tr.mark("snapuser");
        await this.rootless?.prepareImage(this.images, layers.imageId);
        // Rootless: the overlay is seen through a helper's mount namespace, closed below.
        view = this.rootless ? await this.rootless.openRootfs(overlay, { container: name }) : undefined;
        const rootfs = view?.root ?? this.#merged(id);
        const userKey = `${layers.imageId}\0${config.user}\0${JSON.stringify(hostOptions.groupAdd)}`;
        const workdirKey = `${layers.imageId}\0${config.workingDir}`;
        let user = view ? undefined : rootfsFacts.users.get(userKey);
        // A root only a worker in the helper's user namespace reads (fuse-overlayfs): it makes
        // the working directory and finds the user and the volumes' sources in one run.
        let sources: Map<string, string | undefined> | undefined;
        if (view?.usernsPid !== undefined) {
          const targets = planned.filter((m) => m.spec.type === "volume" && !m.spec.noCopy).map((m) => m.spec.target);
          const found = await view.prepare(config.workingDir, config.user, hostOptions.groupAdd, targets);
          user = found.user;
          sources = new Map(targets.map((t, i) => [t, found.sources[i]]));
        }
        // The volumes are filled from the mounted rootfs while the spec is built: they are in
        // the record already, and the spec only needs their paths. The user and working
        // directory are the image's, whatever is mounted.
        if (planned.length > 0) {
          preparing = (async () => {
            await mounting;
            await prepareMounts(this.volumes, record, planned, rootfs, sources);
          })();
          preparing.catch(() => {});
        }
        if (!sources && (!user || !rootfsFacts.workdirs.has(workdirKey))) {
          await mounting;
          tr.mark("mount");
          if (!(await this.#createWorkdir(rootfs, config.workingDir, view, hostOptions.groupAdd)) && !view) remember(rootfsFacts.workdirs, workdirKey, true);
          user = await resolveUser(config.user, { rootfs }, { groupAdd: hostOptions.groupAdd });
          if (!view) remember(rootfsFacts.users, userKey, user);
        }
        tr.mark("mounts");
        // Built now so that what would fail at start (a bad user, bad resources) fails create,
        // and so that a start with a built-in network has nothing left to do but run.
        // Another network layer's namespace and addresses are made at start (prepare), which
        // rewrites the bundle; the one written now has no network to join yet.
        const builtin = network === noneNetwork || network === hostNetwork;
        const prep: NetworkPreparation = builtin ? await network.prepare({ id, name, hostname: config.hostname }) : { mode: "none" };
        // `none` is a namespace the runtime makes, with `lo` brought up by it (buildContainerSpec).
        const mode: NetworkMode = networkMode(prep);
        const spec = await buildContainerSpec(this.store, this.#cgroupParent, record, hostOptions, mode, rootfs, prep, false, { ...user!, additionalGids: [...user!.additionalGids] });
        tr.mark("spec");
        spec.annotations = { ...spec.annotations, ...restartAnnotations(record.restartPolicy) };
        this.rootless?.apply(spec, record, overlay, prep);
        // Rootless, the volumes are filled through the view: before it closes.
        if (view) await preparing;
        await view?.close();
        // A new directory nothing reads before the record says `created`: written in place.
        await this.runtime.writeBundle(join(dir, "bundle"), spec, { fresh: true });
        tr.mark("bundle");
        // The overlay stays mounted until the container is reaped or removed: Docker makes the
        // container's layer at create too, and the start is faster without a mount.
        await mounting;
        tr.mark("mount");
        await preparing;
        tr.mark("volumes");
      });
    } catch (error) {
      await mounting?.catch(() => {});
      // Settled before remove releases the volumes, or one made after it would be left.
      await preparing?.catch(() => {});
      await view?.close();
      await this.remove(id, { force: true, volumes: true }).catch((e: unknown) => log("cleanup of %s failed: %O", id, e));
      throw withContainer(error, name);
    }
    // Kept so that this process operates through the caller's object (its manager, what it
    // reports); other processes rebuild it from the record.
    if (network !== noneNetwork && network !== hostNetwork) this.#attachments.set(id, network);
    log("created %s (%s)", id.slice(0, 12), name);
    tr.end();
    return id;
  }

  async #imageLayers(options: CreateContainerOptions) {
    if (typeof options.image !== "string") return this.images.getRootfsLayers(options.image.id);
    const reference = options.image;
    const policy = options.pull ?? "missing";
    if (policy === "always") await this.#pull(this.images, reference);
    try {
      return await this.images.getRootfsLayers(reference);
    } catch (error) {
      if (policy !== "missing" || !hasErrorCode(error, "BERTH_IMAGE_NOT_FOUND")) throw error;
    }
    await this.#pull(this.images, reference);
    return this.images.getRootfsLayers(reference);
  }

  #networkOf(network: CreateContainerOptions["network"]): NetworkAttachment {
    if (network === undefined || network === "none") return noneNetwork;
    if (network === "host") return hostNetwork;
    return network;
  }

  /**
   * The container's attachment: the one this engine was given at create, else rebuilt from the
   * record's configuration by its driver, else the engine's by mode (undefined when none fits).
   */
  #attachmentOf(record: ContainerRecord): NetworkAttachment | undefined {
    const own = this.#attachments.get(record.id);
    if (own) return own;
    const config = record.network.config;
    if (config) {
      const driver = this.#drivers[config.driver] ?? networkDriver(config.driver);
      if (!driver) return undefined;
      return driver(config.options, { stateRoot: this.stateRoot, runRoot: this.runRoot });
    }
    return this.#networks[record.network.mode];
  }

  #networkContainer(record: ContainerRecord): NetworkContainer {
    return {
      id: record.id,
      name: record.name,
      hostname: record.config.hostname,
      hostsPath: containerHostsPath(this.store, record.id),
      ...(record.network.config ? { config: record.network.config } : {}),
    };
  }

  /**
   * Frees what the network layer holds for a container that no longer runs (namespace,
   * addresses, proxy, names in peers' files). Never fails: a release that cannot be done now
   * is done by the network layer's reconcile or by the next release.
   */
  async #releaseNetwork(record: ContainerRecord): Promise<void> {
    // Their namespace, if any, is the container's own: it goes with its last process.
    if (!record.network.config && (record.network.mode === "host" || record.network.mode === "none")) return;
    const attachment = this.#attachmentOf(record);
    if (!attachment || attachment === noneNetwork || attachment === hostNetwork) {
      if (!attachment) log("no network driver for %s (%s): its network is released by a later reconcile", record.id.slice(0, 12), record.network.config?.driver ?? record.network.mode);
      return;
    }
    await attachment.release(this.#networkContainer(record)).catch((e: unknown) => log("network release of %s failed: %O", record.id.slice(0, 12), e));
    delete record.network.netnsPath;
  }

  // ---------------------------------------------------------------- start / stop

  /**
   * Starts a created or exited container (`docker start`); a running one is left as it is.
   * A command that cannot run fails with `BERTH_CONTAINER_START_FAILED`, exit code 127 (not
   * found) or 126 (not executable) and Docker's message; any other failed start with the
   * runtime's message and the last lines of the container's output.
   */
  async start(ref: string): Promise<void> {
    const tr = trace("start", ref);
    const id = await this.store.resolve(ref);
    tr.mark("resolve");
    await this.store.locked(id, async () => {
      tr.mark("lock");
      const record = await this.#readOrThrow(id, ref);
      await this.#reapLocked(record);
      tr.mark("read");
      if (record.status === "running") return;
      if ((record.status === "starting" || this.#isStarting(id)) && (await this.#adoptLocked(record))) return;
      if (record.status === "removing" || record.status === "creating") {
        throw new BerthError("BERTH_CONTAINER_STATE", `container ${record.name} is ${record.status}`, { container: record.name });
      }
      // The bundle is a create's last step: without it, the process that created the container
      // died half-way (its mounts, volumes and name are remove's to undo).
      if (record.status === "created" && !existsSync(join(this.store.dir(id), "bundle", "config.json"))) {
        throw new BerthError("BERTH_CONTAINER_STATE", `container ${record.name} was not completely created (the process creating it died): remove it`, { container: record.name });
      }
      await this.#startLocked(record, tr);
    });
    tr.end();
  }

  async #startLocked(record: ContainerRecord, tr = trace("start", record.id)): Promise<void> {
    const id = record.id;
    const attachment = this.#attachmentOf(record);
    if (!attachment) {
      const driver = record.network.config?.driver;
      throw new BerthError(
        "BERTH_NETWORK_NOT_FOUND",
        driver
          ? `container ${record.name} uses network driver ${driver}, which is not loaded in this process: import berth's network layer (berth or src/network/) or pass it in the engine's networkDrivers`
          : `container ${record.name} uses network ${record.network.mode}, which this engine does not know: pass it in the engine's networks`,
        { container: record.name, network: record.network.mode },
      );
    }
    // Marked on the run root's tmpfs rather than in the record: a record write is a rename on
    // the state root's disk (~0.5-1 ms on a busy ext4), and the mark is needed only while the
    // processes it is about live: a start that dies leaves it for the next start (adopt) or
    // remove (delete what the runtime made), and a reboot takes it with them.
    this.#markStarting(id);
    record.error = "";
    tr.mark("mark");
    const rootfs = this.#merged(id);
    let prepared = false;
    let view: RootfsView | undefined;
    try {
      view = this.rootless ? await this.rootless.openRootfs(this.#overlay(record), { container: record.name }) : undefined;
      if (!view) await mountOverlay(this.#overlay(record), id, this.runtime.server);
      tr.mark("mount");
      // A root read through a worker (rootless fuse-overlayfs) gives the user too: a spec
      // rebuilt below cannot read /etc/passwd itself.
      const checked = view && (await view.check(record.config.args[0]!, record.config.env, view.usernsPid !== undefined ? record.config.user : undefined, record.hostOptions?.groupAdd));
      const problem = view ? checked!.problem : await findCommandProblem(rootfs, record.config.args[0]!, record.config.env);
      tr.mark("command");
      if (problem) {
        throw new BerthError("BERTH_CONTAINER_START_FAILED", `failed to start container ${record.name}: ${problem.message}`, {
          container: record.name,
          exitCode: problem.exitCode,
        });
      }
      const bundle = join(this.store.dir(id), "bundle");
      // The bundles of the built-in networks, written at create, stay valid. Another network
      // layer prepares (and may move) its namespace at each start.
      if (attachment !== noneNetwork && attachment !== hostNetwork) {
        const hostOptions = await this.#hostOptions(record);
        let hostsWritten = false;
        const target: NetworkContainer = {
          ...this.#networkContainer(record),
          writeHosts: async (prep) => {
            writeFileSync(containerHostsPath(this.store, id), await containerHostsText(record, hostOptions, false, prep));
            hostsWritten = true;
          },
        };
        prepared = true;
        const prep = await attachment.prepare(target);
        tr.mark("network");
        record.network = {
          mode: attachment.name,
          ...(prep.netnsPath ? { netnsPath: prep.netnsPath } : {}),
          ...((prep.config ?? record.network.config) ? { config: prep.config ?? record.network.config } : {}),
        };
        // Not written to the record here (a rename on the state root's disk): a release finds
        // what the network holds from the record kept since create (the network layer keeps its
        // own state), and the start mark carries the rest for an adopt.
        this.#noteStartingNetwork(id, record.network);
        tr.mark("record");
        const spec =
          (this.rootless ? undefined : await specForPreparedNetwork(this.store, record, hostOptions, bundle, prep, hostsWritten)) ??
          (await buildContainerSpec(this.store, this.#cgroupParent, record, hostOptions, networkMode(prep), view?.root ?? rootfs, prep, hostsWritten, checked ? checked.user : undefined));
        spec.annotations = { ...spec.annotations, ...restartAnnotations(record.restartPolicy) };
        this.rootless?.apply(spec, record, this.#overlay(record), prep);
        tr.mark("spec");
        await this.runtime.writeBundle(bundle, spec);
        tr.mark("bundle");
      }
      // berth-runtime's state (on the run root's tmpfs) names the init and its start time; a
      // pid file beside the record would cost an atomic write on the state root's disk.
      const pidFile = this.runtime.hasBerthExtensions ? undefined : join(this.store.dir(id), "init.pid");
      // Refined from the monitor's record at the reap; asking the runtime now would cost a spawn.
      const startedAt = new Date().toISOString();
      // The monitor runs the health check: it outlives this process.
      await prepareHealthCheck(bundle, this.store.dir(id), record.config);
      await view?.close();
      tr.mark("health");
      // A container restarted after an exit has no runtime state left (the reap deleted it).
      // Sessions attached before the start connect while the monitor waits for them.
      const sessions = this.#pendingAttach.get(id) ?? [];
      this.#pendingAttach.delete(id);
      for (const session of sessions) session.connect(this.#attachSocket(id), 30_000).catch(() => {});
      const interactive = record.config.tty || record.config.openStdin || sessions.length > 0;
      try {
        await this.#runWithRetry(id, bundle, record.init, pidFile, interactive ? { attach: true, stdin: record.config.openStdin, attachWait: sessions.length > 0 } : {});
        tr.mark("run");
      } catch (error) {
        for (const session of sessions) session.fail(error);
        throw error;
      }
      record.status = "running";
      const init = this.#startedInit(id, pidFile);
      record.pid = init.pid;
      record.pidStartTime = init.start;
      record.startedAt = startedAt;
      record.finishedAt = "0001-01-01T00:00:00Z";
      record.exitCode = 0;
      record.oomKilled = false;
      await this.store.write(record);
      this.#unmarkStarting(id);
      tr.mark("write");
    } catch (error) {
      await view?.close();
      await this.runtime.delete(id, { force: true }).catch(() => {});
      await unmountOverlay(rootfs, id, this.runtime.server).catch(() => {});
      // A failed start keeps no namespace, address or proxy, as a stopped container.
      if (prepared) await this.#releaseNetwork(record);
      const exitCode = isBerthError(error) && error.exitCode !== undefined ? error.exitCode : 128;
      record.status = "exited";
      record.pid = 0;
      delete record.pidStartTime;
      record.exitCode = exitCode;
      record.error = error instanceof Error ? error.message : String(error);
      record.finishedAt = new Date().toISOString();
      await this.store.write(record);
      this.#unmarkStarting(id);
      const failure = hasErrorCode(error, "BERTH_CONTAINER_START_FAILED")
        ? error
        : new BerthError("BERTH_CONTAINER_START_FAILED", `failed to start container ${record.name}: ${record.error}`, {
            container: record.name,
            exitCode,
            lastLines: await this.#lastLines(id),
            cause: error,
          });
      // `docker run --rm` removes a container whose start failed, as one that exited.
      if (record.autoRemove) await this.#removeLocked(record, { volumes: true }).catch((e: unknown) => log("auto-remove of %s failed: %O", id, e));
      throw failure;
    }
  }

  /**
   * A record left `starting` under our lock means its starter died half-way (a live starter
   * holds the lock). If the runtime got the container running, the container is adopted as
   * running; otherwise whatever the runtime made is deleted and the start proceeds.
   */
  async #adoptLocked(record: ContainerRecord): Promise<boolean> {
    const state = await this.#runtimeState(record.id);
    if (state && state.status !== "stopped" && state.pid > 0) {
      const network = this.#startingNetwork(record.id);
      if (network) record.network = network;
      record.status = "running";
      record.pid = state.pid;
      record.pidStartTime = processStart(state.pid);
      record.startedAt = state.started ?? new Date().toISOString();
      await this.store.write(record);
      this.#unmarkStarting(record.id);
      return true;
    }
    if (state) await this.runtime.delete(record.id, { force: true });
    return false;
  }

  /** Where a start in progress is marked (see #startLocked): the run root, keyed by the (random, unique) id. */
  #startingMark(id: string): string {
    return join(this.runRoot, "starting", id);
  }

  #markStarting(id: string): void {
    const path = this.#startingMark(id);
    try {
      writeFileSync(path, "");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new BerthError("BERTH_IO", `cannot mark the start of container ${id}`, { container: id, path, cause: error });
      mkdirSync(join(this.runRoot, "starting"), { recursive: true });
      writeFileSync(path, "");
    }
  }

  /**
   * Adds the network a start prepared to its mark (appended to the empty file: no rename, no
   * writeback), for an adopt after the starter died; the record gets it when the start is done.
   */
  #noteStartingNetwork(id: string, network: ContainerRecord["network"]): void {
    const path = this.#startingMark(id);
    try {
      appendFileSync(path, JSON.stringify(network));
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot mark the start of container ${id}`, { container: id, path, cause: error });
    }
  }

  /** The network a dead starter prepared (see {@link #noteStartingNetwork}), if it got that far. */
  #startingNetwork(id: string): ContainerRecord["network"] | undefined {
    try {
      const text = readFileSync(this.#startingMark(id), "utf8");
      return text ? (JSON.parse(text) as ContainerRecord["network"]) : undefined;
    } catch {
      // No mark, or one torn by the kill: the record's network stands.
      return undefined;
    }
  }

  #unmarkStarting(id: string): void {
    rmSync(this.#startingMark(id), { force: true });
  }

  /** Whether a start of the container was begun and not finished (its starter died). */
  #isStarting(id: string): boolean {
    return existsSync(this.#startingMark(id));
  }

  /**
   * berth-runtime removes the shared cgroup parent (`/berth`) when its last container leaves,
   * which races with another container being made under it at that moment in another process:
   * the maker then finds the parent gone ("read `/sys/fs/cgroup/cpuset/berth/cpuset.cpus`: No
   * such file or directory"). Until the runtime makes and removes the parent atomically, such a
   * run is retried, a few times at most.
   */
  async #runWithRetry(id: string, bundle: string, init: boolean, pidFile: string | undefined, attach: Omit<OciMonitorOptions, "logPath">): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runtime.run(id, bundle, { detach: true, monitor: { logPath: this.store.logPath(id), ...attach }, init, ...(pidFile ? { pidFile } : {}) });
        return;
      } catch (error) {
        const raced = hasErrorCode(error, "BERTH_RUNTIME_FAILED") && /\/sys\/fs\/cgroup\/\S*`?: No such file or directory/.test(error.message);
        if (!raced || attempt >= 3) throw error;
        log("cgroup parent race starting %s, retrying", id.slice(0, 12));
        await this.runtime.delete(id, { force: true }).catch(() => {});
      }
    }
  }

  /** The init a `run` just started: its pid and start time, from the runtime's state or the pid file. */
  #startedInit(id: string, pidFile: string | undefined): { pid: number; start: string | undefined } {
    if (pidFile) {
      const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
      return { pid, start: processStart(pid) };
    }
    const path = join(this.runtime.root, id, "state.json");
    let state: { pid?: unknown; pidStart?: unknown };
    try {
      state = JSON.parse(readFileSync(path, "utf8")) as typeof state;
    } catch (error) {
      throw new BerthError("BERTH_RUNTIME_FAILED", `cannot read the state of container ${id} after its start`, { container: id, path, cause: error });
    }
    if (typeof state.pid !== "number" || state.pid <= 0) {
      throw new BerthError("BERTH_RUNTIME_FAILED", `the runtime recorded no pid for container ${id}`, { container: id, path });
    }
    // The same clock ticks as /proc/<pid>/stat's field 22; 0 when the runtime could not read them.
    const start = typeof state.pidStart === "number" && state.pidStart > 0 ? String(state.pidStart) : processStart(state.pid);
    return { pid: state.pid, start };
  }

  /**
   * Stops a running container (`docker stop`): its stop signal, then SIGKILL after the
   * timeout. Stopping a container that is not running does nothing.
   */
  async stop(ref: string, options: StopOptions = {}): Promise<void> {
    const id = await this.store.resolve(ref);
    await this.store.locked(id, async () => {
      const record = await this.#readOrThrow(id, ref);
      if (record.status !== "running" || (await this.#stopNative(record, options))) return;
      // One `state` serves the reap and the stop.
      const state = await this.#stateOf(record);
      if (!(await this.#reapLocked(record, state)) || record.status !== "running") return;
      this.#refuseForeign(record, state, "stop");
      await this.#stopLocked(record, options, state);
    }, 10 * 60_000);
  }

  /**
   * berth-runtime's `stop`: signal, grace period, SIGKILL and the stopped state in one request,
   * for a running, paused or already exited container alike; then the reap. False when the
   * runtime cannot (another runtime, a container another run root runs, a monitor gone): the
   * general path takes over.
   */
  async #stopNative(record: ContainerRecord, options: StopOptions): Promise<boolean> {
    if (!this.runtime.hasBerthExtensions) return false;
    const timeout = options.timeout ?? record.config.stopTimeout;
    const stopped = await this.runtime
      .stop(record.id, { signal: options.signal ?? record.config.stopSignal, gracePeriod: Math.max(0, timeout) * 1000 })
      .catch((error: unknown) => {
        if (hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND") || (hasErrorCode(error, "BERTH_RUNTIME_FAILED") && /exit code was not recorded/.test(error.message))) return undefined;
        throw withContainer(error, record.name);
      });
    if (!stopped) return false;
    await this.#reapLocked(record, stopped);
    return true;
  }

  async #stopLocked(record: ContainerRecord, options: StopOptions, known?: OciState): Promise<void> {
    const id = record.id;
    const timeout = options.timeout ?? record.config.stopTimeout;
    const state = known ?? (await this.#runtimeState(id));
    if (state?.status === "paused") await this.runtime.resume(id).catch(() => {});
    if (timeout > 0 && state && state.status !== "stopped") {
      await this.runtime.kill(id, options.signal ?? record.config.stopSignal).catch(ignoreStopped);
      // berth-runtime's `wait --state` gives the state the reap needs: no `state` after it.
      const ended = await (this.runtime.hasBerthExtensions ? this.runtime.waitState(id, { timeout: timeout * 1000 }) : this.runtime.wait(id, { timeout: timeout * 1000 })).catch((error: unknown) => {
        if (hasErrorCode(error, "BERTH_TIMEOUT")) return "timeout" as const;
        throw error;
      });
      if (ended !== "timeout") {
        await this.#reapLocked(record, typeof ended === "object" ? ended : undefined);
        return;
      }
    }
    await this.runtime.kill(id, "SIGKILL", { all: true }).catch(ignoreStopped);
    await this.runtime.wait(id, { timeout: 30_000 });
    await this.#reapLocked(record);
  }

  /** Stops then starts a container (`docker restart`). */
  async restart(ref: string, options: StopOptions = {}): Promise<void> {
    const id = await this.store.resolve(ref);
    await this.store.locked(id, async () => {
      const record = await this.#readOrThrow(id, ref);
      await this.#reapLocked(record);
      // The stop inside a restart must not auto-remove the container it is about to start again.
      const autoRemove = record.autoRemove;
      record.autoRemove = false;
      if (record.status === "running" && !(await this.#stopNative(record, options))) {
        const state = await this.#stateOf(record);
        this.#refuseForeign(record, state, "restart");
        await this.#stopLocked(record, options, state);
      }
      record.autoRemove = autoRemove;
      await this.#startLocked(record);
    }, 10 * 60_000);
  }

  /** Sends a signal to a running container (`docker kill`). @param signal @default "SIGKILL" */
  async kill(ref: string, signal: string | number = "SIGKILL"): Promise<void> {
    const id = await this.store.resolve(ref);
    await this.store.locked(id, async () => {
      const record = await this.#readOrThrow(id, ref);
      const state = record.status === "running" ? await this.#stateOf(record) : undefined;
      await this.#reapLocked(record, state);
      if (record.status !== "running") throw notRunning(record);
      this.#refuseForeign(record, state, "kill");
      await this.runtime.kill(id, signal).catch((error: unknown) => {
        if (hasErrorCode(error, "BERTH_CONTAINER_NOT_RUNNING")) throw notRunning(record);
        throw error;
      });
    });
  }

  /** Freezes a running container (`docker pause`). */
  async pause(ref: string): Promise<void> {
    await this.#runningOp(ref, (id) => this.runtime.pause(id));
  }

  /** Thaws a paused container (`docker unpause`). */
  async unpause(ref: string): Promise<void> {
    await this.#runningOp(ref, (id) => this.runtime.resume(id));
  }

  async #runningOp(ref: string, op: (id: string) => Promise<void>): Promise<void> {
    const id = await this.store.resolve(ref);
    await this.store.locked(id, async () => {
      const record = await this.#readOrThrow(id, ref);
      const state = record.status === "running" ? await this.#stateOf(record) : undefined;
      await this.#reapLocked(record, state);
      if (record.status !== "running") throw notRunning(record);
      this.#refuseForeign(record, state, "change");
      await op(id);
    });
  }

  /**
   * Waits for a container to exit and returns its exit code (`docker wait`). A container
   * that is not running returns its last exit code at once. Reaps the container (and
   * removes it when it was created with `autoRemove`).
   */
  async wait(ref: string, options: WaitContainerOptions = {}): Promise<number> {
    const id = await this.store.resolve(ref);
    const timeout = options.timeout ?? 300_000;
    const record = await this.#readOrThrow(id, ref);
    // berth-runtime's `wait --state` answers at once for an exited container and gives the
    // state the reap needs: one command instead of `state`, `wait` and `state`.
    if (record.status === "running" && this.runtime.hasBerthExtensions) {
      const stopped = await this.runtime.waitState(id, { timeout }).catch((error: unknown) => {
        // Not this runtime's (another run root), reaped meanwhile, or no monitor: the general path.
        if (hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND") || (hasErrorCode(error, "BERTH_RUNTIME_FAILED") && /exit code was not recorded/.test(error.message))) return undefined;
        throw withContainer(error, record.name);
      });
      if (stopped) {
        const tr = trace("wait", id);
        tr.mark("waitState");
        return this.store.locked(id, async () => {
          tr.mark("lock");
          const current = await this.store.read(id);
          if (!current) return record.exitCode;
          await this.#reapLocked(current, stopped, tr);
          tr.end();
          return current.exitCode;
        });
      }
    }
    // A short-lived container has often exited by now: one `state` then beats a `wait` plus a `state`.
    const state = record.status === "running" ? await this.#stateOf(record) : undefined;
    if (state && this.#foreign.has(state)) {
      await waitForExit(record, timeout);
      return this.store.locked(id, async () => {
        const current = await this.store.read(id);
        if (!current) return record.exitCode;
        await this.#reapLocked(current);
        return current.exitCode;
      });
    }
    // "stopped" with no exit code yet: the monitor has not recorded it; its `wait` will.
    if (record.status === "running" && state && (state.status !== "stopped" || state.exitCode === undefined)) {
      try {
        await this.runtime.wait(id, { timeout });
      } catch (error) {
        // Reaped by another process between our read and the runtime's wait.
        if (!hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND")) throw withContainer(error, record.name);
      }
    }
    return this.store.locked(id, async () => {
      const current = await this.store.read(id);
      if (!current) return record.exitCode;
      await this.#reapLocked(current, state?.status === "stopped" && state.exitCode !== undefined ? state : undefined);
      return current.exitCode;
    });
  }

  /**
   * Removes a container (`docker rm`). A running one needs `force` (it is killed). Its
   * named volumes stay; anonymous ones go with `volumes`. Also cleans up a container left
   * half-created or half-started by a process that died.
   */
  async remove(ref: string, options: RemoveContainerOptions = {}): Promise<void> {
    const tr = trace("remove", ref);
    const id = await this.store.resolve(ref);
    tr.mark("resolve");
    await this.store.locked(id, async () => {
      tr.mark("lock");
      const record = await this.store.read(id);
      if (!record) {
        // Removed by another process while we waited for the lock.
        if (!(await this.store.exists(id))) throw new BerthError("BERTH_CONTAINER_NOT_FOUND", `No such container: ${ref}`, { container: ref });
        // A directory without a record: a create that died before writing one.
        await this.store.removeDir(id);
        return;
      }
      await this.#removeLocked(record, options, tr);
    }, 10 * 60_000);
    tr.end();
  }

  async #removeLocked(record: ContainerRecord, options: RemoveContainerOptions, tr?: Trace): Promise<void> {
    const id = record.id;
    // Created and exited containers have no runtime state (start uses `run`, the reap deletes it).
    // A mark beside a running record is one its starter left between writing `running` and
    // removing the mark: that container is running, not starting.
    const starting = record.status === "starting" || (record.status !== "running" && this.#isStarting(id));
    const mayHaveRuntimeState = record.status === "running" || starting || record.status === "removing";
    const state = mayHaveRuntimeState ? await this.#stateOf(record) : undefined;
    this.#refuseForeign(record, state, "remove");
    const active = state !== undefined && state.status !== "stopped";
    if (active && !options.force && record.status !== "creating" && !starting && record.status !== "removing") {
      throw new BerthError(
        "BERTH_CONTAINER_STATE",
        `cannot remove container "/${record.name}": container is ${state.status}: stop the container before removing or force remove`,
        { container: record.name },
      );
    }
    // Marked first when the runtime may have something of it: a remove that dies after the
    // delete must not leave a record that says what no longer is. A created or exited
    // container has nothing in the runtime, and what follows is idempotent: a remove that dies
    // half-way leaves a record the next remove finishes from, and the write is saved.
    if (mayHaveRuntimeState) {
      record.status = "removing";
      await this.store.write(record);
    }
    tr?.mark("state");
    if (state) await this.runtime.delete(id, { force: true });
    if (mayHaveRuntimeState) await this.#removeCgroups(id);
    await unmountOverlay(this.#merged(id), id, this.runtime.server);
    tr?.mark("delete+umount");
    // Independent of each other (network state, the image store, the names file, volumes): at
    // once. The volumes last: their release is mostly synchronous calls, which then overlap
    // the others' work on the thread pool instead of delaying its start.
    await Promise.all([
      this.#releaseNetwork(record),
      this.images.removeSnapshotUser(id, record.imageId).catch((e: unknown) => log("snapshot user removal failed: %O", e)),
      this.store.releaseName(id, record.name),
      this.#releaseVolumes(record, options.volumes ?? false),
    ]);
    this.#attachments.delete(id);
    tr?.mark("release");
    this.#unmarkStarting(id);
    // Rootless: files the container made as a non-root uid belong to a subordinate id.
    await this.rootless?.removeContainerFiles([this.upperDir(id), join(this.store.dir(id), "work")]);
    await this.store.removeDir(id);
    tr?.mark("rmdir");
    log("removed %s", id.slice(0, 12));
  }

  /** Releases the container's volumes, removing its anonymous ones with `volumes` (unless another container uses one). */
  async #releaseVolumes(record: ContainerRecord, volumes: boolean): Promise<void> {
    for (const mount of record.mounts) {
      if (mount.type !== "volume" || !mount.name) continue;
      await this.volumes
        .release(mount.name, record.id, { remove: volumes && (mount.anonymous ?? false) })
        .catch((e: unknown) => log("release of volume %s failed: %O", mount.name, e));
    }
  }

  /** A runtime killed between making a cgroup and recording its state leaves the cgroup: remove it. */
  async #removeCgroups(id: string): Promise<void> {
    const rel = join(this.#cgroupParent, id);
    const roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
    try {
      for (const entry of await readdir("/sys/fs/cgroup")) roots.push(join("/sys/fs/cgroup", entry));
    } catch {
      return;
    }
    await Promise.all([...new Set(roots)].map((root) => rmdir(join(root, rel)).catch(() => {})));
  }

  async #discard(id: string, name: string): Promise<void> {
    await this.store.releaseName(id, name).catch(() => {});
    await this.store.removeDir(id).catch(() => {});
  }

  // ---------------------------------------------------------------- state

  /** States made up by {@link ContainerEngine.#stateOf} for a container another runtime root runs. */
  readonly #foreign = new WeakSet<OciState>();

  /**
   * The runtime's state of a started container; when the runtime has none but the recorded
   * init still lives (same pid, same start time), a `running` state made up from the record:
   * the container was started by an engine with another run root, whose runtime state this
   * one cannot see, and it must not be taken for exited (reaped, its network released, its
   * record deleted) while its process, monitor and cgroups run on.
   */
  async #stateOf(record: ContainerRecord): Promise<OciState | undefined> {
    const state = await this.#runtimeState(record.id);
    if (state || !isAlive(record)) return state;
    const made: OciState = { ociVersion: "1.0.2", id: record.id, status: "running", pid: record.pid, bundle: join(this.store.dir(record.id), "bundle"), started: record.startedAt };
    this.#foreign.add(made);
    return made;
  }

  /** What this engine's runtime cannot do to a container another run root's runtime runs. */
  #refuseForeign(record: ContainerRecord, state: OciState | undefined, verb: string): void {
    if (!state || !this.#foreign.has(state)) return;
    throw new BerthError(
      "BERTH_CONTAINER_STATE",
      `cannot ${verb} container ${record.name}: it runs (pid ${record.pid}) under another runtime root than this engine's (${this.runtime.root}): use an engine with the run root that started it`,
      { container: record.name, pid: record.pid },
    );
  }

  async #runtimeState(id: string): Promise<OciState | undefined> {
    try {
      return await this.runtime.state(id);
    } catch (error) {
      if (hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND")) return undefined;
      throw error;
    }
  }

  /**
   * Brings a `running` record up to date when its process has exited: records the exit,
   * deletes the runtime's state, unmounts the rootfs, and removes an auto-remove container.
   * Must be called under the container's lock. Returns false when the container is gone.
   */
  async #reapLocked(record: ContainerRecord, known?: OciState, tr?: Trace): Promise<boolean> {
    if (record.status !== "running") return true;
    let state = known ?? (await this.#stateOf(record));
    if (state && state.status !== "stopped") return true;
    if (state && state.exitCode === undefined && this.runtime.hasBerthExtensions) {
      // The process is gone but its monitor has not written the exit yet.
      await this.runtime.wait(record.id, { timeout: 10_000 }).catch(() => undefined);
      state = (await this.#runtimeState(record.id)) ?? state;
    }
    record.status = "exited";
    record.pid = 0;
    delete record.pidStartTime;
    record.exitCode = state?.exitCode ?? 137;
    record.oomKilled = state?.oomKilled ?? false;
    record.finishedAt = state?.finished ?? new Date().toISOString();
    if (state?.started) record.startedAt = state.started;
    // The monitor counts the restarts of one start through the engine; the record, of all.
    record.restartCount += state?.restartCount ?? 0;
    // The co-process unmounts while the record is written. Not the delete: until the record
    // says `exited`, the runtime's state is where a later reap finds the exit code.
    const unmounting = unmountOverlay(this.#merged(record.id), record.id, this.runtime.server);
    unmounting.catch(() => {});
    try {
      await this.store.write(record);
    } catch (error) {
      await unmounting.catch(() => {});
      throw error;
    }
    tr?.mark("write");
    const written = JSON.stringify(record.network);
    await Promise.all([
      state ? this.runtime.delete(record.id, { force: true }) : undefined,
      unmounting,
      // Docker tears a stopped container's sandbox down: its address goes back to the pool and
      // its published ports are closed until it starts again.
      this.#releaseNetwork(record),
    ]);
    tr?.mark("delete+umount");
    // The release may have dropped the namespace from the record; nothing else changes here.
    if (JSON.stringify(record.network) !== written) await this.store.write(record);
    if (record.autoRemove) {
      await this.#removeLocked(record, { volumes: true });
      return false;
    }
    return true;
  }

  /**
   * The pid of a container's monitor, from the runtime's state: under a restart policy the
   * init the record names may be a run long gone, while the monitor stays for every run.
   */
  #monitorPid(id: string): number | undefined {
    try {
      const pid = (JSON.parse(readFileSync(join(this.runtime.root, id, "state.json"), "utf8")) as { monitorPid?: unknown }).monitorPid;
      return typeof pid === "number" && pid > 1 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** A Docker-like `inspect` of a container (reaping it first when it has exited). */
  async inspect(ref: string): Promise<ContainerInspect> {
    const id = await this.store.resolve(ref);
    const { record, state } = await this.#currentWithState(id, ref);
    // Addresses exist only while it runs; a layer that cannot tell them leaves them empty.
    const network = state && state.status !== "stopped" ? await this.#attachmentOf(record)?.describe?.(id).catch(() => undefined) : undefined;
    return toInspect(record, state, this.store.dir(id), this.store.logPath(id), network);
  }

  async #current(id: string, ref: string): Promise<ContainerRecord> {
    return (await this.#currentWithState(id, ref)).record;
  }

  /** The record, reaped when its container has exited, and the state it was judged by (for a running one). */
  async #currentWithState(id: string, ref: string): Promise<{ record: ContainerRecord; state?: OciState }> {
    const record = await this.#readOrThrow(id, ref);
    if (record.status !== "running") return { record };
    const state = await this.#recordedState(record);
    if (state && state.status !== "stopped") {
      // Restarted by its policy: the run the record names is gone; the runtime knows the
      // current one (exec joins it through /proc/<pid>).
      if (state.pid > 0 && state.pid !== record.pid) {
        record.pid = state.pid;
        record.pidStartTime = processStart(state.pid);
      }
      return { record, state };
    }
    return this.store.locked(id, async () => {
      const fresh = await this.#readOrThrow(id, ref);
      if (!(await this.#reapLocked(fresh))) throw new BerthError("BERTH_CONTAINER_NOT_FOUND", `No such container: ${ref}`, { container: ref });
      return { record: fresh };
    });
  }

  /**
   * A running container's state from its record when the record suffices — no runtime
   * request: the recorded init (pid and start time) still lives, under this engine's runtime
   * root, with no exit recorded. Then it runs as the record says (a restart by the policy
   * would have changed the pid), paused when the runtime's `paused` mark is there. Otherwise,
   * the runtime's answer. For reads (inspect, exec); changes take the runtime's state under
   * the lock.
   */
  async #recordedState(record: ContainerRecord): Promise<OciState | undefined> {
    if (this.runtime.hasBerthExtensions && record.pidStartTime !== undefined && isAlive(record)) {
      const dir = join(this.runtime.root, record.id);
      if (existsSync(join(dir, "state.json")) && !existsSync(join(dir, "exit.json"))) {
        const status = existsSync(join(dir, "paused")) ? "paused" : "running";
        return { ociVersion: "1.0.2", id: record.id, status, pid: record.pid, bundle: join(this.store.dir(record.id), "bundle"), started: record.startedAt, restartCount: 0 };
      }
    }
    return this.#stateOf(record);
  }

  /** The containers (`docker ps`), running ones only unless `all`; reaps those that exited. */
  async list(options: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    const states = new Map((await this.runtime.list()).map((s) => [s.id, s]));
    const out: ContainerSummary[] = [];
    for (const id of await this.store.ids()) {
      let record = await this.store.read(id);
      if (!record) continue;
      let state = states.get(id);
      if (record.status === "running" && !state && isAlive(record)) state = await this.#stateOf(record);
      if (record.status === "running" && (!state || state.status === "stopped")) {
        const reaped = await this.store
          .locked(id, async () => {
            const fresh = await this.store.read(id);
            if (!fresh) return undefined;
            return (await this.#reapLocked(fresh)) ? fresh : undefined;
          })
          .catch(() => record);
        if (!reaped) continue;
        record = reaped;
        state = undefined;
      }
      const status = displayStatus(record, state);
      if (!options.all && status !== "running" && status !== "paused") continue;
      if (!matches(record, status, options)) continue;
      out.push(toSummary(record, state));
    }
    return out.sort((a, b) => b.Created - a.Created);
  }

  // ---------------------------------------------------------------- logs / exec

  /**
   * The container's output (`docker logs`): stdout and stderr entries with their times.
   * With `follow` it keeps reading until the container exits.
   */
  async *logs(ref: string, options: Omit<ReadLogsOptions, "exited"> = {}): AsyncGenerator<LogEntry, void, undefined> {
    const id = await this.store.resolve(ref);
    const record = await this.#readOrThrow(id, ref);
    const path = this.store.logPath(id);
    await writeFile(path, "", { flag: "a" });
    let exited: Promise<unknown> | undefined;
    let watch: NodeJS.Timeout | undefined;
    if (options.follow) {
      // The monitor (the init's parent) exits once it has drained the output and recorded the
      // exit. Watched in /proc rather than with the runtime's `wait`, so no process of ours
      // outlives a reader that stops early.
      const monitor = record.status !== "running" ? undefined : record.restartPolicy && record.restartPolicy.name !== "no" ? this.#monitorPid(id) : record.pid > 0 ? parentPid(record.pid) : undefined;
      exited =
        monitor !== undefined && monitor > 1
          ? new Promise<void>((resolve) => {
              const start = processStart(monitor);
              watch = setInterval(() => {
                if (start === undefined || processStart(monitor) !== start) resolve();
              }, 100);
              // As the reader's own timers: a follower alone does not keep Node alive.
              watch.unref();
            })
          : Promise.resolve();
    }
    try {
      yield* readLogs(path, { ...options, ...(exited ? { exited } : {}) });
    } finally {
      clearInterval(watch);
    }
  }

  /**
   * Runs a command in a running container (`docker exec`) and returns its exit code and
   * output. A command that is not in the container gives Docker's exit code 127 (126 when it
   * is not executable) and message on stderr, not an error.
   */
  async exec(ref: string, argv: readonly string[], options: ExecContainerOptions = {}): Promise<ExecResult> {
    const id = await this.store.resolve(ref);
    const record = await this.#current(id, ref);
    if (record.status !== "running") throw notRunning(record);
    if (argv.length === 0) throw new BerthError("BERTH_INVALID_ARGUMENT", "exec needs a command", { container: record.name, field: "argv" });
    if (options.tty) return collectTtyExec(await this.execStream(ref, argv, options), options.input);
    const env = replaceOrAppendEnv(record.config.env, options.env ?? []);
    const { problem, user } = await this.#withRunningRoot(record, (view) => view.check(argv[0]!, env, options.user));
    if (problem) {
      return { exitCode: problem.exitCode, stdout: "", stderr: `OCI runtime exec failed: exec failed: unable to start container process: ${problem.message}: unknown\n` };
    }
    try {
      return await this.runtime.exec(id, [...argv], {
        env: [...(options.env ?? [])],
        ...(options.workingDir ? { cwd: options.workingDir } : {}),
        ...(user ? { user: { uid: user.uid, gid: user.gid } } : {}),
        ...(options.input !== undefined ? { input: options.input } : {}),
        timeout: options.timeout ?? 60_000,
      });
    } catch (error) {
      throw withContainer(error, record.name);
    }
  }

  /**
   * The streaming form of {@link exec}: the process's stdin, stdout and stderr as streams and
   * its exit code as a promise. The process ends with its command or the container; `kill`
   * ends it sooner, and `timeout` (when given) kills it with SIGKILL.
   */
  async execStream(ref: string, argv: readonly string[], options: Omit<ExecContainerOptions, "input"> = {}): Promise<ExecProcess> {
    const id = await this.store.resolve(ref);
    const record = await this.#current(id, ref);
    if (record.status !== "running") throw notRunning(record);
    if (argv.length === 0) throw new BerthError("BERTH_INVALID_ARGUMENT", "exec needs a command", { container: record.name, field: "argv" });
    const user = options.user !== undefined ? (await this.#withRunningRoot(record, (view) => view.check(undefined, [], options.user))).user : undefined;
    const args = ["--root", this.runtime.root, "exec"];
    // Node cannot ioctl the pty: berth-runtime keeps it and takes sizes on fd 3 (exec.c).
    if (options.tty) args.push("--tty", "--control-fd", "3");
    for (const entry of options.env ?? []) args.push("--env", entry);
    if (options.workingDir) args.push("--cwd", options.workingDir);
    if (user) args.push("--user", `${user.uid}:${user.gid}`);
    args.push("--", id, ...argv);
    // The driver's exec buffers output; streaming needs the process itself.
    const child = spawn(this.runtime.binary, args, { stdio: options.tty ? ["pipe", "pipe", "pipe", "pipe"] : ["pipe", "pipe", "pipe"] });
    const control = options.tty ? (child.stdio[3] as Writable) : undefined;
    control?.on("error", () => {}); // EPIPE once the process is gone: a resize too late is moot
    const resize = (rows: number, cols: number) => {
      if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0 || rows > 0xffff || cols > 0xffff) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid terminal size ${rows}x${cols}`, { container: record.name, field: "resize" });
      }
      control?.write(`${rows} ${cols}\n`);
    };
    if (options.tty) resize(options.consoleSize?.rows ?? 24, options.consoleSize?.cols ?? 80);
    const timer = options.timeout ? setTimeout(() => child.kill("SIGKILL"), options.timeout) : undefined;
    const exitCode = new Promise<number>((resolve, reject) => {
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(new BerthError("BERTH_EXEC_FAILED", `cannot run ${this.runtime.binary}`, { container: record.name, cause: error }));
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? 128 + (signal ? signalNumber(signal) : 1));
      });
    });
    return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exitCode, kill: (signal = "SIGTERM") => child.kill(signal), resize };
  }

  /**
   * Attaches to a container (`docker attach`, the API's `attach` with `stream`): its stdin,
   * stdout and stderr as streams, its terminal's size, its exit code. A running container
   * can be attached when it was started with `tty` or `openStdin` (its monitor then has an
   * attach endpoint, `attach.sock` in its runtime state directory); a created or exited one
   * is attached by its next {@link start} in this engine, which waits for the session so it
   * misses no output (`docker run -a`, `docker start -a`). Fails with `BERTH_ATTACH_FAILED`.
   */
  async attach(ref: string, options: AttachOptions = {}): Promise<AttachSession> {
    const id = await this.store.resolve(ref);
    const record = await this.#current(id, ref);
    const session = new AttachSession(record.name, options, record.config.openStdin);
    if (record.status === "running") {
      // The endpoint exists already or never will.
      await session.connect(this.#attachSocket(id), 0);
    } else if (record.status === "created" || record.status === "exited") {
      const pending = this.#pendingAttach.get(id) ?? [];
      pending.push(session);
      this.#pendingAttach.set(id, pending);
      // A session given up on before the start must not hold the start.
      session.exitCode.finally(() => {
        const left = (this.#pendingAttach.get(id) ?? []).filter((s) => s !== session);
        if (left.length > 0) this.#pendingAttach.set(id, left);
        else this.#pendingAttach.delete(id);
      }).catch(() => {});
    } else {
      throw new BerthError("BERTH_CONTAINER_STATE", `cannot attach to container ${record.name}: it is ${record.status}`, { container: record.name });
    }
    return session;
  }

  /** The monitor's attach endpoint (native/src/attach.h). */
  #attachSocket(id: string): string {
    return join(this.runtime.root, id, "attach.sock");
  }

  // ---------------------------------------------------------------- copy / commit

  /**
   * `docker cp - CONTAINER:path`: extracts a tar stream into the existing directory `path`,
   * running or stopped (the rootfs is mounted for the call). See {@link extractIntoRoot}.
   */
  async copyToContainer(ref: string, path: string, archive: Readable): Promise<void> {
    await this.#withRootfsView(ref, (view, record) => view.extract(path, archive, record.name));
  }

  /**
   * `docker cp CONTAINER:path -`: the file or directory at `path` as a tar stream, with
   * Docker's rules (see {@link packFromRoot}). The archive is read while the container is
   * locked (and, stopped, mounted), then handed over from memory.
   */
  async copyFromContainer(ref: string, path: string): Promise<Readable> {
    const bytes = await this.#withRootfsView(ref, (view, record) => view.pack(path, record.name));
    return Readable.from([bytes]);
  }

  /**
   * `docker commit`: the container's changes (its overlay upper directory, deletions as
   * whiteouts) become a new layer on its image, with its config and `changes`. Returns the
   * new image id.
   */
  async commit(ref: string, options: CommitOptions = {}): Promise<string> {
    const id = await this.store.resolve(ref);
    return this.store.locked(id, async () => {
      const record = await this.#readOrThrow(id, ref);
      await this.#reapLocked(record);
      const paused = record.status === "running" && (await this.#runtimeState(id))?.status === "running";
      // Docker pauses a running container during commit so the layer is consistent.
      if (paused) await this.runtime.pause(id);
      try {
        const parent = await this.images.get(record.imageId);
        const parentConfig = JSON.parse((await this.images.readBlob(record.imageId)).toString("utf8")) as ImageConfig;
        const layerTar = this.rootless ? await this.rootless.diffUpperDir(this.upperDir(id), record.name) : await diffUpperDir(this.upperDir(id));
        const c = record.config;
        const config: ContainerConfig = {
          ...(parentConfig.config ?? {}),
          ...(c.user ? { User: c.user } : {}),
          Env: c.env,
          Entrypoint: c.entrypoint.length > 0 ? c.entrypoint : null,
          Cmd: c.cmd.length > 0 ? c.cmd : null,
          WorkingDir: c.workingDir,
          Labels: c.labels,
          ...(c.exposedPorts.length > 0 ? { ExposedPorts: Object.fromEntries(c.exposedPorts.map((p) => [p, {}])) } : {}),
          ...(c.volumes.length > 0 ? { Volumes: Object.fromEntries(c.volumes.map((v) => [v, {}])) } : {}),
        };
        const image = await commitLayer({ images: this.images, parent, parentConfig, layerTar, config, options, containerId: id });
        return image.id;
      } finally {
        if (paused) await this.runtime.resume(id).catch(() => {});
      }
    });
  }

  // ---------------------------------------------------------------- for the engine's own modules

  /** The record of a container, for the engine's own modules. */
  async record(ref: string): Promise<ContainerRecord> {
    const id = await this.store.resolve(ref);
    return this.#current(id, ref);
  }

  /**
   * Runs `fn` with the container's root filesystem as seen from the host: the running
   * process's root (`/proc/<pid>/root`, with its volumes and tmpfs mounts), or for a stopped
   * container the overlay, mounted for the call and unmounted after it. Rootless on
   * fuse-overlayfs this process cannot read that path; copy goes through the container's
   * {@link RootfsView} instead.
   */
  async withRootfs<T>(ref: string, fn: (root: string, record: ContainerRecord) => Promise<T>): Promise<T> {
    return this.#withRootfsView(ref, (view, record) => fn(view.root, record));
  }

  async #withRootfsView<T>(ref: string, fn: (view: RootfsView, record: ContainerRecord) => Promise<T>): Promise<T> {
    const id = await this.store.resolve(ref);
    return this.store.locked(id, async () => {
      const record = await this.#readOrThrow(id, ref);
      await this.#reapLocked(record);
      if (record.status === "running") return this.#withRunningRoot(record, (view) => fn(view, record));
      if (this.rootless) {
        const view = await this.rootless.openRootfs(this.#overlay(record), { container: record.name });
        try {
          return await fn(view, record);
        } finally {
          await view.close();
        }
      }
      const merged = this.#merged(id);
      const wasMounted = await isMountPoint(merged);
      await mountOverlay(this.#overlay(record), id, this.runtime.server);
      try {
        return await fn(directRootfsView(merged), record);
      } finally {
        if (!wasMounted) await unmountOverlay(merged, id, this.runtime.server);
      }
    });
  }

  /**
   * Runs `fn` on a running container's root (`/proc/<pid>/root`), read here or, rootless on
   * fuse-overlayfs (which serves only the container's user namespace), through a worker in
   * that namespace (see RootlessSupport.openRunningRootfs).
   */
  async #withRunningRoot<T>(record: ContainerRecord, fn: (view: RootfsView) => Promise<T>): Promise<T> {
    const view = this.rootless ? this.rootless.openRunningRootfs(record.pid, record.name) : directRootfsView(`/proc/${record.pid}/root`);
    try {
      return await fn(view);
    } finally {
      await view.close();
    }
  }

  /** Runs `fn` under the container's lock with its fresh record; `fn`'s changes to it are written. */
  async update<T>(ref: string, fn: (record: ContainerRecord) => Promise<T>): Promise<T> {
    const id = await this.store.resolve(ref);
    return this.store.locked(id, async () => {
      const record = await this.#readOrThrow(id, ref);
      const result = await fn(record);
      await this.store.write(record);
      return result;
    });
  }

  /** The overlay's upper directory (the container's changes), for commit. */
  upperDir(id: string): string {
    return join(this.store.dir(id), "upper");
  }

  /**
   * Releases what this engine holds in this process. Nothing today: containers and their
   * health checks belong to their monitors, and the runtime's co-process never keeps Node
   * alive. Kept so that code owning an engine disposes of it without knowing that.
   */
  dispose(): void {}

  #overlay(record: ContainerRecord) {
    const dir = this.store.dir(record.id);
    return { lowerDirs: record.lowerDirs, upper: join(dir, "upper"), work: join(dir, "work"), merged: join(dir, "merged") };
  }

  #merged(id: string): string {
    return join(this.store.dir(id), "merged");
  }

  /**
   * Makes a missing working directory, as Docker does (root's, 0755); true when it was made.
   * Rootless on a kernel overlay, this process is the container's root only inside its user
   * namespace: a directory of another container user (a 0700 home) refuses it, so the
   * directory is then made in the view's user namespace, as the container's root.
   */
  async #createWorkdir(rootfs: string, workingDir: string, view: RootfsView | undefined, groupAdd: readonly (string | number)[]): Promise<boolean> {
    try {
      return await createWorkdir(rootfs, workingDir);
    } catch (error) {
      if (!view || !isPermissionError(error)) throw error;
      return (await view.prepare(workingDir, "0", groupAdd, [])).workdirCreated;
    }
  }

  /** The record's host options; records from before they were kept in it have them beside it. */
  async #hostOptions(record: ContainerRecord): Promise<HostOptions> {
    return record.hostOptions ?? (JSON.parse(readFileSync(join(this.store.dir(record.id), "host-options.json"), "utf8")) as HostOptions);
  }

  async #readOrThrow(id: string, ref: string): Promise<ContainerRecord> {
    const record = await this.store.read(id);
    if (!record) throw new BerthError("BERTH_CONTAINER_NOT_FOUND", `No such container: ${ref}`, { container: ref });
    return record;
  }

  async #lastLines(id: string, count = 10): Promise<string[]> {
    const lines: string[] = [];
    try {
      for await (const entry of readLogs(this.store.logPath(id), { tail: count })) lines.push(entry.log.replace(/\n$/, ""));
    } catch {
      // No log yet.
    }
    return lines;
  }
}


/**
 * What the engine learnt about images' root filesystems, by image id: the user a spec's
 * `User` resolves to (with its groups) and the working directories the image has. An image id
 * is the digest of its config, which names its layers' digests: the same id is the same files,
 * so a fact learnt from one container's fresh rootfs holds for the next one's, whose create
 * then needs no mounted rootfs before the spec is written.
 */
const rootfsFacts = {
  users: new Map<string, ResolvedUser>(),
  workdirs: new Map<string, true>(),
};

/** Facts are small, but a process may run many images: the oldest go first. */
const maxRootfsFacts = 512;

function remember<T>(map: Map<string, T>, key: string, value: T): void {
  if (map.size >= maxRootfsFacts) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/** A process's start time (field 22 of /proc/pid/stat), so a reused pid is not mistaken for it. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // A zombie has exited: its monitor has not reaped it yet.
    return fields[0] === "Z" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether a running record's init still lives: its pid with the recorded start time. A record
 * from before start times were kept falls back to the pid being in the container's cgroup.
 */
function isAlive(record: ContainerRecord): boolean {
  if (record.status !== "running" || record.pid <= 0) return false;
  const start = processStart(record.pid);
  if (start === undefined) return false;
  if (record.pidStartTime !== undefined) return start === record.pidStartTime;
  try {
    return readFileSync(`/proc/${record.pid}/cgroup`, "utf8").includes(record.id);
  } catch {
    return false;
  }
}

/** Polls a container's init (one another runtime root runs, whose `wait` we cannot use) until it exits. */
async function waitForExit(record: ContainerRecord, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  while (isAlive(record)) {
    if (Date.now() >= deadline) {
      throw new BerthError("BERTH_TIMEOUT", `container ${record.name} still runs after ${timeout} ms`, { container: record.name, timeout });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

function networkMode(prep: NetworkPreparation): NetworkMode {
  if (prep.mode === "path") {
    if (!prep.netnsPath) throw new BerthError("BERTH_INVALID_ARGUMENT", "a network attachment in path mode gave no namespace path", { field: "netnsPath" });
    return { mode: "path", netnsPath: prep.netnsPath };
  }
  return { mode: prep.mode };
}

function notRunning(record: ContainerRecord): BerthError {
  return new BerthError("BERTH_CONTAINER_NOT_RUNNING", `Container ${record.id} is not running`, { container: record.name });
}

function ignoreStopped(error: unknown): void {
  if (hasErrorCode(error, "BERTH_CONTAINER_NOT_RUNNING") || hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND")) return;
  throw error;
}

/** Adds the container to an error's context when it lacks one. */
function withContainer(error: unknown, container: string): unknown {
  if (isBerthError(error) && error.context.container === undefined) {
    (error.context as Record<string, unknown>).container = container;
  }
  return error;
}

function matches(record: ContainerRecord, status: string, f: ListContainersOptions): boolean {
  if (f.status && f.status.length > 0 && !f.status.includes(status)) return false;
  if (f.name && f.name.length > 0 && !f.name.some((n) => record.name.includes(n.replace(/^\//, "")))) return false;
  if (f.id && f.id.length > 0 && !f.id.some((p) => record.id.startsWith(p))) return false;
  if (f.ancestor && f.ancestor.length > 0 && !f.ancestor.some((a) => a === record.image || a === record.imageId || record.imageId.replace(/^sha256:/, "").startsWith(a))) {
    return false;
  }
  for (const label of f.label ?? []) {
    const at = label.indexOf("=");
    const key = at < 0 ? label : label.slice(0, at);
    if (!(key in record.config.labels)) return false;
    if (at >= 0 && record.config.labels[key] !== label.slice(at + 1)) return false;
  }
  return true;
}


/** {@link ContainerEngine.exec} with a terminal: the output is the terminal's, all on stdout. */
async function collectTtyExec(process: ExecProcess, input: string | Uint8Array | undefined): Promise<ExecResult> {
  process.stdin.on("error", () => {});
  process.stdin.end(input);
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  process.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  process.stderr.on("data", (chunk: Buffer) => errors.push(chunk));
  const exitCode = await process.exitCode;
  return { exitCode, stdout: Buffer.concat(chunks).toString("utf8"), stderr: Buffer.concat(errors).toString("utf8") };
}
