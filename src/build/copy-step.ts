import type { Stats } from "node:fs";
import { createReadStream } from "node:fs";
import { open, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { execa } from "execa";
import tar from "tar-stream";
import { createBufferedTarPack } from "../common/buffered-tar-pack.js";
import { BerthError, cleanArchivePath } from "../common/index.js";
import { applyChmod, isRemoteSource } from "./copy-flags.js";
import type { ResolvedSource } from "./context-hash.js";
import type { RootfsView } from "./rootfs-view.js";
import type { CopyStep } from "./stage-evaluator.js";

/**
 * COPY and ADD as a layer tar written directly from the resolved sources (no container):
 * Docker's destination rules, `--chown` (numeric or names from the target's /etc/passwd and
 * /etc/group), `--chmod`, parent directories keeping the metadata they have in the image, and
 * ADD's extraction of local tar archives (plain, gzip, bzip2, xz, zstd).
 */

/** Input of {@link buildCopyLayer}. */
export interface CopyLayerInput {
  step: CopyStep;
  resolved: readonly ResolvedSource[];
  /**
   * The target stage's root filesystem before the step. For `--link` an empty view: the
   * files are copied onto nothing, so the layer does not depend on what is below it.
   */
  target: RootfsView;
  /**
   * The owner of what is written, when the caller has resolved `--chown` already (`--link`
   * resolves names in the real target, then copies onto an empty one).
   * @default resolved from `step.flags.chown` in `target`
   */
  owner?: { uid: number; gid: number };
}

interface Owner {
  uid: number;
  gid: number;
}

function stepError(step: CopyStep, message: string, cause?: unknown): BerthError {
  return new BerthError("BERTH_BUILD_STEP_FAILED", `${step.keyword} on line ${step.instruction.startLine}: ${message}`, {
    line: step.instruction.startLine,
    instruction: step.instruction.original,
    cause,
  });
}

/** Resolves `--chown` as Docker does: numbers as they are, names in the target's /etc files. */
export async function resolveChown(step: CopyStep, target: RootfsView): Promise<Owner> {
  const chown = step.flags.chown;
  if (!chown) return { uid: 0, gid: 0 };
  const lookup = async (file: string, name: string, field: number): Promise<number | undefined> => {
    const text = (await target.readFile(file)) ?? "";
    for (const line of text.split("\n")) {
      const parts = line.split(":");
      if (parts[0] === name && parts[field] !== undefined && /^\d+$/.test(parts[field]!)) return Number(parts[field]);
    }
    return undefined;
  };
  let uid: number;
  let primaryGid: number | undefined;
  if (/^\d+$/.test(chown.user)) uid = Number(chown.user);
  else {
    const found = await lookup("/etc/passwd", chown.user, 2);
    if (found === undefined) throw stepError(step, `unable to find user ${chown.user}: no matching entries in passwd file`);
    uid = found;
    primaryGid = await lookup("/etc/passwd", chown.user, 3);
  }
  let gid: number;
  if (chown.group === undefined) gid = primaryGid ?? uid;
  else if (/^\d+$/.test(chown.group)) gid = Number(chown.group);
  else {
    const found = await lookup("/etc/group", chown.group, 2);
    if (found === undefined) throw stepError(step, `unable to find group ${chown.group}: no matching entries in group file`);
    gid = found;
  }
  return { uid, gid };
}

type ArchiveKind = "gzip" | "tar" | "bzip2" | "xz" | "zstd";

/** Decompressors run as child processes for the formats Node has no decoder for. */
const decompressors: Partial<Record<ArchiveKind, string>> = { bzip2: "bzip2", xz: "xz", zstd: "zstd" };

/**
 * Whether a file starts like an archive ADD unpacks, by its magic bytes as Docker detects
 * them: gzip, bzip2, xz, zstd, or a tar header ("ustar" at offset 257).
 */
async function archiveKind(path: string): Promise<ArchiveKind | undefined> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(263);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
    if (bytesRead >= 3 && head.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
    if (bytesRead >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
    if (bytesRead >= 262 && head.subarray(257, 262).toString("latin1") === "ustar") return "tar";
    return undefined;
  } finally {
    await handle.close();
  }
}

/** Builds the layer tar of a COPY/ADD. */
export async function buildCopyLayer(input: CopyLayerInput): Promise<Buffer> {
  const { step, resolved, target } = input;
  const owner = input.owner ?? (await resolveChown(step, target));
  const chmod = step.flags.chmod;
  const written = step.sources.length + step.inline.length;
  // Symlinks on the way to the destination are followed inside the image, as Docker does
  // (Debian's /lib, /bin and /sbin are links into /usr; /var/run is a link to /run).
  const trailing = step.absoluteDestination.length > 1 && step.absoluteDestination.endsWith("/");
  let resolvedDest = await target.resolvePath(step.absoluteDestination, trailing);
  let destStat = await target.stat(resolvedDest);
  if (destStat?.isSymbolicLink()) {
    // A link to a directory is copied into; a link to anything else is replaced.
    const through = await target.resolvePath(resolvedDest, true);
    const throughStat = await target.stat(through);
    if (throughStat?.isDirectory()) {
      resolvedDest = through;
      destStat = throughStat;
    }
  }
  const dest = trailing && resolvedDest !== "/" ? `${resolvedDest}/` : resolvedDest;
  const destIsDir = dest.endsWith("/") || written > 1 || resolved.length > 1 || (destStat?.isDirectory() ?? false) || resolved.some((r) => r.isDirectory);
  if (written > 1 && !dest.endsWith("/")) {
    throw stepError(step, `When using ${step.keyword} with more than one source file, the destination must be a directory and end with a /`);
  }
  const destDir = dest.replace(/\/+$/, "") || "/";

  const layer = createBufferedTarPack();
  const { entry } = layer;
  const emitted = new Set<string>();
  const rel = (abs: string) => abs.replace(/^\/+/, "");

  // A path written below a directory that is a symlink in the image goes where the link
  // leads, inside the image, as Docker writes through it (an archive of `bin/…` added to / on
  // Debian lands in /usr/bin). Directories this layer creates are real, so only the image's
  // links are followed; each directory is resolved once.
  const resolvedDirs = new Map<string, string>();
  const resolveDir = async (dir: string): Promise<string> => {
    if (dir === "/" || emitted.has(dir)) return dir;
    let r = resolvedDirs.get(dir);
    if (r === undefined) {
      r = await target.resolvePath(dir, true);
      resolvedDirs.set(dir, r);
    }
    return r;
  };
  const place = async (absPath: string, isDirectory: boolean): Promise<string> => {
    const placed = posix.join(await resolveDir(posix.dirname(absPath)), posix.basename(absPath));
    if (!isDirectory || emitted.has(placed)) return placed;
    // A directory written where the image has a link to a directory is merged into its target.
    const st = await target.stat(placed);
    if (!st?.isSymbolicLink()) return placed;
    const through = await target.resolvePath(placed, true);
    return (await target.stat(through))?.isDirectory() ? through : placed;
  };

  // Every ancestor of what we write is in the layer: as it is in the image when it exists
  // (a directory entry in a layer replaces the lower one's mode and owner), else created
  // with the chown owner and 0755, as BuildKit's copy does.
  const ensureParents = async (absPath: string): Promise<void> => {
    const parts = posix.dirname(absPath).split("/").filter(Boolean);
    let current = "";
    for (const part of parts) {
      current += `/${part}`;
      if (emitted.has(current)) continue;
      emitted.add(current);
      const st = await target.stat(current);
      if (st && st.isDirectory()) {
        await entry({ name: `${rel(current)}/`, type: "directory", mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime });
      } else if (st && st.isSymbolicLink()) {
        throw stepError(step, `the destination ${current} is a symlink in the image; copying through it is not supported yet`);
      } else {
        await entry({ name: `${rel(current)}/`, type: "directory", mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: new Date() });
      }
    }
  };
  const modeOf = (st: Stats, isDir: boolean): number => (chmod && !st.isSymbolicLink() ? applyChmod(chmod, st.mode & 0o7777, isDir) : st.mode & 0o7777);

  const writeEntry = async (wanted: string, st: Stats, hostPath: string): Promise<void> => {
    const absPath = await place(wanted, st.isDirectory());
    await ensureParents(absPath);
    const base = { name: rel(absPath), uid: owner.uid, gid: owner.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      emitted.add(absPath);
      await entry({ ...base, name: `${base.name}/`, type: "directory", mode: modeOf(st, true) });
    } else if (st.isSymbolicLink()) {
      await entry({ ...base, type: "symlink", linkname: await readlink(hostPath), mode: 0o777 });
    } else if (st.isFile()) {
      await entry({ ...base, type: "file", size: st.size, mode: modeOf(st, false) }, createReadStream(hostPath));
    }
    // Sockets, fifos and devices in a build context are not copied, as BuildKit skips them.
  };

  const extractArchive = async (hostPath: string, kind: ArchiveKind): Promise<void> => {
    const extract = tar.extract();
    const source = createReadStream(hostPath);
    const tool = decompressors[kind];
    const child = tool ? execa(tool, ["-dc"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", buffer: { stdout: false, stderr: true }, timeout: 30 * 60_000 }) : undefined;
    if (child) source.pipe(child.stdin!);
    const stream: Readable = child ? child.stdout! : kind === "gzip" ? source.pipe(createGunzip()) : source;
    const failed = new Promise<never>((_, reject) => {
      source.on("error", reject);
      stream.on("error", reject);
      child?.catch((error: unknown) =>
        reject(new BerthError("BERTH_BUILD_STEP_FAILED", `${step.keyword} on line ${step.instruction.startLine}: cannot decompress ${hostPath} with ${tool}`, {
          line: step.instruction.startLine,
          path: hostPath,
          cause: error,
        })),
      );
    });
    failed.catch(() => {});
    stream.pipe(extract);
    const consume = (async () => {
      for await (const e of extract) {
        const h = e.header;
        let name: string;
        try {
          name = cleanArchivePath(h.name);
        } catch (error) {
          throw stepError(step, `archive ${hostPath} has an unsafe entry ${h.name}`, error);
        }
        if (name === "" || name === ".") {
          e.resume();
          continue;
        }
        const absPath = await place(posix.join(destDir, name), h.type === "directory");
        await ensureParents(absPath);
        const o = step.flags.chown ? owner : { uid: h.uid ?? 0, gid: h.gid ?? 0 };
        const header: Partial<tar.Header> & { name: string } = { ...h, name: rel(absPath) + (h.type === "directory" ? "/" : ""), uid: o.uid, gid: o.gid };
        if (h.type === "link" && h.linkname) header.linkname = rel(await place(posix.join(destDir, cleanArchivePath(h.linkname)), false));
        if (h.type === "directory") emitted.add(absPath);
        const body = await readStream(e as unknown as Readable);
        await entry(header, h.type === "file" || h.type === "contiguous-file" ? body : undefined);
      }
    })();
    await Promise.race([consume, failed]);
    // The decompressor has written everything tar read; its exit status still says whether
    // the stream was whole.
    if (child) await Promise.race([child, failed]);
  };

  for (const r of resolved) {
    if (!r.isDirectory && r.entries.length === 1) {
      const e = r.entries[0]!;
      // A downloaded URL is never unpacked unless `--unpack=true` asks for it, as in BuildKit.
      const unpack = isRemoteSource(r.source) ? step.flags.unpack === true : step.flags.unpack !== false;
      if (step.keyword === "ADD" && unpack && e.stats.isFile()) {
        const kind = await archiveKind(e.absolutePath);
        if (kind) {
          await extractArchive(e.absolutePath, kind);
          continue;
        }
      }
      const to = destIsDir ? posix.join(destDir, e.path) : destDir;
      await writeEntry(to, e.stats, e.absolutePath);
      continue;
    }
    if (r.isDirectory) {
      await ensureParents(posix.join(destDir, "x"));
      if (!emitted.has(destDir) && destDir !== "/") {
        const st = await target.stat(destDir);
        emitted.add(destDir);
        await entry({
          name: `${rel(destDir)}/`,
          type: "directory",
          mode: st?.isDirectory() ? st.mode & 0o7777 : 0o755,
          uid: st?.isDirectory() ? st.uid : owner.uid,
          gid: st?.isDirectory() ? st.gid : owner.gid,
          mtime: st?.mtime ?? new Date(),
        });
      }
    }
    for (const e of r.entries) await writeEntry(posix.join(destDir, e.path), e.stats, e.absolutePath);
  }
  for (const inline of step.inline) {
    const to = await place(dest.endsWith("/") || written > 1 ? posix.join(destDir, inline.name) : destDir, false);
    await ensureParents(to);
    const body = Buffer.from(inline.content);
    const mode = chmod ? applyChmod(chmod, 0o644, false) : 0o644;
    await entry({ name: rel(to), type: "file", size: body.length, mode, uid: owner.uid, gid: owner.gid, mtime: new Date(0) }, body);
  }
  return layer.finish();
}

async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

