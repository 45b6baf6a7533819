// `berth-runtime unpack --gzip|--zstd`: the C side decompresses and computes both digests
// (native/src/unpack-input.c, native/src/sha256.c). These tests hold its SHA-256 against the
// system's sha256sum on random data, with the SHA extensions and with the portable code, and
// its decompression against edge cases of real streams (concatenated members and frames,
// trailing bytes, truncation, corruption). The rules every extractor shares are in
// layer-unpack.test.ts, which runs this path as its "native" extractor.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/berth-error.js";
import { unpackLayer } from "../../../src/image/layer-unpack.js";
import { nativeDecompresses, nativeUnpacker } from "../../../src/image/native-unpacker.js";
import { makeTar, sha256, tempDirPerTest } from "./fixtures.js";

const binary = await nativeUnpacker({ ...process.env, BERTH_UNPACKER: "" });
const capable = binary !== null && nativeDecompresses(binary, {});
const hasZstd = spawnSync("zstd", ["--version"]).status === 0;

const tmp = tempDirPerTest("berth-native-stream-");

/** sha256sum's verdict on a file, as `sha256:HEX`. */
function sha256sum(path: string): string {
  return `sha256:${execFileSync("sha256sum", [path], { encoding: "utf8" }).slice(0, 64)}`;
}

/** Runs `berth-runtime unpack` on `input` into a fresh directory. */
function runUnpack(input: Buffer, args: string[], env: NodeJS.ProcessEnv = {}) {
  const dest = join(tmp.path, `d${randomBytes(4).toString("hex")}`);
  execFileSync("mkdir", [dest]);
  const r = spawnSync(binary!, ["unpack", "--unprivileged", ...args, dest], { input, env: { ...process.env, ...env }, maxBuffer: 1 << 20 });
  const out = r.status === 0 ? (JSON.parse(r.stdout.toString()) as { digest: string; diffId: string; size: number; unpackedSize: number }) : undefined;
  return { status: r.status, stderr: r.stderr.toString(), out, dest };
}

/** A tar of random files whose sizes sit around SHA-256's block and padding boundaries. */
async function randomTar(): Promise<Buffer> {
  const sizes = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 65_537, 3_000_001];
  return makeTar(sizes.map((n, i) => ({ name: `f${i}`, content: randomBytes(n) })));
}

describe.skipIf(!capable)("berth-runtime unpack decompressing and hashing (skipped when berth-runtime is not built)", () => {
  // The portable run also keeps decompression on the extracting thread (BR_UNPACK_THREADS=0),
  // so both input paths are covered.
  for (const sha of ["SHA extensions when the CPU has them", "portable code on one thread"] as const) {
    it(`computes the blob digest and diff_id as sha256sum does, with the ${sha}`, async () => {
      const env = sha === "portable code on one thread" ? { BR_SHA256_PORTABLE: "1", BR_UNPACK_THREADS: "0" } : {};
      const tar = await randomTar();
      const gz = gzipSync(tar, { level: 1 });
      await writeFile(join(tmp.path, "l.tar"), tar);
      await writeFile(join(tmp.path, "l.tgz"), gz);
      const diffId = sha256sum(join(tmp.path, "l.tar"));
      const plain = runUnpack(tar, [], env);
      expect(plain.out).toMatchObject({ digest: diffId, diffId, size: tar.length });
      const zipped = runUnpack(gz, ["--gzip"], env);
      expect(zipped.out).toMatchObject({ digest: sha256sum(join(tmp.path, "l.tgz")), diffId, size: gz.length });
      // Odd lengths of random data (not only whole tar blocks), hashed as blob digests.
      for (const n of [1, 63, 64, 65, 999_999]) {
        const junk = Buffer.concat([gz, randomBytes(n).fill(0, 0, 1)]);
        await writeFile(join(tmp.path, "j"), junk);
        expect(runUnpack(junk, ["--gzip"], env).out).toMatchObject({ digest: sha256sum(join(tmp.path, "j")), diffId, size: junk.length });
      }
      // Buffer.equals: a deep toEqual walks 3 MB byte by byte.
      expect((await readFile(join(zipped.dest, "f11"))).equals(await readFile(join(plain.dest, "f11")))).toBe(true);
    });
  }

  it("reads concatenated gzip members as one stream and hashes trailing bytes into the blob digest", async () => {
    const tar = await randomTar();
    const joined = Buffer.concat([gzipSync(tar.subarray(0, 70_000)), gzipSync(tar.subarray(70_000)), Buffer.from("\0\0trailer")]);
    const r = runUnpack(joined, ["--gzip", "--blob-digest", sha256(joined), "--diff-id", sha256(tar)]);
    expect(r.status).toBe(0);
    expect(r.out).toMatchObject({ digest: sha256(joined), diffId: sha256(tar) });
  });

  it.skipIf(!hasZstd)("reads several zstd frames as one stream (skipped without the zstd tool)", async () => {
    const tar = await randomTar();
    const zst = (b: Buffer) => execFileSync("zstd", ["-q", "-c"], { input: b, maxBuffer: 64 << 20 });
    const joined = Buffer.concat([zst(tar.subarray(0, 70_000)), zst(tar.subarray(70_000))]);
    const r = runUnpack(joined, ["--zstd", "--diff-id", sha256(tar)]);
    expect(r.out).toMatchObject({ digest: sha256(joined), diffId: sha256(tar) });
  });

  it.skipIf(!hasZstd)("exits 4 on a truncated zstd stream and 2 on a corrupt one (skipped without the zstd tool)", async () => {
    const zst = execFileSync("zstd", ["-q", "-c"], { input: await randomTar(), maxBuffer: 64 << 20 });
    expect(runUnpack(zst.subarray(0, zst.length - 3), ["--zstd"]).status).toBe(4);
    const bad = Buffer.from(zst);
    const middle = Math.floor(bad.length / 2);
    bad[middle] = bad[middle]! ^ 0xff;
    expect(runUnpack(bad, ["--zstd"]).status).toBe(2);
  });

  it("exits 4 on an empty gzip stream and one cut inside its trailer, 2 on one that is not gzip", async () => {
    const gz = gzipSync(await makeTar([{ name: "f", content: "x" }]));
    expect(runUnpack(Buffer.alloc(0), ["--gzip"]).status).toBe(4);
    expect(runUnpack(gz.subarray(0, gz.length - 2), ["--gzip"]).status).toBe(4);
    expect(runUnpack(await makeTar([{ name: "f", content: "x" }]), ["--gzip"]).status).toBe(2);
  });

  it("exits 5 on a blob digest and 6 on a diff_id mismatch, naming both digests", async () => {
    const tar = await makeTar([{ name: "f", content: "x" }]);
    const gz = gzipSync(tar);
    const blob = runUnpack(gz, ["--gzip", "--blob-digest", sha256("other"), "--diff-id", sha256(tar)]);
    expect(blob.status).toBe(5);
    expect(blob.stderr).toContain(`layer digest is ${sha256(gz)}, expected ${sha256("other")}`);
    const diff = runUnpack(gz, ["--gzip", "--blob-digest", sha256(gz), "--diff-id", sha256("other")]);
    expect(diff.status).toBe(6);
    expect(diff.stderr).toContain(`layer diff_id is ${sha256(tar)}`);
  });

  it("through unpackLayer: a diff_id mismatch is BERTH_DIGEST_MISMATCH with expected and actual", async () => {
    const tar = await makeTar([{ name: "f", content: "z".repeat(5000) }]);
    const error = await unpackLayer(Readable.from([gzipSync(tar)]), {
      dest: join(tmp.path, "root"),
      compression: "gzip",
      expectedDiffId: sha256("other"),
      extractor: "native",
      privileged: false,
    }).catch((e: unknown) => e);
    expect(isBerthError(error) && error.code).toBe("BERTH_DIGEST_MISMATCH");
    expect(isBerthError(error) && error.context).toMatchObject({ expected: sha256("other"), actual: sha256(tar) });
  });

  it("--blob-out stores the bytes as given (trailing bytes included) and removes the file when a digest differs", async () => {
    const tar = await randomTar();
    const gz = Buffer.concat([gzipSync(tar, { level: 1 }), Buffer.from("\0\0")]);
    const kept = join(tmp.path, "kept.blob");
    const ok = runUnpack(gz, ["--gzip", "--blob-digest", sha256(gz), "--diff-id", sha256(tar), "--blob-out", kept]);
    expect(ok.status).toBe(0);
    expect((await readFile(kept)).equals(gz)).toBe(true);
    expect((await stat(kept)).mode & 0o777).toBe(0o644);

    for (const [flag, status] of [["--blob-digest", 5], ["--diff-id", 6]] as const) {
      const refused = join(tmp.path, `refused${status}.blob`);
      const r = runUnpack(gz, ["--gzip", flag, sha256("other"), "--blob-out", refused]);
      expect(r.status).toBe(status);
      expect(existsSync(refused)).toBe(false);
    }
    const plain = join(tmp.path, "plain.blob");
    expect(runUnpack(tar, ["--blob-digest", sha256(tar), "--diff-id", sha256(tar), "--blob-out", plain]).status).toBe(0);
    expect((await readFile(plain)).equals(tar)).toBe(true);
    const truncated = join(tmp.path, "truncated.blob");
    expect(runUnpack(gz.subarray(0, 1000), ["--gzip", "--blob-out", truncated]).status).toBe(4);
    expect(existsSync(truncated)).toBe(false);
  });

  it("--blob-out never writes over a file that is there (exit 1, the file untouched)", async () => {
    const there = join(tmp.path, "there.blob");
    await writeFile(there, "someone else's");
    const r = runUnpack(gzipSync(await makeTar([{ name: "f", content: "x" }])), ["--gzip", "--blob-out", there]);
    expect(r.status).toBe(1);
    expect(await readFile(there, "utf8")).toBe("someone else's");
  });

  // Each way of splitting the work between Node and C stores the same blob and refuses the same
  // bad layer without leaving its blob file.
  for (const mode of ["native", "native-no-blob", "native-node-hash", "native-tar", "js"] as const) {
    it(`through unpackLayer with BERTH_UNPACKER=${mode}: the blob file holds the bytes as given, and is gone after a mismatch`, async () => {
      const tar = await randomTar();
      const gz = gzipSync(tar, { level: 1 });
      const saved = process.env.BERTH_UNPACKER;
      process.env.BERTH_UNPACKER = mode;
      try {
        const extractor = mode === "js" ? "js" : "native";
        const blobFile = join(tmp.path, "ok.blob");
        const r = await unpackLayer(Readable.from([gz]), {
          dest: join(tmp.path, "ok"),
          compression: "gzip",
          expectedDigest: sha256(gz),
          expectedDiffId: sha256(tar),
          blobFile,
          extractor,
          privileged: false,
        });
        expect(r).toMatchObject({ digest: sha256(gz), diffId: sha256(tar), size: gz.length });
        expect((await readFile(blobFile)).equals(gz)).toBe(true);

        const refused = join(tmp.path, "refused.blob");
        const error = await unpackLayer(Readable.from([gz]), {
          dest: join(tmp.path, "refused"),
          compression: "gzip",
          expectedDiffId: sha256("other"),
          blobFile: refused,
          extractor,
          privileged: false,
        }).catch((e: unknown) => e);
        expect(isBerthError(error) && error.code).toBe("BERTH_DIGEST_MISMATCH");
        expect(existsSync(refused)).toBe(false);
      } finally {
        if (saved === undefined) delete process.env.BERTH_UNPACKER;
        else process.env.BERTH_UNPACKER = saved;
      }
    });
  }

  it("BERTH_UNPACKER=native-tar keeps Node decompressing and hashing, with the same result", async () => {
    const tar = await randomTar();
    const gz = gzipSync(tar, { level: 1 });
    const saved = process.env.BERTH_UNPACKER;
    process.env.BERTH_UNPACKER = "native-tar";
    try {
      expect(nativeDecompresses(binary!)).toBe(false);
      const r = await unpackLayer(Readable.from([gz]), { dest: join(tmp.path, "old"), compression: "gzip", extractor: "native", privileged: false });
      expect(r).toMatchObject({ digest: sha256(gz), diffId: sha256(tar), size: gz.length });
    } finally {
      if (saved === undefined) delete process.env.BERTH_UNPACKER;
      else process.env.BERTH_UNPACKER = saved;
    }
    const r = await unpackLayer(Readable.from([gz]), { dest: join(tmp.path, "new"), compression: "gzip", extractor: "native", privileged: false });
    expect(r).toMatchObject({ digest: sha256(gz), diffId: sha256(tar), size: gz.length });
    expect((await readdir(join(tmp.path, "new"))).sort()).toEqual((await readdir(join(tmp.path, "old"))).sort());
  });
});
