// The engine-independent half of the harness: wait strategies, the session reaper, reuse and
// the runner-independent global setup. GenericContainer assembles these over the engine.
export * from "./wait/index.js";
export { SessionReaper, sessionReaper, reapStaleSessions } from "./reaper/index.js";
export type { SessionReaperOptions, ReaperResource, ReaperKind, ReapStaleResult, ReapFailure } from "./reaper/index.js";
export { reuseHash, reuseHashLabel, findOrCreateReusable, nonSemanticOptions, engineContainerFinder } from "./reuse.js";
export type { ContainerFinder, FindOrCreateOptions, Reusable, ReuseHashOptions } from "./reuse.js";
export { runBerthSetup } from "./global-setup.js";
export { containerWaitTarget } from "./container-wait-target.js";
export type { ContainerWaitTargetOptions, WaitEngine } from "./container-wait-target.js";
export type { BerthSetup, BerthSetupContext, BerthSetupOptions, JSONValue } from "./global-setup.js";
