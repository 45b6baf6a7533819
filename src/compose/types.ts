/** A published or exposed port of a service, in Compose's long syntax. */
export interface ComposePort {
  /** The container port. */
  target: number;
  /** The host port or range (`"8080"`, `"8000-8010"`); undefined picks a free one. */
  published?: string;
  /** The host address to bind; undefined binds every address. */
  hostIp?: string;
  /** `tcp`, `udp` or `sctp`. */
  protocol: string;
  /** `ingress` or `host`. */
  mode: string;
  /** The name given in the long syntax, if any. */
  name?: string;
  /** The application protocol given in the long syntax (`http`), if any. */
  appProtocol?: string;
}

/** A mount of a service, in Compose's long syntax. */
export interface ComposeVolumeMount {
  type: "volume" | "bind" | "tmpfs" | "npipe" | "image" | "cluster";
  /** A volume name (as written in the file, not yet prefixed) or an absolute host path; none for anonymous volumes and tmpfs. */
  source?: string;
  /** The path inside the container. */
  target: string;
  readOnly: boolean;
  /** SELinux / propagation options from the short syntax (`z`, `Z`, `rprivate`...). */
  bind?: { propagation?: string; createHostPath?: boolean; selinux?: string };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: number; mode?: number };
  /** `consistency` from the long syntax, kept for `config`. */
  consistency?: string;
}

/** A service's attachment to one network. */
export interface ComposeServiceNetwork {
  aliases?: string[];
  ipv4Address?: string;
  ipv6Address?: string;
  priority?: number;
}

/** One `depends_on` entry. */
export interface ComposeDependency {
  condition: "service_started" | "service_healthy" | "service_completed_successfully";
  /** Whether restarting the dependency restarts this service. */
  restart: boolean;
  /** Whether a missing dependency is an error (true) or ignored. */
  required: boolean;
}

/** A service's healthcheck; durations in nanoseconds as Compose keeps them. */
export interface ComposeHealthcheck {
  /** `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`. */
  test?: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
  disable?: boolean;
}

/** How a service's image is built. */
export interface ComposeBuild {
  /** Absolute path (or a URL) of the build context. */
  context: string;
  /** The Dockerfile, relative to the context. */
  dockerfile: string;
  /** Build args; `null` takes the value from the environment at build time. */
  args: Record<string, string | null>;
  target?: string;
  labels?: Record<string, string>;
  cacheFrom?: string[];
  /** `build.platforms`: the platforms to build for; berth builds the first. */
  platforms?: string[];
  network?: string;
  shmSize?: number;
  noCache?: boolean;
  pull?: boolean;
}

/** One service, normalised. */
export interface ComposeService {
  name: string;
  image?: string;
  build?: ComposeBuild;
  /** `null` when not set (the image's default). */
  command?: string[] | null;
  entrypoint?: string[] | null;
  /** Resolved: env_file entries first, then `environment`; `null` means unset (no host value). */
  environment: Record<string, string | null>;
  /** The env files that were read, absolute paths. */
  envFile?: Array<{ path: string; required: boolean }>;
  ports: ComposePort[];
  expose: string[];
  volumes: ComposeVolumeMount[];
  networks: Record<string, ComposeServiceNetwork | null>;
  dependsOn: Record<string, ComposeDependency>;
  healthcheck?: ComposeHealthcheck;
  restart?: string;
  user?: string;
  workingDir?: string;
  labels: Record<string, string>;
  hostname?: string;
  domainname?: string;
  containerName?: string;
  init?: boolean;
  privileged?: boolean;
  readOnly?: boolean;
  tty?: boolean;
  stdinOpen?: boolean;
  capAdd: string[];
  capDrop: string[];
  extraHosts: Record<string, string>;
  tmpfs: string[];
  stopSignal?: string;
  /** Nanoseconds. */
  stopGracePeriod?: number;
  pullPolicy?: string;
  platform?: string;
  profiles: string[];
  deploy?: {
    replicas?: number;
    resources?: { limits?: ComposeResources; reservations?: ComposeResources };
    [key: string]: unknown;
  };
  /** How many containers to run: `--scale`, else `deploy.replicas`, else `scale`, else 1. */
  scale: number;
  /** Keys Compose accepts that berth keeps but does not model, as written. */
  extra: Record<string, unknown>;
}

/** Resource limits; `memory` in bytes, `cpus` as a number of CPUs. */
export interface ComposeResources {
  cpus?: number;
  memory?: number;
  pids?: number;
}

/** A top-level network. */
export interface ComposeNetwork {
  /** The network's real name: `<project>_<key>` unless set or external. */
  name: string;
  driver?: string;
  driverOpts?: Record<string, string>;
  internal?: boolean;
  attachable?: boolean;
  enableIpv6?: boolean;
  external: boolean;
  ipam?: { driver?: string; config: Array<{ subnet?: string; gateway?: string; ipRange?: string }> };
  labels: Record<string, string>;
}

/** A top-level volume. */
export interface ComposeVolume {
  /** The volume's real name: `<project>_<key>` unless set or external. */
  name: string;
  driver?: string;
  driverOpts?: Record<string, string>;
  external: boolean;
  labels: Record<string, string>;
}

/** A loaded, merged, interpolated and validated Compose project. */
export interface ComposeProject {
  /** The project name, normalised to `[a-z0-9_-]`. */
  name: string;
  /** The project directory: relative paths in the files are relative to it. */
  workingDir: string;
  /** The compose files, absolute, in the order merged. */
  configFiles: string[];
  /** The variables interpolation used (process env over `.env`). */
  environment: Record<string, string>;
  /** The enabled profiles. */
  profiles: string[];
  /** Services active with the enabled profiles, by name, in file order. */
  services: Record<string, ComposeService>;
  /** Services left out because none of their profiles is enabled. */
  disabledServices: Record<string, ComposeService>;
  networks: Record<string, ComposeNetwork>;
  volumes: Record<string, ComposeVolume>;
  /** Top-level keys berth keeps but does not model (`secrets`, `configs`, `x-*`). */
  extra: Record<string, unknown>;
}
