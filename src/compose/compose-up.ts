import { BerthError } from "../common/berth-error.js";
import { logger } from "../common/logger.js";
import { Container } from "../harness/container.js";
import { Network } from "../network/network.js";
import { Volume } from "../volume/volume.js";
import type { ComposeContext } from "./compose-context.js";
import type { ComposeEventListener, ComposeResource } from "./compose-events.js";
import { ensureServiceImages } from "./compose-images.js";
import { ifExists } from "./if-exists.js";
import { configHash, containerName, networkLabels, volumeLabels } from "./naming.js";
import { projectContainers, type ProjectContainer } from "./project-containers.js";
import { checkRunning, waitCompleted, waitHealthy } from "./service-conditions.js";
import { serviceCreateOptions } from "./service-options.js";
import { startOrder } from "./start-order.js";
import type { ComposeProject, ComposeService } from "./types.js";

const log = logger("compose");

/** Options of {@link composeUp}; each mirrors a `docker compose up` flag. */
export interface ComposeUpOptions {
  /** Services to start (with what they depend on, unless `noDeps`). @default every service */
  services?: readonly string[];
  /** `--no-deps`: start only the named services. @default false */
  noDeps?: boolean;
  /** `--build`: build images before starting. @default false (build only missing ones) */
  build?: boolean;
  /** `--no-build`: never build. @default false */
  noBuild?: boolean;
  /** `--wait`: return once every started service is running, or healthy when it has a healthcheck. @default false */
  wait?: boolean;
  /** How long each wait (a dependency's condition, `--wait`) may take, in ms. @default 300000 */
  timeout?: number;
  /** `--remove-orphans`: remove containers of services no longer in the files. @default false (a warning names them) */
  removeOrphans?: boolean;
  /** `--force-recreate`: recreate containers even when their configuration is unchanged. @default false */
  forceRecreate?: boolean;
  /** Keep what a failed `up` created (to inspect it) instead of removing it. @default false */
  keepOnFailure?: boolean;
  /** Labels added to every container (the session reaper's). @default {} */
  extraLabels?: Record<string, string>;
  /** Told each container, network and volume before it is created, so a reaper knows it first. @default none */
  onCreating?: (resource: ComposeResource) => void;
  /** Progress as `docker compose` prints it. @default none */
  onEvent?: ComposeEventListener;
  /** Build output lines. @default none */
  onBuildOutput?: (service: string, line: string) => void;
  /** Aborts waits. @default none */
  signal?: AbortSignal;
}

/** What {@link composeUp} leaves running. */
export interface ComposeUpResult {
  /** The project's service containers after `up`, running or exited (a completed one-shot). */
  containers: ProjectContainer[];
}

/** The named services and, unless `noDeps`, everything they depend on (required or present). */
export function selectServices(project: ComposeProject, names: readonly string[] | undefined, noDeps = false): string[] {
  if (!names || names.length === 0) return Object.keys(project.services);
  const keep = new Set<string>();
  const add = (name: string) => {
    if (keep.has(name)) return;
    if (!project.services[name]) {
      throw new BerthError("BERTH_COMPOSE_SERVICE_NOT_FOUND", `no such service: ${name}`, { service: name, path: project.configFiles[0] });
    }
    keep.add(name);
    if (noDeps) return;
    for (const [dep, d] of Object.entries(project.services[name]!.dependsOn)) if (project.services[dep] || d.required) add(dep);
  };
  names.forEach(add);
  return Object.keys(project.services).filter((n) => keep.has(n));
}

/**
 * Creates the networks and volumes the services use (external ones must exist), recording
 * in `created` what it made so a failure can remove it again.
 */
export async function prepareResources(context: ComposeContext, project: ComposeProject, services: ComposeService[], created: Created, options: Pick<ComposeUpOptions, "onCreating" | "onEvent">): Promise<void> {
  await ensureNetworks(context, project, services, created, options);
  await ensureVolumes(context, project, services, created, options);
}

/** What one `up` created, to undo it when it fails. */
export interface Created {
  containers: string[];
  networks: Network[];
  volumes: Volume[];
}

/**
 * `docker compose up -d`: creates the project's networks and volumes (external ones must
 * exist), builds or pulls images, then creates and starts the containers group by group in
 * dependency order, each service waiting for its `depends_on` conditions. A container whose
 * configuration hash and image are unchanged is left alone (started if stopped), a changed
 * one is recreated, replicas beyond the scale are removed. When anything fails, what this
 * call created is removed again (unless `keepOnFailure`) and the error is thrown.
 */
export async function composeUp(context: ComposeContext, project: ComposeProject, options: ComposeUpOptions = {}): Promise<ComposeUpResult> {
  const emit = options.onEvent ?? (() => {});
  const timeout = options.timeout ?? 300_000;
  const selected = selectServices(project, options.services, options.noDeps);
  const selectedSet = new Set(selected);
  // A cycle is named before anything is created.
  const groups = startOrder(project).map((g) => g.filter((n) => selectedSet.has(n))).filter((g) => g.length > 0);
  const services = selected.map((n) => project.services[n]!);
  const created: Created = { containers: [], networks: [], volumes: [] };
  try {
    await handleOrphans(context, project, options);
    await prepareResources(context, project, services, created, options);
    const imageIds = await ensureServiceImages(context, project, services, {
      ...(options.build ? { build: true } : {}),
      ...(options.noBuild ? { noBuild: true } : {}),
      onEvent: emit,
      ...(options.onBuildOutput ? { onBuildOutput: options.onBuildOutput } : {}),
    });
    for (const group of groups) {
      // Settled, not raced: a sibling still creating its container when another fails must
      // have recorded it before the rollback runs, or it would be left behind.
      const results = await Promise.allSettled(
        group.map(async (name) => {
          const service = project.services[name]!;
          await waitForDependencies(context, project, service, selectedSet, timeout, options, emit);
          await convergeService(context, project, service, imageIds.get(name)!, created, options, emit);
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    }
    const containers = await projectContainers(context, project.name, { services: selected });
    if (options.wait) {
      await Promise.all(
        containers.map(async (c) => {
          const service = project.services[c.service]!;
          emit({ kind: "Container", name: c.name, status: "Waiting" });
          if (hasHealthcheck(service, await context.engine.inspect(c.id))) {
            await waitHealthy(context, c.id, { timeout, ...(options.signal ? { signal: options.signal } : {}) });
            emit({ kind: "Container", name: c.name, status: "Healthy" });
          } else if (isOneShotDependency(project, c.service)) {
            await waitCompleted(context, c.id, c.service, { timeout });
            emit({ kind: "Container", name: c.name, status: "Exited" });
          } else {
            await checkRunning(context, c.id);
            emit({ kind: "Container", name: c.name, status: "Running" });
          }
        }),
      );
    }
    return { containers: await projectContainers(context, project.name, { services: selected }) };
  } catch (error) {
    if (!options.keepOnFailure) await rollback(context, created, emit);
    throw error;
  }
}

function hasHealthcheck(service: ComposeService, inspect: { Config: { Healthcheck?: { Test: string[] } } }): boolean {
  if (service.healthcheck?.disable) return false;
  const test = inspect.Config.Healthcheck?.Test;
  return !!test && test.length > 0 && test[0] !== "NONE";
}

/** A service others wait on with `service_completed_successfully`: `--wait` waits for its exit. */
function isOneShotDependency(project: ComposeProject, name: string): boolean {
  return Object.values(project.services).some((s) => s.dependsOn[name]?.condition === "service_completed_successfully");
}

async function handleOrphans(context: ComposeContext, project: ComposeProject, options: ComposeUpOptions): Promise<void> {
  const known = new Set([...Object.keys(project.services), ...Object.keys(project.disabledServices)]);
  const orphans = (await projectContainers(context, project.name)).filter((c) => !known.has(c.service));
  if (orphans.length === 0) return;
  if (!options.removeOrphans) {
    options.onEvent?.({
      kind: "Warning",
      name: project.name,
      status: `Found orphan containers ([${orphans.map((o) => o.name).join(" ")}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`,
    });
    return;
  }
  for (const orphan of orphans) {
    options.onEvent?.({ kind: "Container", name: orphan.name, status: "Removing" });
    await context.engine.remove(orphan.id, { force: true, volumes: true });
    options.onEvent?.({ kind: "Container", name: orphan.name, status: "Removed" });
  }
}

async function ensureNetworks(context: ComposeContext, project: ComposeProject, services: ComposeService[], created: Created, options: Pick<ComposeUpOptions, "onCreating" | "onEvent">): Promise<void> {
  const used = [...new Set(services.flatMap((s) => Object.keys(s.networks)))].sort();
  for (const key of used) {
    const spec = project.networks[key];
    if (!spec) throw new BerthError("BERTH_COMPOSE_INVALID", `network ${key} is not declared`, { network: key, path: project.configFiles[0] });
    const existing = await ifExists(Network.get(spec.name, { manager: context.networks }), "BERTH_NETWORK_NOT_FOUND");
    if (existing) continue;
    if (spec.external) {
      throw new BerthError("BERTH_COMPOSE_NETWORK_NOT_FOUND", `network ${spec.name} declared as external, but could not be found`, { network: spec.name, path: project.configFiles[0] });
    }
    if (spec.driver && spec.driver !== "bridge") {
      throw new BerthError("BERTH_UNSUPPORTED", `network ${key}: driver ${spec.driver} is not supported (bridge is)`, { network: key, path: project.configFiles[0] });
    }
    options.onCreating?.({ kind: "network", name: spec.name });
    options.onEvent?.({ kind: "Network", name: spec.name, status: "Creating" });
    const subnet = spec.ipam?.config[0];
    const network = await Network.create({
      manager: context.networks,
      name: spec.name,
      labels: networkLabels(project, key),
      ...(spec.internal ? { internal: true } : {}),
      ...(subnet?.subnet ? { subnet: subnet.subnet } : {}),
      ...(subnet?.gateway ? { gateway: subnet.gateway } : {}),
    });
    created.networks.push(network);
    options.onEvent?.({ kind: "Network", name: spec.name, status: "Created" });
  }
}

async function ensureVolumes(context: ComposeContext, project: ComposeProject, services: ComposeService[], created: Created, options: Pick<ComposeUpOptions, "onCreating" | "onEvent">): Promise<void> {
  const used = [...new Set(services.flatMap((s) => s.volumes.filter((m) => m.type === "volume" && m.source).map((m) => m.source!)))].sort();
  for (const key of used) {
    const spec = project.volumes[key];
    if (!spec) continue;
    const existing = await ifExists(Volume.get(spec.name, { store: context.volumes }), "BERTH_VOLUME_NOT_FOUND");
    if (existing) continue;
    if (spec.external) {
      throw new BerthError("BERTH_COMPOSE_VOLUME_NOT_FOUND", `external volume "${spec.name}" not found`, { volume: spec.name, path: project.configFiles[0] });
    }
    options.onCreating?.({ kind: "volume", name: spec.name });
    options.onEvent?.({ kind: "Volume", name: spec.name, status: "Creating" });
    const volume = await Volume.create({
      store: context.volumes,
      name: spec.name,
      labels: volumeLabels(project, key),
      ...(spec.driver ? { driver: spec.driver } : {}),
      ...(spec.driverOpts ? { options: spec.driverOpts } : {}),
    });
    created.volumes.push(volume);
    options.onEvent?.({ kind: "Volume", name: spec.name, status: "Created" });
  }
}

async function waitForDependencies(
  context: ComposeContext,
  project: ComposeProject,
  service: ComposeService,
  selected: Set<string>,
  timeout: number,
  options: ComposeUpOptions,
  emit: ComposeEventListener,
): Promise<void> {
  await Promise.all(
    Object.entries(service.dependsOn).map(async ([dep, d]) => {
      if (!project.services[dep]) return;
      const containers = await projectContainers(context, project.name, { services: [dep] });
      if (containers.length === 0) {
        // `--no-deps` left it out: Compose starts the service anyway when nothing is there to wait on.
        if (!selected.has(dep)) return;
        throw new BerthError("BERTH_COMPOSE_DEPENDENCY_FAILED", `service ${service.name} depends on ${dep}, which has no container`, { service: service.name, dependency: dep });
      }
      for (const c of containers) {
        if (d.condition === "service_healthy") {
          emit({ kind: "Container", name: c.name, status: "Waiting" });
          await waitHealthy(context, c.id, { timeout, ...(options.signal ? { signal: options.signal } : {}) });
          emit({ kind: "Container", name: c.name, status: "Healthy" });
        } else if (d.condition === "service_completed_successfully") {
          emit({ kind: "Container", name: c.name, status: "Waiting" });
          await waitCompleted(context, c.id, dep, { timeout });
          emit({ kind: "Container", name: c.name, status: "Exited" });
        }
      }
    }),
  );
}

async function convergeService(
  context: ComposeContext,
  project: ComposeProject,
  service: ComposeService,
  imageId: string,
  created: Created,
  options: ComposeUpOptions,
  emit: ComposeEventListener,
): Promise<void> {
  const existing = await projectContainers(context, project.name, { services: [service.name] });
  const hash = configHash(service);
  for (const extra of existing.filter((c) => c.number > service.scale)) {
    emit({ kind: "Container", name: extra.name, status: "Stopping" });
    await context.engine.remove(extra.id, { force: true, volumes: true });
    emit({ kind: "Container", name: extra.name, status: "Removed" });
  }
  for (let n = 1; n <= service.scale; n++) {
    const current = existing.find((c) => c.number === n);
    const name = containerName(project.name, service, n);
    if (current && current.configHash === hash && current.summary.ImageID === imageId && !options.forceRecreate) {
      if (current.state === "running") {
        emit({ kind: "Container", name: current.name, status: "Running" });
        continue;
      }
      emit({ kind: "Container", name: current.name, status: "Starting" });
      await context.engine.start(current.id);
      emit({ kind: "Container", name: current.name, status: "Started" });
      continue;
    }
    if (current) {
      emit({ kind: "Container", name: current.name, status: "Recreate" });
      await context.engine.remove(current.id, { force: true, volumes: true });
    }
    options.onCreating?.({ kind: "container", name });
    emit({ kind: "Container", name, status: "Creating" });
    const container = await Container.create({ ...serviceCreateOptions(context, project, service, { number: n, name, extraLabels: options.extraLabels ?? {} }), engine: context.engine });
    created.containers.push(container.id);
    emit({ kind: "Container", name, status: current ? "Recreated" : "Created" });
    emit({ kind: "Container", name, status: "Starting" });
    await container.start();
    emit({ kind: "Container", name, status: "Started" });
  }
}

export async function rollback(context: ComposeContext, created: Created, emit: ComposeEventListener): Promise<void> {
  for (const id of created.containers.reverse()) {
    await context.engine.remove(id, { force: true, volumes: true }).catch((e: unknown) => log("rollback: removing container %s: %O", id, e));
  }
  for (const network of created.networks.reverse()) {
    await network.remove().catch((e: unknown) => log("rollback: removing network %s: %O", network.name, e));
    emit({ kind: "Network", name: network.name, status: "Removed" });
  }
  for (const volume of created.volumes.reverse()) {
    await volume.remove({ force: true }).catch((e: unknown) => log("rollback: removing volume %s: %O", volume.name, e));
    emit({ kind: "Volume", name: volume.name, status: "Removed" });
  }
}
