export { SessionReaper, sessionReaper } from "./session-reaper.js";
export type { SessionReaperOptions } from "./session-reaper.js";
export { reapResources, reapStaleSessions, sessionsDir } from "./reap.js";
export type { ReapFailure, ReapStaleResult } from "./reap.js";
export { reaperHandlers } from "./reaper-handlers.js";
export type { ReaperHandler } from "./reaper-handlers.js";
export { reaperKinds } from "./reaper-resource.js";
export type { ReaperKind, ReaperResource, SessionFile } from "./reaper-resource.js";
