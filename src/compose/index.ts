export { loadComposeProject, readComposeFile } from "./load-project.js";
export type { LoadComposeOptions } from "./load-project.js";
export type {
  ComposeProject,
  ComposeService,
  ComposePort,
  ComposeVolumeMount,
  ComposeServiceNetwork,
  ComposeDependency,
  ComposeHealthcheck,
  ComposeBuild,
  ComposeResources,
  ComposeNetwork,
  ComposeVolume,
} from "./types.js";
export { interpolateString, interpolateTree } from "./interpolate.js";
export { parseEnvFile, readEnvFile } from "./dotenv.js";
export { mergeDocuments } from "./merge.js";
export { normaliseProjectName, resolveProjectName, validateProjectName } from "./project-name.js";
export { findDefaultConfigFiles, defaultFileNames, defaultOverrideFileNames } from "./find-config-files.js";
export { startOrder, stopOrder } from "./start-order.js";
export { composeLabels, containerName, oneOffContainerName, configHash, containerLabels, networkLabels, volumeLabels } from "./naming.js";
export { projectToDocument, projectToYaml } from "./config-output.js";
export { parseShortPort } from "./ports.js";
export { shellSplit } from "./shell-split.js";
export { parseGoDuration, formatGoDuration, parseRamSize } from "./go-values.js";
export { parseScaleFlags } from "./scale.js";
export { composeContext } from "./compose-context.js";
export type { ComposeContext, ComposeContextOptions } from "./compose-context.js";
export { formatComposeEvent } from "./compose-events.js";
export type { ComposeEvent, ComposeEventListener, ComposeResource } from "./compose-events.js";
export { composeUp, selectServices } from "./compose-up.js";
export type { ComposeUpOptions, ComposeUpResult } from "./compose-up.js";
export { composeDown, composeStop, composeStart, composeRestart } from "./compose-lifecycle.js";
export type { ComposeDownOptions, ComposeStopOptions } from "./compose-lifecycle.js";
export { composeLogs } from "./compose-logs.js";
export type { ComposeLogsOptions, ComposeLogLine } from "./compose-logs.js";
export { composeRun, serviceContainer } from "./compose-run.js";
export type { ComposeRunOptions } from "./compose-run.js";
export { buildServices, pullServices } from "./compose-images.js";
export type { ComposeBuildOptions, ComposePullOptions } from "./compose-images.js";
export { projectContainers } from "./project-containers.js";
export type { ProjectContainer, ProjectContainersOptions } from "./project-containers.js";
export { ComposeEnvironment, StartedComposeEnvironment } from "./compose-environment.js";
export type { ComposeEnvironmentOptions, ComposeEnvironmentDownOptions } from "./compose-environment.js";
export { projectFromLabels } from "./project-from-labels.js";
