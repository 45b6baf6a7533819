import { accessSync, constants, readFileSync } from "node:fs";
import { join } from "node:path";

/** Where a rootless container may get limits: a cgroup v2 subtree delegated to the user. */
export interface CgroupDelegation {
  /** The delegated directory (under the cgroup2 mount), or undefined when there is none. */
  path?: string;
  /** `path` relative to the cgroup2 mount (what `linux.cgroupsPath` names). */
  relative?: string;
  /** The controllers enabled for children there (`cgroup.subtree_control`). */
  controllers: string[];
  /** Why there is none, for the warning. */
  reason?: string;
}

/** Options of {@link findCgroupDelegation}: seams for tests. */
export interface FindCgroupDelegationOptions {
  /** @default "/proc/self/cgroup" */
  selfCgroup?: string;
  /** @default "/proc/self/mountinfo" */
  mountinfo?: string;
}

/**
 * The cgroup v2 subtree this process may make cgroups in, as systemd's `Delegate=yes` gives
 * a user session (`user@<uid>.service`): the cgroup2 hierarchy must hold every controller
 * (a v1/v2 hybrid host keeps memory, cpu and pids in v1, which are never delegated), and the
 * process's own cgroup directory must be writable by it. berth uses the delegated subtree
 * only when both hold; otherwise the limits a rootless container asks for are not applied
 * and the engine says so (see {@link ../rootless-spec.ts}).
 */
export function findCgroupDelegation(options: FindCgroupDelegationOptions = {}): CgroupDelegation {
  let mount: string | undefined;
  try {
    for (const line of readFileSync(options.mountinfo ?? "/proc/self/mountinfo", "utf8").split("\n")) {
      const [left, right] = line.split(" - ");
      if (right?.startsWith("cgroup2 ")) {
        mount = left!.split(" ")[4];
        break;
      }
    }
  } catch {
    // No /proc: no cgroups.
  }
  if (!mount) return { controllers: [], reason: "no cgroup v2 hierarchy is mounted" };
  let own: string | undefined;
  try {
    own = readFileSync(options.selfCgroup ?? "/proc/self/cgroup", "utf8")
      .split("\n")
      .find((l) => l.startsWith("0::"))
      ?.slice(3);
  } catch {
    // Fall through.
  }
  if (own === undefined) return { controllers: [], reason: "this process has no cgroup v2 membership" };
  const dir = join(mount, own);
  const available = readWords(join(mount, "cgroup.controllers"));
  if (!available.includes("memory") || !available.includes("pids")) {
    return { controllers: [], reason: `the cgroup v2 hierarchy at ${mount} lacks the memory and pids controllers (a cgroup v1/v2 hybrid host keeps them in v1, which is never delegated)` };
  }
  try {
    accessSync(dir, constants.W_OK);
    accessSync(join(dir, "cgroup.subtree_control"), constants.W_OK);
  } catch {
    return { controllers: [], reason: `the cgroup ${own} is not delegated to uid ${process.getuid?.()} (run under a systemd user session, or \`systemd-run --user --scope -p Delegate=yes\`)` };
  }
  return { path: dir, relative: own, controllers: readWords(join(dir, "cgroup.subtree_control")) };
}

function readWords(path: string): string[] {
  try {
    return readFileSync(path, "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}
