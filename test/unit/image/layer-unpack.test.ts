import { lstat, mkdir, readFile, readlink, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { beforeEach, describe, expect, it } from "vitest";
import { hasErrorCode, isBerthError } from "../../../src/common/berth-error.js";
import { cleanArchivePath, resolveInRoot } from "../../../src/common/safe-path.js";
import { classifyWhiteout, sniffCompression, unpackLayer } from "../../../src/image/layer-unpack.js";
import { makeTar, sha256, tempDirPerTest, ustarHeader } from "./fixtures.js";

let root: string;
let outside: string;
tempDirPerTest("berth-unpack-", async (dir) => {
  root = join(dir, "root");
  outside = join(dir, "outside");
  await mkdir(outside);
});

/** Both extractors follow the same rules; every unpackLayer test runs against each. */
const extractors = ["native", "js"] as const;
let extractor: (typeof extractors)[number] = "js";

async function unpack(bytes: Buffer, extra: Partial<Parameters<typeof unpackLayer>[1]> = {}) {
  return unpackLayer(Readable.from([bytes]), { dest: root, compression: "none", privileged: false, extractor, ...extra });
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBerthError(error) ? error.code : error).toBe(code);
}

async function outsideIsEmpty(): Promise<void> {
  expect(await readdir(outside)).toEqual([]);
}

describe("cleanArchivePath", () => {
  it.each([
    ["a/b", "a/b"],
    ["./a/./b/", "a/b"],
    ["/etc/passwd", "etc/passwd"],
    ["/../../etc/passwd", "etc/passwd"],
    ["a/../b", "b"],
    [".", ""],
  ])("cleans %s to %s", (input, output) => expect(cleanArchivePath(input)).toBe(output));

  it.each(["../x", "a/../../x", "..", "a\0b"])("refuses %j with BERTH_PATH_ESCAPE", (input) => {
    expect(() => cleanArchivePath(input)).toThrow(expect.objectContaining({ code: "BERTH_PATH_ESCAPE" }));
  });
});

describe("resolveInRoot", () => {
  it("follows symlinks inside the root only", async () => {
    await mkdir(join(root, "real"), { recursive: true });
    const { symlink } = await import("node:fs/promises");
    await symlink("/", join(root, "abs"));
    await symlink("../../../../..", join(root, "up"));
    await symlink("real", join(root, "rel"));
    expect(resolveInRoot(root, "abs/etc/passwd", { followLast: true })).toBe(join(root, "etc/passwd"));
    expect(resolveInRoot(root, "up/etc", { followLast: true })).toBe(join(root, "etc"));
    expect(resolveInRoot(root, "rel/x", { followLast: true })).toBe(join(root, "real/x"));
    expect(resolveInRoot(root, "rel", { followLast: false })).toBe(join(root, "rel"));
  });

  it("refuses a symlink loop", async () => {
    await mkdir(root, { recursive: true });
    const { symlink } = await import("node:fs/promises");
    await symlink("b", join(root, "a"));
    await symlink("a", join(root, "b"));
    expect(() => resolveInRoot(root, "a/x")).toThrow(expect.objectContaining({ code: "BERTH_PATH_ESCAPE" }));
  });
});

describe("classifyWhiteout", () => {
  it.each([
    ["etc/.wh.passwd", { kind: "whiteout", target: "etc/passwd" }],
    [".wh.file", { kind: "whiteout", target: "file" }],
    ["var/lib/.wh..wh..opq", { kind: "opaque", dir: "var/lib" }],
    [".wh..wh..opq", { kind: "opaque", dir: "" }],
    [".wh..wh.plnk", { kind: "ignore" }],
    ["etc/passwd", undefined],
    ["etc/x.wh.y", undefined],
  ])("%s", (input, expected) => expect(classifyWhiteout(input)).toEqual(expected));
});

describe("sniffCompression", () => {
  it("tells gzip, zstd and plain tar apart", () => {
    expect(sniffCompression(gzipSync(Buffer.from("x")))).toBe("gzip");
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe("zstd");
    expect(sniffCompression(Buffer.from("ustar"))).toBe("none");
  });
});

describe.each(extractors)("unpackLayer with the %s extractor", (which) => {
  beforeEach(() => {
    extractor = which;
  });

  it("unpacks files, dirs, symlinks, hard links, modes and mtimes; reports both digests", async () => {
    const tar = await makeTar([
      { name: "etc", type: "directory", mode: 0o755 },
      { name: "etc/hostname", content: "box\n", mode: 0o640 },
      { name: "bin/tool", content: "#!/bin/sh\n", mode: 0o4755 },
      { name: "bin/link", type: "symlink", linkname: "tool" },
      { name: "bin/hard", type: "link", linkname: "bin/tool" },
      { name: "ro", type: "directory", mode: 0o555, mtime: new Date(1_600_000_000_000) },
    ]);
    const gz = gzipSync(tar);
    const result = await unpack(gz, { compression: "gzip", expectedDigest: sha256(gz), expectedDiffId: sha256(tar) });
    expect(result).toMatchObject({ digest: sha256(gz), diffId: sha256(tar), size: gz.length, unpackedSize: 14 });
    expect(await readFile(join(root, "etc/hostname"), "utf8")).toBe("box\n");
    expect((await stat(join(root, "etc/hostname"))).mode & 0o7777).toBe(0o640);
    expect((await stat(join(root, "bin/tool"))).mode & 0o7777).toBe(0o4755);
    expect(await readlink(join(root, "bin/link"))).toBe("tool");
    expect((await stat(join(root, "bin/hard"))).ino).toBe((await stat(join(root, "bin/tool"))).ino);
    const ro = await stat(join(root, "ro"));
    expect(ro.mode & 0o7777).toBe(0o555);
    expect(ro.mtimeMs).toBe(1_600_000_000_000);
    expect((await stat(join(root, "etc/hostname"))).mtimeMs).toBe(1_700_000_000_000);
  });

  it.each([true, false])("decodes zstd streamed (system zstd preferred: %s) and refuses a corrupt one", async (preferProcess) => {
    const { execa } = await import("execa");
    const { decompressor } = await import("../../../src/image/compression.js");
    const { pipeline } = await import("node:stream/promises");
    const { Writable } = await import("node:stream");
    const plain = Buffer.from((await import("node:crypto")).randomBytes(200_000).toString("hex"));
    const zst = Buffer.from((await execa("zstd", ["-q", "-c"], { input: plain, encoding: "buffer" })).stdout);
    const out: Buffer[] = [];
    const sink = () => new Writable({ write: (c, _e, cb) => (out.push(c as Buffer), cb()) });
    await pipeline(Readable.from([zst.subarray(0, 1000), zst.subarray(1000)]), decompressor("zstd", { preferProcess }), sink());
    expect(Buffer.concat(out).equals(plain)).toBe(true);
    const corrupt = Buffer.from(zst);
    corrupt.fill(0x33, 20, 2000);
    const error = await pipeline(Readable.from([corrupt]), decompressor("zstd", { preferProcess }), sink()).catch((e: unknown) => e);
    expect(isBerthError(error) && error.code).toBe("BERTH_LAYER_INVALID");
  });

  it("unpacks a zstd layer", async () => {
    const { execa } = await import("execa");
    const tar = await makeTar([{ name: "z/file", content: "zstd!".repeat(1000) }]);
    const { stdout } = await execa("zstd", ["-q", "-c"], { input: tar, encoding: "buffer" });
    const zst = Buffer.from(stdout);
    const result = await unpack(zst, { compression: "zstd", expectedDiffId: sha256(tar) });
    expect(result.diffId).toBe(sha256(tar));
    expect(await readFile(join(root, "z/file"), "utf8")).toBe("zstd!".repeat(1000));
  });

  it("a later entry replaces an earlier one, a directory over a directory merges", async () => {
    const tar = await makeTar([
      { name: "a/x", content: "1" },
      { name: "a", type: "directory", mode: 0o700 },
      { name: "f", content: "old" },
      { name: "f", type: "symlink", linkname: "a/x" },
    ]);
    await unpack(tar);
    expect(await readFile(join(root, "a/x"), "utf8")).toBe("1");
    expect((await lstat(join(root, "f"))).isSymbolicLink()).toBe(true);
  });

  it("a directory replaced by a symlink is resolved anew for the entries after it", async () => {
    // The native extractor caches the last parent directory; a replacement must drop it.
    const tar = await makeTar([
      { name: "a/b/c1", content: "1" },
      { name: "a/b", type: "symlink", linkname: "../z" },
      { name: "a/b/c2", content: "2" },
      { name: "y", type: "directory", mode: 0o755 },
      { name: "y/f", content: "old" },
      { name: "y", content: "now a file" },
    ]);
    await unpack(tar);
    expect((await lstat(join(root, "a/b"))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(root, "z/c2"), "utf8")).toBe("2");
    await expect(lstat(join(root, "z/c1"))).rejects.toThrow();
    expect(await readFile(join(root, "y"), "utf8")).toBe("now a file");
  });

  it("keeps read-only directories' modes while still filling them, and their mtimes", async () => {
    const mtime = new Date("2020-02-02T00:00:00Z");
    const tar = await makeTar([
      { name: "ro", type: "directory", mode: 0o555, mtime },
      { name: "ro/sub", type: "directory", mode: 0o500, mtime },
      { name: "ro/sub/f", content: "inside", mode: 0o444, mtime },
    ]);
    await unpack(tar);
    const ro = await stat(join(root, "ro"));
    expect([ro.mode & 0o7777, ro.mtime.getTime()]).toEqual([0o555, mtime.getTime()]);
    expect((await stat(join(root, "ro/sub"))).mode & 0o7777).toBe(0o500);
    expect(await readFile(join(root, "ro/sub/f"), "utf8")).toBe("inside");
  });

  it("confines absolute entry paths to the root, as Docker does", async () => {
    await unpack(await makeTar([{ name: "/etc/confined", content: "x" }]));
    expect(await readFile(join(root, "etc/confined"), "utf8")).toBe("x");
  });

  it("refuses an entry that climbs out with ..", async () => {
    await expectCode(unpack(await makeTar([{ name: "../outside/evil", content: "x" }])), "BERTH_PATH_ESCAPE");
    await outsideIsEmpty();
  });

  it("never writes through a symlink in the layer that points outside (absolute)", async () => {
    const tar = await makeTar([
      { name: "esc", type: "symlink", linkname: outside },
      { name: "esc/evil", content: "x" },
    ]);
    await unpack(tar);
    await outsideIsEmpty();
    expect(await readFile(join(root, outside, "evil"), "utf8")).toBe("x");
  });

  it("never writes through a relative symlink that climbs out", async () => {
    const tar = await makeTar([
      { name: "esc", type: "symlink", linkname: "../../../../../../../../" + outside.slice(1) },
      { name: "esc/evil", content: "x" },
    ]);
    await unpack(tar);
    await outsideIsEmpty();
  });

  it("does not follow a symlink when the entry itself names it", async () => {
    const tar = await makeTar([
      { name: "victim", type: "symlink", linkname: join(outside, "target") },
      { name: "victim", content: "replaced" },
    ]);
    await writeFile(join(outside, "target"), "safe");
    await unpack(tar);
    expect(await readFile(join(outside, "target"), "utf8")).toBe("safe");
    expect((await lstat(join(root, "victim"))).isFile()).toBe(true);
  });

  it("refuses a hard link to a file outside the layer", async () => {
    await writeFile(join(outside, "secret"), "s");
    const tar = await makeTar([{ name: "h", type: "link", linkname: "../outside/secret" }]);
    await expectCode(unpack(tar), "BERTH_PATH_ESCAPE");
  });

  it("confines a hard link through an absolute path to inside the layer", async () => {
    await writeFile(join(outside, "secret"), "s");
    const tar = await makeTar([{ name: "h", type: "link", linkname: join(outside, "secret") }]);
    await expectCode(unpack(tar), "BERTH_LAYER_INVALID");
    expect((await stat(join(outside, "secret"))).nlink).toBe(1);
  });

  it("refuses a hard link through a symlink pointing outside", async () => {
    await writeFile(join(outside, "secret"), "s");
    const tar = await makeTar([
      { name: "s", type: "symlink", linkname: outside },
      { name: "h", type: "link", linkname: "s/secret" },
    ]);
    await expect(unpack(tar)).rejects.toSatisfy(isBerthError);
    expect((await stat(join(outside, "secret"))).nlink).toBe(1);
  });

  it("refuses a PAX header larger than the cap before buffering it", async () => {
    // A 2 MiB PAX record: over the 1 MiB cap; the guard fails on the header block alone.
    const header = Buffer.alloc(512);
    header.write("PaxHeaders/huge", 0);
    header.write("0000644\0", 100);
    header.write("0000000\0", 108);
    header.write("0000000\0", 116);
    header.write((1024 * 1024 * 1024).toString(8).padStart(11, "0") + "\0", 124);
    header.write("00000000000\0", 136);
    header.write("x", 156);
    header.write("ustar\0", 257);
    header.write("00", 263);
    header.write("        ", 148);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    async function* huge() {
      yield header;
      // Would be 1 GiB of PAX data; the guard must stop long before.
      for (let i = 0; i < 4096; i++) yield Buffer.alloc(256 * 1024, 0x61);
    }
    await expectCode(unpackLayer(Readable.from(huge()), { dest: root, compression: "none", privileged: false, extractor }), "BERTH_LAYER_INVALID");
  });

  it("fails with BERTH_DIGEST_MISMATCH when the diff_id differs", async () => {
    const tar = await makeTar([{ name: "f", content: "x" }]);
    await expectCode(unpack(tar, { expectedDiffId: sha256("other") }), "BERTH_DIGEST_MISMATCH");
  });

  it("fails with BERTH_DIGEST_MISMATCH when the blob digest differs", async () => {
    const tar = await makeTar([{ name: "f", content: "x" }]);
    await expectCode(unpack(tar, { expectedDigest: sha256("other") }), "BERTH_DIGEST_MISMATCH");
  });

  it("fails with BERTH_LAYER_INVALID on a corrupt gzip stream", async () => {
    const gz = gzipSync(await makeTar([{ name: "f", content: "x".repeat(10000) }]));
    gz.fill(0x55, 20, 60);
    await expectCode(unpack(gz, { compression: "gzip" }), "BERTH_LAYER_INVALID");
  });

  it("fails on a truncated gzip stream", async () => {
    const gz = gzipSync(await makeTar([{ name: "f", content: "y".repeat(100000) }]));
    const error = await unpack(gz.subarray(0, gz.length / 2), { compression: "gzip" }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_LAYER_INVALID") || hasErrorCode(error, "BERTH_DOWNLOAD_TRUNCATED")).toBe(true);
  });

  it("keeps xattrs from PAX SCHILY.xattr records as raw bytes", async () => {
    // user.* xattrs need no privilege; binary bytes must survive (tar-stream alone would mangle them).
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80]);
    const tar = await makeTar([{ name: "f", content: "x", pax: { "SCHILY.xattr.user.test": value.toString("latin1") } }]);
    // tar-stream encodes pax values as UTF-8; write the record by hand instead to get raw bytes.
    const raw = await rawPaxTar("f", "user.test", value);
    await unpack(raw);
    const { execa } = await import("execa");
    const { stdout } = await execa("getfattr", ["--only-values", "-n", "user.test", join(root, "f")], { encoding: "buffer" });
    expect(Buffer.from(stdout)).toEqual(value);
    expect(tar.length).toBeGreaterThan(0);
  });
});

/** A tar with one file preceded by a PAX header holding `SCHILY.xattr.<name>` as raw bytes. */
async function rawPaxTar(name: string, xattr: string, value: Buffer): Promise<Buffer> {
  const key = Buffer.from(`SCHILY.xattr.${xattr}=`);
  let len = key.length + value.length + 2;
  len += String(len).length;
  if (String(len).length !== String(len - String(len).length).length) len++;
  const record = Buffer.concat([Buffer.from(`${len} `), key, value, Buffer.from("\n")]);
  const pax = ustarHeader("PaxHeaders/" + name, record.length, "x", { mtime: 1_700_790_272 });
  const body = Buffer.concat([record, Buffer.alloc((512 - (record.length % 512)) % 512)]);
  const file = ustarHeader(name, 1, "0", { mtime: 1_700_790_272 });
  const content = Buffer.concat([Buffer.from("x"), Buffer.alloc(511)]);
  return Buffer.concat([pax, body, file, content, Buffer.alloc(1024)]);
}
