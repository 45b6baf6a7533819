// The engine's pure building blocks: Docker's rules for turning an image config and
// container options into an OCI spec and the files a container needs.
export { dockerDefaults, defaultMounts, normalizeCapability, allCapabilities, tweakCapabilities } from "./docker-defaults.js";
export { defaultSeccompProfile, baselineSyscalls } from "./default-seccomp-profile.js";
export type { SeccompProfileOptions } from "./default-seccomp-profile.js";
export { resolveCommand, shellForm, defaultShell } from "./command.js";
export type { CommandSources, ResolvedCommand } from "./command.js";
export type { ImageRuntimeConfig, ImageHealthcheck } from "./image-config.js";
export { mergeConfig, replaceOrAppendEnv, normalizeSignal, signalNumber } from "./merge-config.js";
export type { ContainerConfigOptions, HealthcheckOptions, ResolvedContainerConfig, ResolvedHealthcheck } from "./merge-config.js";
export { resolveUser, withHome } from "./resolve-user.js";
export type { ResolveUserOptions, ResolvedUser, UserDatabase } from "./resolve-user.js";
export { resolveInRoot } from "./in-root-path.js";
export { buildOciSpec, mergeTmpfsOptions, parseDeviceCgroupRule } from "./oci-spec-builder.js";
export type { ContainerMount, NetworkMode, OciSpecInput, Propagation, ResourceLimits } from "./oci-spec-builder.js";
export { parseUlimit } from "./ulimit.js";
export type { Ulimit } from "./ulimit.js";
export { buildHosts, buildHostname, buildResolvConf, parseExtraHost, dockerFallbackNameservers, dockerFallbackNameservers6 } from "./etc-files.js";
export type { ExtraHost, HostsOptions, ResolvConfOptions } from "./etc-files.js";
export { validateContainerName, generateContainerName, containerNamePattern, generatedNameCount } from "./container-name.js";
export { readLogs, formatLogEntry } from "./log-reader.js";
export type { LogEntry, ReadLogsOptions } from "./log-reader.js";
export { rfc3339ToNanos, toNanos } from "./log-time.js";
export { parseDuration, formatDuration } from "../../common/duration.js";
export { ramInBytes, fromHumanSize } from "../../common/units.js";
