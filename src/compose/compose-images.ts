import { BerthError } from "../common/berth-error.js";
import { Image } from "../harness/image.js";
import type { ComposeContext } from "./compose-context.js";
import type { ComposeEventListener } from "./compose-events.js";
import { ifExists } from "./if-exists.js";
import { serviceImage } from "./service-options.js";
import type { ComposeProject, ComposeService } from "./types.js";

/** Options of {@link buildServices}. */
export interface ComposeBuildOptions {
  /** Build even what is built already. @default true for `compose build`, false inside `up` */
  always?: boolean;
  /** `--no-cache`. @default the service's `build.no_cache` */
  noCache?: boolean;
  /** `--build-arg` values, over the file's. @default {} */
  buildArgs?: Record<string, string>;
  /** Progress lines of the builds. @default none */
  onBuildOutput?: (service: string, line: string) => void;
  onEvent?: ComposeEventListener;
}

/**
 * Builds the services that have `build` (all of them, or those missing their image unless
 * `always`), tagging each as its `image`, else `<project>-<service>`. Build args set to
 * `null` in the file take their value from the project's environment, as Compose does.
 */
export async function buildServices(context: ComposeContext, project: ComposeProject, services: readonly ComposeService[], options: ComposeBuildOptions = {}): Promise<void> {
  for (const service of services) {
    if (!service.build) continue;
    const tag = serviceImage(project, service);
    if (!options.always && (await Image.get(tag, { root: context.imageRoot }).catch(() => undefined))) continue;
    if (/^[a-z]+:\/\//.test(service.build.context) || service.build.context.startsWith("git@")) {
      throw new BerthError("BERTH_UNSUPPORTED", `service ${service.name}: remote build contexts (${service.build.context}) are not supported`, { service: service.name });
    }
    const buildArgs: Record<string, string> = {};
    for (const [k, v] of Object.entries(service.build.args)) {
      const value = v ?? project.environment[k];
      if (value !== undefined) buildArgs[k] = value;
    }
    Object.assign(buildArgs, options.buildArgs);
    options.onEvent?.({ kind: "Service", name: service.name, status: "Building" });
    await Image.fromDockerfile(service.build.context, {
      root: context.imageRoot,
      engine: context.engine,
      dockerfile: service.build.dockerfile,
      buildArgs,
      ...(service.build.target ? { target: service.build.target } : {}),
      ...(options.noCache ?? service.build.noCache ? { noCache: true } : {}),
      ...(service.build.labels ? { labels: service.build.labels } : {}),
      ...(service.build.cacheFrom ? { cacheFrom: service.build.cacheFrom } : {}),
      // The service's own platform wins, as in Compose; else the first of build.platforms.
      ...(service.platform ?? service.build.platforms?.[0] ? { platform: (service.platform ?? service.build.platforms![0])! } : {}),
      ...(buildNetwork(service.build.network) ? { network: buildNetwork(service.build.network)! } : {}),
      ...(options.onBuildOutput ? { onProgress: (event) => options.onBuildOutput!(service.name, JSON.stringify(event)) } : {}),
    }).build(tag);
    options.onEvent?.({ kind: "Service", name: service.name, status: "Built" });
  }
}

/** Options of {@link pullServices}. */
export interface ComposePullOptions {
  /** Pull even images the store has (`compose pull`, `pull_policy: always`). @default true */
  always?: boolean;
  /** Go on past a failed pull (`--ignore-pull-failures`). @default false */
  ignoreFailures?: boolean;
  onEvent?: ComposeEventListener;
}

/** Pulls the images of the services that have an `image` and are not built only (`pull_policy: build`). */
export async function pullServices(context: ComposeContext, services: readonly ComposeService[], options: ComposePullOptions = {}): Promise<void> {
  for (const service of services) {
    if (!service.image || service.pullPolicy === "build" || (service.build && service.pullPolicy !== "always" && !options.always)) continue;
    if (options.always === false && (await Image.get(service.image, { root: context.imageRoot }).catch(() => undefined))) continue;
    options.onEvent?.({ kind: "Image", name: service.image, status: "Pulling" });
    try {
      await Image.pull(service.image, { root: context.imageRoot, policy: options.always === false ? "missing" : "always" });
      options.onEvent?.({ kind: "Image", name: service.image, status: "Pulled" });
    } catch (error) {
      if (!options.ignoreFailures) throw error;
      options.onEvent?.({ kind: "Warning", name: service.image, status: `pull of ${service.image} failed: ${(error as Error).message}` });
    }
  }
}

/**
 * Makes sure every service's image is in the store before anything is created, as `up`
 * does: built when it has `build` and is missing (or `build` is asked), pulled when missing
 * (or `pull_policy: always`). A service with neither `build` nor an image in reach fails
 * here, before any container exists.
 */
export async function ensureServiceImages(
  context: ComposeContext,
  project: ComposeProject,
  services: readonly ComposeService[],
  options: { build?: boolean; noBuild?: boolean; onEvent?: ComposeEventListener; onBuildOutput?: (service: string, line: string) => void },
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const service of services) {
    const tag = serviceImage(project, service);
    const present = await ifExists(Image.get(tag, { root: context.imageRoot }), "BERTH_IMAGE_NOT_FOUND");
    if (service.build && !options.noBuild && (options.build || !present || service.pullPolicy === "build")) {
      if (options.build || !present) {
        await buildServices(context, project, [service], { always: true, ...(options.onEvent ? { onEvent: options.onEvent } : {}), ...(options.onBuildOutput ? { onBuildOutput: options.onBuildOutput } : {}) });
      }
    } else if (!present || service.pullPolicy === "always") {
      if (service.pullPolicy === "never" || (!service.image && !service.build)) {
        throw new BerthError("BERTH_IMAGE_NOT_FOUND", `service ${service.name}: image ${tag} not found and pull_policy is ${service.pullPolicy ?? "never"}`, { service: service.name, image: tag });
      }
      if (!service.image) throw new BerthError("BERTH_IMAGE_NOT_FOUND", `service ${service.name}: image ${tag} is not built (run with --build)`, { service: service.name, image: tag });
      await pullServices(context, [service], { always: true, ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
    }
    ids.set(service.name, (await Image.get(tag, { root: context.imageRoot })).id);
  }
  return ids;
}

/** `build.network` as the builder takes it: Compose's `default` is the bridge. */
function buildNetwork(network: string | undefined): "none" | "host" | "bridge" | undefined {
  if (network === undefined || network === "default") return undefined;
  if (network === "none" || network === "host" || network === "bridge") return network;
  throw new BerthError("BERTH_UNSUPPORTED", `build.network "${network}" is not supported: use default, bridge, none or host`, { network });
}
