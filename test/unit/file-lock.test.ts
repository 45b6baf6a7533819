import { mkdtemp, writeFile, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireFileLock, hasErrorCode, withFileLock, writeFileAtomic } from "../../src/common/index.js";

describe("file lock", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-lock-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("serialises critical sections", async () => {
    const dir = await tempDir();
    const lockPath = join(dir, "lock");
    const counter = join(dir, "n");
    await writeFile(counter, "0");
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withFileLock(lockPath, async () => {
          const n = Number(await readFile(counter, "utf8"));
          await new Promise((r) => setTimeout(r, 1));
          await writeFileAtomic(counter, String(n + 1), { fsync: false });
        }),
      ),
    );
    expect(await readFile(counter, "utf8")).toBe("20");
  });

  it("breaks a lock whose owner died", async () => {
    const dir = await tempDir();
    const lockPath = join(dir, "lock");
    // pid 2^22+1 is above pid_max's largest value, so it can be no live process.
    await writeFile(lockPath, "4194305 1\n");
    const lock = await acquireFileLock(lockPath, { timeout: 2000 });
    await lock.release();
  });

  it("times out with BERTH_LOCK_TIMEOUT while a live owner holds it", async () => {
    const dir = await tempDir();
    const lockPath = join(dir, "lock");
    const held = await acquireFileLock(lockPath);
    const error = await acquireFileLock(lockPath, { timeout: 50 }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_LOCK_TIMEOUT")).toBe(true);
    await held.release();
  });
});
