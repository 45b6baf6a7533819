import { statSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BerthError } from "../../common/berth-error.js";
import { ServeUnavailable, type RuntimeServer } from "../runtime-server.js";

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
 * Whether an overlay is mounted on `merged`, from two stats (no mountinfo read): an overlay
 * has its own device number, and nothing else is ever mounted on a container's merged
 * directory. A missing directory is not mounted.
 */
export function isOverlayMounted(merged: string): boolean {
  try {
    return statSync(merged).dev !== statSync(dirname(merged)).dev;
  } catch {
    return false;
  }
}

/**
 * Mounts the overlay unless it is mounted already. One lowerdir alone cannot be an overlay
 * with no upper in old kernels, but every container has an upper, so that case never arises.
 * `index=off`: the lower snapshots are shared by many containers and never change, and the
 * index would tie them to the first upper that used them. `volatile`: no sync of the whole
 * upper filesystem (every dirty page of the host's disk) at unmount, which cost 5-30 ms per
 * stop on a busy host; the marker the kernel leaves is cleared before each mount (see
 * native/src/rootfs-mount.c and docs/engine-notes.md).
 */
export async function mountOverlay(dirs: OverlayDirs, container: string, server?: RuntimeServer): Promise<void> {
  // berth-runtime's mount-overlay checks, makes the directories and mounts in one request.
  if (isOverlayMounted(dirs.merged)) return;
  const args = ["mount-overlay", "--lower", dirs.lowerDirs.join(":"), "--upper", dirs.upper, "--work", dirs.work, "--target", dirs.merged, "--volatile"];
  if (await served(server, args, `cannot mount the root filesystem of container ${container}`, container, dirs.merged)) return;
  if (await isMountPoint(dirs.merged)) return;
  await Promise.all([dirs.upper, dirs.work, dirs.merged].map((d) => mkdir(d, { recursive: true })));
  await rm(join(dirs.work, "work", "incompat", "volatile"), { recursive: true, force: true });
  const options = `lowerdir=${dirs.lowerDirs.join(":")},upperdir=${dirs.upper},workdir=${dirs.work},index=off,volatile`;
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
export async function unmountOverlay(merged: string, container: string, server?: RuntimeServer): Promise<void> {
  if (server?.available && !isOverlayMounted(merged)) return;
  if (await served(server, ["umount", "--target", merged], `cannot unmount the root filesystem of container ${container}`, container, merged)) return;
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

/**
 * Runs a mount command in berth-runtime's co-process (a fork, not a 3 ms spawn of mount(8)).
 * False when there is no co-process to run it, and the caller spawns mount(8) instead.
 */
async function served(server: RuntimeServer | undefined, args: string[], what: string, container: string, path: string): Promise<boolean> {
  if (!server?.available) return false;
  let result;
  try {
    result = await server.run(args, mountTimeout);
  } catch (error) {
    if (error instanceof ServeUnavailable && !error.sent) return false;
    throw new BerthError("BERTH_IO", what, { container, path, cause: error });
  }
  if (result.exitCode === 0) return true;
  const lastLines = result.stderr.split("\n").filter(Boolean).slice(-3);
  throw new BerthError(result.timedOut ? "BERTH_TIMEOUT" : "BERTH_IO", `${what}: ${lastLines.at(-1)?.replace(/^berth-runtime: /, "") ?? `exit ${result.exitCode ?? result.signal}`}`, {
    container,
    path,
    lastLines,
    cause: result,
  });
}
