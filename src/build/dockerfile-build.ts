import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix, resolve } from "node:path";
import { execa } from "execa";
import tar from "tar-stream";
import { BerthError, logger, stateRoot } from "../common/index.js";
import type { ImageRecord, LayerRecord } from "../image/image-record.js";
import type { Lease } from "../image/content-store.js";
import { ImageStore } from "../image/image-store.js";
import { chainIds, hostPlatform, type HistoryEntry as OciHistoryEntry, type ImageConfig } from "../image/oci.js";
import { formatReference, parseReference } from "../image/reference.js";
import { BridgeAttachment } from "../network/bridge-attachment.js";
import { ContainerEngine } from "../runtime/engine/container-engine.js";
import { BuildCache } from "./build-cache.js";
import { findStage, planBuild, type BuildPlan, type BuildStage } from "./build-plan.js";
import { stepCacheKey } from "./cache-key.js";
import { FileHashCache, hashCopySources, resolveCopySources, type ResolvedSource } from "./context-hash.js";
import { isRemoteSource } from "./copy-flags.js";
import { buildCopyLayer } from "./copy-step.js";
import { readDockerignore } from "./dockerignore.js";
import { commitBuiltImage, hasLayer, storeLayer, type BuiltLayer } from "./layer-writer.js";
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
   * Pulls an image named by FROM or `--from` that is not in the store.
   * @default the engine's registry pull (`pull: "missing"` policy)
   */
  pull?: (images: ImageStore, reference: string) => Promise<void>;
}

/** What a finished stage gives the stages after it and the final image. */
interface StageResult {
  layers: BuiltLayer[];
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
    const plan = planBuild(text, { ...(this.options.buildArgs ? { buildArgs: this.options.buildArgs } : {}), ...(this.options.target ? { target: this.options.target } : {}) });
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
    const record = await commitBuiltImage(this.images, result.layers, imageConfig, tag ? [tag] : []);
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

  /** An image from the store, pulled when missing; its record and config. */
  async image(reference: string): Promise<{ record: ImageRecord; config: ImageConfig }> {
    let record = await this.images.find(reference);
    if (!record) {
      const pull = this.options.pull;
      try {
        if (pull) await pull(this.images, reference);
        else {
          const { pullImage } = await import("../registry/pull.js");
          const { RegistryClient } = await import("../registry/registry-client.js");
          await pullImage(this.images, new RegistryClient(), reference);
        }
      } catch (error) {
        throw new BerthError("BERTH_IMAGE_NOT_FOUND", `image ${reference} is not in the store and could not be pulled`, { image: reference, cause: error });
      }
      record = await this.images.find(reference);
      if (!record) throw new BerthError("BERTH_IMAGE_NOT_FOUND", `image ${reference} is not in the store`, { image: reference });
    }
    const config = JSON.parse((await this.images.readBlob(record.id)).toString("utf8")) as ImageConfig;
    return { record, config };
  }

  async #base(stage: BuildStage): Promise<StageResult> {
    const base = stage.base;
    if (base.kind === "scratch") {
      const p = hostPlatform();
      return { layers: [], config: {}, history: [], platform: { architecture: p.architecture, os: p.os }, author: undefined, key: "scratch", created: undefined };
    }
    if (base.kind === "stage") return this.stage(base.index);
    const { record, config } = await this.image(base.reference);
    await this.#lease!.extend(record.layers.flatMap((l) => [l.digest, l.chainId]));
    return {
      layers: record.layers.map((layer, i) => ({ layer, unpackedSize: i === 0 ? record.unpackedSize : 0 })),
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
    let key = base.key;
    // History times come from when each layer was first made (kept in the cache record), and
    // metadata entries take the time of the layer before them: a rebuild that changes nothing
    // then gives the very same config, so the same image ID, as BuildKit's cached rebuilds do.
    let created = base.created;
    const createdOf = new Map<object, string>();
    for (const step of evaluated.steps) {
      if (step.kind === "metadata") {
        if (step.history) createdOf.set(step.history, created ?? new Date(0).toISOString());
        continue;
      }
      const produced = await this.#filesystemStep(stage, step, layers, key);
      layers.push(produced.built);
      key = produced.built.layer.chainId;
      created = produced.created;
      createdOf.set(step.history, created);
    }
    const history: OciHistoryEntry[] = [
      ...base.history,
      ...evaluated.history.map((h) => ({ created: createdOf.get(h) ?? created ?? new Date(0).toISOString(), ...h })),
    ];
    return { layers, config: evaluated.config, history, platform: base.platform, author: evaluated.author ?? base.author, key, created };
  }

  async #filesystemStep(
    stage: BuildStage,
    step: Exclude<BuildStep, { kind: "metadata" }>,
    layers: readonly BuiltLayer[],
    parent: string,
  ): Promise<{ built: BuiltLayer; created: string }> {
    const ins = step.instruction;
    const event = { type: "step" as const, stage: stage.index, stageName: stage.name, line: ins.startLine, instruction: ins.original.trim() };
    const diffIds = layers.map((l) => l.layer.diffId);
    let copySource: CopySource | undefined;
    let cacheKey: string;
    if (step.kind === "copy") {
      copySource = await this.#copySource(step);
      cacheKey = stepCacheKey({ parent, step, ...(copySource.digest !== undefined ? { sourceDigest: copySource.digest } : {}) });
    } else if (step.kind === "run") {
      const mountDigests = await this.#mountDigests(step);
      // The builder-wide network changes what a RUN may do, so it is part of its key (the
      // key document has the step's own `--network` only).
      const network = step.network === "default" ? ` network=${this.options.network ?? "bridge"}` : "";
      cacheKey = stepCacheKey({ parent: `${parent}${network}`, step, mountDigests });
    } else {
      cacheKey = stepCacheKey({ parent, step });
    }
    try {
      return await this.#produce(stage, step, layers, diffIds, cacheKey, copySource, event);
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
  ): Promise<{ built: BuiltLayer; created: string }> {
    const ins = step.instruction;
    if (!this.options.noCache) {
      const hit = await this.cache.get(cacheKey);
      if (hit && chainIds([...diffIds, hit.layer.diffId]).at(-1) === hit.layer.chainId && (await hasLayer(this.images, hit.layer))) {
        // Leased in one write before the commit (see #protectCached), not one write per hit.
        this.#cachedLayers.push(hit.layer);
        this.cached++;
        this.progress({ ...event, status: "cached" });
        return { built: { layer: hit.layer, unpackedSize: hit.unpackedSize }, created: hit.created };
      }
    }
    const started = Date.now();
    this.progress({ ...event, status: "running" });
    let layerTar: Buffer;
    const target = new RootfsView(layers.map((l) => this.images.snapshotFs(l.layer.chainId)));
    if (step.kind === "run") {
      const imageId = await this.#intermediateImage(layers);
      const opened: { close(): Promise<void> }[] = [];
      const mounts = await prepareRunMounts({
        root: this.builder.root,
        step,
        secrets: this.options.secrets ?? {},
        target,
        openSource: async (from) => {
          if (from === undefined) return this.builder.context;
          const merged = await openMergedRoot(await this.#layerDirsOf(from));
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
      layerTar = await copySource!.withResolved((resolved) => buildCopyLayer({ step, resolved, target }));
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

  /** The layer directories of a `from` value: a stage by name or index, else an image. */
  async #layerDirsOf(from: string): Promise<string[]> {
    const index = findStage(this.plan.stages, from);
    if (index !== undefined) return (await this.stage(index)).layers.map((l) => this.images.snapshotFs(l.layer.chainId));
    const { record } = await this.image(from);
    await this.#lease!.extend(record.layers.flatMap((l) => [l.digest, l.chainId]));
    return record.layers.map((l) => this.images.snapshotFs(l.chainId));
  }

  /** What the bind (and cache) mounts of a RUN read, for its key: the context's content or the stage/image. */
  async #mountDigests(step: RunStep): Promise<Record<string, string>> {
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
      out[m.from] = index !== undefined ? (await this.stage(index)).key : (await this.image(m.from)).record.id;
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

  async #copySource(step: CopyStep): Promise<CopySource> {
    const remote = step.sources.find((s) => isRemoteSource(s));
    if (remote !== undefined) {
      throw new BerthError("BERTH_UNSUPPORTED", `${step.keyword} of a URL or git source (${remote}) on line ${step.instruction.startLine} is not supported yet`, {
        line: step.instruction.startLine,
      });
    }
    const resolveOptions = { copyExcludes: step.flags.exclude, parents: step.flags.parents };
    if (step.fromStage === undefined && step.fromImage === undefined) {
      const resolved = step.sources.length > 0 ? await resolveCopySources(this.builder.context, step.sources, { ...resolveOptions, excludes: this.excludes }) : [];
      const chown = step.flags.chown ? `${step.flags.chown.user}:${step.flags.chown.group ?? ""}` : undefined;
      const digest =
        step.sources.length > 0
          ? await hashCopySources(resolved, { ...(chown ? { chown } : {}), ...(step.flags.chmod ? { chmod: step.flags.chmod } : {}), cache: this.hashCache })
          : undefined;
      return { digest, withResolved: (fn) => fn(resolved), release: async () => {} };
    }
    let layerDirs: string[];
    let digest: string;
    if (step.fromStage !== undefined) {
      const from = await this.stage(step.fromStage);
      layerDirs = from.layers.map((l) => this.images.snapshotFs(l.layer.chainId));
      digest = from.key;
    } else {
      const { record } = await this.image(step.fromImage!);
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
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((res, rej) => {
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    pack.on("end", () => res());
    pack.on("error", rej);
  });
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
    pack.entry({ name: `${current.slice(1)}/`, type: "directory", mode: 0o755, uid, gid, mtime: new Date() });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

