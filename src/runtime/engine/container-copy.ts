import { createWriteStream } from "node:fs";
import { chown, lchown, lstat, mkdir, link, rm, stat, symlink, utimes } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tarFs from "tar-fs";
import tar from "tar-stream";
import { BerthError } from "../../common/berth-error.js";
import { cleanArchivePath, resolveInRoot, safeJoin } from "../../common/safe-path.js";

/**
 * `docker cp CONTAINER:path -` as a tar stream, with Docker's rules: a file or a directory
 * comes as one entry named after it (`dir/...`); a path ending in `/.` gives the directory's
 * content without the directory; a symlink as the last component is copied as a link unless
 * the path ends in `/` or `/.`. Every symlink on the way is resolved inside `root`.
 */
export async function packFromRoot(root: string, path: string, container: string): Promise<Readable> {
  const contentOnly = /\/\.$/.test(path);
  const followLast = contentOnly || path.endsWith("/");
  const clean = cleanArchivePath(path);
  const host = resolveInRoot(root, clean, { followLast });
  let st;
  try {
    st = await statInRoot(root, host);
  } catch (error) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `Could not find the file ${path} in container ${container}`, { container, path, cause: error });
  }
  if (contentOnly || clean === "") {
    if (!st.isDirectory()) throw new BerthError("BERTH_INVALID_ARGUMENT", `${path} is not a directory`, { container, path });
    return tarFs.pack(host, { map: (h) => ({ ...h, name: h.name === "." ? "./" : h.name }) }) as unknown as Readable;
  }
  // tar-fs walks with lstat: nothing below `host` is followed out of the container's root.
  return tarFs.pack(posix.dirname(host), { entries: [posix.basename(host)] }) as unknown as Readable;
}

/**
 * `docker cp - CONTAINER:dir`: extracts a tar stream into the directory `path` of the
 * container (it must exist, as the Docker API requires). Each entry's path is resolved
 * inside `root` without following its last component, so neither a symlink in the container
 * nor one in the archive can make a write land outside the container.
 */
export async function extractIntoRoot(root: string, path: string, archive: Readable, container: string): Promise<void> {
  const dest = resolveInRoot(root, cleanArchivePath(path), { followLast: true });
  const st = await statInRoot(root, dest).catch(() => undefined);
  if (!st) throw new BerthError("BERTH_INVALID_ARGUMENT", `Could not find the file ${path} in container ${container}`, { container, path });
  if (!st.isDirectory()) throw new BerthError("BERTH_INVALID_ARGUMENT", `extraction point ${path} is not a directory`, { container, path });
  const destRel = dest.slice(root.length) || "/";
  const extract = tar.extract();
  const dirTimes: { target: string; mtime: Date }[] = [];
  extract.on("entry", (header, stream, next) => {
    handleEntry(header, stream as unknown as Readable)
      .then(() => next())
      .catch((error: unknown) => {
        stream.resume();
        next(error as Error);
      });
  });
  async function handleEntry(header: tar.Header, stream: Readable): Promise<void> {
    const name = cleanArchivePath(header.name);
    if (name === "") {
      stream.resume();
      return;
    }
    const target = safeJoin(root, posix.join(destRel, name));
    await mkdir(posix.dirname(target), { recursive: true });
    const mode = (header.mode ?? 0o644) & 0o7777;
    const existing = await lstat(target).catch(() => undefined);
    if (existing && !(existing.isDirectory() && header.type === "directory")) await rm(target, { recursive: true, force: true });
    switch (header.type) {
      case "directory":
        await mkdir(target, { recursive: true, mode });
        stream.resume();
        if (header.mtime) dirTimes.push({ target, mtime: header.mtime });
        break;
      case "file":
      case "contiguous-file":
        await pipeline(stream, createWriteStream(target, { mode, flags: "wx" }));
        break;
      case "symlink":
        stream.resume();
        await symlink(header.linkname ?? "", target);
        break;
      case "link": {
        stream.resume();
        const source = safeJoin(root, posix.join(destRel, cleanArchivePath(header.linkname ?? "")));
        await link(source, target);
        break;
      }
      default:
        // Devices and fifos are not copied into containers (Docker copies them; berth has no use for them yet).
        stream.resume();
        return;
    }
    if (header.type !== "symlink") {
      await chown(target, header.uid ?? 0, header.gid ?? 0).catch(() => {});
      if (header.mtime && header.type !== "directory") await utimes(target, header.mtime, header.mtime).catch(() => {});
    } else {
      await lchown(target, header.uid ?? 0, header.gid ?? 0).catch(() => {});
    }
  }
  try {
    await pipeline(archive, extract);
  } catch (error) {
    if (error instanceof BerthError) throw error;
    throw new BerthError("BERTH_ARCHIVE_INVALID", `cannot copy into ${path} of container ${container}`, { container, path, cause: error });
  }
  for (const { target, mtime } of dirTimes.reverse()) await utimes(target, mtime, mtime).catch(() => {});
}

/**
 * `lstat` of a path inside `root`, except `root` itself, which is followed: a running
 * container's root is `/proc/<pid>/root`, a symlink (a magic one: followed, it leads into the
 * container's mount namespace, not to the path it reads as). Every path below it stays
 * resolved by `resolveInRoot`, which follows no symlink out of the root.
 */
function statInRoot(root: string, path: string) {
  return path === root || path === `${root}/` ? stat(path) : lstat(path);
}
