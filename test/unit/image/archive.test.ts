import { readFile, readdir } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { Image } from "../../../src/harness/image.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { makeLayout, makeTar, sha256 } from "./fixtures.js";

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir("berth-archive-");
});
afterEach(async () => removeTempDir(dir));

/** A legacy `docker save` archive (Docker < 25): `<id>/layer.tar`, `<id>.json`, manifest.json, repositories. */
async function legacyDockerArchive(): Promise<{ archive: Buffer; layers: Buffer[]; configDigest: string }> {
  const layers = [
    await makeTar([{ name: "etc/issue", content: "legacy\n" }]),
    await makeTar([{ name: "usr/bin/app", content: "#!/bin/sh\n", mode: 0o755 }]),
  ];
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/usr/bin/app"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(l)) },
      history: [{ created_by: "a" }, { created_by: "b" }],
    }),
  );
  const configHex = sha256(config).slice(7);
  const entries = [
    { name: `${configHex}.json`, content: config },
    { name: "aaaa/layer.tar", content: layers[0]! },
    { name: "bbbb/layer.tar", content: layers[1]! },
    {
      name: "manifest.json",
      content: Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ["legacy/app:1.0"], Layers: ["aaaa/layer.tar", "bbbb/layer.tar"] }])),
    },
    { name: "repositories", content: Buffer.from(JSON.stringify({ "legacy/app": { "1.0": "bbbb" } })) },
  ];
  return { archive: await makeTar(entries), layers, configDigest: sha256(config) };
}

async function listTar(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c) => chunks.push(c as Buffer));
    stream.on("end", () => {
      out.set(header.name, Buffer.concat(chunks));
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    createReadStream(path).pipe(extract as unknown as NodeJS.WritableStream).on("finish", resolve).on("error", reject);
  });
  return out;
}

describe("Image.import / image.export", () => {
  it("imports a legacy docker save archive from a stream, with its tags", async () => {
    const { archive, configDigest } = await legacyDockerArchive();
    const image = await Image.import(Readable.from([archive]), { root: join(dir, "s1") });
    expect(image.id).toBe(configDigest);
    const info = await image.inspect();
    expect(info.repoTags).toEqual(["legacy/app:1.0"]);
    expect(info.config.config?.Cmd).toEqual(["/usr/bin/app"]);
    expect(info.layers).toHaveLength(2);
    expect((await Image.get("legacy/app:1.0", { root: join(dir, "s1") })).id).toBe(configDigest);
  });

  it("round-trips docker format: export, re-import elsewhere, same image", async () => {
    const { archive, configDigest } = await legacyDockerArchive();
    const image = await Image.import(Readable.from([archive]), { root: join(dir, "s1") });
    const out = join(dir, "saved.tar");
    await image.export(out, { format: "docker" });
    const members = await listTar(out);
    const manifest = JSON.parse(members.get("manifest.json")!.toString());
    expect(manifest[0].RepoTags).toEqual(["legacy/app:1.0"]);
    expect(members.has("oci-layout")).toBe(true);
    for (const path of manifest[0].Layers as string[]) expect(sha256(members.get(path)!)).toBe(`sha256:${path.split("/").pop()}`);

    const again = await Image.import(out, { root: join(dir, "s2") });
    expect(again.id).toBe(configDigest);
    expect((await again.inspect()).repoTags).toEqual(["legacy/app:1.0"]);
    expect((await again.inspect()).digest).toBe((await image.inspect()).digest);
    expect(await readdir(join(dir))).not.toContain(expect.stringMatching(/\.tmp-/));
  });

  it("round-trips OCI format as a tar and as a layout directory", async () => {
    const layout = join(dir, "layout");
    await makeLayout(layout, [{ layers: [await makeTar([{ name: "hello", content: "oci\n" }])], tag: "v3" }]);
    const first = await Image.import(layout, { root: join(dir, "s1") });
    await first.tag("localhost/oci:v3");
    await first.export(join(dir, "oci.tar"), { format: "oci" });
    const members = await listTar(join(dir, "oci.tar"));
    expect(members.has("manifest.json")).toBe(false);
    const index = JSON.parse(members.get("index.json")!.toString());
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("v3");

    const second = await Image.import(join(dir, "oci.tar"), { root: join(dir, "s2") });
    expect(second.id).toBe(first.id);
    expect((await second.inspect()).repoTags).toEqual(["localhost/oci:v3"]);

    await second.export(join(dir, "oci-dir"), { format: "oci", directory: true });
    const third = await Image.import(join(dir, "oci-dir"), { root: join(dir, "s3") });
    expect(third.id).toBe(first.id);
  });

  it("imports a gzip-compressed archive", async () => {
    const { archive, configDigest } = await legacyDockerArchive();
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(dir, "a.tar.gz"), gzipSync(archive));
    expect((await Image.import(join(dir, "a.tar.gz"), { root: join(dir, "s1") })).id).toBe(configDigest);
  });

  it("refuses what is not an image archive, with BERTH_ARCHIVE_INVALID and nothing left behind", async () => {
    const junk = await makeTar([{ name: "readme.txt", content: "no image here" }]);
    const error = await Image.import(Readable.from([junk]), { root: join(dir, "s1") }).catch((e: unknown) => e);
    expect(isBerthError(error) && error.code).toBe("BERTH_ARCHIVE_INVALID");
    expect(await readdir(join(dir, "s1", "image", "ingest"))).toEqual([]);
  });

  it("refuses an archive member that climbs out", async () => {
    const evil = await makeTar([{ name: "../../evil.json", content: "{}" }]);
    const error = await Image.import(Readable.from([evil]), { root: join(dir, "s1") }).catch((e: unknown) => e);
    expect(isBerthError(error) && error.code).toBe("BERTH_PATH_ESCAPE");
    await expect(readFile(join(dir, "evil.json"))).rejects.toThrow();
  });
});

describe("Image.fromRootfs", () => {
  it("makes a one-layer image from a tar and tags it", async () => {
    const rootfs = await makeTar([
      { name: "bin", type: "directory" },
      { name: "bin/hello", content: "#!/bin/sh\necho hello\n", mode: 0o755 },
    ]);
    const image = await Image.fromRootfs(Readable.from([rootfs]), { root: dir, tag: "local/hello:1", config: { Cmd: ["/bin/hello"] } });
    const info = await image.inspect();
    expect(info.repoTags).toEqual(["local/hello:1"]);
    expect(info.config.rootfs.diff_ids).toEqual([sha256(rootfs)]);
    expect(info.layers[0]!.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(info.history).toHaveLength(1);
  });

  it("lists, tags, removes and prunes through the Image API", async () => {
    const rootfs = await makeTar([{ name: "etc/motd", content: "hi\n" }]);
    const image = await Image.fromRootfs(Readable.from([rootfs]), { root: dir, tag: "local/motd:1" });
    expect(await image.tag("local/motd:2")).toBe("docker.io/local/motd:2");
    expect((await Image.list({ root: dir })).map((i) => i.id)).toEqual([image.id]);
    expect((await (await Image.get("local/motd:2", { root: dir })).remove()).deleted).toBe(false);
    expect(await image.remove()).toEqual({ untagged: ["local/motd:1"], deleted: true });
    expect(await Image.list({ root: dir })).toEqual([]);
    const freed = await Image.prune({ root: dir });
    expect(freed.snapshots).toBe(1);
    expect(await readdir(join(dir, "image", "blobs", "sha256"))).toEqual([]);
  });
});
