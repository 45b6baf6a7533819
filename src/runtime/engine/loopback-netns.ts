import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { execa } from "execa";
import { BerthError } from "../../common/berth-error.js";
import { resolveRuntime } from "../oci-runtime.js";

const timeout = 20_000;

/**
 * A `--network none` namespace with its loopback up, pinned at `dir/name`. Docker brings `lo`
 * up in such a container; a namespace the OCI runtime makes has it down (runc and berth-runtime
 * alike), so 127.0.0.1 would be unreachable. berth-runtime's `netns-create` (the network
 * layer's helper, with no veth) makes the namespace with `lo` up; the container joins it.
 * The kernel's cost of a new namespace is the same either way: this adds one spawn.
 */
export async function createLoopbackNetns(dir: string, name: string, container: string): Promise<string> {
  const binary = resolveRuntime(process.env.BERTH_NET_HELPER ?? "berth-runtime");
  try {
    const out = await execa(binary, ["netns-create", "--name", name, "--dir", dir], { timeout });
    return (JSON.parse(out.stdout) as { path: string }).path;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new BerthError("BERTH_NETWORK_FAILED", `cannot make the network namespace of container ${container}${stderr ? `: ${stderr}` : ""}`, {
      container,
      cause: error,
    });
  }
}

/**
 * Unpins a namespace made by {@link createLoopbackNetns}; a missing one is success. The last
 * pin out also unmounts the directory, which `netns-create` made a (shared) mount point: left
 * mounted, it would outlive a temporary run root (which then could not be removed; the run
 * root cannot tell whether it is one: BERTH_ROOT often points at a temporary directory). That
 * umount costs ≈ 10 ms, paid only when no other pin is there. A pin another process makes
 * meanwhile keeps the directory busy, so it stays.
 */
export async function deleteLoopbackNetns(path: string, container: string): Promise<void> {
  if (!existsSync(path)) return;
  const binary = resolveRuntime(process.env.BERTH_NET_HELPER ?? "berth-runtime");
  try {
    await execa(binary, ["netns-delete", "--path", path], { timeout });
  } catch (error) {
    throw new BerthError("BERTH_NETWORK_FAILED", `cannot remove the network namespace of container ${container}`, { container, path, cause: error });
  }
  const dir = dirname(path);
  const points = mountPoints();
  if (points.includes(dir) && !points.some((p) => p.startsWith(`${dir}/`))) {
    // Not lazy: a pin made since the read above makes it fail (busy), and the directory stays.
    await execa("umount", [dir], { timeout, reject: false });
  }
}

function mountPoints(): string[] {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((line) => (line.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))));
  } catch {
    return [];
  }
}
