import { BerthError } from "../common/berth-error.js";
import { Container } from "../harness/container.js";
import type { ComposeContext } from "./compose-context.js";
import { ensureServiceImages } from "./compose-images.js";
import { composeUp, prepareResources, rollback, type ComposeUpOptions, type Created } from "./compose-up.js";
import { oneOffContainerName } from "./naming.js";
import { projectContainers } from "./project-containers.js";
import { serviceCreateOptions } from "./service-options.js";
import type { ComposeProject } from "./types.js";

/**
 * The container `compose exec` runs in: replica `index` (from 1) of the service, which must
 * be running, as Compose requires.
 */
export async function serviceContainer(context: ComposeContext, project: ComposeProject, service: string, index = 1): Promise<{ id: string; name: string }> {
  if (!project.services[service]) {
    throw new BerthError("BERTH_COMPOSE_SERVICE_NOT_FOUND", `no such service: ${service}`, { service, path: project.configFiles[0] });
  }
  const found = (await projectContainers(context, project.name, { services: [service] })).find((c) => c.number === index);
  if (!found || found.state !== "running") {
    throw new BerthError("BERTH_COMPOSE_NO_CONTAINER", `service "${service}" is not running`, { service, index, project: project.name });
  }
  return { id: found.id, name: found.name };
}

/**
 * Options of {@link composeRun}; each mirrors a `docker compose run` flag. Those it shares
 * with `up` (`noDeps`, `timeout`, the reaper's labels and the listeners) mean what they mean
 * there, and are handed to the `up` of the dependencies.
 */
export interface ComposeRunOptions extends Pick<ComposeUpOptions, "noDeps" | "timeout" | "extraLabels" | "onCreating" | "onEvent"> {
  /** Replaces the service's command. @default the service's */
  command?: readonly string[];
  /** `--entrypoint`. @default the service's */
  entrypoint?: string | readonly string[];
  /** `-e`: variables over the service's. @default {} */
  env?: Record<string, string>;
  /** `-l`: labels over the service's. @default {} */
  labels?: Record<string, string>;
  /** `--name`. @default `<project>-<service>-run-<12 hex>` */
  name?: string;
  /** `-u`. @default the service's */
  user?: string;
  /** `-w`. @default the service's */
  workingDir?: string;
  /** `--service-ports`: publish the service's ports (a one-off does not by default). @default false */
  servicePorts?: boolean;
  /** `--rm`: the engine removes the container once it has exited, even when nobody waits for it. @default false */
  autoRemove?: boolean;
}

/**
 * `docker compose run`: brings up the service's dependencies (unless `noDeps`), then creates
 * and starts a one-off container of the service, labelled `com.docker.compose.oneoff=True`,
 * without its published ports unless `servicePorts`. Returns it started; the caller waits for
 * it, prints its output and removes it (`--rm`).
 */
export async function composeRun(context: ComposeContext, project: ComposeProject, serviceName: string, options: ComposeRunOptions = {}): Promise<Container> {
  const service = project.services[serviceName];
  if (!service) throw new BerthError("BERTH_COMPOSE_SERVICE_NOT_FOUND", `no such service: ${serviceName}`, { service: serviceName, path: project.configFiles[0] });
  const deps = Object.keys(service.dependsOn).filter((d) => project.services[d]);
  if (!options.noDeps && deps.length > 0) {
    await composeUp(context, project, {
      services: deps,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.onCreating ? { onCreating: options.onCreating } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.extraLabels ? { extraLabels: options.extraLabels } : {}),
    });
  }
  const created: Created = { containers: [], networks: [], volumes: [] };
  try {
    await prepareResources(context, project, [service], created, options);
    await ensureServiceImages(context, project, [service], { ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
    const name = options.name ?? oneOffContainerName(project.name, serviceName);
    const base = serviceCreateOptions(context, project, service, { number: 1, name, oneoff: true, publish: options.servicePorts ?? false, extraLabels: { ...options.labels, ...options.extraLabels } });
    options.onCreating?.({ kind: "container", name });
    const container = await Container.create({
      ...base,
      ...(options.command ? { cmd: [...options.command] } : {}),
      ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint } : {}),
      env: { ...(base.env as Record<string, string>), ...options.env },
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.workingDir !== undefined ? { workingDir: options.workingDir } : {}),
      ...(options.autoRemove ? { autoRemove: true } : {}),
      engine: context.engine,
    });
    created.containers.push(container.id);
    await container.start();
    return container;
  } catch (error) {
    await rollback(context, created, () => {});
    throw error;
  }
}
