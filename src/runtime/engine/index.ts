// The container engine: records, lifecycle, logs, exec, copy, commit and health checks.
export { ContainerEngine } from "./container-engine.js";
export type { ContainerEngineOptions, ExecProcess } from "./container-engine.js";
export { AttachSession } from "./attach-session.js";
export type { AttachOptions } from "./attach-session.js";
export type { CommitOptions } from "./container-commit.js";
export type {
  CreateContainerOptions,
  StopOptions,
  RemoveContainerOptions,
  WaitContainerOptions,
  ListContainersOptions,
  ExecContainerOptions,
  ExecResult,
} from "./container-options.js";
export type { ContainerInspect, ContainerInspectState, ContainerSummary } from "./container-inspect.js";
export { parseRestartPolicy, validateRestartPolicy } from "./restart-policy.js";
export type { RestartPolicy, RestartPolicyName } from "./restart-policy.js";
export type { ContainerRecord, ContainerRecordStatus, HealthState, HealthLogEntry, MountRecord } from "./container-record.js";
export { noneNetwork, hostNetwork, registerNetworkDriver, networkDriver } from "./network-attachment.js";
export type {
  NetworkAttachment,
  NetworkAttachmentConfig,
  NetworkContainer,
  NetworkDescription,
  NetworkDriver,
  NetworkDriverContext,
  NetworkPreparation,
} from "./network-attachment.js";
