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
 * `userxattr`: in a user namespace the kernel cannot set its `trusted.overlay.*` markers, and
 * does not switch to `user.overlay.*` by itself (it logs "try mounting with 'userxattr'"):
 * without it, removing a directory of the image fails with EIO (no opaque directory can be
 * made), and the layers' opaque directories (`user.overlay.opaque`, which the unprivileged
 * unpack writes) are not seen. fuse-overlayfs ignores the option.
 */
export function overlayOptions(dirs: Omit<RootlessOverlay, "merged">): string {
  return `lowerdir=${dirs.lowerDirs.join(":")},upperdir=${dirs.upper},workdir=${dirs.work},index=off,userxattr`;
}
