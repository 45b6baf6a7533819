import { hasErrorCode } from "../common/berth-error.js";
import { Network } from "../network/network.js";
import { Volume } from "../volume/volume.js";
import type { ComposeContext } from "./compose-context.js";
import type { ComposeEventListener, ComposeResource } from "./compose-events.js";
import { composeLabels } from "./naming.js";
import { projectContainers, type ProjectContainer } from "./project-containers.js";
import { checkRunning, waitHealthy } from "./service-conditions.js";
import { startOrder } from "./start-order.js";
import type { ComposeProject } from "./types.js";

/** Options shared by `stop`, `restart` and `down`. */
export interface ComposeStopOptions {
  /** Services to act on. @default every service */
  services?: readonly string[];
  /** Seconds between the stop signal and SIGKILL (`-t`). @default each container's stop timeout */
  timeout?: number;
  onEvent?: ComposeEventListener;
}

/** Options of {@link composeDown}. */
export interface ComposeDownOptions extends Omit<ComposeStopOptions, "services"> {
  /** `-v`: remove the project's named volumes and the containers' anonymous ones. @default false */
  volumes?: boolean;
  /** `--remove-orphans`: also remove containers of services no longer in the files. @default false */
  removeOrphans?: boolean;
  /** Told each container, network and volume once removed (a reaper forgets it). @default none */
  onRemoved?: (resource: ComposeResource) => void;
}

/** The project's containers in stop order: dependents before what they depend on; unknown services (orphans) first. */
function inStopOrder(project: ComposeProject, containers: ProjectContainer[]): ProjectContainer[][] {
  let order: string[][];
  try {
    order = startOrder(project).reverse();
  } catch {
    order = [Object.keys(project.services)];
  }
  const known = new Set(order.flat());
  const groups = [containers.filter((c) => !known.has(c.service))];
  for (const group of order) groups.push(containers.filter((c) => group.includes(c.service)));
  return groups.filter((g) => g.length > 0);
}

/** The containers in start order: a group only once every group it depends on has run. */
function inStartOrder(project: ComposeProject, containers: ProjectContainer[]): ProjectContainer[][] {
  return startOrder(project).map((group) => containers.filter((c) => group.includes(c.service)));
}

/** Acts on a group's containers together and on the groups one after another, so an order holds between them. */
async function eachInOrder(groups: ProjectContainer[][], act: (c: ProjectContainer) => Promise<void>): Promise<void> {
  for (const group of groups) await Promise.all(group.map(act));
}

function selectedContainers(context: ComposeContext, project: ComposeProject, services: readonly string[] | undefined): Promise<ProjectContainer[]> {
  return projectContainers(context, project.name, { ...(services ? { services } : {}) });
}

/** `docker compose stop`: stops the running containers, dependents first. */
export async function composeStop(context: ComposeContext, project: ComposeProject, options: ComposeStopOptions = {}): Promise<void> {
  const emit = options.onEvent ?? (() => {});
  const running = (await selectedContainers(context, project, options.services)).filter((c) => c.state === "running" || c.state === "paused");
  await eachInOrder(inStopOrder(project, running), async (c) => {
    emit({ kind: "Container", name: c.name, status: "Stopping" });
    await context.engine.stop(c.id, options.timeout !== undefined ? { timeout: options.timeout } : {});
    emit({ kind: "Container", name: c.name, status: "Stopped" });
  });
}

/**
 * `docker compose start`: starts the existing containers in dependency order; a
 * `service_healthy` dependency is waited for, as `up` does.
 */
export async function composeStart(context: ComposeContext, project: ComposeProject, options: { services?: readonly string[]; timeout?: number; onEvent?: ComposeEventListener } = {}): Promise<void> {
  const emit = options.onEvent ?? (() => {});
  const containers = await selectedContainers(context, project, options.services);
  await eachInOrder(inStartOrder(project, containers), async (c) => {
    for (const [dep, d] of Object.entries(project.services[c.service]?.dependsOn ?? {})) {
      if (d.condition !== "service_healthy") continue;
      for (const dc of await projectContainers(context, project.name, { services: [dep] })) {
        await waitHealthy(context, dc.id, { timeout: options.timeout ?? 300_000 });
      }
    }
    if (c.state === "running") return;
    emit({ kind: "Container", name: c.name, status: "Starting" });
    await context.engine.start(c.id);
    emit({ kind: "Container", name: c.name, status: "Started" });
  });
}

/** `docker compose restart`: restarts the containers (running or not), in dependency order. */
export async function composeRestart(context: ComposeContext, project: ComposeProject, options: ComposeStopOptions = {}): Promise<void> {
  const emit = options.onEvent ?? (() => {});
  const containers = await selectedContainers(context, project, options.services);
  await eachInOrder(inStartOrder(project, containers), async (c) => {
    emit({ kind: "Container", name: c.name, status: "Restarting" });
    await context.engine.restart(c.id, options.timeout !== undefined ? { timeout: options.timeout } : {});
    await checkRunning(context, c.id).catch(() => {});
    emit({ kind: "Container", name: c.name, status: "Started" });
  });
}

/**
 * `docker compose down`: stops and removes the project's containers (one-off ones too),
 * dependents first, then the networks it created and, with `volumes`, its named volumes
 * and the containers' anonymous ones. External networks and volumes are left alone. Found
 * by labels, so any process can take down what another brought up.
 */
export async function composeDown(context: ComposeContext, project: ComposeProject, options: ComposeDownOptions = {}): Promise<void> {
  const emit = options.onEvent ?? (() => {});
  const known = new Set([...Object.keys(project.services), ...Object.keys(project.disabledServices)]);
  const all = await projectContainers(context, project.name, { oneoff: true });
  const containers = all.filter((c) => known.has(c.service) || options.removeOrphans);
  const orphans = all.filter((c) => !known.has(c.service));
  if (orphans.length > 0 && !options.removeOrphans) {
    emit({
      kind: "Warning",
      name: project.name,
      status: `Found orphan containers ([${orphans.map((o) => o.name).join(" ")}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`,
    });
  }
  await eachInOrder(inStopOrder(project, containers), async (c) => {
    if (c.state === "running" || c.state === "paused") {
      emit({ kind: "Container", name: c.name, status: "Stopping" });
      await context.engine.stop(c.id, options.timeout !== undefined ? { timeout: options.timeout } : {}).catch((error: unknown) => {
        if (!hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND")) throw error;
      });
      emit({ kind: "Container", name: c.name, status: "Stopped" });
    }
    emit({ kind: "Container", name: c.name, status: "Removing" });
    await context.engine.remove(c.id, { force: true, volumes: options.volumes ?? false }).catch((error: unknown) => {
      if (!hasErrorCode(error, "BERTH_CONTAINER_NOT_FOUND")) throw error;
    });
    options.onRemoved?.({ kind: "container", name: c.name });
    emit({ kind: "Container", name: c.name, status: "Removed" });
  });
  // Networks by label as well as by name, so a network whose key left the file still goes.
  for (const network of await Network.list({ manager: context.networks })) {
    const labels = (await network.inspect()).Labels;
    if (labels[composeLabels.project] !== project.name) continue;
    const key = labels[composeLabels.network];
    if (key && project.networks[key]?.external) continue;
    emit({ kind: "Network", name: network.name, status: "Removing" });
    await network.remove().catch((error: unknown) => {
      if (!hasErrorCode(error, "BERTH_NETWORK_NOT_FOUND")) throw error;
    });
    options.onRemoved?.({ kind: "network", name: network.name });
    emit({ kind: "Network", name: network.name, status: "Removed" });
  }
  if (options.volumes) {
    for (const volume of await Volume.list({ label: [`${composeLabels.project}=${project.name}`] }, { store: context.volumes })) {
      const key = (await volume.inspect()).Labels?.[composeLabels.volume];
      if (key && project.volumes[key]?.external) continue;
      emit({ kind: "Volume", name: volume.name, status: "Removing" });
      await volume.remove({ force: true });
      options.onRemoved?.({ kind: "volume", name: volume.name });
      emit({ kind: "Volume", name: volume.name, status: "Removed" });
    }
  }
}
