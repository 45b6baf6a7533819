import { VolumeStore, type CreateVolumeOptions, type PruneVolumesOptions, type PruneVolumesResult, type VolumeFilters, type VolumeInfo } from "./volume-store.js";

/** Where the public {@link Volume} API keeps its volumes. */
export interface VolumeApiOptions {
  /** The store to use. @default a store under `<stateRoot()>/volumes` */
  store?: VolumeStore;
}

/**
 * A named or anonymous volume, the public face of the {@link VolumeStore}.
 *
 * @example
 * ```ts
 * const data = await Volume.create({ labels: { app: "db" } });
 * console.log((await data.inspect()).Mountpoint);
 * await data.remove();
 * ```
 */
export class Volume {
  private constructor(
    /** The volume's name (64 hex digits for an anonymous one). */
    readonly name: string,
    private readonly store: VolumeStore,
  ) {}

  /** Creates a volume (anonymous without a name); an existing name returns that volume, as Docker does. */
  static async create(options: CreateVolumeOptions & VolumeApiOptions = {}): Promise<Volume> {
    const { store = new VolumeStore(), ...rest } = options;
    const info = await store.create(rest);
    return new Volume(info.Name, store);
  }

  /** The existing volume of that name; `BERTH_VOLUME_NOT_FOUND` when there is none. */
  static async get(name: string, options: VolumeApiOptions = {}): Promise<Volume> {
    const store = options.store ?? new VolumeStore();
    await store.inspect(name);
    return new Volume(name, store);
  }

  /** Volumes matching the filters (Docker's `volume ls --filter`). */
  static async list(filters: VolumeFilters = {}, options: VolumeApiOptions = {}): Promise<Volume[]> {
    const store = options.store ?? new VolumeStore();
    return (await store.list(filters)).map((v) => new Volume(v.Name, store));
  }

  /** Removes unused volumes: anonymous ones only unless `all` (Docker 23+). */
  static async prune(options: PruneVolumesOptions & VolumeApiOptions = {}): Promise<PruneVolumesResult> {
    const { store = new VolumeStore(), ...rest } = options;
    return store.prune(rest);
  }

  /** The volume's details as `docker volume inspect` shows them. */
  inspect(): Promise<VolumeInfo> {
    return this.store.inspect(this.name);
  }

  /** Removes the volume; refused with `BERTH_VOLUME_IN_USE` while a container uses it. `force` ignores a missing volume. */
  remove(options: { force?: boolean } = {}): Promise<void> {
    return this.store.remove(this.name, options);
  }
}
