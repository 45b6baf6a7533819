import { rm } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { BerthError } from "../../common/berth-error.js";
import { stateRoot } from "../../common/paths.js";
import { processStart } from "../../common/process-start.js";
import type { ReaperKind, ReaperResource } from "./reaper-resource.js";

/** Removes one resource; a resource already gone is success. */
export type ReaperHandler = (resource: ReaperResource) => Promise<void>;

/**
 * How each kind is removed, by calling berth's own APIs. The modules are imported when a
 * handler first runs, in the watchdog, so that registering a volume does not load the
 * engine, and the engine can land without the reaper changing.
 */
export const reaperHandlers: Record<ReaperKind, ReaperHandler> = {
  async process(resource) {
    const pid = Number(resource.id);
    // A pid is reused: kill only the process that was registered, known by its start time.
    if (resource.data?.startTime !== undefined && processStartTime(pid) !== Number(resource.data.startTime)) return;
    try {
      process.kill(resource.data?.group ? -pid : pid, "SIGKILL");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  },
  async container(resource) {
    const { ContainerEngine } = await import("../../runtime/engine/index.js");
    // The network layer registers its drivers on import; without them the engine cannot
    // release a bridge container's namespace, address and port proxy.
    await import("../../network/index.js");
    // Both roots travel with the registration: an engine over another run root would not
    // find the runtime's state, take the container for dead and forget it while it runs.
    const engine = new ContainerEngine({
      stateRoot: stringData(resource, "stateRoot") ?? stateRoot(),
      ...(stringData(resource, "runRoot") ? { runRoot: stringData(resource, "runRoot") } : {}),
    });
    try {
      await engine.remove(resource.id, { force: true, volumes: true });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    } finally {
      engine.dispose();
    }
  },
  async network(resource) {
    const [{ Network }, { NetworkManager }, { NetworkStore }] = await Promise.all([
      import("../../network/network.js"),
      import("../../network/network-manager.js"),
      import("../../network/network-store.js"),
    ]);
    // A network made over a private state root (a ComposeEnvironment's, a test's) is only
    // found under that root: the registration carries both roots, as a container's does.
    const root = stringData(resource, "stateRoot");
    const run = stringData(resource, "runRoot");
    const manager = root || run ? new NetworkManager({ store: new NetworkStore({ ...(root ? { stateRoot: root } : {}), ...(run ? { runRoot: run } : {}) }) }) : undefined;
    try {
      await (await Network.get(resource.id, manager ? { manager } : {})).remove();
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  },
  async netns(resource) {
    const result = await execa("ip", ["netns", "delete", resource.id], { reject: false, timeout: 5_000 });
    if (result.exitCode !== 0 && !/No such file|Cannot remove namespace file/.test(String(result.stderr))) {
      throw new BerthError("BERTH_REAPER_FAILED", `ip netns delete ${resource.id} failed: ${String(result.stderr).trim()}`, { exitCode: result.exitCode });
    }
  },
  async volume(resource) {
    const { VolumeStore } = await import("../../volume/volume-store.js");
    await new VolumeStore(stringData(resource, "root") ?? join(stateRoot(), "volumes")).remove(resource.id, { force: true });
  },
  async image(resource) {
    const { ImageStore } = await import("../../image/image-store.js");
    try {
      await new ImageStore(stringData(resource, "stateRoot") ?? stateRoot()).remove(resource.id, { force: true });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  },
  async directory(resource) {
    await rm(resource.id, { recursive: true, force: true });
  },
};

function stringData(resource: ReaperResource, key: string): string | undefined {
  const value = resource.data?.[key];
  return typeof value === "string" ? value : undefined;
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return typeof code === "string" && code.endsWith("_NOT_FOUND");
}

/**
 * The start time of a live `pid` in clock ticks since boot (field 22 of /proc/pid/stat); a
 * zombie counts as gone, since an init that does not reap (a container's) keeps it forever.
 */
export function processStartTime(pid: number): number | undefined {
  const start = processStart(pid);
  return start === undefined ? undefined : Number(start);
}
