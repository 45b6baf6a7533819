import { accessSync, constants, readFileSync } from "node:fs";
import { join, posix } from "node:path";

/** Where a rootless container may get limits: a cgroup v2 subtree delegated to the user. */
export interface CgroupDelegation {
  /**
   * The delegated directory containers' cgroups are made in (under the cgroup2 mount): the
   * parent of this process's own cgroup. Undefined when there is none.
   */
  path?: string;
  /** `path` relative to the cgroup2 mount, with a leading `/` (what `linux.cgroupsPath` names). */
  relative?: string;
  /**
   * The controllers a container's cgroup can have there (`cgroup.controllers` of `path`):
   * only the limits these serve are applied.
   */
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
 * a user session (`user@<uid>.service`): the parent of the process's own cgroup must be the
 * user's (the directory, its `cgroup.subtree_control` and `cgroup.procs`). Containers are made
 * there, beside the process's cgroup and not under it: a cgroup v2 directory that holds
 * processes cannot give controllers to children. Which limits can be applied depends on the
 * controllers the subtree offers (`controllers`): a v1/v2 hybrid host keeps memory, cpu and
 * pids in v1, which is never delegated, and may offer only hugetlb in v2. The limits the
 * subtree cannot serve are not applied and the engine says so (see rootless-spec.ts).
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
  const relative = posix.dirname(posix.join("/", own));
  const dir = join(mount, relative);
  const notDelegated = `the cgroup ${relative} is not delegated to uid ${process.getuid?.()} (run under a systemd user session, or \`systemd-run --user --scope -p Delegate=yes\`)`;
  // The root of the hierarchy is never delegated (and a process there has no parent cgroup).
  if (posix.join("/", own) === "/") return { controllers: [], reason: notDelegated };
  try {
    accessSync(dir, constants.W_OK);
    accessSync(join(dir, "cgroup.subtree_control"), constants.W_OK);
    // A container is born in its cgroup (CLONE_INTO_CGROUP), a migration from ours: the
    // kernel wants the common ancestor's cgroup.procs writable.
    accessSync(join(dir, "cgroup.procs"), constants.W_OK);
  } catch {
    return { controllers: [], reason: notDelegated };
  }
  return { path: dir, relative, controllers: readWords(join(dir, "cgroup.controllers")) };
}

/**
 * The controller each OCI `linux.resources` field needs, as `<key>` or `<key>.<field>`
 * (cpu is split: its `cpus` and `mems` are cpuset's). `unified` keys name their own
 * (`memory.high` → memory). `network` is v1-only (net_cls, net_prio): never delegated.
 */
export function controllerOf(key: string, field?: string): string | undefined {
  switch (key) {
    case "memory":
      return "memory";
    case "cpu":
      return field === "cpus" || field === "mems" ? "cpuset" : "cpu";
    case "pids":
      return "pids";
    case "blockIO":
      return "io";
    case "hugepageLimits":
      return "hugetlb";
    case "rdma":
      return "rdma";
    case "unified":
      return field?.split(".")[0];
    default:
      return undefined;
  }
}

function readWords(path: string): string[] {
  try {
    return readFileSync(path, "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}
