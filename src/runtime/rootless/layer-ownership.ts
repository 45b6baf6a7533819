import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { BerthError } from "../../common/berth-error.js";
import { withFileLock } from "../../common/file-lock.js";
import { logger } from "../../common/logger.js";
import type { ImageStore } from "../../image/image-store.js";
import { decompressor, readHead, sniffCompression } from "../../image/compression.js";
import { runInUserNamespace } from "./user-namespace.js";
import type { RootlessIdMappings } from "./subordinate-ids.js";

const log = logger("rootless");

/** Marks a snapshot whose ownership has been applied in the user namespace. */
const marker = "rootless-owned";

/**
 * An unprivileged unpack cannot chown, so every file of a snapshot is the user's (root in
 * the container). berth keeps that unpack (it is shared with root, and fast) and applies the
 * layer's ownership afterwards, once per snapshot, from inside the rootless user namespace,
 * where the container's ids are mapped: a file the layer gives to uid 1000 is then owned on
 * the host by the user's subordinate uid 999 past the range's start, and seen from the
 * container as 1000. The modes are set again after the chown, which clears setuid bits.
 * The owners come from the layer's blob, which the store keeps.
 */
export async function ensureRootlessOwnership(images: ImageStore, imageId: string, mappings?: RootlessIdMappings): Promise<void> {
  const record = await images.get(imageId);
  for (const layer of record.layers) {
    const dir = images.snapshotDir(layer.chainId);
    if (await exists(join(dir, marker))) continue;
    await withFileLock(join(images.root, "locks", `rootless-${layer.chainId.replace(/^sha256:/, "")}.lock`), async () => {
      if (await exists(join(dir, marker))) return;
      const entries = await ownedEntries(images.blobPath(layer.digest), layer.digest);
      if (entries.length > 0) {
        log("applying the owners of %d entries of %s", entries.length, layer.chainId.slice(0, 19));
        await runInUserNamespace([process.execPath, "-e", chownScript], {
          input: JSON.stringify({ root: images.snapshotFs(layer.chainId), entries }),
          timeout: 5 * 60_000,
          ...(mappings ? { mappings } : {}),
        });
      }
      await writeFile(join(dir, marker), "");
    });
  }
}

type Entry = [path: string, uid: number, gid: number, mode: number, symlink: boolean];

/** The entries of a layer tar that are not owned by 0:0 (whiteouts aside). */
async function ownedEntries(blob: string, digest: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    const pax = (header.pax ?? {}) as Record<string, string>;
    const uid = Number(pax.uid ?? header.uid ?? 0);
    const gid = Number(pax.gid ?? header.gid ?? 0);
    const path = String(header.name).replace(/^(\.?\/)+/, "").replace(/\/+$/, "");
    const base = path.slice(path.lastIndexOf("/") + 1);
    if ((uid !== 0 || gid !== 0) && path && !base.startsWith(".wh.")) {
      entries.push([path, uid, gid, (header.mode ?? 0o644) & 0o7777, header.type === "symlink"]);
    }
    stream.on("end", () => next());
    stream.resume();
  });
  try {
    const { createReadStream } = await import("node:fs");
    await pipeline(createReadStream(blob), decompressor(sniffCompression(await readHead(blob))), extract);
  } catch (error) {
    throw new BerthError("BERTH_LAYER_INVALID", `cannot read the owners of layer ${digest}`, { path: blob, cause: error });
  }
  return entries;
}

/**
 * Runs as root of the user namespace. Each path's parent must resolve inside the snapshot:
 * a layer's symlink must not lead a chown out of it.
 */
const chownScript = `
const fs = require("fs"), path = require("path");
let input = "";
process.stdin.setEncoding("utf8").on("data", (c) => (input += c)).on("end", () => {
  const { root, entries } = JSON.parse(input);
  const realRoot = fs.realpathSync(root);
  for (const [rel, uid, gid, mode, symlink] of entries) {
    const abs = path.join(realRoot, rel);
    let parent;
    try { parent = fs.realpathSync(path.dirname(abs)); } catch { continue; }
    if (parent !== realRoot && !parent.startsWith(realRoot + "/")) continue;
    const target = path.join(parent, path.basename(abs));
    try {
      fs.lchownSync(target, uid, gid);
      if (!symlink) fs.chmodSync(target, mode);
    } catch (e) {
      if (e.code !== "ENOENT") throw e;
    }
  }
});
`;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
