import { posix } from "node:path";
import { logger } from "../../common/logger.js";
import type { OciSpec } from "../oci-spec.js";
import { controllerOf, findCgroupDelegation, type CgroupDelegation } from "./cgroup-delegation.js";
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
 * - the limits a delegated cgroup v2 subtree serves applied in a cgroup made there; the
 *   others (all of them when nothing is delegated) dropped with a warning: the runtime could
 *   not make or write the cgroup, and a limit silently not applied is worse than none.
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
  const resources = linux.resources as Record<string, unknown> | undefined;
  // The device cgroup is root's: an unprivileged runtime cannot write it, and devices are
  // bind-mounted from the host in a user namespace anyway.
  if (resources) delete resources.devices;
  const asked = resources ? limitsOf(resources) : [];
  if (asked.length > 0) {
    const delegation = options.delegation ?? findCgroupDelegation();
    const served = delegation.path ? asked.filter((l) => l.controller !== undefined && delegation.controllers.includes(l.controller)) : [];
    const dropped = asked.filter((l) => !served.includes(l));
    if (served.length > 0 && delegation.relative && linux.cgroupsPath) {
      // In the delegated directory, beside this process's cgroup (see findCgroupDelegation).
      linux.cgroupsPath = posix.join(delegation.relative, "berth", posix.basename(linux.cgroupsPath));
    }
    if (dropped.length > 0) {
      const names = [...new Set(dropped.map((l) => l.name))];
      const missing = [...new Set(dropped.map((l) => l.controller ?? `${l.name} (cgroup v1 only)`))];
      const reason = delegation.path
        ? `the delegated cgroup v2 subtree ${delegation.relative} offers ${delegation.controllers.length > 0 ? `only ${delegation.controllers.join(", ")}` : "no controller"}, not ${missing.join(", ")} (a cgroup v1/v2 hybrid host keeps memory, cpu and pids in v1, which is never delegated)`
        : delegation.reason;
      const warning = `rootless: the limits of container ${options.container} (${names.join(", ")}) are not applied: ${reason}`;
      warnings.push(warning);
      log("%s", warning);
      for (const l of dropped) {
        if (l.field === undefined) delete resources![l.key];
        else delete (resources![l.key] as Record<string, unknown>)[l.field];
      }
      for (const key of Object.keys(resources!)) if (!hasValue(resources![key])) delete resources![key];
    }
  }
  return { warnings };
}

/** One limit asked of `linux.resources`: a whole key, or one field of `cpu` or `unified`. */
interface Limit {
  key: string;
  field?: string;
  /** How the warning names it. */
  name: string;
  controller: string | undefined;
}

function limitsOf(resources: Record<string, unknown>): Limit[] {
  const out: Limit[] = [];
  for (const [key, value] of Object.entries(resources)) {
    if (!hasValue(value)) continue;
    if (key === "cpu" || key === "unified") {
      for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
        if (!hasValue(v)) continue;
        const controller = controllerOf(key, field);
        out.push({ key, field, name: key === "cpu" ? (controller ?? key) : `${key}.${field}`, controller });
      }
      continue;
    }
    out.push({ key, name: key, controller: controllerOf(key) });
  }
  return out;
}

function hasValue(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.values(v as object).some(hasValue);
  return true;
}
