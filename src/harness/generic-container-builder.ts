import { BerthError } from "../common/berth-error.js";
import type { Network } from "../network/network.js";
import type { Volume } from "../volume/volume.js";
import {
  parsePortToExpose,
  type ArchiveToCopy,
  type BindMount,
  type ContentToCopy,
  type DirectoryToCopy,
  type FileToCopy,
  type GenericContainerOptions,
  type LogConsumer,
  type PortToExpose,
  type ResourcesQuota,
  type VolumeMountOptions,
} from "./container-options.js";
import type { WaitStrategy } from "./wait/wait-strategy.js";

/** A health check as testcontainers takes it: durations in ms. */
export interface HealthCheck {
  /** `["CMD", ...argv]`, `["CMD-SHELL", "cmd"]`, or a string run by the image's shell. */
  test: string | readonly string[];
  /** Time between probes, in ms. @default the image's, else 30 000 */
  interval?: number;
  /** Time one probe may take, in ms. @default the image's, else 30 000 */
  timeout?: number;
  /** Consecutive failures that make it unhealthy. @default the image's, else 3 */
  retries?: number;
  /** Grace period during which failures do not count, in ms. @default the image's, else 0 */
  startPeriod?: number;
}

const ms = (value: number | undefined) => (value === undefined ? undefined : `${value}ms`);

/**
 * The options half of {@link GenericContainer}: every `with*`, each returning `this` and
 * recording into {@link GenericContainerBuilder.options}, which subclasses may read and change.
 */
export class GenericContainerBuilder {
  /** Everything set so far. */
  protected readonly options: GenericContainerOptions;

  constructor(image: string | { readonly id: string; readonly reference?: string | undefined }) {
    const reference = typeof image === "string" ? image : image.reference;
    this.options = {
      image: reference ?? (image as { id: string }).id,
      ...(typeof image === "string" ? {} : { imageId: image.id }),
      labels: {},
      env: {},
      exposedPorts: [],
      mounts: [],
      tmpfs: [],
      networks: [],
      networkAliases: [],
      extraHosts: [],
      files: [],
      directories: [],
      contents: [],
      archives: [],
      logConsumers: [],
      capAdd: [],
      capDrop: [],
      ulimits: [],
    };
  }

  /** The command (the image's `CMD` replaced). */
  withCommand(command: readonly string[]): this {
    this.options.cmd = [...command];
    return this;
  }
  /** The entrypoint (the image's `ENTRYPOINT` replaced; its `CMD` dropped, as Docker). */
  withEntrypoint(entrypoint: readonly string[]): this {
    this.options.entrypoint = [...entrypoint];
    return this;
  }
  /** The container's name. @default `berth-<12 hex>` (so the reaper knows it before it exists) */
  withName(name: string): this {
    this.options.name = name;
    return this;
  }
  /** Labels, added to those set before. */
  withLabels(labels: Readonly<Record<string, string>>): this {
    Object.assign(this.options.labels, labels);
    return this;
  }
  /** Environment variables, added to the image's and to those set before. */
  withEnvironment(env: Readonly<Record<string, string>>): this {
    Object.assign(this.options.env, env);
    return this;
  }
  /**
   * Ports to expose and publish on the host, on 127.0.0.1 and ::1 (`getHost()` is
   * `localhost`): `6379`, `"53/udp"`, or `{ container: 80, host: 8080 }` for a fixed host port.
   * @default a free host port for each
   */
  withExposedPorts(...ports: PortToExpose[]): this {
    this.options.exposedPorts.push(...ports.map(parsePortToExpose));
    return this;
  }
  /** Mounts a named volume (a {@link Volume} or its name, made when missing) at `target`. */
  withVolume(volume: Volume | string, target: string, options: VolumeMountOptions = {}): this {
    const name = typeof volume === "string" ? volume : volume.name;
    this.options.mounts.push(`${name}:${target}${options.readOnly ? ":ro" : ""}`);
    return this;
  }
  /** Bind-mounts host paths. */
  withBindMounts(binds: readonly BindMount[]): this {
    for (const b of binds) {
      if (!b.source.startsWith("/")) throw new BerthError("BERTH_INVALID_ARGUMENT", `bind source ${JSON.stringify(b.source)} must be an absolute host path`, { path: b.source });
      this.options.mounts.push(`${b.source}:${b.target}${b.mode === "ro" ? ":ro" : ""}`);
    }
    return this;
  }
  /** tmpfs mounts: target → mount options (`"rw,size=64m"`, or `""`). */
  withTmpFs(tmpfs: Readonly<Record<string, string>>): this {
    for (const [target, opts] of Object.entries(tmpfs)) this.options.tmpfs.push(opts ? `${target}:${opts}` : target);
    return this;
  }
  /** Attaches the container to a user network (several calls: several networks, the first gives the default route). */
  withNetwork(network: Network): this {
    this.options.networks.push({ network, aliases: [] });
    return this;
  }
  /**
   * `none`, `host`, `bridge` (the default bridge), a network's name, or `container:<name or id>`.
   * @default "bridge", or the networks given to `withNetwork`
   */
  withNetworkMode(mode: string): this {
    this.options.networkMode = mode;
    return this;
  }
  /** Names the other containers on its user networks resolve it by (the default bridge has none, as Docker). */
  withNetworkAliases(...aliases: string[]): this {
    this.options.networkAliases.push(...aliases);
    return this;
  }
  /** `/etc/hosts` entries (`--add-host`). */
  withExtraHosts(hosts: readonly { host: string; ipAddress: string }[]): this {
    this.options.extraHosts.push(...hosts);
    return this;
  }
  /** Host files copied in before the start. */
  withCopyFilesToContainer(files: readonly FileToCopy[]): this {
    this.options.files.push(...files);
    return this;
  }
  /** Host directories copied in (recursively) before the start. */
  withCopyDirectoriesToContainer(directories: readonly DirectoryToCopy[]): this {
    this.options.directories.push(...directories);
    return this;
  }
  /** Text or bytes written as files before the start. */
  withCopyContentToContainer(contents: readonly ContentToCopy[]): this {
    this.options.contents.push(...contents);
    return this;
  }
  /** Tar archives extracted before the start. */
  withCopyArchivesToContainer(archives: readonly ArchiveToCopy[]): this {
    this.options.archives.push(...archives);
    return this;
  }
  /** A health check (the image's replaced); the default wait strategy then waits for `healthy`. */
  withHealthCheck(check: HealthCheck): this {
    const { test, interval, timeout, retries, startPeriod } = check;
    this.options.healthcheck = {
      test: typeof test === "string" ? test : [...test],
      ...(interval !== undefined ? { interval: ms(interval)! } : {}),
      ...(timeout !== undefined ? { timeout: ms(timeout)! } : {}),
      ...(startPeriod !== undefined ? { startPeriod: ms(startPeriod)! } : {}),
      ...(retries !== undefined ? { retries } : {}),
    };
    return this;
  }
  /** How long `start()` waits for readiness, in ms, unless the strategy has its own. @default 60000 */
  withStartupTimeout(timeout: number): this {
    this.options.startupTimeout = timeout;
    return this;
  }
  /** What "ready" means (`Wait.*`). @default health check if any, else listening ports */
  withWaitStrategy(strategy: WaitStrategy): this {
    this.options.waitStrategy = strategy;
    return this;
  }
  /**
   * `missing`, `always` or `never`; or testcontainers' policy object, whose `shouldPull()`
   * true means `always`. @default "missing"
   */
  withPullPolicy(policy: "missing" | "always" | "never" | { shouldPull(): boolean }): this {
    this.options.pullPolicy = typeof policy === "string" ? policy : policy.shouldPull() ? "always" : "missing";
    return this;
  }
  /** Find a running container started with the same options (any process) instead of starting one; it outlives the session. @default false */
  withReuse(reuse = true): this {
    this.options.reuse = reuse;
    return this;
  }
  /** Whether `stop()` removes the container by default. @default true */
  withAutoRemove(autoRemove: boolean): this {
    this.options.autoRemove = autoRemove;
    return this;
  }
  /** Whether the session reaper removes the container when the test run ends. @default true */
  withAutoCleanup(autoCleanup: boolean): this {
    this.options.autoCleanup = autoCleanup;
    return this;
  }
  /** Hands the container's output (followed until it stops) to `consumer` as a text stream. */
  withLogConsumer(consumer: LogConsumer): this {
    this.options.logConsumers.push(consumer);
    return this;
  }
  /** `--privileged`. @default false */
  withPrivilegedMode(privileged = true): this {
    this.options.privileged = privileged;
    return this;
  }
  /** `user`, `uid`, `user:group`. @default the image's */
  withUser(user: string): this {
    this.options.user = user;
    return this;
  }
  /** @default the image's */
  withWorkingDir(dir: string): this {
    this.options.workingDir = dir;
    return this;
  }
  /** Memory (GiB) and CPU limits. @default none */
  withResourcesQuota(quota: ResourcesQuota): this {
    this.options.resources = {
      ...(quota.memory !== undefined ? { memory: Math.round(quota.memory * 1024 ** 3) } : {}),
      ...(quota.cpu !== undefined ? { cpus: quota.cpu } : {}),
    };
    return this;
  }
  /** /dev/shm's size, in bytes. @default 64 MiB */
  withSharedMemorySize(bytes: number): this {
    this.options.shmSize = bytes;
    return this;
  }
  /** @default the container id's first 12 digits */
  withHostname(hostname: string): this {
    this.options.hostname = hostname;
    return this;
  }
  /** Capabilities added to Docker's default set. */
  withAddedCapabilities(...caps: string[]): this {
    this.options.capAdd.push(...caps);
    return this;
  }
  /** Capabilities dropped from Docker's default set. */
  withDroppedCapabilities(...caps: string[]): this {
    this.options.capDrop.push(...caps);
    return this;
  }
  /** Resource limits by name: `{ nofile: { soft: 1024, hard: 2048 } }`. @default Docker's */
  withUlimits(ulimits: Readonly<Record<string, { soft: number; hard?: number }>>): this {
    for (const [name, { soft, hard }] of Object.entries(ulimits)) this.options.ulimits.push({ name, soft, ...(hard !== undefined ? { hard } : {}) });
    return this;
  }
  /** The image platform (`linux/amd64`); berth runs only the host's (`BERTH_UNSUPPORTED` otherwise). @default the host's */
  withPlatform(platform: string): this {
    this.options.platform = platform;
    return this;
  }
}
