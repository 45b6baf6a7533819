import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Image } from "../../../src/harness/image.js";
import { ImageStore } from "../../../src/image/image-store.js";
import type { PullProgress } from "../../../src/registry/pull.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { startRegistry, type StartedRegistry } from "../../helpers/registry-server.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { describeTree } from "./tree.js";

let dir: string;
let registry: StartedRegistry;
let rootfs: string;

describeAsRoot("push to and pull from a real docker-registry", () => {
  beforeAll(async () => {
    dir = await makeTempDir("berth-registry-image-");
    registry = await startRegistry({ mode: "plain" });
    rootfs = await busyboxRootfs();
  });
  afterAll(async () => {
    await registry?.stop();
    await removeTempDir(dir);
  });

  it("pushes a fromRootfs image, pulls it into an empty store, and the trees match", async () => {
    const ref = `${registry.host}/test/busybox:1`;
    const made = await Image.fromRootfs(rootfs, { root: join(dir, "a"), tag: ref, config: { Cmd: ["/bin/sh"] } });
    const pushed = await made.push();
    expect(pushed.digest).toBe((await made.inspect()).digest);

    const events: PullProgress[] = [];
    const pulled = await Image.pull(ref, { root: join(dir, "b"), onProgress: (e) => events.push(e) });
    expect(pulled.id).toBe(made.id);
    const info = await pulled.inspect();
    expect(info.repoDigests).toEqual([`${registry.host}/test/busybox@${pushed.digest}`]);
    expect(events.some((e) => e.status === "done" && e.current === e.total)).toBe(true);
    const { layerDirs } = await new ImageStore(join(dir, "b")).getRootfsLayers(ref);
    expect(await describeTree(layerDirs[0]!)).toEqual(await describeTree(rootfs));

    // Already present: no request at all (the registry being gone would not matter).
    const again = await Image.pull(ref, { root: join(dir, "b") });
    expect(again.id).toBe(made.id);
  });

  it("pushes again to another repository (blobs mounted or skipped) and skopeo reads it", async () => {
    const ref = `${registry.host}/test/busybox:1`;
    const image = await Image.get(ref, { root: join(dir, "b") });
    const other = `${registry.host}/other/copy:2`;
    const { digest } = await image.push(other);
    const { stdout } = await execa("skopeo", ["inspect", "--tls-verify=false", `docker://${other}`]);
    expect(JSON.parse(stdout).Digest).toBe(digest);
  });

  it("pulls a Docker schema 2 image skopeo pushed", async () => {
    const layout = join(dir, "layout");
    const source = await Image.get(`${registry.host}/test/busybox:1`, { root: join(dir, "b") });
    await source.export(layout, { format: "oci", directory: true });
    const ref = `${registry.host}/skopeo/v2s2:latest`;
    await execa("skopeo", ["copy", "-q", "--format", "v2s2", "--dest-tls-verify=false", `oci:${layout}:1`, `docker://${ref}`]);
    const pulled = await Image.pull(ref, { root: join(dir, "c") });
    const info = await pulled.inspect();
    expect(info.layers[0]!.mediaType).toBe("application/vnd.docker.image.rootfs.diff.tar.gzip");
    expect(pulled.id).toBe(source.id);
  });

  it("a missing tag fails with a not-found code and commits nothing", async () => {
    const error = await Image.pull(`${registry.host}/test/busybox:nope`, { root: join(dir, "d") }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_NOT_FOUND") || hasErrorCode(error, "BERTH_IMAGE_NOT_FOUND")).toBe(true);
    expect(await Image.list({ root: join(dir, "d") })).toEqual([]);
  });

  it("passes credentials through: push and pull with basic auth, refused without", async () => {
    const secured = await startRegistry({ mode: "basic" });
    try {
      const auth = { username: "tester", password: secured.users.tester! };
      const ref = `${secured.host}/private/busybox:1`;
      const image = await Image.get(`${registry.host}/test/busybox:1`, { root: join(dir, "b") });
      await image.push(ref, { auth });
      const pulled = await Image.pull(ref, { root: join(dir, "e"), auth });
      expect(pulled.id).toBe(image.id);
      const error = await Image.pull(ref, { root: join(dir, "f"), auth: { username: "tester", password: "wrong" } }).catch(
        (e: unknown) => e,
      );
      expect(hasErrorCode(error, "BERTH_REGISTRY_UNAUTHORIZED")).toBe(true);
      expect(await Image.list({ root: join(dir, "f") })).toEqual([]);
    } finally {
      await secured.stop();
    }
  });
});
