import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, hasErrorCode } from "../../common/berth-error.js";
import { writeFileAtomic } from "../../common/atomic-file.js";
import { withFileLock } from "../../common/file-lock.js";
import { generateContainerName, validateContainerName } from "../container-config/container-name.js";
import type { ContainerRecord } from "./container-record.js";

const idPattern = /^[a-f0-9]{64}$/;

/**
 * The container records under `<stateRoot>/containers/`: one directory per container
 * (`<id>/config.json` plus its bundle, overlay dirs, log and etc files), a per-container
 * lock in `.locks/<id>.lock`, and the names index `names.json` under `.locks/names.lock`.
 * Locks live outside the container directory so that removing the directory never removes
 * a lock another process waits on.
 */
export class ContainerStore {
  #laidOut = false;

  constructor(readonly root: string) {}

  dir(id: string): string {
    if (!idPattern.test(id)) throw new BerthError("BERTH_CONTAINER_NOT_FOUND", `no such container: ${id}`, { container: id });
    return join(this.root, id);
  }

  logPath(id: string): string {
    return join(this.dir(id), `${id}-json.log`);
  }

  private recordPath(id: string): string {
    return join(this.dir(id), "config.json");
  }

  private lockPath(id: string): string {
    return join(this.root, ".locks", `${id}.lock`);
  }

  private get namesPath(): string {
    return join(this.root, "names.json");
  }

  private get namesLock(): string {
    return join(this.root, ".locks", "names.lock");
  }

  async ensureLayout(): Promise<void> {
    // Once per store object: every lock would otherwise pay a mkdir round trip.
    if (this.#laidOut) return;
    await mkdir(join(this.root, ".locks"), { recursive: true });
    this.#laidOut = true;
  }

  /** Runs `fn` holding the container's lock: every mutation of one container goes through here. */
  async locked<T>(id: string, fn: () => Promise<T>, timeout = 60_000): Promise<T> {
    await this.ensureLayout();
    try {
      return await withFileLock(this.lockPath(id), fn, { timeout });
    } catch (error) {
      // The state root was emptied under this store object: lay it out again, once.
      if (!hasErrorCode(error, "BERTH_IO") || !error.message.startsWith("cannot create lock") || (error.cause as NodeJS.ErrnoException | undefined)?.code !== "ENOENT" || existsSync(join(this.root, ".locks"))) throw error;
      this.#laidOut = false;
      await this.ensureLayout();
      return withFileLock(this.lockPath(id), fn, { timeout });
    }
  }

  async read(id: string): Promise<ContainerRecord | undefined> {
    try {
      // Synchronous, as the record's writes: a thread-pool round trip costs more than the read.
      return JSON.parse(readFileSync(this.recordPath(id), "utf8")) as ContainerRecord;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw new BerthError("BERTH_IO", `cannot read the record of container ${id}`, { container: id, cause: error });
    }
  }

  async write(record: ContainerRecord): Promise<void> {
    try {
      // No fsync: a record torn by a power cut is as stale as the processes it described.
      await writeFileAtomic(this.recordPath(record.id), JSON.stringify(record, null, 1), { fsync: false });
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot write the record of container ${record.id}`, { container: record.id, cause: error });
    }
  }

  /** Every container id with a directory (records being created included). */
  async ids(): Promise<string[]> {
    try {
      return (await readdir(this.root)).filter((n) => idPattern.test(n));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new BerthError("BERTH_IO", `cannot list ${this.root}`, { path: this.root, cause: error });
    }
  }

  /** A new 64-hex id whose directory is created (empty) here, so no other process takes it. */
  async allocate(): Promise<string> {
    await this.ensureLayout();
    for (;;) {
      const id = randomBytes(32).toString("hex");
      try {
        await mkdir(join(this.root, id));
        return id;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
          throw new BerthError("BERTH_IO", `cannot create a container directory in ${this.root}`, { path: this.root, cause: error });
        }
      }
    }
  }

  /**
   * Reserves `name` for `id` (or a generated name when absent). A name held by an id whose
   * directory is gone is stale (a crash between the two) and is taken over.
   */
  async reserveName(id: string, name: string | undefined): Promise<string> {
    if (name !== undefined) validateContainerName(name);
    const wanted = name?.replace(/^\//, "");
    return withFileLock(this.namesLock, async () => {
      const names = await this.readNames();
      const held = async (n: string) => {
        const owner = names[n];
        return owner !== undefined && owner !== id && (await this.exists(owner));
      };
      let chosen = wanted;
      if (chosen === undefined) {
        for (let retry = 0; ; retry++) {
          const candidate = generateContainerName(retry);
          if (!(await held(candidate))) {
            chosen = candidate;
            break;
          }
        }
      } else if (await held(chosen)) {
        const owner = names[chosen]!;
        throw new BerthError(
          "BERTH_CONTAINER_NAME_IN_USE",
          `Conflict. The container name "/${chosen}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`,
          { container: chosen, owner },
        );
      }
      names[chosen] = id;
      await this.writeNames(names);
      return chosen;
    });
  }

  async releaseName(id: string, name: string): Promise<void> {
    await withFileLock(this.namesLock, async () => {
      const names = await this.readNames();
      if (names[name] !== id) return;
      delete names[name];
      await this.writeNames(names);
    });
  }

  /** Resolves a full id, a unique id prefix, or a name (with or without `/`) to an id. */
  async resolve(ref: string): Promise<string> {
    const key = ref.replace(/^\//, "");
    if (idPattern.test(key) && (await this.exists(key))) return key;
    const names = await this.readNames();
    const named = names[key];
    if (named && (await this.exists(named))) return named;
    if (/^[a-f0-9]+$/.test(key)) {
      const matches = (await this.ids()).filter((id) => id.startsWith(key));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `multiple containers match the id prefix ${key}: give more of it`, { container: ref });
      }
    }
    throw new BerthError("BERTH_CONTAINER_NOT_FOUND", `No such container: ${ref}`, { container: ref });
  }

  async exists(id: string): Promise<boolean> {
    return (await this.read(id)) !== undefined || (await this.isAllocated(id));
  }

  private async isAllocated(id: string): Promise<boolean> {
    try {
      return existsSync(this.dir(id));
    } catch {
      return false;
    }
  }

  /**
   * Removes a container's directory: renamed away first so that readers see it either whole
   * or gone, then deleted.
   */
  async removeDir(id: string): Promise<void> {
    const trash = join(this.root, `.trash-${id}-${randomBytes(4).toString("hex")}`);
    try {
      await rename(this.dir(id), trash);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw new BerthError("BERTH_IO", `cannot remove container ${id}`, { container: id, cause: error });
    }
    await rm(trash, { recursive: true, force: true, maxRetries: 3 });
  }

  private async readNames(): Promise<Record<string, string>> {
    try {
      return JSON.parse(readFileSync(this.namesPath, "utf8")) as Record<string, string>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new BerthError("BERTH_IO", `cannot read ${this.namesPath}`, { path: this.namesPath, cause: error });
    }
  }

  private async writeNames(names: Record<string, string>): Promise<void> {
    await writeFileAtomic(this.namesPath, JSON.stringify(names), { fsync: false });
  }
}
