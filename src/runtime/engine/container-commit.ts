import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { createGzip } from "node:zlib";
import { execa } from "execa";
import { BerthError } from "../../common/berth-error.js";
import { createBufferedTarPack } from "../../common/buffered-tar-pack.js";
import type { ImageRecord, LayerRecord } from "../../image/image-record.js";
import type { ImageStore } from "../../image/image-store.js";
import { chainIds, mediaTypes, sha256Digest, type ContainerConfig, type ImageConfig, type ImageManifest } from "../../image/oci.js";
import { formatReference, parseReference } from "../../image/reference.js";

/** Options of {@link ContainerEngine.commit} (`docker commit`). */
export interface CommitOptions {
  /** A tag for the new image (`repo:tag`). @default none (an untagged image) */
  tag?: string;
  /** Config fields replacing the container's (Docker's `--change` in object form: `Cmd`, `Env`, `Labels`...). @default {} */
  changes?: Partial<ContainerConfig>;
  /** The history comment (`-m`). @default "" */
  comment?: string;
  /** The author (`-a`). @default "" */
  author?: string;
  /**
   * How the new layer is stored. `"none"` (the default) keeps the tar as it is, as Docker
   * keeps a committed layer in its local store: no compression to pay for an image used
   * here (the Postgres init cache commits a whole data directory), and a push compresses it
   * then (src/registry/push.ts sends an uncompressed layer gzip-compressed). `"gzip"` stores
   * it compressed at gzip's fastest level, for an image mostly exported or copied.
   * @default "none"
   */
  compression?: "none" | "gzip";
}

/**
 * Turns an overlay upper directory into an OCI layer tar: overlay whiteouts (character
 * devices 0:0) become `.wh.<name>` files and opaque directories (`trusted.overlay.opaque=y`)
 * get a `.wh..wh..opq` entry, as the image spec writes deletions.
 *
 * fuse-overlayfs writes a whiteout as an empty `.wh.<name>` file where it cannot make the
 * device (a state root on overlayfs, or a kernel older than 5.8, unprivileged), and marks an
 * opaque directory with a `.wh..wh..opq` file beside its xattr (`trusted.overlay.opaque` as
 * root, `user.fuseoverlayfs.opaque` in a user namespace): those are the layer's entries
 * already, and each deletion comes out once.
 */
export async function diffUpperDir(upper: string): Promise<Buffer> {
  const opaque = await opaqueDirs(upper);
  const layer = createBufferedTarPack();
  const add = layer.entry;
  const walk = async (rel: string, entries: string[]): Promise<void> => {
    const whiteouts = new Set<string>();
    for (const name of entries) {
      const path = posix.join(rel, name);
      const host = posix.join(upper, path);
      const st = await lstat(host);
      const base = { uid: st.uid, gid: st.gid, mtime: st.mtime, mode: st.mode & 0o7777 };
      const whiteout = st.isCharacterDevice() && st.rdev === 0 ? `.wh.${name}` : st.isFile() && name.startsWith(".wh.") && !name.startsWith(".wh..wh.") ? name : undefined;
      if (whiteout?.startsWith(".wh..wh.")) {
        // A whiteout of a `.wh.` name: fuse-overlayfs's bookkeeping (it makes `.wh..opq` beside
        // the `.wh..wh..opq` of a directory it made opaque), which would read as AUFS metadata
        // or as a second opaque marker in the layer. No container can make such a name.
        continue;
      } else if (whiteout !== undefined) {
        if (whiteouts.has(whiteout)) continue;
        whiteouts.add(whiteout);
        await add({ ...base, name: posix.join(rel, whiteout), type: "file", size: 0 });
      } else if (st.isFile() && name === ".wh..wh..opq") {
        // Written with the directory's entry, below.
        continue;
      } else if (st.isDirectory()) {
        const children = (await readdir(host)).sort();
        await add({ ...base, name: `${path}/`, type: "directory" });
        if (opaque.has(path) || (children.includes(".wh..wh..opq") && (await isFile(posix.join(host, ".wh..wh..opq"))))) {
          await add({ ...base, name: `${path}/.wh..wh..opq`, type: "file", size: 0 });
        }
        await walk(path, children);
      } else if (st.isSymbolicLink()) {
        await add({ ...base, name: path, type: "symlink", linkname: await readlink(host) });
      } else if (st.isFile()) {
        const body = await readAll(host);
        await add({ ...base, name: path, type: "file", size: body.length }, body);
      }
      // Sockets and fifos made by a running container are not image content.
    }
  };
  await walk("", (await readdir(upper)).sort());
  return layer.finish();
}

async function isFile(path: string): Promise<boolean> {
  return lstat(path).then(
    (st) => st.isFile(),
    () => false,
  );
}

async function readAll(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Directories of `upper` (relative) marked opaque, read with getfattr in one pass. */
async function opaqueDirs(upper: string): Promise<Set<string>> {
  // Node has no xattr API; getfattr (Debian's attr) reads them all in one pass. It exits 1
  // when some file lacks the attribute, which is the usual case and not a failure.
  // trusted.* as root; user.* in a user namespace, where the kernel's overlay uses `userxattr`
  // and fuse-overlayfs its own name.
  const result = await execa("getfattr", ["-R", "-P", "-d", "--absolute-names", "-m", "^(trusted\\.overlay|user\\.overlay|user\\.fuseoverlayfs)\\.opaque$", upper], {
    reject: false,
    timeout: 60_000,
  });
  const spawnError = (result as { code?: unknown }).code;
  if (typeof spawnError === "string" || result.timedOut || (result.exitCode !== 0 && result.exitCode !== 1)) {
    throw new BerthError("BERTH_UNSUPPORTED", `cannot read the overlay's opaque directories with getfattr (install Debian's attr)`, {
      path: upper,
      cause: result,
    });
  }
  const out = new Set<string>();
  let file: string | undefined;
  for (const line of String(result.stdout).split("\n")) {
    if (line.startsWith("# file: ")) file = line.slice(8);
    else if (file && /^(trusted\.overlay|user\.overlay|user\.fuseoverlayfs)\.opaque="y"$/.test(line.trim())) out.add(posix.relative(upper, file));
  }
  return out;
}

/** Writes the layer, the new config and manifest, and commits the image (`docker commit`). */
export async function commitLayer(input: {
  images: ImageStore;
  parent: ImageRecord;
  parentConfig: ImageConfig;
  layerTar: Buffer;
  config: ContainerConfig;
  options: CommitOptions;
  containerId: string;
}): Promise<ImageRecord> {
  const { images, parent, parentConfig, layerTar, options } = input;
  const diffId = sha256Digest(layerTar);
  const compressed = options.compression === "gzip";
  const blob = compressed ? await gzip(layerTar) : layerTar;
  const diffIds = [...(parentConfig.rootfs?.diff_ids ?? []), diffId];
  const chainId = chainIds(diffIds).at(-1)!;
  const lease = await images.lease([diffId, chainId]);
  try {
    const digest = await images.writeBlob(blob);
    await lease.extend([digest]);
    const layer: LayerRecord = { digest, size: blob.length, mediaType: compressed ? mediaTypes.ociLayerGzip : mediaTypes.ociLayer, diffId, chainId };
    await images.ensureLayer({ layer, compression: compressed ? "gzip" : "none", open: async () => images.openBlob(digest) });
    const created = new Date().toISOString();
    const config: ImageConfig = {
      ...parentConfig,
      created,
      ...(options.author ? { author: options.author } : {}),
      config: { ...input.config, ...(options.changes ?? {}) },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: [
        ...(parentConfig.history ?? []),
        { created, created_by: `berth commit ${input.containerId.slice(0, 12)}`, ...(options.comment ? { comment: options.comment } : {}), ...(options.author ? { author: options.author } : {}) },
      ],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const layers = [...parent.layers, layer];
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    return await images.commitImage({
      manifest: Buffer.from(JSON.stringify(manifest)),
      manifestMediaType: mediaTypes.ociManifest,
      config: configBytes,
      layers,
      tags: options.tag ? [formatReference(parseReference(options.tag))] : [],
      unpackedSize: parent.unpackedSize + layerTar.length,
    });
  } catch (error) {
    if (error instanceof BerthError) throw error;
    throw new BerthError("BERTH_IO", `cannot commit container ${input.containerId}`, { container: input.containerId, cause: error });
  } finally {
    await lease.release();
  }
}

function gzip(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // The fastest level: a third of the default's time for a few percent more bytes.
    const z = createGzip({ level: 1, chunkSize: 256 * 1024 });
    z.on("data", (c: Buffer) => chunks.push(c));
    z.on("end", () => resolve(Buffer.concat(chunks)));
    z.on("error", reject);
    z.end(data);
  });
}
