export { Volume } from "./volume.js";
export type { VolumeApiOptions } from "./volume.js";
export { VolumeStore, anonymousVolumeLabel } from "./volume-store.js";
export type { CreateVolumeOptions, PruneVolumesOptions, PruneVolumesResult, VolumeFilters, VolumeInfo } from "./volume-store.js";
export { parseVolumeFlag, parseMountFlag, parseTmpfsFlag, validateVolumeName } from "./mount-spec.js";
export type { BindMountSpec, BindPropagation, MountSpec, ParseVolumeOptions, TmpfsMountSpec, VolumeMountSpec } from "./mount-spec.js";
export { prepareBindSource } from "./bind-source.js";
