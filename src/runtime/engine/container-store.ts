import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, hasErrorCode } from "../../common/berth-error.js";
import { writeFileAtomic } from "../../common/atomic-file.js";
import { withStateLock } from "../../common/file-lock.js";
import { containerNamePattern, generateContainerName, validateContainerName } from "../container-config/container-name.js";
import type { ContainerRecord } from "./container-record.js";

const idPattern = /^[a-f0-9]{64}$/;

/**
 * The container records under `<stateRoot>/containers/`: one directory per container
 * (`<id>/config.json` plus its bundle, overlay dirs, log and etc files), a per-container
 * lock in `.locks/<id>.lock`, and the names: `names/<name>`, a symbolic link to the id.
 * Locks live outside the container directory so that removing the directory never removes
 * a lock another process waits on.
 *
 * A name is one symlink, made with one `symlink(2)` that fails when the name is taken, and
 * freed with one unlink: no lock and no rewrite of an index (two renames on the state root's
 * disk per container, ~0.5-1 ms each on a busy ext4). Earlier versions kept every name in
 * `names.json` under `.locks/names.lock`: its names are still honoured, and freed from it.
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

  /** Where earlier versions kept the names (see the class comment). */
  private get namesPath(): string {
    return join(this.root, "names.json");
  }

  private get namesDir(): string {
    return join(this.root, "names");
  }

  private get namesLock(): string {
    return join(this.root, ".locks", "names.lock");
  }

  async ensureLayout(): Promise<void> {
    // Once per store object: every lock would otherwise pay a mkdir round trip.
    if (this.#laidOut) return;
    await Promise.all([mkdir(join(this.root, ".locks"), { recursive: true }), mkdir(this.namesDir, { recursive: true })]);
    this.#laidOut = true;
  }

  /** Runs `fn` holding the container's lock: every mutation of one container goes through here. */
  async locked<T>(id: string, fn: () => Promise<T>, timeout = 60_000): Promise<T> {
    await this.ensureLayout();
    try {
      return await withStateLock(this.lockPath(id), fn, { timeout });
    } catch (error) {
      // The state root was emptied under this store object: lay it out again, once.
      if (!hasErrorCode(error, "BERTH_IO") || !error.message.startsWith("cannot create lock") || (error.cause as NodeJS.ErrnoException | undefined)?.code !== "ENOENT" || existsSync(join(this.root, ".locks"))) throw error;
      this.#laidOut = false;
      await this.ensureLayout();
      return withStateLock(this.lockPath(id), fn, { timeout });
    }
  }

  async read(id: string): Promise<ContainerRecord | undefined> {
    try {
      // Synchronous, as the record's writes: a thread-pool round trip costs more than the read.
      return JSON.parse(readFileSync(this.recordPath(id), "utf8")) as ContainerRecord;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      // The first version being written in place (writeFirst): as a directory without a record.
      if (error instanceof SyntaxError && this.#isFresh(id)) return undefined;
      throw new BerthError("BERTH_IO", `cannot read the record of container ${id}`, { container: id, cause: error });
    }
  }

  /** Whether the record was written in the last seconds (an unparsable one is then being written). */
  #isFresh(id: string): boolean {
    try {
      return Date.now() - statSync(this.recordPath(id)).mtimeMs < 10_000;
    } catch {
      return false;
    }
  }

  /**
   * Writes a new container's first record, in place: no rename (a journal round trip on a
   * busy ext4), as there is no earlier version for a reader to see instead. A reader that
   * catches it half-written takes it for not written yet (see {@link read}); its container's
   * operations wait on the lock its creator holds. Fails when a record exists.
   */
  async writeFirst(record: ContainerRecord): Promise<void> {
    try {
      writeFileSync(this.recordPath(record.id), JSON.stringify(record, null, 1), { flag: "wx" });
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot write the record of container ${record.id}`, { container: record.id, cause: error });
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
    await this.ensureLayout();
    if (wanted !== undefined) {
      const owner = await this.#claim(wanted, id);
      if (owner === undefined) return wanted;
      throw new BerthError(
        "BERTH_CONTAINER_NAME_IN_USE",
        `Conflict. The container name "/${wanted}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`,
        { container: wanted, owner },
      );
    }
    for (let retry = 0; ; retry++) {
      const candidate = generateContainerName(retry);
      if ((await this.#claim(candidate, id)) === undefined) return candidate;
    }
  }

  /** Claims `name` for `id`: undefined when it is `id`'s now, else the id of its live owner. */
  async #claim(name: string, id: string): Promise<string | undefined> {
    const link = join(this.namesDir, name);
    const legacy = this.#legacyNames()[name];
    if (legacy !== undefined && legacy !== id && (await this.exists(legacy))) return legacy;
    try {
      symlinkSync(id, link);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // The state root was emptied under this store object: lay it out again, once.
      if (code === "ENOENT" && !existsSync(this.namesDir)) {
        this.#laidOut = false;
        await this.ensureLayout();
        return this.#claim(name, id);
      }
      if (code !== "EEXIST") throw nameError(error, name, link);
    }
    const owner = readName(link);
    if (owner === id) return undefined;
    if (owner !== undefined && (await this.exists(owner))) return owner;
    // Stale: its container is gone. Taken over under the lock, so that two takers do not both
    // replace it (the second then finds the first's live id).
    return withStateLock(this.namesLock, async () => {
      const again = readName(link);
      if (again === id) return undefined;
      if (again !== undefined && again !== owner && (await this.exists(again))) return again;
      const tmp = join(this.namesDir, `.tmp-${name}-${randomBytes(4).toString("hex")}`);
      try {
        symlinkSync(id, tmp);
        renameSync(tmp, link);
      } catch (error) {
        rmSync(tmp, { force: true });
        throw nameError(error, name, link);
      }
      return undefined;
    });
  }

  async releaseName(id: string, name: string): Promise<void> {
    const link = join(this.namesDir, name);
    // Only its own: another container may have taken the name over since.
    if (readName(link) === id) {
      try {
        unlinkSync(link);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw nameError(error, name, link);
      }
    }
    if (this.#legacyNames()[name] !== id) return;
    await withStateLock(this.namesLock, async () => {
      const names = this.#legacyNames();
      if (names[name] !== id) return;
      delete names[name];
      await writeFileAtomic(this.namesPath, JSON.stringify(names), { fsync: false });
    });
  }

  /** Resolves a full id, a unique id prefix, or a name (with or without `/`) to an id. */
  async resolve(ref: string): Promise<string> {
    const key = ref.replace(/^\//, "");
    if (idPattern.test(key) && (await this.exists(key))) return key;
    if (containerNamePattern.test(key)) {
      const named = readName(join(this.namesDir, key)) ?? this.#legacyNames()[key];
      if (named && (await this.exists(named))) return named;
    }
    if (/^[a-f0-9]+$/.test(key)) {
      const matches = (await this.ids()).filter((id) => id.startsWith(key));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `multiple containers match the id prefix ${key}: give more of it`, { container: ref });
      }
    }
    throw new BerthError("BERTH_CONTAINER_NOT_FOUND", `No such container: ${ref}`, { container: ref });
  }

  /**
   * Whether the container exists: its directory does (a record lives in it, and a directory
   * without one is a create in progress). One stat: every operation resolves its reference.
   */
  async exists(id: string): Promise<boolean> {
    return this.isAllocated(id);
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

  /** The names an earlier version recorded in `names.json` ({} in a state root without one). */
  #legacyNames(): Record<string, string> {
    try {
      return JSON.parse(readFileSync(this.namesPath, "utf8")) as Record<string, string>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new BerthError("BERTH_IO", `cannot read ${this.namesPath}`, { path: this.namesPath, cause: error });
    }
  }
}

/** The id a name's link points to; undefined when there is no such name. */
function readName(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EINVAL" || code === "ENAMETOOLONG") return undefined;
    throw new BerthError("BERTH_IO", `cannot read the container name ${link}`, { path: link, cause: error });
  }
}

function nameError(error: unknown, name: string, path: string): BerthError {
  if ((error as NodeJS.ErrnoException).code === "ENAMETOOLONG") {
    return new BerthError("BERTH_INVALID_ARGUMENT", `Invalid container name (${name}): too long`, { field: "name", container: name, cause: error });
  }
  return new BerthError("BERTH_IO", `cannot record the container name ${name}`, { container: name, path, cause: error });
}
