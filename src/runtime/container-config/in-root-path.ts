import { lstat, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { BerthError } from "../../common/berth-error.js";

/** The kernel's own limit on symlinks followed in one lookup (ELOOP). */
const maxLinks = 40;

/**
 * Resolves `path` inside `root` as the container would see it, following symlinks with
 * `root` as `/` so that `../../..` and absolute targets can never leave it (the
 * filepath-securejoin rule). The result is a host path under `root`; it may not exist.
 * A loop fails with `BERTH_PATH_ESCAPE`.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const pending = posix.normalize(`/${path}`).split("/").filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const host = posix.join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = (await lstat(host)).isSymbolicLink();
    } catch {
      // A missing component: the rest cannot contain links, so join it as written.
      resolved.push(part);
      continue;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > maxLinks) {
      throw new BerthError("BERTH_PATH_ESCAPE", `too many levels of symbolic links resolving ${path} in ${root}`, { path });
    }
    const target = await readlink(host);
    if (target.startsWith("/")) resolved.length = 0;
    pending.unshift(...target.split("/").filter(Boolean));
  }
  return posix.join(root, ...resolved);
}
