import type { ComposeContext } from "./compose-context.js";
import { emptyService } from "./empty-service.js";
import { composeLabels } from "./naming.js";
import type { ComposeDependency, ComposeProject, ComposeService } from "./types.js";

/**
 * A project rebuilt from what its containers' labels say, for `docker compose -p NAME down`
 * (and `ps`, `logs`, `stop`, `start`, `restart`) when the compose files are not at hand: the
 * services and their `depends_on` (from `com.docker.compose.depends_on`), so stop order still
 * holds. Enough to find, order and remove what the project made; not enough to create anything.
 */
export async function projectFromLabels(context: ComposeContext, name: string): Promise<ComposeProject> {
  const summaries = await context.engine.list({ all: true, label: [`${composeLabels.project}=${name}`] });
  const services: Record<string, ComposeService> = {};
  let workingDir = "";
  let configFiles: string[] = [];
  for (const s of summaries) {
    const service = s.Labels[composeLabels.service];
    if (!service || services[service]) continue;
    workingDir ||= s.Labels[composeLabels.workingDir] ?? "";
    if (configFiles.length === 0) configFiles = (s.Labels[composeLabels.configFiles] ?? "").split(",").filter(Boolean);
    const dependsOn: Record<string, ComposeDependency> = {};
    for (const entry of (s.Labels[composeLabels.dependsOn] ?? "").split(",").filter(Boolean)) {
      const [dep, condition, restart] = entry.split(":");
      if (!dep) continue;
      dependsOn[dep] = {
        condition: condition === "service_healthy" || condition === "service_completed_successfully" ? condition : "service_started",
        restart: restart === "true",
        required: true,
      };
    }
    services[service] = { ...emptyService(service), dependsOn };
  }
  // Dependencies on services with no container left would only confuse the order.
  for (const s of Object.values(services)) for (const dep of Object.keys(s.dependsOn)) if (!services[dep]) delete s.dependsOn[dep];
  return { name, workingDir, configFiles, environment: {}, profiles: [], services, disabledServices: {}, networks: {}, volumes: {}, extra: {} };
}
