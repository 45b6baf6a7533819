import { readFileSync } from "node:fs";

/**
 * A live process's start time (field 22 of /proc/pid/stat, clock ticks since boot, as /proc
 * writes it), recorded beside a pid so that a reused pid is not taken for the process.
 * `undefined` once it is gone, and for a zombie: it has exited, and an init that does not
 * reap (a container's) would keep it forever.
 */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" || fields[0] === "X" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}
