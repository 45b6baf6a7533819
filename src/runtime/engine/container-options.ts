import type { MountSpec } from "../../volume/mount-spec.js";
import type { ContainerConfigOptions } from "../container-config/merge-config.js";
import type { ExtraHost } from "../container-config/etc-files.js";
import type { ResourceLimits } from "../container-config/oci-spec-builder.js";
import type { Ulimit } from "../container-config/ulimit.js";
import type { NetworkAttachment } from "./network-attachment.js";
import type { RestartPolicy } from "./restart-policy.js";

/** Options of {@link ContainerEngine.create}: `docker create`'s, as one object. */
export interface CreateContainerOptions extends ContainerConfigOptions {
  /**
   * The image: a reference (pulled according to `pull`) or an image object such as berth's
   * `Image` (anything with the image `id`, and its `reference` when it has one).
   */
  image: string | { readonly id: string; readonly reference?: string | undefined };
  /** The container's name, unique in the state root. @default a generated `adjective_surname` */
  name?: string;
  /**
   * When to pull a reference: `missing` pulls only when the store lacks it, `always` pulls
   * every time, `never` fails with `BERTH_IMAGE_NOT_FOUND` when it is absent.
   * @default "missing"
   */
  pull?: "missing" | "always" | "never";
  /**
   * Volumes and binds: `-v` strings (`/ctr`, `name:/ctr[:ro]`, `/host:/ctr[:ro]`) or parsed
   * {@link MountSpec}s (`parseMountFlag` for `--mount`, `parseTmpfsFlag` for `--tmpfs`).
   * @default []
   */
  mounts?: readonly (string | MountSpec)[];
  /** `--tmpfs` mounts: `/path[:options]`. @default [] */
  tmpfs?: readonly string[];
  /**
   * The network: `none` (a private namespace with loopback only, up), `host`, or an attachment
   * from the network layer (whose `config` is kept in the container's record, so that other
   * processes can start and remove the container). The engine, below the network layer, has no
   * bridge of its own: the public `Container` API defaults to the default bridge.
   * @default "none"
   */
  network?: "none" | "host" | NetworkAttachment;
  /** `--add-host` entries (`name:ip`). @default [] */
  extraHosts?: readonly (string | ExtraHost)[];
  /** `--dns` nameservers. @default the host's (minus loopback ones on a private network) */
  dns?: readonly string[];
  /** `--dns-search` domains. @default the host's */
  dnsSearch?: readonly string[];
  /** `--dns-option`s. @default the host's */
  dnsOptions?: readonly string[];
  /** `--rm`: remove the container once it has exited (see docs/containers.md: reaped by the next engine call). @default false */
  autoRemove?: boolean;
  /**
   * `--restart`: whether the container's monitor runs it again when it exits (see
   * {@link RestartPolicy}; docs/containers.md). Refused with `autoRemove`.
   * @default { name: "no" }
   */
  restartPolicy?: RestartPolicy;
  /** `--init`: a tini-like pid 1 that reaps zombies and forwards signals. @default false */
  init?: boolean;
  /** `--privileged`. @default false */
  privileged?: boolean;
  /** `--read-only`. @default false */
  readonlyRootfs?: boolean;
  /** `--cap-add`. @default [] */
  capAdd?: readonly string[];
  /** `--cap-drop`. @default [] */
  capDrop?: readonly string[];
  /** Memory, CPU and pids limits with Docker's names and units. @default none */
  resources?: ResourceLimits;
  /** `--ulimit`s (`nofile=1024:2048`). @default Docker's (nofile 1024:524288, capped to the engine's) */
  ulimits?: readonly (string | Ulimit)[];
  /** `--shm-size`. @default 64 MiB */
  shmSize?: number | string;
  /** `--group-add`. @default [] */
  groupAdd?: readonly (string | number)[];
  /** `--sysctl`s. @default {} */
  sysctls?: Readonly<Record<string, string>>;
  /** `--security-opt no-new-privileges`. @default false */
  noNewPrivileges?: boolean;
}

/** Options of {@link ContainerEngine.stop}. */
export interface StopOptions {
  /** Seconds between the stop signal and SIGKILL. @default the container's `stopTimeout` (10) */
  timeout?: number;
  /** The first signal. @default the container's stop signal (the image's, else SIGTERM) */
  signal?: string;
}

/** Options of {@link ContainerEngine.remove}. */
export interface RemoveContainerOptions {
  /** Kill a running container first (`docker rm -f`). @default false */
  force?: boolean;
  /** Remove its anonymous volumes too (`docker rm -v`). @default false */
  volumes?: boolean;
}

/** Options of {@link ContainerEngine.wait}. */
export interface WaitContainerOptions {
  /** How long to wait, in ms; then `BERTH_TIMEOUT`. @default 300000 */
  timeout?: number;
}

/** Filters of {@link ContainerEngine.list}, as `docker ps --filter`. */
export interface ListContainersOptions {
  /** Include containers that are not running. @default false */
  all?: boolean;
  /** `key` or `key=value` labels, all of which must match. @default none */
  label?: readonly string[];
  /** Statuses (`created`, `running`, `paused`, `exited`). @default any */
  status?: readonly string[];
  /** Substrings of the name. @default any */
  name?: readonly string[];
  /** Id prefixes. @default any */
  id?: readonly string[];
  /** Image references or ids the container was created from. @default any */
  ancestor?: readonly string[];
}

/** Options of {@link ContainerEngine.exec}. */
export interface ExecContainerOptions {
  /** Extra `NAME=value` entries. @default [] */
  env?: readonly string[];
  /** `user`, `uid`, `user:group`, resolved in the container. @default the container's user */
  user?: string;
  /** Working directory. @default the container's */
  workingDir?: string;
  /** Bytes or text written to stdin (then closed). @default none (stdin is /dev/null) */
  input?: string | Uint8Array;
  /**
   * A pseudo-terminal for the process (`docker exec -t`): its output all comes on stdout, as
   * the terminal shows it (`\r\n` line ends, echo of what stdin typed).
   * @default false
   */
  tty?: boolean;
  /** The terminal's size at the start, with `tty`; `resize` of the streaming form changes it. @default { rows: 24, cols: 80 } */
  consoleSize?: { rows: number; cols: number };
  /** Time limit, in ms. @default 60000 */
  timeout?: number;
}

/** The result of {@link ContainerEngine.exec}. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}
