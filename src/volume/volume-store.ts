import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { execa } from "execa";
import { syncDirectory } from "../common/atomic-file.js";
import { BerthError, hasErrorCode } from "../common/berth-error.js";
import { withStateLock } from "../common/file-lock.js";
import { logger } from "../common/logger.js";
import { stateRoot } from "../common/paths.js";
import { resolveInRoot } from "../common/safe-path.js";
import { isRootless, removeTree, runInUserNamespace, type RootlessIdMappings } from "../common/user-namespace.js";
import { validateVolumeName } from "./mount-spec.js";

const log = logger("volume");

/** Docker's label marking a volume created without a name (Docker 23+ prunes only these by default). */
export const anonymousVolumeLabel = "com.docker.volume.anonymous";

/** A volume as `docker volume inspect` shows it. */
export interface VolumeInfo {
  Name: string;
  /** Always `local`. */
  Driver: "local";
  /** The host directory mounted into containers (`<root>/<name>/_data`). */
  Mountpoint: string;
  /** RFC 3339 creation time, to the second. */
  CreatedAt: string;
  Labels: Record<string, string>;
  /** Always `local`. */
  Scope: "local";
  /** The driver options (`type`, `device`, `o`), or null when none. */
  Options: Record<string, string> | null;
}

/** Options of {@link VolumeStore.create}. */
export interface CreateVolumeOptions {
  /** The name; a 64-hex-digit anonymous name is generated when absent. @default generated */
  name?: string;
  /** Only `local`. @default "local" */
  driver?: string;
  /** @default {} */
  labels?: Readonly<Record<string, string>>;
  /**
   * The local driver's options, as `docker volume create -o`: `type` and `device` (with
   * `o` for mount options) back the volume by a mount made when a container first uses it
   * (`type=tmpfs,device=tmpfs,o=size=64m`; `type=none,device=/srv/x,o=bind`).
   * @default none: a plain directory
   */
  driverOptions?: Readonly<Record<string, string>>;
  /**
   * What creating an existing name does: Docker returns the existing volume (`"return"`);
   * `"error"` fails with `BERTH_VOLUME_EXISTS` instead.
   * @default "return"
   */
  ifExists?: "return" | "error";
  /**
   * Gives the volume Docker's anonymous label although `name` is set: the engine names a
   * container's anonymous volume before making it, so that the container's record names it
   * from its first write. @default true when `name` is absent, else false
   */
  anonymous?: boolean;
  /**
   * A container to record as a user of the volume (new or existing), as {@link VolumeStore.addUser}
   * does, in the same step: a new volume appears with its user, so no prune sees it unused.
   * @default none
   */
  user?: string;
  /**
   * Fills the volume from this directory when it is empty, as {@link VolumeStore.copyUpIfEmpty}
   * (Docker's copy of the image's content on a container's first mount), in the same step: a
   * new volume is filled before it appears. @default none: nothing is copied
   */
  copyFrom?: string | { rootfs: string; path: string };
  /**
   * Whether a new volume's `meta.json` is flushed to disk (fsync) before create returns. A
   * container's anonymous volume needs it no more than the container's own record, which is
   * not flushed either. @default true
   */
  durable?: boolean;
}

/** Filters of {@link VolumeStore.list}, Docker's `volume ls --filter`. */
export interface VolumeFilters {
  /** Names containing any of these. @default all */
  name?: string | readonly string[];
  /** `key` or `key=value`; all must match. @default all */
  label?: string | readonly string[];
  /** true: only volumes no container uses; false: only used ones. @default all */
  dangling?: boolean;
  /** Only `local` matches anything. @default all */
  driver?: string;
}

/** Options of {@link VolumeStore.prune}. */
export interface PruneVolumesOptions {
  /** Also remove named volumes, not only anonymous ones (Docker's `--all`, `all=true`). @default false */
  all?: boolean;
  /** Only volumes with these labels (`key` or `key=value`). @default any */
  label?: readonly string[];
  /** Only volumes without these labels (`label!=`). @default none */
  labelNot?: readonly string[];
}

/** What {@link VolumeStore.prune} removed. */
export interface PruneVolumesResult {
  volumesDeleted: string[];
  /** Bytes of the removed volumes' data. */
  spaceReclaimed: number;
}

interface VolumeMeta {
  name: string;
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string> | null;
}

/** Options of {@link VolumeStore}. */
export interface VolumeStoreOptions {
  /**
   * Whether containers run rootless (docs/rootless.md): a first copy then runs in the user
   * namespace, so the copied files keep the owners the container sees, and removal falls
   * back to it for files of subordinate ids. @default isRootless()
   */
  rootless?: boolean;
  /** The rootless id mappings. @default rootlessIdMappings() (read when first needed) */
  mappings?: RootlessIdMappings;
}

const validDriverOptions = new Set(["type", "device", "o"]);
/** Where a volume is built (`<prefix><name>`) before one rename makes it appear. */
const stagingPrefix = ".new-";
const volumeNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** How long mount/umount/cp may take before the operation fails. */
const commandTimeout = 120_000;

/**
 * Named and anonymous volumes of the local driver under `<stateRoot>/volumes`: one directory
 * per volume holding `_data` (what containers mount), `meta.json` and `users/<container-id>`
 * records the engine keeps (`create({ user })` or {@link addUser}, {@link release}). Every
 * change happens under a per-volume file lock, and a volume is built whole (meta, first user,
 * data copied from the image) beside its place before one rename makes it appear, so
 * processes sharing the state root see consistent volumes; one rename makes it disappear.
 */
export class VolumeStore {
  readonly #rootless: boolean;
  readonly #mappings: RootlessIdMappings | undefined;
  #laidOut = false;

  /**
   * @param root where volumes live. @default `<stateRoot()>/volumes`
   * @param options rootless operation. @default rootless when not root
   */
  constructor(
    readonly root: string = join(stateRoot(), "volumes"),
    options: VolumeStoreOptions = {},
  ) {
    this.#rootless = options.rootless ?? isRootless();
    this.#mappings = options.mappings;
  }

  /** `rm -rf`, finished in the rootless user namespace when files of subordinate ids refuse the user. */
  private removeTree(path: string): Promise<void> {
    return removeTree(path, { rootless: this.#rootless, ...(this.#mappings ? { mappings: this.#mappings } : {}) });
  }

  private dir(name: string): string {
    // A name that could not have been created cannot exist; refusing it here also keeps
    // `../x` from reaching outside the store.
    if (!volumeNamePattern.test(name)) throw notFound(name);
    return join(this.root, name);
  }

  private lockPath(name: string): string {
    return join(this.root, ".locks", `${name}.lock`);
  }

  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.dir(name);
    // Laid out once per store object: every lock would otherwise pay a mkdir.
    if (!this.#laidOut) {
      mkdirSync(join(this.root, ".locks"), { recursive: true });
      this.#laidOut = true;
    }
    try {
      return await withStateLock(this.lockPath(name), fn);
    } catch (error) {
      // The state root was emptied under this store object: lay it out again, once.
      if (!hasErrorCode(error, "BERTH_IO") || !error.message.startsWith("cannot create lock") || (error.cause as NodeJS.ErrnoException | undefined)?.code !== "ENOENT") throw error;
      mkdirSync(join(this.root, ".locks"), { recursive: true });
      return withStateLock(this.lockPath(name), fn);
    }
  }

  /**
   * Creates a volume, or returns the existing one of that name as Docker does; with `user`
   * and `copyFrom`, also records the container and fills an empty volume from the image, in
   * one step under the volume's lock (what a container's create does for each volume).
   */
  async create(options: CreateVolumeOptions = {}): Promise<VolumeInfo> {
    if (options.driver !== undefined && options.driver !== "local") {
      throw new BerthError("BERTH_UNSUPPORTED", `volume driver ${options.driver} is not supported: berth has only the local driver`, {
        field: "driver",
      });
    }
    const anonymous = options.anonymous ?? options.name === undefined;
    const name = options.name ?? randomBytes(32).toString("hex");
    validateVolumeName(name);
    const driverOptions = validateDriverOptions(options.driverOptions);
    if (options.user !== undefined) checkContainerId(options.user);
    // Resolved before the lock (it reads the rootfs, not the store); it must not follow a
    // symlink out of the rootfs.
    const source = options.copyFrom === undefined ? undefined : typeof options.copyFrom === "string" ? options.copyFrom : resolveInRoot(options.copyFrom.rootfs, options.copyFrom.path, { followLast: true });
    return this.locked(name, async () => {
      const existing = await this.readMeta(name);
      if (existing) {
        if (options.ifExists === "error") {
          throw new BerthError("BERTH_VOLUME_EXISTS", `a volume named ${name} already exists`, { volume: name });
        }
        if (options.user !== undefined) await this.#addUserLocked(existing, options.user);
        if (source !== undefined) await this.#copyUpLocked(name, source);
        return this.info(existing);
      }
      const meta: VolumeMeta = {
        name,
        createdAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        labels: { ...(options.labels ?? {}), ...(anonymous ? { [anonymousVolumeLabel]: "" } : {}) },
        options: driverOptions,
      };
      // Build the volume beside its final place and rename it in: no reader sees half a
      // volume. Holding the name's lock, a staging directory of this name is a crashed
      // create's. Small synchronous calls: each thread-pool round trip of the async forms
      // costs more than its syscall, and a container's create makes one volume per VOLUME.
      const staging = this.#stagingDir(name);
      // A volume mounted from a device gets its user, and its content, once it is mounted.
      const plain = !driverOptions?.type;
      try {
        rmSync(staging, { recursive: true, force: true });
        // Earlier versions staged under random names; a generated name has none of them.
        if (options.name !== undefined && !anonymous) {
          for (const leftover of readdirSync(this.root).filter((n) => n.startsWith(`.tmp-${name}-`))) rmSync(join(this.root, leftover), { recursive: true, force: true });
        }
        mkdirSync(staging, { mode: 0o700 });
        mkdirSync(join(staging, "_data"), { mode: 0o755 });
        mkdirSync(join(staging, "users"), { mode: 0o700 });
        if (plain && options.user !== undefined) writeFileSync(join(staging, "users", options.user), "");
        // A new file in a new directory, renamed in with it: written in place, never renamed
        // over an older one (which makes ext4 write it back at once, auto_da_alloc).
        writeNew(join(staging, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`, options.durable ?? true);
      } catch (error) {
        rmSync(staging, { recursive: true, force: true });
        throw new BerthError("BERTH_IO", `cannot create volume ${name}`, { volume: name, path: this.dir(name), cause: error });
      }
      try {
        if (plain && source !== undefined) await this.#fill(name, source, join(staging, "_data"));
        renameSync(staging, this.dir(name));
        if (options.durable ?? true) await syncDirectory(this.root);
      } catch (error) {
        rmSync(staging, { recursive: true, force: true });
        if (error instanceof BerthError) throw error;
        throw new BerthError("BERTH_IO", `cannot create volume ${name}`, { volume: name, path: this.dir(name), cause: error });
      }
      log("created volume %s", name);
      if (!plain && options.user !== undefined) {
        await this.#addUserLocked(meta, options.user);
        if (source !== undefined) await this.#copyUpLocked(name, source);
      }
      return this.info(meta);
    });
  }

  /** Where a volume is built before it is renamed into place. */
  #stagingDir(name: string): string {
    return join(this.root, `${stagingPrefix}${name}`);
  }

  /** The directory containers mount for the volume `name` (whether or not it exists yet). */
  mountpoint(name: string): string {
    return join(this.dir(name), "_data");
  }

  /** The volume's details; `BERTH_VOLUME_NOT_FOUND` when there is none of that name. */
  async inspect(name: string): Promise<VolumeInfo> {
    const meta = await this.readMeta(name);
    if (!meta) throw notFound(name);
    return this.info(meta);
  }

  /** Whether a volume of that name exists. */
  async exists(name: string): Promise<boolean> {
    return (await this.readMeta(name)) !== undefined;
  }

  /** Volumes matching every given filter, sorted by name. */
  async list(filters: VolumeFilters = {}): Promise<VolumeInfo[]> {
    const names = toArray(filters.name);
    const labels = toArray(filters.label);
    const out: VolumeInfo[] = [];
    if (filters.driver !== undefined && filters.driver !== "local") return out;
    for (const name of await this.names()) {
      const meta = await this.readMeta(name);
      if (!meta) continue;
      if (names.length > 0 && !names.some((n) => name.includes(n))) continue;
      if (!labels.every((l) => hasLabel(meta.labels, l))) continue;
      if (filters.dangling !== undefined && (await this.users(name)).length === 0 !== filters.dangling) continue;
      out.push(this.info(meta));
    }
    return out;
  }

  /**
   * Removes a volume. A volume a container uses is refused with `BERTH_VOLUME_IN_USE`
   * (Docker's `volume is in use - [ids]`), whatever `force` says; `force` only makes a
   * missing volume not an error, as `docker volume rm -f`.
   */
  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    if (options.force && !(await this.exists(name).catch(() => false))) return;
    await this.locked(name, async () => {
      const meta = await this.readMeta(name);
      if (!meta) {
        if (options.force) return;
        throw notFound(name);
      }
      const users = await this.users(name);
      if (users.length > 0) {
        throw new BerthError("BERTH_VOLUME_IN_USE", `remove ${name}: volume is in use - [${users.join(", ")}]`, { volume: name, users });
      }
      await this.removeUnlocked(name);
    });
  }

  private async removeUnlocked(name: string): Promise<void> {
    const data = join(this.dir(name), "_data");
    // A volume backed by a device that a crashed engine left mounted is unmounted first;
    // whatever else is mounted there, the removal must not reach into it.
    if (await isMountPoint(data)) await unmount(data, name);
    const trash = join(this.root, `.trash-${name}-${randomBytes(4).toString("hex")}`);
    try {
      renameSync(this.dir(name), trash);
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot remove volume ${name}`, { volume: name, path: this.dir(name), cause: error });
    }
    // What a container left empty goes with a few synchronous calls; anything bigger with a
    // tree removal that does not block the event loop.
    if (!removeSmallVolume(trash)) await this.removeTree(trash);
    log("removed volume %s", name);
  }

  /**
   * Forgets that `containerId` uses the volume, as {@link removeUser}, and with `remove` then
   * removes the volume unless another container still uses it, as {@link remove}: what a
   * container's removal with `volumes: true` does for its anonymous volumes, in one step under
   * the volume's lock. A missing volume is no error; with `remove`, a staging directory of its
   * name (a create that died before renaming it in) goes too.
   */
  async release(name: string, containerId: string, options: { remove?: boolean } = {}): Promise<void> {
    checkContainerId(containerId);
    await this.locked(name, async () => {
      const meta = await this.readMeta(name);
      if (!meta) {
        if (options.remove) rmSync(this.#stagingDir(name), { recursive: true, force: true });
        return;
      }
      await this.#release(meta, containerId, options.remove ?? false);
    });
  }

  async #release(meta: VolumeMeta, containerId: string, remove: boolean): Promise<void> {
    const name = meta.name;
    try {
      unlinkSync(join(this.dir(name), "users", containerId));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new BerthError("BERTH_IO", `cannot release volume ${name}`, { volume: name, container: containerId, cause: error });
      }
    }
    const unused = meta.options?.type || remove ? (await this.users(name)).length === 0 : false;
    if (remove && unused) return this.removeUnlocked(name);
    const data = join(this.dir(name), "_data");
    if (meta.options?.type && unused && (await isMountPoint(data))) await unmount(data, name);
  }

  /**
   * Removes volumes no container uses: only anonymous ones unless `all`, as Docker 23+.
   */
  async prune(options: PruneVolumesOptions = {}): Promise<PruneVolumesResult> {
    const result: PruneVolumesResult = { volumesDeleted: [], spaceReclaimed: 0 };
    // A `.trash-*` directory is only ever deleted, so one left by a crashed remove can go.
    const entries = await readdir(this.root).catch(() => [] as string[]);
    for (const trash of entries.filter((n) => n.startsWith(".trash-"))) {
      await this.removeTree(join(this.root, trash));
    }
    // A staging directory is a live create's while its creator holds the name's lock: once
    // the lock is ours, it is a crashed one's (or gone, renamed in).
    for (const staging of entries.filter((n) => n.startsWith(stagingPrefix))) {
      const name = staging.slice(stagingPrefix.length);
      if (volumeNamePattern.test(name)) await this.locked(name, async () => rmSync(join(this.root, staging), { recursive: true, force: true }));
    }
    for (const name of await this.names()) {
      await this.locked(name, async () => {
        const meta = await this.readMeta(name);
        if (!meta) return;
        if (!options.all && !(anonymousVolumeLabel in meta.labels)) return;
        if (!(options.label ?? []).every((l) => hasLabel(meta.labels, l))) return;
        if ((options.labelNot ?? []).some((l) => hasLabel(meta.labels, l))) return;
        if ((await this.users(name)).length > 0) return;
        const size = await diskUsage(join(this.dir(name), "_data"));
        await this.removeUnlocked(name);
        result.volumesDeleted.push(name);
        result.spaceReclaimed += size;
      });
    }
    return result;
  }

  /** The ids of the containers using the volume. */
  async users(name: string): Promise<string[]> {
    try {
      return readdirSync(join(this.dir(name), "users")).filter((n) => !n.startsWith(".")).sort();
    } catch {
      return [];
    }
  }

  /**
   * Records that `containerId` uses the volume and returns the path to mount. A volume backed
   * by driver options is mounted when its first user arrives.
   */
  async addUser(name: string, containerId: string): Promise<string> {
    checkContainerId(containerId);
    return this.locked(name, async () => {
      const meta = await this.readMeta(name);
      if (!meta) throw notFound(name);
      return this.#addUserLocked(meta, containerId);
    });
  }

  async #addUserLocked(meta: VolumeMeta, containerId: string): Promise<string> {
    const data = join(this.dir(meta.name), "_data");
    if (meta.options?.type && !(await isMountPoint(data))) await mountBacking(meta.options, data, meta.name);
    try {
      writeFileSync(join(this.dir(meta.name), "users", containerId), "");
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot record a user of volume ${meta.name}`, { volume: meta.name, container: containerId, cause: error });
    }
    return data;
  }

  /** Forgets that `containerId` uses the volume; the last user leaving unmounts a driver-backed volume. */
  async removeUser(name: string, containerId: string): Promise<void> {
    return this.release(name, containerId);
  }

  /**
   * Copies the image's content at a path into the volume when the volume is empty, as
   * Docker does on a container's first mount of a volume: ownership, modes, times, symlinks,
   * hard links and xattrs (where the filesystem keeps them) come along, and the volume's
   * root takes the source directory's owner and mode. `source` is either a host path
   * already resolved inside the container's rootfs, or the rootfs and the container path,
   * resolved here without following any symlink out of the rootfs. Returns whether anything
   * was copied. The volume lock makes two containers starting at once copy only once.
   * (A mount with `nocopy` does not call this.)
   */
  async copyUpIfEmpty(name: string, from: string | { rootfs: string; path: string }): Promise<boolean> {
    const source = typeof from === "string" ? from : resolveInRoot(from.rootfs, from.path, { followLast: true });
    return this.locked(name, async () => {
      if (!(await this.readMeta(name))) throw notFound(name);
      return this.#copyUpLocked(name, source);
    });
  }

  async #copyUpLocked(name: string, source: string): Promise<boolean> {
    const data = join(this.dir(name), "_data");
    if (readdirSync(data).length > 0) return false;
    return this.#fill(name, source, data);
  }

  /** Copies the directory `source` into the empty `data`; false when `source` is no directory. */
  async #fill(name: string, source: string, data: string): Promise<boolean> {
    let st;
    try {
      st = lstatSync(source);
    } catch (error) {
      // A fuse-overlayfs root serves only its mounter's user namespace: the engine found the
      // directory from there, and the copy below is made there (`through`).
      if (!(this.#rootless && (error as NodeJS.ErrnoException).code === "EACCES" && /^\/proc\/\d+\/root\//.test(source))) return false;
    }
    if (st && !st.isDirectory()) return false;
    // An empty directory (redis's /data, most VOLUMEs) needs no copy, only its owner, mode and
    // times on the volume's root: three syscalls instead of a `cp` process. Docker's own copy
    // gives the root only the owner and mode (copyOwnership). Rootless, the owner may be a
    // subordinate id the user cannot give: the copy below runs in the user namespace.
    if (st && !this.#rootless && isEmptyDir(source)) {
      try {
        chownSync(data, st.uid, st.gid);
        chmodSync(data, st.mode & 0o7777);
        utimesSync(data, st.atime, st.mtime);
      } catch (error) {
        throw new BerthError("BERTH_IO", `cannot copy ${source} into volume ${name}`, { volume: name, path: source, cause: error });
      }
      return true;
    }
    try {
      // GNU cp -a is the well-kept tool that preserves all of it; -T copies into the existing _data.
      // Rootless: the user cannot chown, so a copy made as the user would give every file
      // to the container's root; in the user namespace the subordinate ids are mapped and
      // the copy keeps the owners the container sees. A root reached through another
      // process (`/proc/<pid>/root`, the engine's rootfs helper) is refused to a sibling
      // namespace, so the copy runs in that process's own namespaces, by its inner path.
      const through = this.#rootless ? /^\/proc\/(\d+)\/root(\/.*)$/.exec(source) : null;
      const cp = (from: string) => ["cp", "-a", "-T", "--", from, data];
      if (through) await runInUserNamespace(cp(through[2]!), { timeout: commandTimeout, joinPid: Number(through[1]) });
      else if (this.#rootless) await runInUserNamespace(cp(source), { timeout: commandTimeout, ...(this.#mappings ? { mappings: this.#mappings } : {}) });
      else await execa("cp", cp(source).slice(1), { timeout: commandTimeout });
    } catch (error) {
      throw new BerthError("BERTH_IO", `cannot copy ${source} into volume ${name}`, { volume: name, path: source, cause: error });
    }
    return true;
  }

  private async names(): Promise<string[]> {
    try {
      return (await readdir(this.root)).filter((n) => !n.startsWith(".")).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new BerthError("BERTH_IO", `cannot list volumes in ${this.root}`, { path: this.root, cause: error });
    }
  }

  private async readMeta(name: string): Promise<VolumeMeta | undefined> {
    const path = join(this.dir(name), "meta.json");
    let text: string;
    try {
      // Synchronous: a few hundred bytes, read on every operation of the volume.
      text = readFileSync(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw new BerthError("BERTH_IO", `cannot read volume ${name}`, { volume: name, cause: error });
    }
    try {
      return JSON.parse(text) as VolumeMeta;
    } catch (error) {
      throw new BerthError("BERTH_INTERNAL", `volume ${name} has a corrupt meta.json`, { volume: name, path: this.dir(name), cause: error });
    }
  }

  private info(meta: VolumeMeta): VolumeInfo {
    return {
      Name: meta.name,
      Driver: "local",
      Mountpoint: join(this.dir(meta.name), "_data"),
      CreatedAt: meta.createdAt,
      Labels: { ...meta.labels },
      Scope: "local",
      Options: meta.options ? { ...meta.options } : null,
    };
  }
}

function checkContainerId(id: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(id)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid container id for a volume user record: ${id}`, { container: id });
  }
}

function notFound(name: string): BerthError {
  return new BerthError("BERTH_VOLUME_NOT_FOUND", `no such volume: ${name}`, { volume: name });
}

function toArray(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === "string" ? [value] : [...value];
}

function hasLabel(labels: Record<string, string>, filter: string): boolean {
  const at = filter.indexOf("=");
  if (at < 0) return filter in labels;
  return labels[filter.slice(0, at)] === filter.slice(at + 1);
}

function validateDriverOptions(options: Readonly<Record<string, string>> | undefined): Record<string, string> | null {
  if (!options || Object.keys(options).length === 0) return null;
  for (const key of Object.keys(options)) {
    if (!validDriverOptions.has(key)) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid option: "${key}"`, { field: "driverOptions", option: key });
    }
  }
  if (options.type && !options.device) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", 'missing required option: "device"', { field: "driverOptions" });
  }
  if (options.device && !options.type) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", 'missing required option: "type"', { field: "driverOptions" });
  }
  return { ...options };
}

/** Writes a file that does not exist yet, flushed to disk when `durable`. */
function writeNew(path: string, text: string, durable: boolean): void {
  const fd = openSync(path, "wx", 0o600);
  try {
    writeSync(fd, text);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function isEmptyDir(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

/**
 * Removes a removed volume's directory when its data is empty (a container's anonymous
 * volume it never wrote to, or one it only wrote a file or two into): false, with nothing
 * or part of it gone, when it holds more, for a tree removal to finish.
 */
function removeSmallVolume(dir: string): boolean {
  try {
    for (const sub of ["users", "_data"]) {
      const path = join(dir, sub);
      const entries = readdirSync(path, { withFileTypes: true });
      if (entries.length > 16 || entries.some((e) => e.isDirectory())) return false;
      for (const entry of entries) {
        unlinkSync(join(path, entry.name));
      }
      rmdirSync(path);
    }
    rmSync(join(dir, "meta.json"), { force: true });
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` is a mount point, from /proc/self/mountinfo (stat's st_dev misses bind mounts of the same fs). */
async function isMountPoint(path: string): Promise<boolean> {
  let info: string;
  try {
    // Synchronous: a few dozen lines, read on every removal.
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return false;
  }
  // The last component (a volume's name, then `_data`) is never escaped: a cheap first test.
  if (!info.includes(basename(dirname(path)))) return false;
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return info.split("\n").some((line) => unescape(line.split(" ")[4] ?? "") === path);
}

async function mountBacking(options: Record<string, string>, target: string, name: string): Promise<void> {
  const args = ["-t", options.type!];
  const mountOptions = options.o ?? "";
  // Docker's local driver: `o=bind` with type none mounts the device path itself.
  if (options.type === "none" || /(^|,)r?bind(,|$)/.test(mountOptions)) {
    await stat(options.device!).catch((error: unknown) => {
      throw new BerthError("BERTH_BIND_SOURCE_NOT_FOUND", `volume ${name}: device ${options.device} does not exist`, {
        volume: name,
        path: options.device,
        cause: error,
      });
    });
  }
  if (mountOptions) args.push("-o", mountOptions);
  args.push("--", options.device!, target);
  try {
    await execa("mount", args, { timeout: commandTimeout });
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot mount volume ${name} (${options.type} ${options.device})`, { volume: name, path: target, cause: error });
  }
}

async function unmount(target: string, name: string): Promise<void> {
  try {
    await execa("umount", ["--", target], { timeout: commandTimeout });
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot unmount volume ${name}`, { volume: name, path: target, cause: error });
  }
}

async function diskUsage(path: string): Promise<number> {
  let total = 0;
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = join(path, entry);
    const st = await lstat(full).catch(() => undefined);
    if (!st) continue;
    total += st.isDirectory() ? await diskUsage(full) : st.size;
  }
  return total;
}
