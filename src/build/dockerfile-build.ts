import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix, resolve } from "node:path";
import { execa } from "execa";
import { createBufferedTarPack } from "../common/buffered-tar-pack.js";
import { BerthError, hasErrorCode, logger, stateRoot } from "../common/index.js";
import type { ImageRecord, LayerRecord } from "../image/image-record.js";
import type { Lease } from "../image/content-store.js";
import { ImageStore } from "../image/image-store.js";
import {
  chainIds,
  hostPlatform,
  parsePlatform as parseOciPlatform,
  platformMatches,
  formatPlatform as formatOciPlatform,
  type HistoryEntry as OciHistoryEntry,
  type ImageConfig,
  type ImageManifest,
} from "../image/oci.js";
import { formatReference, parseReference } from "../image/reference.js";
import { BridgeAttachment } from "../network/bridge-attachment.js";
import { ContainerEngine } from "../runtime/engine/container-engine.js";
import { BuildCache, type BuildCacheRecord } from "./build-cache.js";
import { findStage, parsePlatform, planBuild, type BuildPlan, type BuildStage } from "./build-plan.js";
import { stepCacheKey } from "./cache-key.js";
import { FileHashCache, hashCopySources, resolveCopySources, type ResolvedSource } from "./context-hash.js";
import { isRemoteSource } from "./copy-flags.js";
import { buildCopyLayer, resolveChown } from "./copy-step.js";
import { readDockerignore } from "./dockerignore.js";
import { RemoteSources, type RemoteSource } from "./remote-source.js";
import { commitBuiltImage, hasLayer, storeLayer, type BuiltLayer } from "./layer-writer.js";
import { canExecute } from "./platform-support.js";
import { RootfsView } from "./rootfs-view.js";
import { runStep } from "./run-step.js";
import { prepareRunMounts, type BuildSecret } from "./run-step-mounts.js";
import { evaluateStage, type BuildStep, type CopyStep, type ImageRunConfig, type RunStep, type WorkdirStep } from "./stage-evaluator.js";

const log = logger("build");

/**
 * The Dockerfile builder's executor: plans the stages (`build-plan.ts`), evaluates each one's
 * metadata (`stage-evaluator.ts`) and produces its filesystem steps — RUN in a container
 * through the engine, COPY/ADD and WORKDIR as layer tars written directly — each looked up
 * first in the persistent build cache. Independent stages build concurrently. The image is
 * committed (and tagged) only once every needed stage has finished, so a failed build leaves
 * no image or tag; the layers it made stay in the store for the cache until `prune`.
 */

/** A progress event of {@link DockerfileBuilder.build}. */
export type BuildProgress =
  | {
      type: "step";
      /** The stage's index and name. */
      stage: number;
      stageName: string | undefined;
      /** The instruction's first line in the Dockerfile. */
      line: number;
      /** The instruction as written. */
      instruction: string;
      /** `cached`: reused from the cache; `running`: started; `done`: finished (with its time). */
      status: "cached" | "running" | "done";
      durationMs?: number;
    }
  | { type: "output"; stage: number; line: number; stream: "stdout" | "stderr"; text: string };

/** Options of {@link DockerfileBuilder} (and `Image.fromDockerfile`). */
export interface DockerfileBuildOptions {
  /**
   * The Dockerfile, relative to the context (or absolute).
   * @default "Dockerfile"
   */
  dockerfile?: string;
  /**
   * `--build-arg` values.
   * @default {}
   */
  buildArgs?: Readonly<Record<string, string>>;
  /**
   * The stage to build, by name.
   * @default the last stage
   */
  target?: string;
  /**
   * The platform to build for, `os/arch[/variant]` (`docker build --platform`): FROM pulls
   * that platform's manifest of a multi-platform image, a scratch stage is of it, and
   * TARGETPLATFORM/TARGETARCH... say it. A stage's `FROM --platform` overrides it. COPY-only
   * stages build for any platform; a RUN needs this host to execute its binaries (the same
   * architecture, or a registered binfmt emulator) and fails with
   * `BERTH_BUILD_PLATFORM_UNSUPPORTED` otherwise.
   * @default this machine's platform
   */
  platform?: string;
  /**
   * Run every step again instead of reusing cached layers (the results still refresh the cache).
   * @default false
   */
  noCache?: boolean;
  /**
   * Labels added to the image's config (`docker build --label`).
   * @default {}
   */
  labels?: Readonly<Record<string, string>>;
  /**
   * Progress of each step, and each line a RUN writes.
   * @default none
   */
  onProgress?: (event: BuildProgress) => void;
  /**
   * The state root holding the image store and the build cache.
   * @default stateRoot() (`BERTH_ROOT`, else `/var/lib/berth` as root)
   */
  root?: string;
  /**
   * The container engine that runs RUN steps; its image store must be the one under `root`.
   * @default a `ContainerEngine` over `root`
   */
  engine?: ContainerEngine;
  /**
   * Longest time one RUN step may take, in ms.
   * @default 1_800_000 (30 minutes)
   */
  stepTimeout?: number;
  /**
   * The network of RUN steps without `--network` (`RUN --network=none|host` overrides it):
   * `bridge` (berth's default bridge with outbound NAT, as Docker's builds have, so
   * `apt-get install` works), `none` (loopback only) or `host` (the host's).
   * @default "bridge"
   */
  network?: "none" | "host" | "bridge";
  /**
   * Secrets for `RUN --mount=type=secret,id=ID`: a file to read, or the value. They reach
   * only the RUN that mounts them: never a layer, the image config, history or a cache key.
   * @default {}
   */
  secrets?: Readonly<Record<string, BuildSecret>>;
  /**
   * Images whose layers serve as cache sources, as `docker build --cache-from` (BuildKit's
   * inline cache): each is taken from the store or pulled, and a step whose cache key one of
   * its layers was built with reuses that layer instead of running. berth records the keys in
   * the manifest of every image it builds (annotation {@link cacheAnnotation}), which a push
   * carries; the image ID does not change. An image that cannot be had is skipped.
   * @default []
   */
  cacheFrom?: readonly string[];
  /**
   * Pulls an image named by FROM or `--from` that is not in the store.
   * @default the engine's registry pull (`pull: "missing"` policy)
   */
  pull?: (images: ImageStore, reference: string, platform?: string) => Promise<void>;
}

/**
 * The manifest annotation holding the cache key of each layer of a built image (a JSON array
 * aligned with the layers; null for layers of the base image), read by `cacheFrom`.
 */
export const cacheAnnotation = "dev.berth.build.cache-keys.v1";

/** The diff ID of a layer tar with no entry (1024 zero bytes). */
const emptyLayerDiffId = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/** What a finished stage gives the stages after it and the final image. */
interface StageResult {
  layers: BuiltLayer[];
  /** The cache key each layer was made with, aligned with `layers` (null for the base image's). */
  keys: (string | null)[];
  /** The stage's config as the evaluator left it (ONBUILD of this stage kept). */
  config: ImageRunConfig;
  history: OciHistoryEntry[];
  platform: { architecture: string; os: string; variant?: string };
  author: string | undefined;
  /** What identifies the stage's filesystem for keys of steps that read it: its top chain ID, base image ID or `scratch`. */
  key: string;
  created: string | undefined;
}

/** The outcome of a build. */
export interface BuildResult {
  /** The image ID. */
  id: string;
  record: ImageRecord;
  /** The reference it was tagged with, normalised. */
  tag: string | undefined;
  /** How many filesystem steps came from the cache, and how many ran. */
  cached: number;
  executed: number;
}

/** Builds one Dockerfile; see the module comment. */
export class DockerfileBuilder {
  readonly context: string;
  readonly options: DockerfileBuildOptions;
  readonly #root: string;

  constructor(context: string, options: DockerfileBuildOptions = {}) {
    this.context = resolve(context);
    this.options = options;
    this.#root = options.root ?? options.engine?.stateRoot ?? stateRoot();
  }

  /** Builds the target stage and commits it, tagged with `tag` when given. */
  async build(tag?: string): Promise<BuildResult> {
    const normalizedTag = tag === undefined ? undefined : formatReference(parseReference(tag));
    const dockerfileName = this.options.dockerfile ?? "Dockerfile";
    const dockerfilePath = resolve(this.context, dockerfileName);
    let text: string;
    try {
      text = await readFile(dockerfilePath, "utf8");
    } catch (error) {
      throw new BerthError("BERTH_BUILD_SOURCE_NOT_FOUND", `cannot read the Dockerfile ${dockerfilePath}`, { path: dockerfilePath, cause: error });
    }
    const plan = planBuild(text, {
      ...(this.options.buildArgs ? { buildArgs: this.options.buildArgs } : {}),
      ...(this.options.target ? { target: this.options.target } : {}),
      ...(this.options.platform ? { platform: parsePlatform(this.options.platform) } : {}),
    });
    const excludes = await readDockerignore(this.context, { dockerfile: dockerfileName });
    const engine = this.options.engine ?? new ContainerEngine({ stateRoot: this.#root });
    const ownsEngine = this.options.engine === undefined;
    const run = new BuildRun(this, plan, engine, excludes);
    try {
      return await run.execute(normalizedTag);
    } finally {
      await run.close();
      if (ownsEngine) engine.dispose();
    }
  }

  /** @internal */
  get root(): string {
    return this.#root;
  }
}

/** One execution of a build: its lease, caches and intermediate images. */
class BuildRun {
  readonly images: ImageStore;
  readonly cache: BuildCache;
  readonly hashCache: FileHashCache;
  readonly buildId = randomBytes(8).toString("hex");
  readonly #stages = new Map<number, Promise<StageResult>>();
  readonly #intermediate = new Set<string>();
  readonly #cachedLayers: LayerRecord[] = [];
  #lease: Lease | undefined;
  #cacheFromRecords: Promise<Map<string, BuildCacheRecord>> | undefined;
  /** Each stage's platform (its base image's, or the requested one for scratch), for RUN. */
  readonly #platforms = new Map<number, StageResult["platform"]>();
  cached = 0;
  executed = 0;

  constructor(
    readonly builder: DockerfileBuilder,
    readonly plan: BuildPlan,
    readonly engine: ContainerEngine,
    readonly excludes: string[],
  ) {
    this.images = engine.images;
    this.cache = new BuildCache(builder.root);
    this.hashCache = new FileHashCache(join(builder.root, "build", "file-hashes.json"));
  }

  get options(): DockerfileBuildOptions {
    return this.builder.options;
  }

  async execute(tag: string | undefined): Promise<BuildResult> {
    await this.hashCache.load();
    this.#lease = await this.images.lease([]);
    // Every needed stage starts now; each waits for what it needs, so independent ones overlap.
    const all = this.plan.order.map((i) => this.stage(i));
    const settled = await Promise.allSettled(all);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    await this.hashCache.save().catch((error: unknown) => log("cannot save the file hash cache: %O", error));
    const result = await this.stage(this.plan.target);
    const config: ImageRunConfig = { ...result.config };
    if (this.options.labels && Object.keys(this.options.labels).length > 0) config.Labels = { ...(config.Labels ?? {}), ...this.options.labels };
    const imageConfig: Omit<ImageConfig, "rootfs"> = {
      ...result.platform,
      ...(result.created ? { created: result.created } : {}),
      ...(result.author ? { author: result.author } : {}),
      config: config as ImageConfig["config"],
      history: result.history,
    };
    await this.#protectCached();
    const record = await commitBuiltImage(this.images, result.layers, imageConfig, tag ? [tag] : [], { [cacheAnnotation]: JSON.stringify(result.keys) });
    return { id: record.id, record, tag, cached: this.cached, executed: this.executed };
  }

  /**
   * Leases the layers taken from the cache, then checks they are still there: a `prune` that
   * ran between the lookup and the lease may have freed one, and committing an image whose
   * snapshot is gone would leave a broken image.
   */
  async #protectCached(): Promise<void> {
    if (this.#cachedLayers.length === 0) return;
    await this.#lease!.extend(this.#cachedLayers.flatMap((l) => [l.digest, l.chainId]));
    for (const layer of this.#cachedLayers) {
      if (!(await hasLayer(this.images, layer))) {
        throw new BerthError("BERTH_IMAGE_NOT_FOUND", `cached layer ${layer.diffId} was pruned during the build; build again`, { digest: layer.digest });
      }
    }
  }

  async close(): Promise<void> {
    for (const id of this.#intermediate) await this.images.remove(id, { force: true }).catch(() => {});
    await this.#lease?.release().catch(() => {});
  }

  stage(index: number): Promise<StageResult> {
    let p = this.#stages.get(index);
    if (!p) {
      p = this.#buildStage(this.plan.stages[index]!);
      // Rejections are read by execute(); this keeps an unawaited duplicate from being "unhandled".
      p.catch(() => {});
      this.#stages.set(index, p);
    }
    return p;
  }

  progress(event: BuildProgress): void {
    try {
      this.options.onProgress?.(event);
    } catch (error) {
      log("onProgress threw: %O", error);
    }
  }

  /**
   * An image from the store, pulled when missing; its record and config. A stored image of
   * another platform than `platform` (the host's when none was asked for) is pulled again for
   * it, as BuildKit resolves every image for the target platform. Only a platform the user
   * asked for is strict: without one, a stored image that cannot be had for this host is still
   * used, as the classic builder did.
   */
  async image(reference: string, platform?: string): Promise<{ record: ImageRecord; config: ImageConfig }> {
    const wanted = platform === undefined ? hostPlatform() : parseOciPlatform(platform);
    const readConfig = async (r: ImageRecord) => JSON.parse((await this.images.readBlob(r.id)).toString("utf8")) as ImageConfig;
    const fits = (c: ImageConfig) =>
      !c.architecture || platformMatches(wanted, { os: c.os ?? wanted.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });
    const stored = await this.images.find(reference);
    const usable = stored && fits(await readConfig(stored)) ? stored : undefined;
    let record = usable;
    if (!record) {
      const pull = this.options.pull;
      const target = formatOciPlatform(wanted);
      try {
        if (pull) await pull(this.images, reference, target);
        else {
          const { pullImage } = await import("../registry/pull.js");
          const { RegistryClient } = await import("../registry/registry-client.js");
          // `always` when the tag is stored for another platform, which a `missing` pull would keep.
          await pullImage(this.images, new RegistryClient(), reference, { platform: target, ...(stored ? { policy: "always" as const } : {}) });
        }
        record = await this.images.find(reference);
      } catch (error) {
        if (stored && platform === undefined) log("image %s is stored for another platform and cannot be pulled for this one: %O", reference, error);
        else if (hasErrorCode(error, "BERTH_PLATFORM_NOT_FOUND")) throw error;
        else throw new BerthError("BERTH_IMAGE_NOT_FOUND", `image ${reference} is not in the store and could not be pulled`, { image: reference, cause: error });
      }
      record ??= platform === undefined ? stored : undefined;
      if (!record) throw new BerthError("BERTH_IMAGE_NOT_FOUND", `image ${reference} is not in the store`, { image: reference });
    }
    const config = await readConfig(record);
    if (platform !== undefined && !fits(config)) {
      throw new BerthError("BERTH_PLATFORM_NOT_FOUND", `image ${reference} is for ${config.os}/${config.architecture}, not ${platform}`, { image: reference, platform });
    }
    return { record, config };
  }

  /** The platform a stage asked for (`FROM --platform`, else the build's `platform`); undefined when neither did. */
  requestedPlatform(stage: BuildStage): string | undefined {
    return stage.platform ?? this.options.platform;
  }

  async #base(stage: BuildStage): Promise<StageResult> {
    const base = stage.base;
    if (base.kind === "scratch") {
      const requested = this.requestedPlatform(stage);
      const p = requested ? parseOciPlatform(requested) : hostPlatform();
      return { layers: [], keys: [], config: {}, history: [], platform: { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) }, author: undefined, key: "scratch", created: undefined };
    }
    if (base.kind === "stage") return this.stage(base.index);
    const { record, config } = await this.image(base.reference, this.requestedPlatform(stage));
    await this.#lease!.extend(record.layers.flatMap((l) => [l.digest, l.chainId]));
    return {
      layers: record.layers.map((layer, i) => ({ layer, unpackedSize: i === 0 ? record.unpackedSize : 0 })),
      keys: record.layers.map(() => null),
      config: (config.config ?? {}) as ImageRunConfig,
      history: [...(config.history ?? [])],
      platform: { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) },
      author: undefined,
      key: record.id,
      created: config.created,
    };
  }

  async #buildStage(stage: BuildStage): Promise<StageResult> {
    const base = await this.#base(stage);
    this.#platforms.set(stage.index, base.platform);
    const scratch = stage.base.kind === "scratch";
    const evaluated = evaluateStage(stage.instructions, {
      baseConfig: scratch ? undefined : base.config,
      ...(this.options.buildArgs ? { buildArgs: this.options.buildArgs } : {}),
      metaArgs: this.plan.metaArgs,
      platformArgs: this.plan.platformArgs,
      stageNames: this.plan.stages.map((s) => s.name),
      escape: this.plan.parsed.directives.escape,
    });
    const layers = [...base.layers];
    const keys = [...base.keys];
    let key = base.key;
    // History times come from when each layer was first made (kept in the cache record), and
    // metadata entries take the time of the layer before them: a rebuild that changes nothing
    // then gives the very same config, so the same image ID, as BuildKit's cached rebuilds do.
    let created = base.created;
    const createdOf = new Map<object, string>();
    const emptySteps = new Set<object>();
    for (const step of evaluated.steps) {
      if (step.kind === "metadata") {
        if (step.history) createdOf.set(step.history, created ?? new Date(0).toISOString());
        continue;
      }
      const produced = await this.#filesystemStep(stage, step, layers, key);
      // A step that changed nothing (`RUN true`, WORKDIR of an existing directory, a wildcard
      // COPY matching nothing) adds no layer and an `empty_layer` history entry, as BuildKit
      // optimises empty diffs out. Its chain ID still keys the steps after it.
      if (produced.built.layer.diffId === emptyLayerDiffId) emptySteps.add(step.history);
      else {
        layers.push(produced.built);
        keys.push(produced.cacheKey);
      }
      key = produced.built.layer.chainId;
      created = produced.created;
      createdOf.set(step.history, created);
    }
    const history: OciHistoryEntry[] = [
      ...base.history,
      ...evaluated.history.map((h) => ({ created: createdOf.get(h) ?? created ?? new Date(0).toISOString(), ...h, ...(emptySteps.has(h) ? { empty_layer: true } : {}) })),
    ];
    return { layers, keys, config: evaluated.config, history, platform: base.platform, author: evaluated.author ?? base.author, key, created };
  }

  async #filesystemStep(
    stage: BuildStage,
    step: Exclude<BuildStep, { kind: "metadata" }>,
    layers: readonly BuiltLayer[],
    parent: string,
  ): Promise<{ built: BuiltLayer; created: string; cacheKey: string }> {
    const ins = step.instruction;
    const event = { type: "step" as const, stage: stage.index, stageName: stage.name, line: ins.startLine, instruction: ins.original.trim() };
    const diffIds = layers.map((l) => l.layer.diffId);
    let copySource: CopySource | undefined;
    let cacheKey: string;
    let linkOwner: { uid: number; gid: number } | undefined;
    if (step.kind === "copy") {
      copySource = await this.#copySource(step, this.requestedPlatform(stage));
      // `--link` copies onto nothing, so its key has no parent and a hit survives a new base.
      // Only the owner `--chown` names resolve to in the target enters it instead.
      if (step.flags.link) linkOwner = await resolveChown(step, new RootfsView(layers.map((l) => this.images.snapshotFs(l.layer.chainId))));
      const keyParent = linkOwner ? `link ${linkOwner.uid}:${linkOwner.gid}` : parent;
      cacheKey = stepCacheKey({ parent: keyParent, step, ...(copySource.digest !== undefined ? { sourceDigest: copySource.digest } : {}) });
    } else if (step.kind === "run") {
      const mountDigests = await this.#mountDigests(step, this.requestedPlatform(stage));
      // The builder-wide network changes what a RUN may do, so it is part of its key (the
      // key document has the step's own `--network` only).
      const network = step.network === "default" ? ` network=${this.options.network ?? "bridge"}` : "";
      cacheKey = stepCacheKey({ parent: `${parent}${network}`, step, mountDigests });
    } else {
      cacheKey = stepCacheKey({ parent, step });
    }
    try {
      return { ...(await this.#produce(stage, step, layers, diffIds, cacheKey, copySource, event, linkOwner)), cacheKey };
    } catch (error) {
      if (error instanceof BerthError) throw error;
      // A failure of our own code or of the file system (a context file that changed size
      // while it was read...) still names the step.
      throw new BerthError("BERTH_BUILD_STEP_FAILED", `${ins.keyword} on line ${ins.startLine} failed: ${(error as Error).message}`, {
        line: ins.startLine,
        instruction: ins.original,
        cause: error,
      });
    } finally {
      await copySource?.release();
    }
  }

  async #produce(
    stage: BuildStage,
    step: Exclude<BuildStep, { kind: "metadata" }>,
    layers: readonly BuiltLayer[],
    diffIds: string[],
    cacheKey: string,
    copySource: CopySource | undefined,
    event: Omit<Extract<BuildProgress, { type: "step" }>, "status" | "durationMs">,
    linkOwner?: { uid: number; gid: number },
  ): Promise<{ built: BuiltLayer; created: string }> {
    const ins = step.instruction;
    if (!this.options.noCache) {
      const local = await this.cache.get(cacheKey);
      let hit = local;
      let reused = local && (await this.#reuse(local, diffIds, linkOwner !== undefined));
      if (!reused) {
        hit = (await this.#cacheFrom()).get(cacheKey);
        reused = hit && (await this.#reuse(hit, diffIds, linkOwner !== undefined));
        // Imported into the local cache, so the next build hits without the cache source.
        if (hit && reused) await this.cache.put({ ...hit, layer: reused.layer, unpackedSize: reused.unpackedSize });
      }
      if (hit && reused) {
        this.cached++;
        this.progress({ ...event, status: "cached" });
        return { built: reused, created: hit.created };
      }
    }
    const started = Date.now();
    this.progress({ ...event, status: "running" });
    let layerTar: Buffer;
    const target = new RootfsView(layers.map((l) => this.images.snapshotFs(l.layer.chainId)));
    if (step.kind === "run") {
      const platform = this.#platforms.get(stage.index) ?? hostPlatform();
      if (!(await canExecute(platform))) {
        const wanted = [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
        const host = hostPlatform();
        throw new BerthError(
          "BERTH_BUILD_PLATFORM_UNSUPPORTED",
          `RUN on line ${ins.startLine} needs to execute ${wanted} binaries, and this ${host.os}/${host.architecture} host has no emulator for them (install qemu-user-static with binfmt support, or build only COPY/ADD steps for ${wanted})`,
          { line: ins.startLine, instruction: ins.original, platform: wanted },
        );
      }
      const imageId = await this.#intermediateImage(layers);
      const opened: { close(): Promise<void> }[] = [];
      const mounts = await prepareRunMounts({
        root: this.builder.root,
        step,
        secrets: this.options.secrets ?? {},
        target,
        openSource: async (from) => {
          if (from === undefined) return this.builder.context;
          const merged = await openMergedRoot(await this.#layerDirsOf(from, this.requestedPlatform(stage)));
          opened.push(merged);
          return merged.dir;
        },
      }).catch(async (error: unknown) => {
        for (const o of opened) await o.close();
        throw error;
      });
      try {
        layerTar = await runStep({
          engine: this.engine,
          imageId,
          step,
          mounts,
          target,
          timeout: this.options.stepTimeout ?? 1_800_000,
          defaultNetwork: (this.options.network ?? "bridge") === "bridge" ? () => new BridgeAttachment() : (this.options.network as "none" | "host"),
          onOutput: (text, stream) => this.progress({ type: "output", stage: stage.index, line: ins.startLine, stream, text }),
        });
      } finally {
        await mounts.release();
        for (const o of opened) await o.close();
      }
    } else if (step.kind === "copy") {
      layerTar = await copySource!.withResolved((resolved) =>
        buildCopyLayer({ step, resolved, ...(linkOwner ? { target: new RootfsView([]), owner: linkOwner } : { target }) }),
      );
    } else {
      layerTar = await workdirLayer(step, target);
    }
    const built = await storeLayer(this.images, this.#lease!, diffIds, layerTar);
    const created = new Date().toISOString();
    await this.cache.put({ key: cacheKey, layer: built.layer, unpackedSize: built.unpackedSize, created });
    this.executed++;
    this.progress({ ...event, status: "done", durationMs: Date.now() - started });
    return { built, created };
  }

  /**
   * The cache records the `cacheFrom` images offer, by key: each image's layers with the keys
   * its manifest annotation gives and the times of its history. Read once per build.
   */
  #cacheFrom(): Promise<Map<string, BuildCacheRecord>> {
    this.#cacheFromRecords ??= (async () => {
      const out = new Map<string, BuildCacheRecord>();
      for (const reference of this.options.cacheFrom ?? []) {
        try {
          const { record, config } = await this.image(reference, this.options.platform);
          const manifest = JSON.parse((await this.images.readBlob(record.manifestDigest)).toString("utf8")) as ImageManifest;
          const text = manifest.annotations?.[cacheAnnotation];
          if (text === undefined) {
            log("cache source %s has no build cache keys", reference);
            continue;
          }
          const keys = JSON.parse(text) as unknown;
          if (!Array.isArray(keys) || keys.length !== record.layers.length) continue;
          await this.#lease!.extend(record.layers.flatMap((l) => [l.digest, l.chainId]));
          const created = (config.history ?? []).filter((h) => !h.empty_layer).map((h) => h.created);
          for (const [i, key] of keys.entries()) {
            if (typeof key !== "string" || out.has(key)) continue;
            const layer = record.layers[i]!;
            const { unpackedSize } = await this.images.ensureLayer({ layer, compression: "gzip", open: async () => this.images.openBlob(layer.digest) });
            out.set(key, { key, layer, unpackedSize, created: created[i] ?? config.created ?? new Date(0).toISOString() });
          }
        } catch (error) {
          // As with docker build --cache-from: a cache source that cannot be had only costs hits.
          log("cache source %s is not usable: %O", reference, error);
        }
      }
      return out;
    })();
    return this.#cacheFromRecords;
  }

  /**
   * The layer of a cache hit when it can serve on top of `diffIds`: the same chain with its
   * blob and snapshot still in the store; or, for a `--link` step, the same blob unpacked
   * again as the layer of the new chain (the files are not copied again).
   */
  async #reuse(hit: BuildCacheRecord, diffIds: readonly string[], linked: boolean): Promise<BuiltLayer | undefined> {
    const chainId = chainIds([...diffIds, hit.layer.diffId]).at(-1)!;
    if (chainId === hit.layer.chainId && (await hasLayer(this.images, hit.layer))) {
      // Leased in one write before the commit (see #protectCached), not one write per hit.
      this.#cachedLayers.push(hit.layer);
      return { layer: hit.layer, unpackedSize: hit.unpackedSize };
    }
    // The blob is enough to make the snapshot again: of a pruned snapshot, or of a new chain.
    if ((chainId !== hit.layer.chainId && !linked) || !(await this.images.hasBlob(hit.layer.digest))) return undefined;
    const layer: LayerRecord = { ...hit.layer, chainId };
    await this.#lease!.extend([layer.digest, layer.diffId, chainId]);
    const { unpackedSize } = await this.images.ensureLayer({ layer, compression: "gzip", open: async () => this.images.openBlob(layer.digest) });
    return { layer, unpackedSize };
  }

  /** The layer directories of a `from` value: a stage by name or index, else an image. */
  async #layerDirsOf(from: string, platform: string | undefined): Promise<string[]> {
    const index = findStage(this.plan.stages, from);
    if (index !== undefined) return (await this.stage(index)).layers.map((l) => this.images.snapshotFs(l.layer.chainId));
    const { record } = await this.image(from, platform);
    await this.#lease!.extend(record.layers.flatMap((l) => [l.digest, l.chainId]));
    return record.layers.map((l) => this.images.snapshotFs(l.chainId));
  }

  /** What the bind (and cache) mounts of a RUN read, for its key: the context's content or the stage/image. */
  async #mountDigests(step: RunStep, platform: string | undefined): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const m of step.mounts) {
      if (m.type !== "bind" && m.type !== "cache") continue;
      if (m.from === undefined) {
        if (m.type !== "bind" || out.context !== undefined) continue;
        // The whole context the step can see (its .dockerignore applied), as BuildKit keys it.
        const resolved = await resolveCopySources(this.builder.context, ["."], { excludes: this.excludes });
        out.context = await hashCopySources(resolved, { cache: this.hashCache });
        continue;
      }
      const index = findStage(this.plan.stages, m.from);
      out[m.from] = index !== undefined ? (await this.stage(index)).key : (await this.image(m.from, platform)).record.id;
    }
    return out;
  }

  /** An untagged image of the layers so far, for a RUN container; removed when the build ends. */
  async #intermediateImage(layers: readonly BuiltLayer[]): Promise<string> {
    const p = hostPlatform();
    // The build id keeps the image private to this build: a concurrent identical build
    // removing its own intermediate images cannot take this one away.
    const record = await commitBuiltImage(this.images, layers, { architecture: p.architecture, os: p.os, config: {}, "berth.build": this.buildId }, []);
    this.#intermediate.add(record.id);
    return record.id;
  }

  async #copySource(step: CopyStep, platform: string | undefined): Promise<CopySource> {
    const resolveOptions = { copyExcludes: step.flags.exclude, parents: step.flags.parents };
    if (step.fromStage === undefined && step.fromImage === undefined) {
      const remote = step.sources.find((s) => isRemoteSource(s));
      if (remote !== undefined && step.keyword === "COPY") {
        throw new BerthError("BERTH_BUILD_SOURCE_NOT_FOUND", `COPY on line ${step.instruction.startLine}: source can't be a URL (${remote}); use ADD`, {
          line: step.instruction.startLine,
          url: remote,
        });
      }
      const remotes = new RemoteSources();
      try {
        // Sources keep their order: each is the context's resolved paths or a fetched remote.
        const parts: (ResolvedSource[] | RemoteSource)[] = [];
        const remoteDigests: string[] = [];
        for (const source of step.sources) {
          if (isRemoteSource(source)) {
            const opened = await remotes.open(source, {
              timeout: this.options.stepTimeout ?? 1_800_000,
              line: step.instruction.startLine,
              checksum: step.flags.checksum,
              keepGitDir: step.flags.keepGitDir,
            });
            parts.push(opened);
            remoteDigests.push(opened.digest);
          } else parts.push(await resolveCopySources(this.builder.context, [source], { ...resolveOptions, excludes: this.excludes }));
        }
        const local = parts.filter((p): p is ResolvedSource[] => Array.isArray(p)).flat();
        const chown = step.flags.chown ? `${step.flags.chown.user}:${step.flags.chown.group ?? ""}` : undefined;
        const hasLocal = step.sources.length > remoteDigests.length;
        const localDigest = hasLocal
          ? await hashCopySources(local, { ...(chown ? { chown } : {}), ...(step.flags.chmod ? { chmod: step.flags.chmod } : {}), cache: this.hashCache })
          : undefined;
        const digest =
          remoteDigests.length === 0 ? localDigest : `sha256:${createHash("sha256").update(JSON.stringify([localDigest ?? null, ...remoteDigests])).digest("hex")}`;
        return {
          digest,
          withResolved: async (fn) => {
            const resolved: ResolvedSource[] = [];
            for (const p of parts) resolved.push(...(Array.isArray(p) ? p : await p.resolve()));
            return fn(resolved);
          },
          release: () => remotes.release(),
        };
      } catch (error) {
        await remotes.release();
        throw error;
      }
    }
    let layerDirs: string[];
    let digest: string;
    if (step.fromStage !== undefined) {
      const from = await this.stage(step.fromStage);
      layerDirs = from.layers.map((l) => this.images.snapshotFs(l.layer.chainId));
      digest = from.key;
    } else {
      const { record } = await this.image(step.fromImage!, platform);
      await this.#lease!.extend(record.layers.flatMap((l) => [l.digest, l.chainId]));
      layerDirs = record.layers.map((l) => this.images.snapshotFs(l.chainId));
      digest = record.id;
    }
    return {
      digest,
      withResolved: (fn) => withMergedRoot(layerDirs, async (root) => fn(await resolveCopySources(root, step.sources, { ...resolveOptions, allowEmptyWildcard: true }))),
      release: async () => {},
    };
  }
}

/** The sources of one COPY: their digest for the key, and the resolved entries when the step runs. */
interface CopySource {
  digest: string | undefined;
  withResolved<T>(fn: (resolved: ResolvedSource[]) => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

/**
 * Runs `fn` with a directory showing the layers merged (see {@link openMergedRoot}), closed
 * after the call.
 */
async function withMergedRoot<T>(layerDirs: readonly string[], fn: (root: string) => Promise<T>): Promise<T> {
  const merged = await openMergedRoot(layerDirs);
  try {
    return await fn(merged.dir);
  } finally {
    await merged.close();
  }
}

/**
 * A directory showing the layers merged: the layer itself when there is one, else a
 * read-only overlay of them (lower directories only, nothing can be written) on a temporary
 * directory, unmounted and removed by `close`.
 */
async function openMergedRoot(layerDirs: readonly string[]): Promise<{ dir: string; close(): Promise<void> }> {
  if (layerDirs.length === 1) return { dir: layerDirs[0]!, close: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), "berth-build-from-"));
  const remove = () => rm(dir, { recursive: true, force: true }).catch(() => {});
  if (layerDirs.length === 0) return { dir, close: remove };
  const lower = [...layerDirs].reverse().join(":");
  const mounted = await execa("mount", ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${lower}`, dir], { reject: false, timeout: 30_000 });
  if (mounted.exitCode !== 0) {
    await remove();
    throw new BerthError("BERTH_IO", `cannot mount the layers of a build source: ${String(mounted.stderr).trim()}`, { path: dir, cause: mounted });
  }
  return {
    dir,
    close: async () => {
      const unmounted = await execa("umount", [dir], { reject: false, timeout: 30_000 });
      // Never remove a directory that is still a mount point: rm would delete the layers' files.
      if (unmounted.exitCode === 0) await remove();
      else log("cannot unmount %s: %s", dir, unmounted.stderr);
    },
  };
}

/** WORKDIR's layer: the missing directories of the path, owned by the stage's user as BuildKit makes them. */
async function workdirLayer(step: WorkdirStep, target: RootfsView): Promise<Buffer> {
  let uid = 0;
  let gid = 0;
  if (step.user) {
    const [user, group] = step.user.split(":");
    const find = async (file: string, name: string, field: number): Promise<number | undefined> => {
      if (/^\d+$/.test(name)) return Number(name);
      for (const line of ((await target.readFile(file)) ?? "").split("\n")) {
        const parts = line.split(":");
        if (parts[0] === name && parts[field] !== undefined) return Number(parts[field]);
      }
      return undefined;
    };
    uid = (await find("/etc/passwd", user!, 2)) ?? 0;
    gid = group !== undefined ? ((await find("/etc/group", group, 2)) ?? 0) : ((await find("/etc/passwd", user!, 3)) ?? uid);
  }
  const layer = createBufferedTarPack();
  let current = "";
  for (const part of step.path.split("/").filter(Boolean)) {
    current = posix.join(current || "/", part);
    const st = await target.stat(current);
    if (st?.isDirectory()) continue;
    if (st) {
      throw new BerthError("BERTH_BUILD_STEP_FAILED", `WORKDIR on line ${step.instruction.startLine}: ${current} exists and is not a directory`, {
        line: step.instruction.startLine,
        path: current,
      });
    }
    await layer.entry({ name: `${current.slice(1)}/`, type: "directory", mode: 0o755, uid, gid, mtime: new Date() });
  }
  return layer.finish();
}

