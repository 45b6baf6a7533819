import type { ContainerSummary } from "../runtime/engine/container-inspect.js";
import type { ComposeContext } from "./compose-context.js";
import { composeLabels } from "./naming.js";

/** One container of a project, as its labels describe it. */
export interface ProjectContainer {
  id: string;
  /** The name without the leading `/`. */
  name: string;
  service: string;
  /** The replica number (`web-2` → 2); one-off containers have theirs too. */
  number: number;
  oneoff: boolean;
  configHash: string;
  state: ContainerSummary["State"];
  summary: ContainerSummary;
}

/** Options of {@link projectContainers}. */
export interface ProjectContainersOptions {
  /** Only these services. @default every service */
  services?: readonly string[];
  /** Include one-off (`compose run`) containers. @default false */
  oneoff?: boolean;
  /** Include containers that are not running. @default true */
  all?: boolean;
}

/**
 * The project's containers, found by their `com.docker.compose.project` label, so that any
 * later process sees what an earlier `up` created. Sorted by service then number.
 */
export async function projectContainers(context: ComposeContext, project: string, options: ProjectContainersOptions = {}): Promise<ProjectContainer[]> {
  const summaries = await context.engine.list({ all: options.all ?? true, label: [`${composeLabels.project}=${project}`] });
  const wanted = options.services && options.services.length > 0 ? new Set(options.services) : undefined;
  return summaries
    .map((s): ProjectContainer => ({
      id: s.Id,
      name: (s.Names[0] ?? s.Id).replace(/^\//, ""),
      service: s.Labels[composeLabels.service] ?? "",
      number: Number(s.Labels[composeLabels.containerNumber] ?? 0),
      oneoff: s.Labels[composeLabels.oneoff] === "True",
      configHash: s.Labels[composeLabels.configHash] ?? "",
      state: s.State,
      summary: s,
    }))
    .filter((c) => (options.oneoff ? true : !c.oneoff) && (!wanted || wanted.has(c.service)))
    .sort((a, b) => (a.service === b.service ? a.number - b.number : a.service < b.service ? -1 : 1));
}
