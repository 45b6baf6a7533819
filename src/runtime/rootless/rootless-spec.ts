import { posix } from "node:path";
import { logger } from "../../common/logger.js";
import type { OciSpec } from "../oci-spec.js";
import { findCgroupDelegation, type CgroupDelegation } from "./cgroup-delegation.js";
import { rootlessIdMappings, type RootlessIdMappings } from "./subordinate-ids.js";
import { overlayOptions } from "./user-namespace.js";

const log = logger("rootless");

/** Options of {@link applyRootless}. */
export interface ApplyRootlessOptions {
  /** The container's overlay: mounted by berth-runtime inside the container's namespaces. */
  overlay: { lowerDirs: readonly string[]; upper: string; work: string };
  /**
   * A user namespace to join (the rootless network's, which owns the network namespace the
   * container joins) instead of a new one. @default a new one with the rootless mappings
   */
  usernsPath?: string;
  /** The container's name, for the warnings. */
  container: string;
  /** @default rootlessIdMappings() */
  mappings?: RootlessIdMappings;
  /** @default findCgroupDelegation() */
  delegation?: CgroupDelegation;
  /**
   * How berth-runtime mounts the overlay: kernel overlayfs, fuse-overlayfs, or the kernel's
   * and fuse-overlayfs when the kernel refuses. @default "auto"
   */
  overlayDriver?: OverlayDriver;
}

/** How a rootless container's overlay is mounted (see {@link ApplyRootlessOptions.overlayDriver}). */
export type OverlayDriver = "auto" | "overlay" | "fuse-overlayfs";

/** What {@link applyRootless} changed that the user must know. */
export interface RootlessNotes {
  /** Warnings to show (limits not applied...). */
  warnings: string[];
}

/**
 * Turns a container spec built for root into one an unprivileged user can run:
 * - a user namespace (new, with the rootless mappings, or the rootless network's);
 * - the rootfs overlay handed to berth-runtime (`org.berth.overlay`), which mounts it after
 *   entering the namespaces: the user cannot mount it on the host;
 * - resource limits dropped, with a warning, when no cgroup v2 subtree is delegated: the
 *   runtime could not make the cgroup, and a limit silently not applied is worse than none.
 */
export function applyRootless(spec: OciSpec, options: ApplyRootlessOptions): RootlessNotes {
  const warnings: string[] = [];
  const linux = (spec.linux ??= {});
  const namespaces = (linux.namespaces ?? []).filter((ns) => ns.type !== "user");
  if (options.usernsPath) {
    namespaces.unshift({ type: "user", path: options.usernsPath });
    delete linux.uidMappings;
    delete linux.gidMappings;
  } else {
    namespaces.unshift({ type: "user" });
    const mappings = options.mappings ?? rootlessIdMappings();
    linux.uidMappings = mappings.uidMappings;
    linux.gidMappings = mappings.gidMappings;
  }
  linux.namespaces = namespaces;
  // Docker's default opens ping to every gid (0-2147483647); the kernel takes only gids the
  // namespace maps, so it is narrowed to the mapped ones.
  if (linux.sysctl?.["net.ipv4.ping_group_range"]) {
    const mappings = options.mappings ?? rootlessIdMappings();
    linux.sysctl["net.ipv4.ping_group_range"] = `0 ${mappings.subgid.count}`;
  }
  spec.annotations = {
    ...(spec.annotations ?? {}),
    "org.berth.overlay": overlayOptions(options.overlay),
    "org.berth.overlay.driver": options.overlayDriver ?? "auto",
  };
  const resources = linux.resources;
  const limits = resources ? Object.keys(resources).filter((k) => k !== "devices" && hasValue((resources as Record<string, unknown>)[k])) : [];
  if (limits.length > 0) {
    const delegation = options.delegation ?? findCgroupDelegation();
    if (delegation.relative && linux.cgroupsPath) {
      // Beside this process's cgroup, not under it: a cgroup v2 directory that holds processes
      // cannot give controllers to children. Not exercised here (this host delegates nothing).
      linux.cgroupsPath = posix.join(posix.dirname(delegation.relative), "berth", posix.basename(linux.cgroupsPath));
    }
    if (!delegation.path) {
      const warning = `rootless: the limits of container ${options.container} (${limits.join(", ")}) are not applied: ${delegation.reason}`;
      warnings.push(warning);
      log("%s", warning);
      for (const key of limits) delete (resources as Record<string, unknown>)[key];
    }
  }
  // The device cgroup is root's: an unprivileged runtime cannot write it, and devices are
  // bind-mounted from the host in a user namespace anyway.
  if (resources) delete resources.devices;
  return { warnings };
}

function hasValue(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.values(v as object).some(hasValue);
  return true;
}
