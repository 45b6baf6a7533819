import { renderListing, type ListingFormat, type RenderOptions } from "./format.js";
import { displayWidth } from "./tabwriter.js";
import { humanDuration, humanSize } from "./units.js";

/** One published or exposed port of a container, as Docker's API lists it. */
export interface PortSummary {
  /** The host address; absent for a port that is exposed but not published. */
  ip?: string;
  privatePort: number;
  publicPort?: number;
  type: string;
}

/** What `ps` needs to know about a container; the engine fills it in. */
export interface ContainerSummary {
  /** The full 64-hex id. */
  id: string;
  /** Names without the leading `/`. */
  names: string[];
  /** The image as the user named it (or its id). */
  image: string;
  /** The command line, entrypoint and args joined with spaces. */
  command: string;
  created: Date;
  state: "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  health?: "starting" | "healthy" | "unhealthy";
  ports: PortSummary[];
  labels: Record<string, string>;
  /** Mount sources (volume names or host paths). */
  mounts?: string[];
  networks?: string[];
  /** Bytes written to the writable layer, when `--size` asked for it. */
  sizeRw?: number;
  /** Bytes of the whole root filesystem, when `--size` asked for it. */
  sizeRootFs?: number;
}

/** Docker's `Ellipsis`: cut to `max` display columns, the last one `…`. */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return "";
  if (displayWidth(s) <= max) return s;
  let out = "";
  let w = 0;
  for (const ch of s) {
    const cw = displayWidth(ch);
    if (w + cw > max - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/** The 12-hex short form of an id, `sha256:` stripped, as Docker's `TruncateID`. */
export function truncateId(id: string): string {
  const bare = id.includes(":") ? id.slice(id.indexOf(":") + 1) : id;
  return bare.slice(0, 12);
}

/**
 * A container's STATUS column as Docker's daemon words it: `Up 3 seconds (healthy)`,
 * `Up 2 minutes (Paused)`, `Exited (0) 5 seconds ago`, `Restarting (1) 2 seconds ago`, `Created`.
 */
export function containerStatus(c: ContainerSummary, now: Date = new Date()): string {
  const since = (d: Date | undefined) => humanDuration(now.getTime() - (d ?? c.created).getTime());
  switch (c.state) {
    case "running": {
      const health = c.health === "starting" ? " (health: starting)" : c.health ? ` (${c.health})` : "";
      return `Up ${since(c.startedAt)}${health}`;
    }
    case "paused":
      return `Up ${since(c.startedAt)} (Paused)`;
    case "restarting":
      return `Restarting (${c.exitCode ?? 0}) ${since(c.finishedAt)} ago`;
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    case "created":
      return "Created";
    case "exited":
      return c.finishedAt ? `Exited (${c.exitCode ?? 0}) ${since(c.finishedAt)} ago` : `Exited (${c.exitCode ?? 0})`;
  }
}

function joinHostPort(ip: string, port: string): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * docker/cli's `DisplayablePorts`: ports sorted, runs of consecutive ports with the same
 * address and protocol collapsed into ranges (`0.0.0.0:8000-8002->8000-8002/tcp`), ports
 * published on a different host port listed after them (`0.0.0.0:8080->80/tcp`).
 */
export function displayablePorts(ports: readonly PortSummary[]): string {
  const sorted = [...ports].sort(
    (a, b) =>
      a.privatePort - b.privatePort ||
      (a.publicPort ?? 0) - (b.publicPort ?? 0) ||
      (a.type < b.type ? -1 : a.type > b.type ? 1 : 0) ||
      ((a.ip ?? "") < (b.ip ?? "") ? -1 : (a.ip ?? "") > (b.ip ?? "") ? 1 : 0),
  );
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const form = (key: string, first: number, last: number) => {
    const slash = key.lastIndexOf("/");
    const ip = slash === -1 ? "" : key.slice(0, slash);
    const type = slash === -1 ? key : key.slice(slash + 1);
    let group = first === last ? String(first) : `${first}-${last}`;
    if (ip) group = `${joinHostPort(ip, group)}->${group}`;
    return `${group}/${type}`;
  };
  for (const p of sorted) {
    let key = p.type;
    if (p.ip) {
      if (p.publicPort !== p.privatePort) {
        hostMappings.push(`${joinHostPort(p.ip, String(p.publicPort ?? 0))}->${p.privatePort}/${p.type}`);
        continue;
      }
      key = `${p.ip}/${p.type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: p.privatePort, last: p.privatePort });
      continue;
    }
    if (p.privatePort === g.last + 1) {
      g.last = p.privatePort;
      continue;
    }
    result.push(form(key, g.first, g.last));
    // Go appends the new group's key again only when it is first seen; keep its place.
    groups.set(key, { first: p.privatePort, last: p.privatePort });
  }
  for (const [key, g] of groups) result.push(form(key, g.first, g.last));
  return [...result, ...hostMappings].join(", ");
}

/** The row object `ps` templates see: Docker's field names (`.ID`, `.Names`, `.Label "k"`). */
export class ContainerContext {
  constructor(
    private readonly c: ContainerSummary,
    private readonly trunc: boolean,
    private readonly now: Date,
  ) {}
  get ID(): string {
    return this.trunc ? truncateId(this.c.id) : this.c.id;
  }
  get Names(): string {
    return this.c.names.map((n) => n.replace(/^\//, "")).join(",");
  }
  get Image(): string {
    const image = this.c.image;
    if (this.trunc && /^(sha256:)?[0-9a-f]{64}$/.test(image)) return truncateId(image);
    return image;
  }
  get Command(): string {
    return JSON.stringify(this.trunc ? ellipsis(this.c.command, 20) : this.c.command);
  }
  get CreatedAt(): string {
    return goTime(this.c.created);
  }
  get RunningFor(): string {
    return `${humanDuration(this.now.getTime() - this.c.created.getTime())} ago`;
  }
  get Ports(): string {
    return displayablePorts(this.c.ports);
  }
  get State(): string {
    return this.c.state;
  }
  get Status(): string {
    return containerStatus(this.c, this.now);
  }
  get Size(): string {
    if (this.c.sizeRw === undefined) return "0B";
    const rw = humanSize(this.c.sizeRw, 3);
    return this.c.sizeRootFs ? `${rw} (virtual ${humanSize(this.c.sizeRootFs, 3)})` : rw;
  }
  get Labels(): string {
    return Object.entries(this.c.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: string): string {
    return this.c.labels[name] ?? "";
  }
  get Mounts(): string {
    return (this.c.mounts ?? []).map((m) => (this.trunc ? ellipsis(m, 15) : m)).join(",");
  }
  get Networks(): string {
    return (this.c.networks ?? []).join(",");
  }
  get LocalVolumes(): string {
    return String((this.c.mounts ?? []).filter((m) => !m.startsWith("/")).length);
  }
  /** `{{json .}}` prints what Docker's does: every column by name. */
  toJSON(): Record<string, string> {
    return {
      Command: this.Command,
      CreatedAt: this.CreatedAt,
      ID: this.ID,
      Image: this.Image,
      Labels: this.Labels,
      LocalVolumes: this.LocalVolumes,
      Mounts: this.Mounts,
      Names: this.Names,
      Networks: this.Networks,
      Ports: this.Ports,
      RunningFor: this.RunningFor,
      Size: this.Size,
      State: this.State,
      Status: this.Status,
    };
  }
}

/** Go's default `time.Time` String(): `2026-11-22 17:18:00 +0000 UTC`. */
export function goTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

export const psFormat: ListingFormat = {
  defaultTable: "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
  headers: {
    ID: "CONTAINER ID",
    Image: "IMAGE",
    Command: "COMMAND",
    CreatedAt: "CREATED AT",
    RunningFor: "CREATED",
    Ports: "PORTS",
    State: "STATE",
    Status: "STATUS",
    Size: "SIZE",
    Names: "NAMES",
    Labels: "LABELS",
    Label: "LABEL",
    Mounts: "MOUNTS",
    Networks: "NETWORKS",
    LocalVolumes: "LOCAL VOLUMES",
  },
  quietField: "ID",
};

/** Options of the table renderers; `now` is a seam so output is reproducible. */
export interface TableOptions extends RenderOptions {
  /** `--no-trunc`. @default false */
  noTrunc?: boolean;
  /** The time relative columns ("2 minutes ago") count from. @default new Date() */
  now?: Date;
}

/** `berth ps` output. */
export function renderPs(containers: readonly ContainerSummary[], options: TableOptions = {}): string {
  const now = options.now ?? new Date();
  return renderListing(containers.map((c) => new ContainerContext(c, !options.noTrunc, now)), psFormat, options);
}

/** What `images` needs to know about an image. */
export interface ImageSummary {
  /** `sha256:<64 hex>`. */
  id: string;
  /** `<none>` when untagged. */
  repository: string;
  tag: string;
  digest?: string;
  created: Date;
  /** Bytes. */
  size: number;
}

export class ImageContext {
  constructor(
    private readonly i: ImageSummary,
    private readonly trunc: boolean,
    private readonly now: Date,
  ) {}
  get ID(): string {
    return this.trunc ? truncateId(this.i.id) : this.i.id;
  }
  get Repository(): string {
    return this.i.repository;
  }
  get Tag(): string {
    return this.i.tag;
  }
  get Digest(): string {
    return this.i.digest ?? "<none>";
  }
  get CreatedSince(): string {
    return `${humanDuration(this.now.getTime() - this.i.created.getTime())} ago`;
  }
  get CreatedAt(): string {
    return goTime(this.i.created);
  }
  get Size(): string {
    return humanSize(this.i.size, 3);
  }
  toJSON(): Record<string, string> {
    return {
      Containers: "N/A",
      CreatedAt: this.CreatedAt,
      CreatedSince: this.CreatedSince,
      Digest: this.Digest,
      ID: this.ID,
      Repository: this.Repository,
      SharedSize: "N/A",
      Size: this.Size,
      Tag: this.Tag,
      UniqueSize: "N/A",
      VirtualSize: this.Size,
    };
  }
}

export const imagesFormat: ListingFormat = {
  defaultTable: "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
  headers: { ID: "IMAGE ID", Repository: "REPOSITORY", Tag: "TAG", Digest: "DIGEST", CreatedSince: "CREATED", CreatedAt: "CREATED AT", Size: "SIZE" },
  quietField: "ID",
};

/** Options of {@link renderImages}. */
export interface ImagesTableOptions extends TableOptions {
  /** `--digests`: a DIGEST column after TAG. @default false */
  digests?: boolean;
}

/** `berth images` output. */
export function renderImages(images: readonly ImageSummary[], options: ImagesTableOptions = {}): string {
  const now = options.now ?? new Date();
  let rows = images.map((i) => new ImageContext(i, !options.noTrunc, now));
  // `-q` lists each image once, however many tags it has.
  if (options.quiet) rows = rows.filter((r, n) => rows.findIndex((o) => o.ID === r.ID) === n);
  const kind = options.digests ? { ...imagesFormat, defaultTable: "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}" } : imagesFormat;
  return renderListing(rows, kind, options);
}

/** What `network ls` needs. */
export interface NetworkSummary {
  id: string;
  name: string;
  driver: string;
  /** @default "local" */
  scope?: string;
  internal?: boolean;
  ipv6?: boolean;
  labels?: Record<string, string>;
  created?: Date;
}

export class NetworkContext {
  constructor(
    private readonly n: NetworkSummary,
    private readonly trunc: boolean,
  ) {}
  get ID(): string {
    return this.trunc ? truncateId(this.n.id) : this.n.id;
  }
  get Name(): string {
    return this.n.name;
  }
  get Driver(): string {
    return this.n.driver;
  }
  get Scope(): string {
    return this.n.scope ?? "local";
  }
  get IPv6(): string {
    return String(Boolean(this.n.ipv6));
  }
  get Internal(): string {
    return String(Boolean(this.n.internal));
  }
  get Labels(): string {
    return Object.entries(this.n.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: string): string {
    return this.n.labels?.[name] ?? "";
  }
  get CreatedAt(): string {
    return this.n.created ? goTime(this.n.created) : "";
  }
  toJSON(): Record<string, string> {
    return { CreatedAt: this.CreatedAt, Driver: this.Driver, ID: this.ID, IPv6: this.IPv6, Internal: this.Internal, Labels: this.Labels, Name: this.Name, Scope: this.Scope };
  }
}

export const networkLsFormat: ListingFormat = {
  defaultTable: "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
  headers: { ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv6: "IPV6", Internal: "INTERNAL", Labels: "LABELS", CreatedAt: "CREATED" },
  quietField: "ID",
};

/** `berth network ls` output. */
export function renderNetworks(networks: readonly NetworkSummary[], options: TableOptions = {}): string {
  return renderListing(networks.map((n) => new NetworkContext(n, !options.noTrunc)), networkLsFormat, options);
}

/** What `volume ls` needs. */
export interface VolumeSummary {
  name: string;
  /** @default "local" */
  driver?: string;
  mountpoint?: string;
  labels?: Record<string, string>;
}

export class VolumeContext {
  constructor(private readonly v: VolumeSummary) {}
  get Name(): string {
    return this.v.name;
  }
  get Driver(): string {
    return this.v.driver ?? "local";
  }
  get Scope(): string {
    return "local";
  }
  get Mountpoint(): string {
    return this.v.mountpoint ?? "";
  }
  get Labels(): string {
    return Object.entries(this.v.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: string): string {
    return this.v.labels?.[name] ?? "";
  }
  toJSON(): Record<string, string> {
    return { Driver: this.Driver, Labels: this.Labels, Mountpoint: this.Mountpoint, Name: this.Name, Scope: this.Scope };
  }
}

export const volumeLsFormat: ListingFormat = {
  defaultTable: "{{.Driver}}\t{{.Name}}",
  headers: { Name: "VOLUME NAME", Driver: "DRIVER", Scope: "SCOPE", Mountpoint: "MOUNTPOINT", Labels: "LABELS" },
  quietField: "Name",
};

/** `berth volume ls` output. */
export function renderVolumes(volumes: readonly VolumeSummary[], options: TableOptions = {}): string {
  return renderListing(volumes.map((v) => new VolumeContext(v)), volumeLsFormat, options);
}

/** A container of a Compose project, for `compose ps`. */
export interface ComposeContainerSummary extends ContainerSummary {
  /** The Compose service (the `com.docker.compose.service` label). */
  service: string;
  project: string;
}

export class ComposeContainerContext extends ContainerContext {
  constructor(
    private readonly cc: ComposeContainerSummary,
    trunc: boolean,
    now: Date,
  ) {
    super(cc, trunc, now);
  }
  get Name(): string {
    return this.cc.names[0]?.replace(/^\//, "") ?? "";
  }
  get Service(): string {
    return this.cc.service;
  }
  get Project(): string {
    return this.cc.project;
  }
  override toJSON(): Record<string, string> {
    return { ...super.toJSON(), Name: this.Name, Project: this.Project, Service: this.Service };
  }
}

export const composePsFormat: ListingFormat = {
  defaultTable: "{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}",
  headers: { ...psFormat.headers, Name: "NAME", Service: "SERVICE", Project: "PROJECT" },
  quietField: "ID",
};

/** `berth compose ps` output. */
export function renderComposePs(containers: readonly ComposeContainerSummary[], options: TableOptions = {}): string {
  const now = options.now ?? new Date();
  return renderListing(containers.map((c) => new ComposeContainerContext(c, !options.noTrunc, now)), composePsFormat, options);
}
