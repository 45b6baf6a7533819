import { join } from "node:path";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";

/** Where joinAllEngine's runtime keeps its state under `root`: what a leak check reads. */
export function joinAllRuntimeRoot(root: string): string {
  return join(root, "run", "runtime-all");
}

/**
 * An engine over the state root `root` whose berth-runtime joins every v1 hierarchy
 * (BERTH_CGROUP_JOIN_ALL=1), as runc does: the baseline the lean cgroup path must agree with.
 * Its runtime state lives apart from the context engine's, so each side's leak check sees
 * only its own. The caller disposes it.
 */
export function joinAllEngine(root: string): ContainerEngine {
  return new ContainerEngine({
    stateRoot: root,
    runRoot: join(root, "run"),
    runtime: new OciRuntime({ root: joinAllRuntimeRoot(root), timeout: 20_000, env: { BERTH_CGROUP_JOIN_ALL: "1" } }),
    pull: async () => {},
  });
}
