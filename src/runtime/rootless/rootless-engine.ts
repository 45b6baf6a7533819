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
}

function overlayDriverFromEnv(): OverlayDriver {
  const value = process.env.BERTH_ROOTLESS_OVERLAY;
  if (value === undefined || value === "") return "auto";
  if (value === "auto" || value === "overlay" || value === "fuse-overlayfs") return value;
  throw new BerthError("BERTH_INVALID_ARGUMENT", `BERTH_ROOTLESS_OVERLAY must be auto, overlay or fuse-overlayfs, not ${JSON.stringify(value)}`, { field: "BERTH_ROOTLESS_OVERLAY" });
}

/** A container's root filesystem as this process sees it; `close` is idempotent. */
export interface RootfsView {
  root: string;
  close(): Promise<void>;
}

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

  constructor(options: RootlessSupportOptions = {}) {
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
   * `/proc/<helper>/root`: for what the engine reads and writes in the rootfs from Node
   * (working directory, volume copy-up, users, the command check). The helper ends when
   * `close` is called or this process ends.
   */
  async openRootfs(dirs: RootlessOverlay, timeout = 20_000, readOnly = false): Promise<RootfsView> {
    await Promise.all([dirs.upper, dirs.work, dirs.merged].map((d) => mkdir(d, { recursive: true })));
    // Kernel overlayfs only: a fuse-overlayfs mount made in the helper's user namespace would
    // refuse this process, which is outside it (FUSE serves only its mounter's namespace).
    const script = 'mount -t overlay overlay -o "$1" "$2" || exit 1; echo ready; exec cat >/dev/null';
    // Read-only: the upper directory as the top lower one, no work directory. Another overlay
    // (the running container's fuse-overlayfs) writes there; two writers would corrupt it.
    const options = readOnly ? `lowerdir=${[dirs.upper, ...dirs.lowerDirs].join(":")}` : overlayOptions(dirs);
    const child = spawn("unshare", [...unshareArgs(this.mappings, true), "--", "sh", "-c", script, "sh", options, dirs.merged], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const exited = new Promise<number>((resolve) => {
      child.once("close", (code) => resolve(code ?? 1));
      child.once("error", () => resolve(127));
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.stdin.on("error", () => {});
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        if (c.includes("ready")) {
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
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    };
    if (!ready) {
      child.kill("SIGKILL");
      await close();
      throw new BerthError("BERTH_ROOTLESS_FAILED", `cannot mount the root filesystem in a user namespace (rootless mode needs overlayfs in user namespaces, Linux >= 5.11): ${stderr.trim() || "timed out"}`, {
        path: dirs.merged,
        lastLines: stderr.split("\n").filter(Boolean).slice(-3),
      });
    }
    return { root: `/proc/${child.pid}/root${dirs.merged}`, close };
  }

  /**
   * A running container's root for the engine's reads (the command check and users at exec,
   * copy): undefined when `/proc/<pid>/root` serves this process, which it does unless the
   * root is fuse-overlayfs (`BERTH_ROOTLESS_OVERLAY=fuse-overlayfs`, or `auto` falling back).
   * FUSE serves only its mounter's user namespace (the container's), and a Node process cannot
   * join one, so the view is a read-only kernel overlay of the container's layers and upper
   * directory: what the container wrote is there, its volumes and tmpfs mounts are not.
   */
  async openRunningRootfs(pid: number, dirs: RootlessOverlay): Promise<RootfsView | undefined> {
    try {
      accessSync(`/proc/${pid}/root/`, constants.X_OK);
      return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EACCES") return undefined;
    }
    log("the root of process %d is not readable here (fuse-overlayfs): a read-only view", pid);
    return this.openRootfs(dirs, 20_000, true);
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
