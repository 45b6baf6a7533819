import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BuildProgress, DockerfileBuildOptions } from "../../../src/build/dockerfile-build.js";
import { RootfsView } from "../../../src/build/rootfs-view.js";
import { Image } from "../../../src/harness/image.js";
import { ImageStore } from "../../../src/image/image-store.js";
import { mediaTypes } from "../../../src/image/oci.js";
import { RegistryClient } from "../../../src/registry/registry-client.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { startRegistry, type StartedRegistry } from "../../helpers/registry-server.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { removeAllContainers } from "./build-test-engine.js";

/**
 * `cacheFrom` through a real docker-registry (build, push, rebuild in an empty store and
 * cache), and `platform` against a multi-platform index pushed there.
 */
describeAsRoot("cacheFrom and platform through a local registry", () => {
  let registry: StartedRegistry;
  let dir: string;
  let context: string;
  const engines: ContainerEngine[] = [];

  const engineOf = (root: string) => {
    const engine = new ContainerEngine({ stateRoot: root, runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }) });
    engines.push(engine);
    return engine;
  };

  beforeAll(async () => {
    registry = await startRegistry({ mode: "plain" });
    dir = await makeTempDir("berth-build-cachefrom-");
    context = await makeTempDir("berth-build-cachefrom-ctx-");
    await writeFile(join(context, "app.txt"), "app\n");
    await writeFile(join(context, "other.txt"), "other\n");
    await writeFile(join(context, "arch.txt"), "arm64\n");
    // The base: busybox for this host, pushed; an arm64 image of one file; an index of both.
    const origin = join(dir, "origin");
    const base = await Image.fromRootfs(await busyboxRootfs(), { root: origin, tag: `${registry.host}/multi/base:amd64`, config: { Cmd: ["sh"] } });
    const amd64 = await base.push();
    await writeFile(join(context, "Dockerfile"), "FROM scratch\nCOPY arch.txt /arch.txt\n");
    const arm = await Image.fromDockerfile(context, { root: origin, engine: engineOf(origin), platform: "linux/arm64" }).build(`${registry.host}/multi/base:arm64`);
    expect((await arm.inspect()).architecture).toBe("arm64");
    const arm64 = await arm.push();
    const client = new RegistryClient();
    const repo = { registry: registry.host, repository: "multi/base" };
    const entry = async (digest: string, architecture: string) => {
      const m = await client.getManifest(repo, digest);
      return { mediaType: m.mediaType, digest, size: m.bytes.length, platform: { os: "linux", architecture } };
    };
    const index = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [await entry(amd64.digest, "amd64"), await entry(arm64.digest, "arm64")] };
    await client.putManifest(repo, "1", mediaTypes.ociIndex, Buffer.from(JSON.stringify(index)));
  });

  afterAll(async () => {
    for (const e of engines) await removeAllContainers(e);
    await registry?.stop();
    if (dir) await removeTempDir(dir);
    if (context) await removeTempDir(context);
  });

  async function build(root: string, dockerfile: string, tag: string, options: DockerfileBuildOptions = {}) {
    await writeFile(join(context, "Dockerfile"), dockerfile);
    const events: BuildProgress[] = [];
    const image = await Image.fromDockerfile(context, { root, engine: engineOf(root), network: "none", ...options, onProgress: (e) => events.push(e) }).build(tag);
    const steps = events.filter((e): e is Extract<BuildProgress, { type: "step" }> => e.type === "step");
    return {
      image,
      view: new RootfsView((await new ImageStore(root).getRootfsLayers(tag)).layerDirs),
      ran: steps.filter((e) => e.status === "running").map((e) => e.instruction),
      cached: steps.filter((e) => e.status === "cached").map((e) => e.instruction),
    };
  }

  it("rebuilds from a pushed image's layers in an empty store and cache, running nothing", async () => {
    const dockerfile = [
      "ARG BASE",
      "FROM $BASE",
      "COPY app.txt /app.txt",
      "RUN echo built > /built",
      "COPY --link other.txt /o/",
      "RUN cat /app.txt /built > /both",
      'CMD ["cat", "/both"]',
      "",
    ].join("\n");
    const buildArgs = { BASE: `${registry.host}/multi/base:amd64` };
    const a = join(dir, "a");
    const first = await build(a, dockerfile, `${registry.host}/cache/app:1`, { buildArgs });
    expect(first.ran).toHaveLength(4);
    await first.image.push();

    // A fresh state root: no image, no build cache. A cache source that does not exist is skipped.
    const c = join(dir, "c");
    const cacheFrom = [`${registry.host}/cache/absent:1`, `${registry.host}/cache/app:1`];
    const rebuilt = await build(c, dockerfile, "rebuilt/app:1", { buildArgs, cacheFrom });
    expect(rebuilt.ran).toEqual([]);
    expect(rebuilt.cached).toHaveLength(4);
    expect(rebuilt.image.id).toBe(first.image.id);
    expect(await rebuilt.view.readFile("/both")).toBe("app\nbuilt\n");
    // The hits were imported into this root's cache: without the cache source, still all cached.
    expect((await build(c, dockerfile, "rebuilt/app:1b", { buildArgs })).ran).toEqual([]);

    // An edited file reruns its step and what follows; what comes before still hits.
    await writeFile(join(context, "other.txt"), "other 2\n");
    const d = join(dir, "d");
    const edited = await build(d, dockerfile, "rebuilt/app:2", { buildArgs, cacheFrom });
    expect(edited.cached).toEqual(["COPY app.txt /app.txt", "RUN echo built > /built"]);
    expect(edited.ran).toEqual(["COPY --link other.txt /o/", "RUN cat /app.txt /built > /both"]);
    await writeFile(join(context, "other.txt"), "other\n");
  });

  it("builds for the requested platform: its manifest of an index, TARGETPLATFORM, COPY-only for a foreign one", async () => {
    const b = join(dir, "b");
    const dockerfile = [
      "ARG BASE",
      "FROM $BASE",
      "ARG TARGETPLATFORM",
      "ARG BUILDPLATFORM",
      "LABEL target=$TARGETPLATFORM build=$BUILDPLATFORM",
      "COPY app.txt /app.txt",
      "",
    ].join("\n");
    const buildArgs = { BASE: `${registry.host}/multi/base:1` };
    const arm = await build(b, dockerfile, "plat/arm:1", { buildArgs, platform: "linux/arm64" });
    const armInfo = await arm.image.inspect();
    expect(armInfo.architecture).toBe("arm64");
    expect(armInfo.config.config?.Labels).toEqual({ target: "linux/arm64", build: "linux/amd64" });
    expect(await arm.view.readFile("/arch.txt")).toBe("arm64\n");

    // The same tag for this host: the stored arm64 image does not serve, the amd64 one is pulled.
    const host = await build(b, dockerfile, "plat/host:1", { buildArgs });
    expect((await host.image.inspect()).architecture).toBe("amd64");
    expect(await host.view.readFile("/arch.txt")).toBeUndefined();
    expect((await host.view.stat("/bin/sh")) !== undefined).toBe(true);

    // FROM --platform overrides the build's platform; a RUN for it cannot execute here.
    const emulated = existsSync("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    const run = await build(b, `ARG BASE\nFROM --platform=linux/arm64 $BASE\nRUN true\n`, "plat/run:1", { buildArgs }).catch((e: unknown) => e);
    if (emulated) expect(run).not.toBeInstanceOf(Error);
    else {
      expect(run).toMatchObject({ code: "BERTH_BUILD_PLATFORM_UNSUPPORTED", context: { platform: "linux/arm64", line: 3 } });
      expect(await new ImageStore(b).find("plat/run:1")).toBeUndefined();
    }
    const missing = await build(b, dockerfile, "plat/none:1", { buildArgs, platform: "linux/s390x" }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: "BERTH_PLATFORM_NOT_FOUND" });
  });
});
