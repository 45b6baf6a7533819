import { lstatSync, readlinkSync } from "node:fs";
import { posix } from "node:path";
import { BerthError } from "./berth-error.js";

/** How many symlinks one resolution may follow before it is refused (as the kernel's ELOOP). */
const maxSymlinkHops = 255;

/**
 * Turns a path from an archive (a tar entry name, a link target) into a clean path relative
 * to the root it is extracted into. A leading `/` is confined to the root, as Docker does
 * (`/etc/passwd` → `etc/passwd`); `..` that would climb above the root is refused with
 * `BERTH_PATH_ESCAPE` (Docker refuses it as a "breakout"). Returns `""` for the root itself.
 */
export function cleanArchivePath(name: string): string {
  if (name.includes("\0")) {
    throw new BerthError("BERTH_PATH_ESCAPE", `archive path contains a NUL byte: ${JSON.stringify(name)}`, {
      path: name,
    });
  }
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0 && !name.startsWith("/")) {
        throw new BerthError("BERTH_PATH_ESCAPE", `archive path climbs out of its root: ${name}`, { path: name });
      }
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join("/");
}

/**
 * Resolves `relative` inside `root` the way the kernel would if `root` were `/`: symlinks in
 * the path are followed but their targets are evaluated inside `root` (an absolute target
 * restarts at `root`, `..` stops at it), so the result can never name anything outside.
 * The last component is followed only when `followLast` is set: extraction replaces the last
 * component, it never writes through it.
 *
 * Uses lstat, never stat, so no symlink is followed by the system behind our back.
 */
export function resolveInRoot(root: string, relative: string, options: { followLast?: boolean } = {}): string {
  const pending = cleanArchivePath(`/${relative}`).split("/").filter(Boolean).reverse();
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === "." || part === "") continue;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const isLast = pending.length === 0;
    if (isLast && !options.followLast) {
      resolved.push(part);
      break;
    }
    const candidate = posix.join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") {
        throw new BerthError("BERTH_IO", `cannot inspect ${candidate}`, { path: candidate, cause: error });
      }
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++hops > maxSymlinkHops) {
      throw new BerthError("BERTH_PATH_ESCAPE", `too many symlinks resolving ${relative} in ${root}`, {
        path: relative,
        root,
      });
    }
    const target = readlinkSync(candidate);
    if (target.startsWith("/")) resolved.length = 0;
    for (const next of target.split("/").reverse()) if (next !== "") pending.push(next);
  }
  return resolved.length === 0 ? root : posix.join(root, ...resolved);
}

/**
 * Joins `relative` onto `root` with {@link resolveInRoot} and checks the result is inside it.
 * The one entry point for code that writes a user- or archive-supplied path below a root.
 */
export function safeJoin(root: string, relative: string, options: { followLast?: boolean } = {}): string {
  const full = resolveInRoot(root, relative, options);
  if (!isInside(root, full)) {
    throw new BerthError("BERTH_PATH_ESCAPE", `${relative} resolves outside ${root}`, { path: relative, root });
  }
  return full;
}

/** Whether `path` is `root` or below it (lexically; both absolute and normalised). */
export function isInside(root: string, path: string): boolean {
  const rel = posix.relative(root, path);
  return rel === "" || (!rel.startsWith("../") && rel !== ".." && !posix.isAbsolute(rel));
}
