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
