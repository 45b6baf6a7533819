// The user-namespace helpers live in src/common/user-namespace.ts (the image and volume
// layers need them too); the overlay's are the runtime's own.
export { removeInUserNamespace, runInUserNamespace, unshareArgs } from "../../common/user-namespace.js";
export type { RunInUserNamespaceOptions } from "../../common/user-namespace.js";

/** The directories of a container's overlay root. */
export interface RootlessOverlay {
  lowerDirs: readonly string[];
  upper: string;
  work: string;
  merged: string;
}

/**
 * The overlayfs options of a container's root. `index=off`: the lower snapshots are shared
 * by many containers and never change, and the index would tie them to one upper.
 */
export function overlayOptions(dirs: Omit<RootlessOverlay, "merged">): string {
  return `lowerdir=${dirs.lowerDirs.join(":")},upperdir=${dirs.upper},workdir=${dirs.work},index=off`;
}
