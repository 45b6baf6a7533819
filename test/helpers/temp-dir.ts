import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory under the system temp dir; remove it with {@link removeTempDir}. */
export async function makeTempDir(prefix = "berth-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Removes a temp dir. Refuses when something is still mounted under it: removing files
 * through a leaked bind mount would delete the mount's source.
 */
export async function removeTempDir(dir: string): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const mounted = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => unescapeMountPath(line.split(" ")[4] ?? ""))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  if (mounted.length > 0) throw new Error(`not removing ${dir}: still mounted: ${mounted.join(", ")}`);
  await rm(dir, { recursive: true, force: true });
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash as octal. */
export function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

let sequence = 0;

/** A container id unique across test workers and runs: `<prefix>-<pid>-<time>-<n>`. */
export function uniqueId(prefix = "t"): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${(sequence++).toString(36)}`;
}
