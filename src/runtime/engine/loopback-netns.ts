import { existsSync } from "node:fs";
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

/** Unpins a namespace made by {@link createLoopbackNetns}; a missing one is success. */
export async function deleteLoopbackNetns(path: string, container: string): Promise<void> {
  if (!existsSync(path)) return;
  const binary = resolveRuntime(process.env.BERTH_NET_HELPER ?? "berth-runtime");
  try {
    await execa(binary, ["netns-delete", "--path", path], { timeout });
  } catch (error) {
    throw new BerthError("BERTH_NETWORK_FAILED", `cannot remove the network namespace of container ${container}`, { container, path, cause: error });
  }
}
