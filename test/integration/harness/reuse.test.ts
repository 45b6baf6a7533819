import { execaNode } from "execa";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findOrCreateReusable, reuseHash } from "../../../src/harness/reuse.js";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const child = fileURLToPath(new URL("./fixtures/reuse-child.ts", import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await makeTempDir("berth-reuse-");
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe("reuse across processes", () => {
  it("4 parallel processes asking for the same options share one container", async () => {
    const records = join(dir, "records");
    const locks = join(dir, "locks");
    await mkdir(records, { recursive: true });
    const workers = Array.from({ length: 4 }, () => execaNode(child, [records, locks], { nodeOptions: ["--import", "tsx"], timeout: 30_000 }));
    const results = (await Promise.all(workers)).map((r) => JSON.parse(r.stdout) as { id: string; reused: boolean });
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => !r.reused)).toHaveLength(1);
    expect(await readdir(records)).toHaveLength(1);
    // No lock is left behind.
    expect(await readdir(locks)).toEqual([]);
  });

  it("wraps a failed creation in BERTH_REUSE_FAILED and releases the lock", async () => {
    const locks = join(dir, "locks-fail");
    const hash = reuseHash({ image: "x" });
    const failing = findOrCreateReusable({
      hash,
      lockDir: locks,
      finder: { findRunning: async () => undefined },
      create: async () => {
        throw new Error("start failed");
      },
    });
    await expect(failing).rejects.toSatisfy((e: unknown) => hasErrorCode(e, "BERTH_REUSE_FAILED") && (e as Error).cause instanceof Error);
    const again = await findOrCreateReusable({ hash, lockDir: locks, finder: { findRunning: async () => "found" }, create: async () => "new" });
    expect(again).toEqual({ container: "found", reused: true });
  });
});
