import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, stateRoot, writeFileAtomic } from "../common/index.js";
import type { LayerRecord } from "../image/image-record.js";

/**
 * The persistent build cache: one small JSON record per filesystem step, named by the step's
 * cache key, under `<state root>/build-cache/`. A record says which layer the step produced
 * and when, so a hit reuses the layer (already in the image store) without running anything.
 * Records are written atomically, so concurrent builds in several processes at worst both
 * run a step and the last writer's equivalent record wins.
 */

/** What a cached step produced. */
export interface BuildCacheRecord {
  /** The step's cache key (`sha256:<hex>`). */
  key: string;
  /** The layer, as the image store records it. */
  layer: LayerRecord;
  /** Bytes of the unpacked layer. */
  unpackedSize: number;
  /** When the step first ran (its history entry's `created`, kept so cached rebuilds give the same image). */
  created: string;
}

export class BuildCache {
  readonly dir: string;

  constructor(root: string = stateRoot()) {
    this.dir = join(root, "build-cache");
  }

  #path(key: string): string {
    const hex = key.replace(/^sha256:/, "");
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid build cache key ${key}`, { key });
    return join(this.dir, `${hex}.json`);
  }

  /** The record of `key`, or undefined when the step never ran or its record is unreadable. */
  async get(key: string): Promise<BuildCacheRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.#path(key), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new BerthError("BERTH_IO", `cannot read the build cache record of ${key}`, { key, cause: error });
    }
    try {
      const record = JSON.parse(text) as BuildCacheRecord;
      // A record from another key (a renamed file) or a truncated one is a miss, not an error:
      // the step runs again and rewrites it.
      return record.key === key && record.layer?.chainId ? record : undefined;
    } catch {
      return undefined;
    }
  }

  async put(record: BuildCacheRecord): Promise<void> {
    try {
      await writeFileAtomic(this.#path(record.key), JSON.stringify(record));
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot write the build cache record of ${record.key}`, { key: record.key, cause: error });
    }
  }
}
