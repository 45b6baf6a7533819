import type { Stats } from "node:fs";
import { lstat, readFile, readlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { BerthError } from "../common/index.js";

/**
 * Read-only questions about an image's root filesystem asked directly of its unpacked layer
 * snapshots (no mount): whether a path exists and what it is, and a file's content. Layers
 * are searched from the top; an overlay whiteout (a 0:0 character device) on the path or an
 * opaque parent hides what is below. Used by COPY for Docker's destination rules, for
 * existing parent directories and for `--chown` names.
 */
export class RootfsView {
  /** Layer directories, lowest first, as the image store lists them. */
  constructor(readonly layerDirs: readonly string[]) {}

  /** The `lstat` of `path` (absolute, in the image) in the topmost layer that has it. */
  async stat(path: string): Promise<Stats | undefined> {
    const rel = posix.normalize(path).replace(/^\/+/, "");
    if (rel === "" || rel === ".") return this.layerDirs.length > 0 ? lstat(this.layerDirs.at(-1)!).catch(() => undefined) : undefined;
    for (let i = this.layerDirs.length - 1; i >= 0; i--) {
      const st = await lstat(join(this.layerDirs[i]!, rel)).catch(() => undefined);
      if (st === undefined) {
        // A deleted or opaque-replaced ancestor in this layer hides the path below it.
        if ((await this.#hiddenIn(this.layerDirs[i]!, rel)) || (await whitedOutAsFile(this.layerDirs[i]!, rel))) return undefined;
        continue;
      }
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      return st;
    }
    return undefined;
  }

  async #hiddenIn(layer: string, rel: string): Promise<boolean> {
    const parts = rel.split("/");
    for (let n = 1; n < parts.length; n++) {
      const st = await lstat(join(layer, ...parts.slice(0, n))).catch(() => undefined);
      if (st === undefined) return false;
      if (st.isCharacterDevice() && st.rdev === 0) return true;
      if (!st.isDirectory()) return true;
    }
    return false;
  }

  /**
   * `path` with every symlink among its directories resolved inside the image (an absolute
   * target restarts from the image's root, `..` never climbs above it), as a COPY destination
   * is resolved. The last component is resolved too when `followLast` is set.
   */
  async resolvePath(path: string, followLast = false): Promise<string> {
    let pending = posix.normalize(path).split("/").filter(Boolean);
    const done: string[] = [];
    for (let hops = 0; pending.length > 0; ) {
      const part = pending.shift()!;
      if (part === "..") {
        done.pop();
        continue;
      }
      const candidate = `/${[...done, part].join("/")}`;
      const st = pending.length > 0 || followLast ? await this.stat(candidate) : undefined;
      if (st?.isSymbolicLink()) {
        if (++hops > 40) throw new BerthError("BERTH_PATH_ESCAPE", `too many levels of symbolic links in ${path}`, { path });
        const target = await this.#readlink(candidate);
        if (target.startsWith("/")) done.length = 0;
        pending = [...target.split("/").filter((p) => p !== "" && p !== "."), ...pending];
        continue;
      }
      done.push(part);
    }
    return `/${done.join("/")}`;
  }

  async #readlink(path: string): Promise<string> {
    const rel = path.replace(/^\/+/, "");
    for (let i = this.layerDirs.length - 1; i >= 0; i--) {
      const target = await readlink(join(this.layerDirs[i]!, rel)).catch(() => undefined);
      if (target !== undefined) return target;
      if (await whitedOutAsFile(this.layerDirs[i]!, rel)) return "";
    }
    return "";
  }

  /** The content of a regular file, or undefined when it is absent. */
  async readFile(path: string): Promise<string | undefined> {
    const rel = posix.normalize(path).replace(/^\/+/, "");
    for (let i = this.layerDirs.length - 1; i >= 0; i--) {
      const host = join(this.layerDirs[i]!, rel);
      const st = await lstat(host).catch(() => undefined);
      if (st === undefined) {
        if (await whitedOutAsFile(this.layerDirs[i]!, rel)) return undefined;
        continue;
      }
      if (!st.isFile()) return undefined;
      return readFile(host, "utf8");
    }
    return undefined;
  }
}

/**
 * Whether `rel` or one of its parents is deleted in `layer` by an empty `.wh.NAME` file: the
 * form an unprivileged unpack writes where the kernel refuses the user a 0/0 device (see
 * src/image/layer-extractor.ts). Asked only for a path this layer lacks.
 */
async function whitedOutAsFile(layer: string, rel: string): Promise<boolean> {
  const parts = rel.split("/");
  for (let n = parts.length; n >= 1; n--) {
    const st = await lstat(join(layer, ...parts.slice(0, n - 1), `.wh.${parts[n - 1]}`)).catch(() => undefined);
    if (st?.isFile()) return true;
  }
  return false;
}
