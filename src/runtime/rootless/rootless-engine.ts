import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdir } from "node:fs/promises";
import { BerthError } from "../../common/berth-error.js";
import { isRootless } from "../../common/user-namespace.js";
import { logger } from "../../common/logger.js";
import type { ImageStore } from "../../image/image-store.js";
import type { OciSpec } from "../oci-spec.js";
import type { ContainerRecord } from "../engine/container-record.js";
import type { NetworkPreparation } from "../engine/network-attachment.js";
import { findCgroupDelegation, type CgroupDelegation } from "./cgroup-delegation.js";
import { ensureRootlessOwnership } from "./layer-ownership.js";
import { applyRootless, type OverlayDriver } from "./rootless-spec.js";
import { rootlessIdMappings, type RootlessIdMappings } from "./subordinate-ids.js";
import { kernelRootfsView, runWorker, workerRootfsView, type RootfsView } from "./rootfs-view.js";
import { overlayOptions, removeInUserNamespace, unshareArgs, type RootlessOverlay } from "./user-namespace.js";

const log = logger("rootless");

/** Options of {@link RootlessSupport}: seams for tests. */
export interface RootlessSupportOptions {
  /** @default rootlessIdMappings() (the user's first /etc/subuid and /etc/subgid ranges) */
  mappings?: RootlessIdMappings;
  /** @default findCgroupDelegation() */
  delegation?: CgroupDelegation;
  /** How overlays are mounted. @default BERTH_ROOTLESS_OVERLAY, else "auto" */
  overlayDriver?: OverlayDriver;
  /**
   * The native helper that answers the command check and the create's questions on a root
   * this process cannot read (see workerRootfsView), or null to ask the Node worker.
   * @default `berth-rootfs` beside the bundled berth-runtime, when built
   */
  rootfsProbe?: string | null;
}

function overlayDriverFromEnv(): OverlayDriver {
  const value = process.env.BERTH_ROOTLESS_OVERLAY;
  if (value === undefined || value === "") return "auto";
  if (value === "auto" || value === "overlay" || value === "fuse-overlayfs") return value;
  throw new BerthError("BERTH_INVALID_ARGUMENT", `BERTH_ROOTLESS_OVERLAY must be auto, overlay or fuse-overlayfs, not ${JSON.stringify(value)}`, { field: "BERTH_ROOTLESS_OVERLAY" });
}

export type { RootfsView } from "./rootfs-view.js";

/**
 * A network preparation that also names the user namespace owning its network namespace
 * (the rootless network's): the container joins both. See `src/network/rootless-network.ts`.
 */
export interface RootlessPreparation extends NetworkPreparation {
  usernsPath?: string;
}

/** Whether the engine runs rootless (see src/common/user-namespace.ts). */
export { isRootless };

/**
 * What the engine does differently as an unprivileged user (docs/rootless.md): it cannot
 * mount the overlay on the host, chown layer files, remove files owned by its subordinate
 * ids, or make cgroups. Each of those goes through a user namespace with the user's
 * subordinate ranges mapped (util-linux `unshare` + shadow's `newuidmap`), or is handed to
 * berth-runtime, which runs the container in such a namespace.
 */
export class RootlessSupport {
  readonly overlayDriver: OverlayDriver;
  /** Warnings given per container, kept so `inspect` callers can read them. */
  readonly #warnings = new Map<string, string[]>();
  #mappings: RootlessIdMappings | undefined;
  #delegation: CgroupDelegation | undefined;
  readonly #probe: { probe?: string | null };

  constructor(options: RootlessSupportOptions = {}) {
    this.#probe = options.rootfsProbe !== undefined ? { probe: options.rootfsProbe } : {};
    this.#mappings = options.mappings;
    this.#delegation = options.delegation;
    this.overlayDriver = options.overlayDriver ?? overlayDriverFromEnv();
  }

  /**
   * The container's id mappings, read when first needed: an engine that never runs a
   * container (listing images, say) works for a user without subordinate ids.
   */
  get mappings(): RootlessIdMappings {
    return (this.#mappings ??= rootlessIdMappings());
  }

  /** Where limits can be applied (see {@link findCgroupDelegation}), looked up once. */
  get delegation(): CgroupDelegation {
    return (this.#delegation ??= findCgroupDelegation());
  }

  /** Gives the image's snapshots their layers' owners, once (see layer-ownership.ts). */
  async prepareImage(images: ImageStore, imageId: string): Promise<void> {
    await ensureRootlessOwnership(images, imageId, this.mappings);
  }

  /**
   * The container's root mounted in a helper's private mount namespace and reached through
   * `/proc/<helper>/root`: for what the engine reads and writes in the rootfs (working
   * directory, volume copy-up, users, the command check, copy of a stopped container). The
   * helper ends when `close` is called or this process ends (it reads its stdin until then).
   *
   * The overlay is the kernel's, or fuse-overlayfs where the kernel refuses it in a user
   * namespace (`auto`) or where it is asked for (`fuse-overlayfs`), as berth-runtime mounts the
   * container's own root. A fuse-overlayfs root serves only processes in the helper's user
   * namespace: the view's operations then run in a worker there (see workerRootfsView).
   */
  async openRootfs(dirs: RootlessOverlay, options: { container?: string; timeout?: number } = {}): Promise<RootfsView> {
    const timeout = options.timeout ?? 20_000;
    const container = options.container ?? dirs.merged;
    await Promise.all([dirs.upper, dirs.work, dirs.merged].map((d) => mkdir(d, { recursive: true })));
    // fuse-overlayfs runs in the foreground, as the helper's child, so that the helper knows
    // its pid (killed with it if the helper has to be killed) and unmounts it at the end: a
    // daemon left running would keep the mount namespace, and itself, alive for ever.
    const script = [
      'd=$1 m=$4',
      'if [ "$d" != fuse-overlayfs ] && mount -t overlay overlay -o "$2" "$m"; then echo ready; exec cat >/dev/null; fi',
      '[ "$d" = overlay ] && exit 1',
      'fuse-overlayfs -f -o "$3" "$m" >&2 & p=$!',
      'echo "fuse $p"',
      'until mountpoint -q "$m"; do kill -0 $p 2>/dev/null || exit 1; sleep 0.01; done',
      'echo ready',
      'cat >/dev/null',
      'umount "$m" || kill $p',
      'wait $p',
    ].join("\n");
    const child = spawn("unshare", [...unshareArgs(this.mappings, true), "--", "sh", "-c", script, "sh", this.overlayDriver, overlayOptions(dirs), fuseOptions(dirs), dirs.merged], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const exited = new Promise<number>((resolve) => {
      child.once("close", (code) => resolve(code ?? 1));
      child.once("error", () => resolve(127));
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.stdin.on("error", () => {});
    // "fuse <pid>" when fuse-overlayfs is started (killed with the helper if it must be), then
    // "ready" once the root is mounted.
    let fusePid: number | undefined;
    const ready = await new Promise<boolean>((resolve) => {
      let out = "";
      const timer = setTimeout(() => resolve(false), timeout);
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        out += c;
        const fuse = /^fuse (\d+)$/m.exec(out);
        if (fuse) fusePid = Number(fuse[1]);
        if (/^ready$/m.test(out)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      child.stdin.end();
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        if (fusePid) killQuietly(fusePid);
      }, 5_000);
      await exited;
      clearTimeout(timer);
    };
    if (!ready) {
      child.kill("SIGKILL");
      if (fusePid) killQuietly(fusePid);
      await close();
      const lastLines = stderr.split("\n").filter((l) => l.trim() && !/unknown argument ignored/.test(l)).slice(-3);
      throw new BerthError(
        "BERTH_ROOTLESS_FAILED",
        `cannot mount the root filesystem of container ${container} in a user namespace (rootless mode needs overlayfs in user namespaces, Linux >= 5.11, or fuse-overlayfs with BERTH_ROOTLESS_OVERLAY=auto or fuse-overlayfs; this is ${this.overlayDriver}): ${lastLines.at(-1) ?? "timed out"}`,
        { container, path: dirs.merged, lastLines },
      );
    }
    const root = `/proc/${child.pid}/root${dirs.merged}`;
    if (fusePid === undefined) return kernelRootfsView(child.pid!, root, { container, close, ...this.#probe });
    log("the root of %s is fuse-overlayfs: its operations go through a worker", container);
    return workerRootfsView(child.pid!, root, { container, close, ...this.#probe });
  }

  /**
   * A running container's root for the engine's reads and writes (the command check and users
   * at exec, copy): `/proc/<pid>/root`, which shows the container's mounts too. Read here when
   * it serves this process, which it does unless the root is fuse-overlayfs (a kernel-overlay
   * container pays one `access(2)` for the question; its copies in, and copies out this
   * process is refused, still go through its user namespace: see kernelRootfsView); else
   * everything goes through the container's user namespace (see workerRootfsView), and writes
   * through its own mount.
   */
  openRunningRootfs(pid: number, container: string): RootfsView {
    const root = `/proc/${pid}/root`;
    try {
      accessSync(`${root}/`, constants.X_OK);
      return kernelRootfsView(pid, root, { container, ...this.#probe });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EACCES") return kernelRootfsView(pid, root, { container, ...this.#probe });
    }
    log("the root of process %d is not readable here (fuse-overlayfs): a worker in its user namespace", pid);
    return workerRootfsView(pid, root, { container, ...this.#probe });
  }

  /**
   * The layer tar of a container's upper directory (see diffUpperDir), read as root of a user
   * namespace with the container's mappings: there every file is readable (a 0700 directory
   * of a container user is not, to this process) and owned by the ids the container sees,
   * which the layer must record (seen from here, the container's root owns files as this
   * user, and its user 1000 as a subordinate id).
   */
  async diffUpperDir(upper: string, container: string): Promise<Buffer> {
    return runWorker(undefined, "diff", { root: upper }, { container, timeout: 10 * 60_000, enter: ["unshare", ...unshareArgs(this.mappings), "--"] });
  }

  /** Makes a spec built for root runnable by this user; logs and keeps its warnings. */
  apply(spec: OciSpec, record: ContainerRecord, dirs: RootlessOverlay, prep?: NetworkPreparation): string[] {
    spec.root = { ...(spec.root ?? { path: dirs.merged }), path: dirs.merged };
    const usernsPath = (prep as RootlessPreparation | undefined)?.usernsPath;
    const { warnings } = applyRootless(spec, {
      overlay: dirs,
      container: record.name,
      mappings: this.mappings,
      delegation: this.delegation,
      overlayDriver: this.overlayDriver,
      ...(usernsPath ? { usernsPath } : {}),
    });
    if (warnings.length > 0) {
      this.#warnings.set(record.id, warnings);
      // A notice, not an error: the container runs, only without its limits (as Podman does).
      for (const w of warnings) process.emitWarning(w, { code: "BERTH_ROOTLESS_NO_CGROUP" });
    }
    return warnings;
  }

  /** The warnings given for a container by this process. */
  warnings(id: string): string[] {
    return this.#warnings.get(id) ?? [];
  }

  /** Removes a container's upper and work directories, which may hold subordinate-owned files. */
  async removeContainerFiles(paths: readonly string[]): Promise<void> {
    await removeInUserNamespace(paths, { mappings: this.mappings }).catch((error: unknown) => log("rootless removal of %o failed: %O", paths, error));
  }
}

/** fuse-overlayfs's options: the kernel's, less `index=off` (it has no index, and says so). */
function fuseOptions(dirs: RootlessOverlay): string {
  return `lowerdir=${dirs.lowerDirs.join(":")},upperdir=${dirs.upper},workdir=${dirs.work}`;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}
