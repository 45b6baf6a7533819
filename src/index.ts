// The public API of berth: re-exports only.
export { BerthError, isBerthError, hasErrorCode, errorCodes } from "./common/index.js";
export type { BerthErrorCode, BerthErrorContext, BerthErrorOptions } from "./common/index.js";
export { OciRuntime, defaultSpec, defaultCapabilities, defaultMaskedPaths, defaultReadonlyPaths, OCI_VERSION } from "./runtime/index.js";
export type * from "./runtime/index.js";
export { RegistryClient } from "./registry/index.js";
export type { RegistryClientOptions, RegistryLoginOptions, RegistryLoginResult, RegistryAuth, TransferProgress } from "./registry/index.js";
export { Image } from "./harness/image.js";
export type { ImagePullOptions, ImagePushOptions, FromRootfsImageOptions, ImageInspect, ImageStoreOption, ImageRemoveOptions } from "./harness/image.js";
export type { ExportOptions as ImageExportOptions } from "./image/export-archive.js";
export type { PullProgress } from "./registry/pull.js";
export { parseReference, familiarName, formatReference } from "./image/reference.js";
export type { ImageReference } from "./image/reference.js";
export { Volume } from "./volume/volume.js";
export type { VolumeApiOptions } from "./volume/volume.js";
export type { CreateVolumeOptions, PruneVolumesOptions, PruneVolumesResult, VolumeFilters, VolumeInfo } from "./volume/volume-store.js";
export { Network, BridgeAttachment, ContainerAttachment, parsePortSpec } from "./network/index.js";
export type { NetworkInspect, NetworkApiOptions, ConnectOptions, CreateNetworkOptions, BridgeAttachmentOptions, BridgeEndpoint, ContainerAttachmentOptions, PortSpec, ProxiedPort } from "./network/index.js";
