import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { ImageStore } from "../../../src/image/image-store.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { describeTree } from "./tree.js";

const hasSkopeo = (await execa("skopeo", ["--version"], { reject: false })).exitCode === 0;
const hasUmoci = (await execa("umoci", ["--version"], { reject: false })).exitCode === 0;

let dir: string;
let rootfs: string;
let image: Image;
let expected: string[];

async function snapshotTree(root: string, id: string): Promise<string[]> {
  const { layerDirs } = await new ImageStore(root).getRootfsLayers(id);
  expect(layerDirs).toHaveLength(1);
  return describeTree(layerDirs[0]!);
}

const describeInterop = hasSkopeo && hasUmoci ? describeAsRoot : (name: string, fn: () => void) => describeAsRoot(`${name} (skipped: skopeo or umoci not installed)`, fn);

describeInterop("interoperability with skopeo and umoci", () => {
  beforeAll(async () => {
    dir = await makeTempDir("berth-interop-");
    rootfs = await busyboxRootfs();
    expected = await describeTree(rootfs);
    image = await Image.fromRootfs(rootfs, { root: join(dir, "s1"), tag: "localhost/busybox:interop", config: { Cmd: ["/bin/sh"] } });
  });
  afterAll(async () => removeTempDir(dir));

  it("fromRootfs keeps the tree exactly (modes, owners, links, content)", async () => {
    expect(await snapshotTree(join(dir, "s1"), image.id)).toEqual(expected);
  });

  it("a docker archive berth exported is read by skopeo and unpacked by umoci to the same tree", async () => {
    const archive = join(dir, "docker.tar");
    await image.export(archive, { format: "docker" });
    const inspect = JSON.parse((await execa("skopeo", ["inspect", `docker-archive:${archive}`])).stdout);
    expect(inspect.Layers).toHaveLength(1);
    expect(inspect.Architecture).toBe("amd64");
    const layout = join(dir, "from-docker");
    await execa("skopeo", ["copy", "-q", `docker-archive:${archive}`, `oci:${layout}:t`]);
    const unpacked = join(dir, "umoci-docker");
    await execa("umoci", ["raw", "unpack", "--image", `${layout}:t`, unpacked]);
    expect(await describeTree(unpacked)).toEqual(expected);
  });

  it("an OCI archive and layout berth exported are read by skopeo and umoci", async () => {
    const archive = join(dir, "oci.tar");
    await image.export(archive, { format: "oci" });
    const inspect = JSON.parse((await execa("skopeo", ["inspect", `oci-archive:${archive}:interop`])).stdout);
    expect(inspect.Digest).toBe((await image.inspect()).digest);
    const layout = join(dir, "oci-dir");
    await image.export(layout, { format: "oci", directory: true });
    const { stdout } = await execa("umoci", ["ls", "--layout", layout]);
    expect(stdout.split("\n")).toContain("interop");
    const unpacked = join(dir, "umoci-oci");
    await execa("umoci", ["raw", "unpack", "--image", `${layout}:interop`, unpacked]);
    expect(await describeTree(unpacked)).toEqual(expected);
  });

  it("imports a docker archive skopeo wrote (legacy form, uncompressed layers)", async () => {
    const layout = join(dir, "oci-dir2");
    await image.export(layout, { format: "oci", directory: true });
    const archive = join(dir, "skopeo-docker.tar");
    await execa("skopeo", ["copy", "-q", `oci:${layout}:interop`, `docker-archive:${archive}:localhost/from-skopeo:1`]);
    const imported = await Image.import(archive, { root: join(dir, "s2") });
    expect(imported.id).toBe(image.id);
    expect((await imported.inspect()).repoTags).toEqual(["localhost/from-skopeo:1"]);
    expect(await snapshotTree(join(dir, "s2"), imported.id)).toEqual(expected);
  });

  it("imports an OCI archive skopeo wrote", async () => {
    const layout = join(dir, "oci-dir3");
    await image.export(layout, { format: "oci", directory: true });
    const archive = join(dir, "skopeo-oci.tar");
    await execa("skopeo", ["copy", "-q", `oci:${layout}:interop`, `oci-archive:${archive}:localhost/skopeo-oci:2`]);
    const imported = await Image.import(archive, { root: join(dir, "s3") });
    expect(imported.id).toBe(image.id);
    expect(await snapshotTree(join(dir, "s3"), imported.id)).toEqual(expected);
  });

  it("imports a zstd-compressed image skopeo wrote", async () => {
    const layout = join(dir, "oci-dir4");
    await image.export(layout, { format: "oci", directory: true });
    const zstdLayout = join(dir, "zstd-layout");
    await mkdir(zstdLayout);
    await execa("skopeo", ["copy", "-q", "--dest-compress-format", "zstd", `oci:${layout}:interop`, `oci:${zstdLayout}:z`]);
    const imported = await Image.import(zstdLayout, { root: join(dir, "s4") });
    const info = await imported.inspect();
    expect(info.layers[0]!.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    expect(await snapshotTree(join(dir, "s4"), imported.id)).toEqual(expected);
  });
});
