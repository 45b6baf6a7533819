// Hashing a COPY source for the build cache: a 100 MB, 10 000-file context (100 directories
// of 100 files of 10 KiB), as `COPY . /app` would select it. Target: ≤ 1 s (issue 6).
// Measured: walking the context, hashing with no digest cache (first build), and hashing with
// the persistent (path, inode, size, mtime, ctime) → digest cache (a rebuild).
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { FileHashCache, hashCopySources, resolveCopySources } from "../src/build/context-hash.js";
import { walkContext } from "../src/build/dockerignore.js";
import { summary, time } from "./stats.js";

const directories = 100;
const filesPerDirectory = 100;
const fileSize = 10 * 1024;
const rounds = 5;

export default async function contextHashBench(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "berth-bench-context-"));
  try {
    const ctx = join(root, "ctx");
    const chunk = randomBytes(fileSize * 4);
    for (let d = 0; d < directories; d++) {
      const dir = join(ctx, `dir-${d}`);
      await mkdir(dir, { recursive: true });
      await Promise.all(
        Array.from({ length: filesPerDirectory }, (_, f) => {
          const offset = (d * filesPerDirectory + f) % (fileSize * 3);
          const content = Buffer.concat([chunk.subarray(offset, offset + fileSize - 8), Buffer.from(String(d * 1000 + f).padStart(8, "0"))]);
          return writeFile(join(dir, `file-${f}.bin`), content);
        }),
      );
    }
    console.log(`  context: ${directories * filesPerDirectory} files, ${((directories * filesPerDirectory * fileSize) / 1e6).toFixed(0)} MB (page cache warm)`);

    console.log(`  load average: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${cpus().length} CPUs)`);
    const walk: number[] = [];
    for (let i = 0; i < rounds; i++) walk.push(await time(() => walkContext(ctx, [])));
    console.log(`  walk the context:                    ${summary(walk)}`);

    let digest = "";
    const cold: number[] = [];
    for (let i = 0; i < rounds; i++) {
      cold.push(
        await time(async () => {
          digest = await hashCopySources(await resolveCopySources(ctx, ["."]));
        }),
      );
    }
    console.log(`  resolve + hash, no digest cache:     ${summary(cold)}   target ≤ 1000 ms`);

    // Digests of files changed in the last 2 s are not cached (their timestamps could still be
    // shared with a later write); wait that out as a real rebuild would have.
    await sleep(2100);
    const cacheFile = join(root, "file-hash-cache.json");
    const seed = await new FileHashCache(cacheFile).load();
    await hashCopySources(await resolveCopySources(ctx, ["."]), { cache: seed });
    await seed.save();
    const warm: number[] = [];
    for (let i = 0; i < rounds; i++) {
      warm.push(
        await time(async () => {
          const cache = await new FileHashCache(cacheFile).load();
          const again = await hashCopySources(await resolveCopySources(ctx, ["."]), { cache });
          if (again !== digest) throw new Error("the cached digest differs from the uncached one");
        }),
      );
    }
    console.log(`  resolve + hash, with digest cache:   ${summary(warm)}`);
    console.log(`  ratio cold/target: ${(Number(cold.sort((a, b) => a - b)[Math.floor(rounds / 2)]) / 1000).toFixed(2)}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await contextHashBench();
