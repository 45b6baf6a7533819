import { constants, lstatSync, readFileSync } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { execa } from "execa";
import type tar from "tar-stream";
import { BerthError } from "../common/berth-error.js";
import { cleanArchivePath, safeJoin } from "../common/safe-path.js";
import { logger } from "../common/logger.js";
import type { TarGuard } from "./tar-guard.js";

const log = logger("image:unpack");

/** What a tar entry name means for overlayfs, by the OCI whiteout convention. */
export type WhiteoutKind =
  | { kind: "whiteout"; target: string }
  | { kind: "opaque"; dir: string }
  | { kind: "ignore" }
  | undefined;

/**
 * Classifies a cleaned entry path: `.wh.name` hides `name` of a lower layer (an overlayfs
 * whiteout, a 0/0 character device); `.wh..wh..opq` hides everything below its directory
 * (the `trusted.overlay.opaque=y` xattr); other `.wh..wh.` names are AUFS bookkeeping that
 * Docker also drops.
 */
export function classifyWhiteout(path: string): WhiteoutKind {
  const base = posix.basename(path);
  if (!base.startsWith(".wh.")) return undefined;
  const dir = posix.dirname(path) === "." ? "" : posix.dirname(path);
  if (base === ".wh..wh..opq") return { kind: "opaque", dir };
  if (base.startsWith(".wh..wh.")) return { kind: "ignore" };
  const name = base.slice(4);
  if (name === "" || name === "." || name === "..") return { kind: "ignore" };
  return { kind: "whiteout", target: dir ? `${dir}/${name}` : name };
}

/** Work Node cannot do itself (mknod, setxattr), done by one `sh` per layer at the end. */
interface SpecialOp {
  rel: string;
  abs: string;
  command: string[];
  meta?: EntryMeta;
  /** A whiteout device, not made when a later entry of the layer took its name. */
  whiteout?: boolean;
}

interface EntryMeta {
  uid: number;
  gid: number;
  mode: number;
  mtime: Date;
  symlink?: boolean;
}

/** Files up to this size are read whole and written in the background. */
const smallFileSize = 1024 * 1024;
/** Background file writes at once; the libuv pool has 4 threads, the kernel queues the rest. */
const maxInFlight = 16;
const ownUid = process.getuid?.() ?? 0;
const ownGid = process.getgid?.() ?? 0;
const processUmask = readUmask();

/** The umask, from /proc (process.umask() as a getter is deprecated and fails in workers). */
function readUmask(): number {
  try {
    const match = /^Umask:\s+([0-7]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number.parseInt(match[1]!, 8) : 0o022;
  } catch {
    return 0o022;
  }
}

const fileFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** xattrs kept from layers; `trusted.*` and `user.overlay.*` are refused so a layer cannot forge overlayfs markers. */
const keptXattr = /^(security\.capability|user\.(?!overlay\.).+)$/;

/**
 * Writes a layer's tar entries under a root, one entry at a time in archive order (small
 * files in the background), confined to the root; see {@link unpackLayer}.
 */
export class Extractor {
  unpackedSize = 0;
  private readonly knownDirs = new Set<string>();
  private readonly dirs: { abs: string; meta: EntryMeta }[] = [];
  private readonly specials: SpecialOp[] = [];
  /** Whether whiteouts are `.wh.` files here (see {@link whiteoutFiles}); decided at the first one. */
  private whiteoutForm: Promise<boolean> | undefined;
  private fileWhiteouts = false;

  private readonly inFlight = new Set<Promise<void>>();
  /** Paths being written in the background. */
  private readonly pending = new Set<string>();
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly root: string,
    private readonly privileged: boolean,
    private readonly guard: TarGuard,
  ) {}

  /**
   * Runs a new file's write in the background, at most {@link maxInFlight} at once. Safe
   * beside later entries because a background write's parent directories already exist
   * and are real: later entries only add new names (which cannot redirect an existing path)
   * unless they replace or remove something, and those wait ({@link barrier}) first.
   */
  private async schedule(abs: string, write: () => Promise<unknown>): Promise<void> {
    if (this.failure) throw this.failure.error;
    while (this.inFlight.size >= maxInFlight) await Promise.race(this.inFlight);
    this.pending.add(abs);
    const task: Promise<void> = write().then(
      () => {
        this.inFlight.delete(task);
        this.pending.delete(abs);
      },
      (error: unknown) => {
        this.inFlight.delete(task);
        this.pending.delete(abs);
        this.failure ??= { error };
      },
    );
    this.inFlight.add(task);
  }

  /**
   * Waits for every background write: before an entry replaces or removes a path, before a
   * hard link, and before the end, so nothing is written under a path that changed after it
   * was checked and nothing is still being written when the caller judges the result.
   */
  async barrier(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    if (this.failure) throw this.failure.error;
  }

  /** Creates a regular file that did not exist (never through a symlink); returns its size. */
  private async writeFile(abs: string, content: AsyncIterable<unknown> | Buffer[], meta: EntryMeta): Promise<number> {
    // Created with its final permission bits when the umask keeps them, so most files need
    // neither chmod nor chown (root-owned, as root).
    const plain = (meta.mode & 0o7000) === 0 && (meta.mode & processUmask) === 0;
    const fh = await open(abs, fileFlags, plain ? meta.mode : 0o600);
    let size = 0;
    try {
      for await (const chunk of content) {
        await fh.write(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      const chown = this.privileged && (meta.uid !== ownUid || meta.gid !== ownGid);
      if (chown) await fh.chown(meta.uid, meta.gid);
      if (!plain || chown) await fh.chmod(meta.mode);
      await fh.utimes(meta.mtime, meta.mtime);
    } finally {
      await fh.close();
    }
    return size;
  }

  async entry(header: tar.Header & { byteOffset?: number }, stream: Readable): Promise<void> {
    const rel = cleanArchivePath(header.name);
    const meta: EntryMeta = {
      uid: Number((header.pax as Record<string, string> | undefined)?.uid ?? header.uid ?? 0),
      gid: Number((header.pax as Record<string, string> | undefined)?.gid ?? header.gid ?? 0),
      mode: (header.mode ?? 0o644) & 0o7777,
      mtime: header.mtime ?? new Date(0),
    };
    const xattrs = header.byteOffset === undefined ? undefined : this.guard.xattrs.get(header.byteOffset);
    if (header.byteOffset !== undefined) this.guard.xattrs.delete(header.byteOffset);

    if (rel === "") {
      if (header.type === "directory") this.dirs.push({ abs: this.root, meta });
      return drain(stream);
    }
    const white = classifyWhiteout(rel);
    if (white) {
      await drain(stream);
      if (white.kind === "whiteout") {
        const abs = await this.prepare(white.target, false);
        if (await this.whiteoutFiles()) {
          // The name of this layer went above, as the device would have replaced it.
          const file = posix.join(posix.dirname(abs), posix.basename(rel));
          await rm(file, { force: true });
          await writeFile(file, "", { flag: "wx", mode: 0 });
        } else {
          this.specials.push({ rel: white.target, abs, command: ["mknod", "-m", "000", abs, "c", "0", "0"], whiteout: true });
        }
      } else if (white.kind === "opaque") {
        const abs = white.dir === "" ? this.root : await this.ensureDir(white.dir);
        // Rootless overlayfs (mounted with `userxattr`, Linux 5.11+) reads the user.* name;
        // whiteout devices need no privilege since Linux 5.8.
        const name = this.privileged ? "trusted.overlay.opaque" : "user.overlay.opaque";
        const command = ["setfattr", "-n", name, "-v", "y", abs];
        if (!this.privileged && (await this.whiteoutFiles())) {
          // A filesystem that takes no user.* xattr: where whiteouts are files,
          // fuse-overlayfs reads the opaque marker as a file too.
          const marker = posix.join(abs, ".wh..wh..opq");
          this.specials.push({ rel: white.dir, abs, command: ["sh", "-c", `${command.map(shellQuote).join(" ")} 2>/dev/null || : > ${shellQuote(marker)}`] });
        } else {
          this.specials.push({ rel: white.dir, abs, command });
        }
      }
      return;
    }

    switch (header.type) {
      case "file":
      case "contiguous-file": {
        if ((header.size ?? 0) <= smallFileSize) {
          // Small files are written in the background, many at once, while the tar is read
          // on: the per-file syscalls, not the bytes, are what an image's unpack waits on.
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          const content = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          this.unpackedSize += content.length;
          const abs = await this.prepare(rel, false);
          await this.schedule(abs, () => this.writeFile(abs, [content], meta));
        } else {
          const abs = await this.prepare(rel, false);
          this.unpackedSize += await this.writeFile(abs, stream, meta);
        }
        break;
      }
      case "directory": {
        await drain(stream);
        const abs = await this.prepare(rel, true);
        this.dirs.push({ abs, meta });
        break;
      }
      case "symlink": {
        await drain(stream);
        const abs = await this.prepare(rel, false);
        await symlink(header.linkname ?? "", abs);
        this.knownDirs.clear();
        if (this.privileged) await lchown(abs, meta.uid, meta.gid);
        await lutimes(abs, meta.mtime, meta.mtime);
        break;
      }
      case "link": {
        await drain(stream);
        // The target must be complete before it gets another name.
        await this.barrier();
        const targetRel = cleanArchivePath(header.linkname ?? "");
        const target = safeJoin(this.root, targetRel, { followLast: false });
        const st = await lstat(target).catch(() => undefined);
        if (!st || st.isDirectory()) {
          throw new BerthError("BERTH_LAYER_INVALID", `hard link ${rel} points at ${header.linkname}, which is not a file in this layer`, {
            path: rel,
            linkname: header.linkname,
          });
        }
        const abs = await this.prepare(rel, false);
        await link(target, abs);
        break;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        await drain(stream);
        if (!this.privileged && header.type !== "fifo") {
          log("skipping device node %s: not root", rel);
          break;
        }
        const abs = await this.prepare(rel, false);
        const kind = header.type === "fifo" ? ["p"] : [header.type === "block-device" ? "b" : "c", String(header.devmajor ?? 0), String(header.devminor ?? 0)];
        this.specials.push({ rel, abs, command: ["mknod", abs, ...kind], meta });
        break;
      }
      default:
        log("skipping tar entry %s of type %s", rel, header.type);
        await drain(stream);
        return;
    }
    if (xattrs && (header.type === "file" || header.type === "contiguous-file" || header.type === "directory")) {
      const abs = safeJoin(this.root, rel, { followLast: false });
      for (const [name, value] of xattrs) {
        if (!keptXattr.test(name)) continue;
        if (name.startsWith("security.") && !this.privileged) continue;
        this.specials.push({ rel, abs, command: ["setfattr", "-n", name, "-v", `0s${value.toString("base64")}`, abs] });
      }
    }
  }

  /**
   * Resolves `rel`'s parent inside the root, creates it, and clears the last component for a
   * new entry (Docker's rule: anything but a directory over a directory replaces it).
   */
  private async prepare(rel: string, isDir: boolean): Promise<string> {
    const parentRel = posix.dirname(rel) === "." ? "" : posix.dirname(rel);
    const parent = parentRel === "" ? this.root : await this.ensureDir(parentRel);
    const abs = posix.join(parent, posix.basename(rel));
    if (this.pending.has(abs)) await this.barrier();
    // A later entry of the layer replaces a whiteout of its name, file or device alike.
    if (this.fileWhiteouts) await rm(posix.join(parent, `.wh.${posix.basename(rel)}`), { force: true });
    const existing = await lstat(abs).catch(() => undefined);
    if (existing) {
      if (isDir && existing.isDirectory()) return abs;
      await this.barrier();
      await rm(abs, { recursive: true, force: true });
      this.knownDirs.clear();
    }
    if (isDir) {
      await mkdir(abs, { mode: 0o755 });
      this.knownDirs.add(abs);
    }
    return abs;
  }

  private async ensureDir(rel: string): Promise<string> {
    const abs = safeJoin(this.root, rel, { followLast: true });
    if (this.knownDirs.has(abs)) return abs;
    try {
      await mkdir(abs, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new BerthError("BERTH_LAYER_INVALID", `cannot create directory ${rel} in layer`, { path: rel, cause: error });
    }
    const st = lstatSync(abs);
    if (!st.isDirectory()) {
      throw new BerthError("BERTH_LAYER_INVALID", `${rel} is not a directory in layer`, { path: rel });
    }
    this.knownDirs.add(abs);
    return abs;
  }

  /**
   * Whether this unpack writes whiteouts as empty `.wh.NAME` files (and an opaque directory,
   * where its xattr is refused, as a `.wh..wh..opq` file): only unprivileged, where the kernel
   * refuses the user a 0/0 character device, found out once with a probe device. It refuses it
   * on overlayfs (EPERM, to everyone: overlayfs makes its whiteouts itself), so on a state root
   * that is itself an overlay (rootless berth in a container), and on Linux < 5.8 (EPERM: no
   * CAP_MKNOD); EOPNOTSUPP and EINVAL, from filesystems without such nodes, are taken alike.
   * Snapshots and the containers' upper directories share the state root, and the kernel's
   * overlay cannot serve there either (it refuses overlayfs as an upper directory; Linux < 5.11
   * has no overlay in a user namespace, Ubuntu's patched kernels aside: docs/rootless.md): the
   * root is then fuse-overlayfs, which reads these files as whiteouts and hides them. Root
   * keeps the device (native/src/unpack.c does the same).
   */
  private whiteoutFiles(): Promise<boolean> {
    if (this.privileged) return Promise.resolve(false);
    this.whiteoutForm ??= (async () => {
      const probe = posix.join(this.root, ".wh..wh.berth-probe");
      const made = await execa("mknod", ["-m", "000", probe, "c", "0", "0"], { reject: false, timeout: 30_000, env: { LC_ALL: "C" } });
      if (made.exitCode === 0) {
        await rm(probe, { force: true });
        return false;
      }
      // Any other failure is left to the mknod of the whiteout itself, which reports it.
      this.fileWhiteouts = /Operation not permitted|Operation not supported|Invalid argument/.test(String(made.stderr));
      if (this.fileWhiteouts) log("whiteout devices refused in %s (%s): writing .wh. files", this.root, String(made.stderr).trim());
      return this.fileWhiteouts;
    })();
    return this.whiteoutForm;
  }

  /** Runs the deferred mknod/setxattr work, then directory metadata deepest first. */
  async finish(): Promise<void> {
    await this.barrier();
    // A whiteout device whose name a later entry of the layer took is not made (that entry
    // replaced it), nor one made already.
    const whiteouts = new Set<string>();
    for (let i = 0; i < this.specials.length; i++) {
      const op = this.specials[i]!;
      if (!op.whiteout) continue;
      if (whiteouts.has(op.abs) || (await lstat(op.abs).catch(() => undefined))) this.specials.splice(i--, 1);
      whiteouts.add(op.abs);
    }
    if (this.specials.length > 0) {
      for (const op of this.specials) {
        // A later entry may have replaced a parent with a symlink; re-check before acting.
        const again = op.rel === "" ? this.root : safeJoin(this.root, op.rel, { followLast: false });
        if (again !== op.abs) {
          throw new BerthError("BERTH_PATH_ESCAPE", `layer entry ${op.rel} moved under a symlink`, { path: op.rel });
        }
      }
      const script = this.specials.map((op) => op.command.map(shellQuote).join(" ")).join("\n");
      try {
        await execa("sh", ["-e"], { input: script, timeout: 120_000 });
      } catch (error) {
        throw new BerthError("BERTH_IO", "cannot create device nodes, whiteouts or xattrs in layer", {
          cause: error,
          lastLines: String((error as { stderr?: string }).stderr ?? "").split("\n").slice(-5),
        });
      }
      for (const op of this.specials) {
        if (!op.meta) continue;
        if (this.privileged) await lchown(op.abs, op.meta.uid, op.meta.gid);
        await chmod(op.abs, op.meta.mode);
        await lutimes(op.abs, op.meta.mtime, op.meta.mtime);
      }
    }
    const dirs = this.dirs.sort((a, b) => b.abs.length - a.abs.length);
    for (const { abs, meta } of dirs) {
      if (this.privileged) await lchown(abs, meta.uid, meta.gid);
      await chmod(abs, meta.mode);
      await lutimes(abs, meta.mtime, meta.mtime);
    }
  }
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream) {
    // discard
  }
}
