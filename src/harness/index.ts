// The engine-independent half of the harness: wait strategies, the session reaper, reuse and
// the runner-independent global setup. GenericContainer assembles these over the engine.
export * from "./wait/index.js";
export { SessionReaper, sessionReaper, reapStaleSessions } from "./reaper/index.js";
export type { SessionReaperOptions, ReaperResource, ReaperKind, ReapStaleResult, ReapFailure } from "./reaper/index.js";
export { reuseHash, reuseHashLabel, findOrCreateReusable, nonSemanticOptions, engineContainerFinder } from "./reuse.js";
export type { ContainerFinder, FindOrCreateOptions, Reusable, ReuseHashOptions } from "./reuse.js";
export { runBerthSetup } from "./global-setup.js";
export { defineJestGlobalSetup, defineJestGlobalTeardown } from "./jest-setup.js";
export { containerWaitTarget } from "./container-wait-target.js";
export type { ContainerWaitTargetOptions, WaitEngine } from "./container-wait-target.js";
export type { BerthSetup, BerthSetupContext, BerthSetupOptions, JSONValue } from "./global-setup.js";
export { GenericContainer } from "./generic-container.js";
export type { GenericContainerEnvironment } from "./generic-container.js";
export { GenericContainerBuilder } from "./generic-container-builder.js";
export type { HealthCheck } from "./generic-container-builder.js";
export { StartedTestContainer } from "./started-container.js";
export type { ExecOptions, ExecResult as ContainerExecResult, StopContainerOptions, RestartContainerOptions, CommitContainerOptions } from "./started-container.js";
export { StoppedTestContainer } from "./stopped-container.js";
export type { ContainerLogsOptions } from "./stopped-container.js";
export type { PortToExpose, FileToCopy, DirectoryToCopy, ContentToCopy, ArchiveToCopy, BindMount, VolumeMountOptions, ResourcesQuota, LogConsumer } from "./container-options.js";
