import type { Readable } from "node:stream";
import { BerthError } from "../common/berth-error.js";
import { stateRoot } from "../common/paths.js";
import { exportImage, type ExportOptions } from "../image/export-archive.js";
import { importArchive } from "../image/import-archive.js";
import { DockerfileBuilder, type DockerfileBuildOptions } from "../build/dockerfile-build.js";
import { createImageFromRootfs } from "../image/from-rootfs.js";
import type { ImageRecord } from "../image/image-record.js";
import { ImageStore } from "../image/image-store.js";
import type { ContainerConfig, HistoryEntry, ImageConfig } from "../image/oci.js";
import { familiarName, parseReference } from "../image/reference.js";
import { pullImage, type PullProgress } from "../registry/pull.js";
import { pushImage } from "../registry/push.js";
import { RegistryClient } from "../registry/registry-client.js";
import type { RegistryAuth, RegistryTransport, TransferProgress } from "../registry/types.js";

/** Where images live; shared by every static method of {@link Image}. */
export interface ImageStoreOption {
  /** The state root holding the image store. @default `stateRoot()` (`BERTH_ROOT`, `/var/lib/berth`…) */
  root?: string;
}

/** Options of {@link Image.pull}. */
export interface ImagePullOptions extends ImageStoreOption {
  /** The platform to pull from a multi-platform image, `os/arch[/variant]`. @default the host's */
  platform?: string;
  /** Credentials for the registry. @default looked up as Docker does (`DOCKER_AUTH_CONFIG`, `~/.docker/config.json`) */
  auth?: RegistryAuth;
  /** Progress of each layer. @default none */
  onProgress?: (event: PullProgress) => void;
  /** `missing`: use a present image with no request; `always`: resolve the tag again. @default "missing" */
  policy?: "missing" | "always";
  /** The registry transport; a seam for tests and for other sources. @default a `RegistryClient` */
  transport?: RegistryTransport;
  /** Cancels the pull. @default none */
  signal?: AbortSignal;
}

/** Options of {@link Image.push}. */
export interface ImagePushOptions {
  /** Credentials for the registry. @default looked up as Docker does */
  auth?: RegistryAuth;
  /** Progress of each blob upload. @default none */
  onProgress?: (p: TransferProgress) => void;
  /** The registry transport. @default a `RegistryClient` */
  transport?: RegistryTransport;
}

/** Options of {@link Image.fromRootfs}. */
export interface FromRootfsImageOptions extends ImageStoreOption {
  /** The runtime config (`Cmd`, `Env`, `WorkingDir`…). @default {} */
  config?: ContainerConfig;
  /** A reference to tag the new image with. @default untagged */
  tag?: string;
}

/** Options of {@link Image.remove}. */
export interface ImageRemoveOptions {
  /** Remove even while a container uses the image (its snapshots stay until it is gone). @default false */
  force?: boolean;
}

/** What {@link Image.inspect} reports. */
export interface ImageInspect {
  /** The image ID: the config's digest. */
  id: string;
  /** The manifest's digest. */
  digest: string;
  /** Tags, as Docker shows them (`redis:7`). */
  repoTags: string[];
  /** `name@sha256:…` of each registry manifest it is known by. */
  repoDigests: string[];
  /** The image config: platform, runtime config, rootfs, history. */
  config: ImageConfig;
  history: HistoryEntry[];
  /** Bytes of the unpacked layers' file content. */
  size: number;
  /** Layers, lowest first. */
  layers: { digest: string; diffId: string; size: number; mediaType: string }[];
  created: string | undefined;
  architecture: string;
  os: string;
}

/**
 * An image in the local store. Get one with {@link Image.pull}, {@link Image.get},
 * {@link Image.import} or {@link Image.fromRootfs}.
 *
 * @example
 * ```ts
 * const redis = await Image.pull("redis:7");
 * console.log((await redis.inspect()).config.config?.Cmd);
 * ```
 */
export class Image {
  /** The image ID (config digest). */
  readonly id: string;

  private constructor(
    private readonly store: ImageStore,
    private record: ImageRecord,
    /** The reference it was looked up or made by, for messages and the default push target. */
    readonly reference: string | undefined,
  ) {
    this.id = record.id;
  }

  private static store(options: ImageStoreOption = {}): ImageStore {
    return new ImageStore(options.root ?? stateRoot());
  }

  /** Pulls `reference` into the store (or finds it there) and returns it. */
  static async pull(reference: string, options: ImagePullOptions = {}): Promise<Image> {
    const store = Image.store(options);
    const transport = options.transport ?? new RegistryClient(options.auth ? { auth: options.auth } : {});
    const record = await pullImage(store, transport, reference, {
      ...(options.platform ? { platform: options.platform } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return new Image(store, record, reference);
  }

  /** Finds an image by reference or ID; fails with `BERTH_IMAGE_NOT_FOUND`. */
  static async get(reference: string, options: ImageStoreOption = {}): Promise<Image> {
    const store = Image.store(options);
    return new Image(store, await store.get(reference), reference);
  }

  /** Every image in the store. */
  static async list(options: ImageStoreOption = {}): Promise<Image[]> {
    const store = Image.store(options);
    return (await store.list()).map((r) => new Image(store, r, undefined));
  }

  /**
   * Frees untagged images, blobs and snapshots nothing uses; with `dangling: false` only the
   * blobs and snapshots (the caller chose which images go, as `image prune --filter` does).
   */
  static async prune(options: ImageStoreOption & { dangling?: boolean } = {}): Promise<{ images: string[]; blobs: number; snapshots: number; bytes: number }> {
    return Image.store(options).prune(options.dangling === false ? { dangling: false } : {});
  }

  /**
   * Loads images from a `docker save` archive (legacy or OCI form), an OCI layout directory or
   * an OCI layout tar, given as a path or a stream. Returns the first; see {@link importAll}.
   */
  static async import(source: string | Readable, options: ImageStoreOption = {}): Promise<Image> {
    const images = await Image.importAll(source, options);
    if (images.length === 0) {
      throw new BerthError("BERTH_ARCHIVE_INVALID", "the archive holds no image", {
        ...(typeof source === "string" ? { path: source } : {}),
      });
    }
    return images[0]!;
  }

  /** Like {@link import}, returning every image of the archive. */
  static async importAll(source: string | Readable, options: ImageStoreOption = {}): Promise<Image[]> {
    const store = Image.store(options);
    const records = await importArchive(store, source, pullImage);
    return records.map((r) => new Image(store, r, undefined));
  }

  /** Makes a one-layer image from a directory or a tar of a root filesystem (`docker import`). */
  static async fromRootfs(source: string | Readable, options: FromRootfsImageOptions = {}): Promise<Image> {
    const store = Image.store(options);
    const record = await createImageFromRootfs(store, source, {
      ...(options.config ? { config: options.config } : {}),
      ...(options.tag ? { tags: [options.tag] } : {}),
    });
    return new Image(store, record, options.tag);
  }

  /**
   * A Dockerfile build of `context` (`docker build`); `build(tag?)` runs it and returns the
   * image, committed to the store (and tagged) only when every step succeeded. See
   * {@link DockerfileBuildOptions} for the options (`buildArgs`, `target`, `platform`,
   * `cacheFrom`, `secrets`, `network`, `onProgress`...) and docs/building.md.
   *
   * @example
   * ```ts
   * const app = await Image.fromDockerfile("./app", { buildArgs: { VERSION: "2" }, cacheFrom: ["registry.example/app:main"] }).build("app:dev");
   * ```
   */
  static fromDockerfile(context: string, options: DockerfileBuildOptions = {}): { build(tag?: string): Promise<Image> } {
    const builder = new DockerfileBuilder(context, options);
    return {
      build: async (tag?: string) => {
        const result = await builder.build(tag);
        return new Image(Image.store({ root: builder.root }), result.record, result.tag);
      },
    };
  }

  /** Digest, config, history, size and layers. */
  async inspect(): Promise<ImageInspect> {
    const config = JSON.parse((await this.store.readBlob(this.record.id)).toString("utf8")) as ImageConfig;
    const tags = await this.store.tagsOf(this.record.id);
    return {
      id: this.record.id,
      digest: this.record.manifestDigest,
      repoTags: tags.map((t) => familiarName(parseReference(t))),
      repoDigests: this.record.repoDigests,
      config,
      history: config.history ?? [],
      size: this.record.unpackedSize,
      layers: this.record.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, mediaType: l.mediaType })),
      created: config.created,
      architecture: config.architecture,
      os: config.os,
    };
  }

  /** Adds a tag; returns the normalised reference. */
  async tag(reference: string): Promise<string> {
    return this.store.tag(this.record.id, reference);
  }

  /** Pushes the image to `reference` (default: the reference it was made or looked up by). */
  async push(reference?: string, options: ImagePushOptions = {}): Promise<{ digest: string; reference: string }> {
    const target = reference ?? this.reference ?? (await this.store.tagsOf(this.record.id))[0];
    if (!target) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `image ${this.id} has no tag to push to: pass a reference`, { image: this.id });
    }
    const transport = options.transport ?? new RegistryClient(options.auth ? { auth: options.auth } : {});
    const result = await pushImage(this.store, transport, this.record, target, {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    this.record = (await this.store.readRecord(this.record.id)) ?? this.record;
    return result;
  }

  /**
   * Removes the reference this image was obtained by (or, for an image obtained by ID or
   * listing, the image and all its tags), as `docker rmi` does. `BERTH_IMAGE_IN_USE` while a
   * container uses it, unless `force`.
   */
  async remove(options: ImageRemoveOptions = {}): Promise<{ untagged: string[]; deleted: boolean }> {
    return this.store.remove(this.reference ?? this.record.id, options);
  }

  /** Writes the image as an archive `docker load` and skopeo read (see {@link ExportOptions}). */
  async export(path: string, options: ExportOptions = {}): Promise<void> {
    await exportImage(this.store, this.record, path, options);
  }
}
