import { mkdir, readFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BerthError } from "../../common/berth-error.js";

/** The directories of one container's overlayfs root. */
export interface OverlayDirs {
  /** Snapshot directories, top layer first (overlayfs `lowerdir` order). */
  lowerDirs: readonly string[];
  upper: string;
  work: string;
  /** The mount point the container sees as `/`. */
  merged: string;
}

const mountTimeout = 10_000;
// Plain execFile, not execa: mount and umount run on every start and stop, and execa costs
// ~3 ms more per spawn here (measured: 7.3 vs 4.5 ms median).
const run = promisify(execFile);

/** Whether `path` is a mount point (in this process's mount namespace). */
export async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  for (const line of info.split("\n")) {
    if (line.split(" ")[4] === escaped) return true;
  }
  return false;
}

/**
 * Mounts the overlay unless it is mounted already. One lowerdir alone cannot be an overlay
 * with no upper in old kernels, but every container has an upper, so that case never arises.
 * `index=off`: the lower snapshots are shared by many containers and never change, and the
 * index would tie them to the first upper that used them.
 */
export async function mountOverlay(dirs: OverlayDirs, container: string): Promise<void> {
  if (await isMountPoint(dirs.merged)) return;
  await Promise.all([dirs.upper, dirs.work, dirs.merged].map((d) => mkdir(d, { recursive: true })));
  const options = `lowerdir=${dirs.lowerDirs.join(":")},upperdir=${dirs.upper},workdir=${dirs.work},index=off`;
  try {
    await run("mount", ["-t", "overlay", "overlay", "-o", options, dirs.merged], { timeout: mountTimeout });
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot mount the root filesystem of container ${container}`, {
      container,
      path: dirs.merged,
      cause: error,
      lastLines: String((error as { stderr?: string }).stderr ?? "").split("\n").filter(Boolean).slice(-3),
    });
  }
}

/** Unmounts the overlay if mounted. A busy mount is detached lazily: nothing may keep it alive. */
export async function unmountOverlay(merged: string, container: string): Promise<void> {
  if (!(await isMountPoint(merged))) return;
  try {
    await run("umount", [merged], { timeout: mountTimeout });
  } catch (error) {
    try {
      await run("umount", ["--lazy", merged], { timeout: mountTimeout });
    } catch {
      throw new BerthError("BERTH_IO", `cannot unmount the root filesystem of container ${container}`, { container, path: merged, cause: error });
    }
  }
}
