import { createHash, randomBytes } from "node:crypto";
import type { ComposeProject, ComposeService } from "./types.js";

/** The label keys Compose puts on what it creates; other tools (and `docker compose ps`) read them. */
export const composeLabels = {
  project: "com.docker.compose.project",
  service: "com.docker.compose.service",
  containerNumber: "com.docker.compose.container-number",
  oneoff: "com.docker.compose.oneoff",
  workingDir: "com.docker.compose.project.working_dir",
  configFiles: "com.docker.compose.project.config_files",
  environmentFile: "com.docker.compose.project.environment_file",
  configHash: "com.docker.compose.config-hash",
  dependsOn: "com.docker.compose.depends_on",
  network: "com.docker.compose.network",
  volume: "com.docker.compose.volume",
  version: "com.docker.compose.version",
} as const;

/** The name of replica `n` (from 1) of a service: `container_name`, else `<project>-<service>-<n>`. */
export function containerName(project: string, service: ComposeService, n: number): string {
  return service.containerName ?? `${project}-${service.name}-${n}`;
}

/** The name of a one-off (`compose run`) container: `<project>-<service>-run-<12 hex>`. */
export function oneOffContainerName(project: string, service: string, random: () => string = () => randomBytes(6).toString("hex")): string {
  return `${project}-${service}-run-${random()}`;
}

/**
 * A hash of the service's normalised configuration, in Compose's spirit: what would change
 * the container is hashed; how many replicas, dependencies, profiles and how the image is
 * built are not, so scaling or reordering does not recreate containers.
 */
export function configHash(service: ComposeService): string {
  const { build: _b, scale: _s, dependsOn: _d, profiles: _p, pullPolicy: _pp, ...rest } = service;
  let deploy: Record<string, unknown> | undefined;
  if (rest.deploy) {
    const { replicas: _r, ...others } = rest.deploy;
    deploy = Object.keys(others).length > 0 ? others : undefined;
  }
  return createHash("sha256").update(stableJson({ ...rest, deploy })).digest("hex");
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The labels of one container of a service, the service's own labels included. */
export function containerLabels(project: ComposeProject, service: ComposeService, n: number, oneoff = false): Record<string, string> {
  const depends = Object.entries(service.dependsOn)
    .map(([name, d]) => `${name}:${d.condition}:${d.restart}`)
    .join(",");
  return {
    ...service.labels,
    [composeLabels.project]: project.name,
    [composeLabels.service]: service.name,
    [composeLabels.containerNumber]: String(n),
    [composeLabels.oneoff]: oneoff ? "True" : "False",
    [composeLabels.workingDir]: project.workingDir,
    [composeLabels.configFiles]: project.configFiles.join(","),
    [composeLabels.configHash]: configHash(service),
    [composeLabels.dependsOn]: depends,
  };
}

/** The labels of a network the project creates. */
export function networkLabels(project: ComposeProject, key: string): Record<string, string> {
  return { ...project.networks[key]?.labels, [composeLabels.network]: key, [composeLabels.project]: project.name };
}

/** The labels of a volume the project creates. */
export function volumeLabels(project: ComposeProject, key: string): Record<string, string> {
  return { ...project.volumes[key]?.labels, [composeLabels.volume]: key, [composeLabels.project]: project.name };
}
