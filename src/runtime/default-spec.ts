import { dockerDefaults } from "./container-config/docker-defaults.js";
import { OCI_VERSION, type OciNamespaceType, type OciSpec } from "./oci-spec.js";

/**
 * Docker's default capability set (moby `oci/caps/defaults.go`); berth follows Docker rather
 * than `runc spec`, whose three capabilities break most images.
 */
export const defaultCapabilities: readonly string[] = dockerDefaults.capabilities;

/** Paths Docker masks by default. */
export const defaultMaskedPaths: readonly string[] = dockerDefaults.maskedPaths;

/** Paths Docker makes read-only by default. */
export const defaultReadonlyPaths: readonly string[] = dockerDefaults.readonlyPaths;

/** The default search path, Docker's. */
export const defaultPath = `PATH=${dockerDefaults.path}`;

/** Options of {@link defaultSpec}. */
export interface DefaultSpecOptions {
  /** argv of the container's process. @default ["sh"] */
  args?: string[];
  /** Extra `NAME=value` environment entries, after PATH (an entry for PATH replaces it). @default [] */
  env?: string[];
  /** Working directory inside the container. @default "/" */
  cwd?: string;
  /** The container's hostname. @default "berth" */
  hostname?: string;
  /** Mount the root filesystem read-only. @default false (Docker's default) */
  readonlyRootfs?: boolean;
  /** Give the process a pseudo-terminal (needs a console socket). @default false */
  terminal?: boolean;
  /** The namespaces to create. @default ["pid", "network", "ipc", "uts", "mount"] */
  namespaces?: OciNamespaceType[];
  /** Capabilities of all sets but ambient. @default {@link defaultCapabilities} */
  capabilities?: readonly string[];
  /** The cgroup path; unset lets the runtime choose (runc: `/<id>`). @default undefined */
  cgroupsPath?: string;
}

/**
 * A sane default OCI spec for a root filesystem, like `runc spec` but with Docker's defaults
 * (capabilities, masked paths, a writable root, no terminal). Callers adjust the returned
 * object; it shares nothing with other calls.
 *
 * @param rootfs the root filesystem directory, absolute or relative to the bundle
 */
export function defaultSpec(rootfs = "rootfs", options: DefaultSpecOptions = {}): OciSpec {
  const {
    args = ["sh"],
    env = [],
    cwd = "/",
    hostname = "berth",
    readonlyRootfs = false,
    terminal = false,
    namespaces = ["pid", "network", "ipc", "uts", "mount"],
    capabilities = defaultCapabilities,
    cgroupsPath,
  } = options;
  const caps = [...capabilities];
  const hasPath = env.some((e) => e.startsWith("PATH="));
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal,
      user: { uid: 0, gid: 0 },
      args: [...args],
      env: hasPath ? [...env] : [defaultPath, ...env],
      cwd,
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: readonlyRootfs },
    hostname,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: {
      namespaces: namespaces.map((type) => ({ type })),
      ...(cgroupsPath === undefined ? {} : { cgroupsPath }),
      resources: { devices: [{ allow: false, access: "rwm" }] },
      maskedPaths: [...defaultMaskedPaths],
      readonlyPaths: [...defaultReadonlyPaths],
    },
  };
}
