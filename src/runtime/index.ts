export { OciRuntime, resolveRuntime } from "./oci-runtime.js";
export type {
  OciRuntimeKind,
  OciRuntimeOptions,
  OciCommandOptions,
  OciCreateOptions,
  OciRunOptions,
  OciRunDetachedOptions,
  OciProcessResult,
  OciExecOptions,
  OciExecUser,
  OciKillOptions,
  OciDeleteOptions,
  OciWaitOptions,
  OciStopOptions,
  OciMonitorOptions,
  OciDetachedStdio,
  WriteBundleOptions,
} from "./oci-runtime.js";
export { defaultSpec, defaultCapabilities, defaultMaskedPaths, defaultReadonlyPaths } from "./default-spec.js";
export type { DefaultSpecOptions } from "./default-spec.js";
export { OCI_VERSION } from "./oci-spec.js";
export type * from "./oci-spec.js";
export * from "./engine/index.js";
