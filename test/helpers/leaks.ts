import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { unescapeMountPath } from "./temp-dir.js";

/** What {@link findLeaks} looks at. */
export interface LeakScope {
  /** A string every container id of the test contains (a unique prefix). */
  match: string;
  /** Directories the test owns (bundles, the runtime root): any mount under them is a leak. */
  paths?: string[];
  /** The runtime's state directory: an entry containing `match` is a leak. */
  stateRoot?: string;
}

/**
 * Everything a runtime could have left behind for the containers of one test: mounts (nsfs
 * included) under its directories or named after its ids, cgroup directories named after its
 * ids on every hierarchy, processes in such cgroups or naming its ids, and state entries.
 * Scoped by `match` so that tests running in parallel do not see each other's containers.
 * Returns one line per leak; empty means clean.
 */
export function findLeaks(scope: LeakScope): string[] {
  return [...mountLeaks(scope), ...cgroupLeaks(scope.match), ...processLeaks(scope.match), ...stateLeaks(scope)];
}

function mountLeaks({ match, paths = [] }: LeakScope): string[] {
  const leaks: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    if (!line) continue;
    const fields = line.split(" ");
    const point = unescapeMountPath(fields[4] ?? "");
    const fstype = fields[fields.indexOf("-") + 1] ?? "";
    const ours = point.includes(match) || paths.some((p) => point === p || point.startsWith(`${p}/`));
    if (ours) leaks.push(`mount ${fstype} on ${point}`);
  }
  return leaks;
}

function cgroupLeaks(match: string): string[] {
  const leaks: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name.includes(match)) leaks.push(`cgroup ${path}`);
      else if (depth < 4) walk(path, depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  return leaks;
}

function processLeaks(match: string): string[] {
  const leaks: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // A zombie has released everything but its pid. A detached container's init is
      // reparented to the host's pid 1 (or a subreaper) when its runtime exits, and reaping
      // it is that process's job, done on its own schedule.
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, "utf8");
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      if (cgroup.includes(match) || cmdline.includes(match)) leaks.push(`process ${entry} ${cmdline || readlinkOr(`/proc/${entry}/exe`)}`);
    } catch {
      // Exited while scanning.
    }
  }
  return leaks;
}

function stateLeaks({ match, stateRoot }: LeakScope): string[] {
  if (!stateRoot) return [];
  try {
    return readdirSync(stateRoot)
      .filter((name) => name.includes(match))
      .map((name) => `state ${join(stateRoot, name)}`);
  } catch {
    return [];
  }
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "?";
  }
}
