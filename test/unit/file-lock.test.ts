import { existsSync, readdirSync, statSync } from "node:fs";
import { link, mkdtemp, writeFile, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
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

  /** 20 racing read-wait-write increments under the lock at `lockPath`; what the counter ends at. */
  const increments = async (lockPath: string, ownerLink: (i: number) => boolean) => {
    const counter = `${lockPath}.n`;
    await writeFile(counter, "0");
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        withFileLock(
          lockPath,
          async () => {
            const n = Number(await readFile(counter, "utf8"));
            await new Promise((r) => setTimeout(r, 1));
            await writeFileAtomic(counter, String(n + 1), { fsync: false });
          },
          { ownerLink: ownerLink(i) },
        ),
      ),
    );
    return readFile(counter, "utf8");
  };

  it("serialises critical sections", async () => {
    expect(await increments(join(await tempDir(), "lock"), () => false)).toBe("20");
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

  describe("taken as a link to the process's owner file (ownerLink)", () => {
    const owners = (dir: string) => readdirSync(dir).filter((n) => n.startsWith(".owner-"));

    it("makes no inode per lock: every lock a process holds in a directory is its one owner file", async () => {
      const dir = await tempDir();
      const a = await acquireFileLock(join(dir, "a.lock"), { ownerLink: true });
      const b = await acquireFileLock(join(dir, "b.lock"), { ownerLink: true });
      const [owner] = owners(dir);
      expect(owner).toBe(`.owner-${(await readFile(join(dir, "a.lock"), "utf8")).trim().replace(" ", "-")}`);
      expect(owner).toMatch(new RegExp(`^\\.owner-${process.pid}-\\d+$`));
      const ino = statSync(join(dir, owner!)).ino;
      expect(statSync(join(dir, "a.lock")).ino).toBe(ino);
      expect(statSync(join(dir, "b.lock")).ino).toBe(ino);
      expect(statSync(join(dir, owner!)).nlink).toBe(3);
      await a.release();
      await b.release();
      expect(readdirSync(dir)).toEqual([owner]);
      // Taken again: the same file, no new one.
      await withFileLock(join(dir, "a.lock"), async () => expect(statSync(join(dir, "a.lock")).ino).toBe(ino), { ownerLink: true });
    });

    it("excludes as a created lock does, and times out against a live holder", async () => {
      const lockPath = join(await tempDir(), "lock");
      // Both kinds against one path: a link and a created file exclude each other.
      expect(await increments(lockPath, (i) => i % 2 === 0)).toBe("20");
      const held = await acquireFileLock(lockPath, { ownerLink: true });
      const error = await acquireFileLock(lockPath, { timeout: 50 }).catch((e: unknown) => e);
      expect(hasErrorCode(error, "BERTH_LOCK_TIMEOUT")).toBe(true);
      await held.release();
    });

    it("breaks a dead owner's link and removes its owner file", async () => {
      const dir = await tempDir();
      // pid 2^22+1 is above pid_max's largest value, so it can be no live process.
      const dead = join(dir, ".owner-4194305-1");
      await writeFile(dead, "4194305 1\n");
      await link(dead, join(dir, "lock"));
      const lock = await acquireFileLock(join(dir, "lock"), { ownerLink: true, timeout: 2000 });
      expect(existsSync(dead)).toBe(false);
      expect(owners(dir)).toEqual([`.owner-${(await readFile(join(dir, "lock"), "utf8")).trim().replace(" ", "-")}`]);
      await lock.release();
    });

    it("leaves no owner file when the process exits, and sweeps a SIGKILLed process's", async () => {
      const dir = await tempDir();
      const module = new URL("../../src/common/file-lock.ts", import.meta.url).pathname;
      // node itself (not npx): a SIGKILL must reach the process that holds the file.
      const script = `import(${JSON.stringify(module)}).then(async ({ acquireFileLock }) => {
          const lock = await acquireFileLock(${JSON.stringify(join(dir, "x.lock"))}, { ownerLink: true });
          await lock.release();
          if (process.argv.includes("kill")) { console.log("held"); setInterval(() => {}, 1000); }
        });`;
      await execa(process.execPath, ["--import", "tsx", "-e", script]);
      expect(readdirSync(dir)).toEqual([]);
      // Killed while running: its owner file stays, until the next process locks here.
      const child = execa(process.execPath, ["--import", "tsx", "-e", script, "kill"], { reject: false });
      await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.toString().includes("held") && resolve()));
      child.kill("SIGKILL");
      await child;
      expect(owners(dir)).toHaveLength(1);
      await withFileLock(join(dir, "y.lock"), async () => {}, { ownerLink: true });
      // The killed process's file is swept; only ours is left.
      expect(owners(dir)).toHaveLength(1);
      expect(owners(dir)[0]).toMatch(new RegExp(`^\\.owner-${process.pid}-\\d+$`));
    }, 30_000);
  });
});
