import { readFile, stat } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import tarFs from "tar-fs";
import tarStream from "tar-stream";
import { BerthError } from "../common/berth-error.js";
import type { HealthcheckOptions } from "../runtime/container-config/merge-config.js";
import type { ResourceLimits } from "../runtime/container-config/oci-spec-builder.js";
import type { Ulimit } from "../runtime/container-config/ulimit.js";
import type { Network } from "../network/network.js";
import type { WaitStrategy } from "./wait/wait-strategy.js";
import type { ExposedPort } from "./wait/wait-target.js";

/**
 * A port to expose and publish: a container port (`6379`), with its protocol (`"53/udp"`), or
 * with a fixed host port (`{ container: 80, host: 8080 }`).
 */
export type PortToExpose = number | string | { container: number | string; host: number };

/** A host file copied into the container before it starts. */
export interface FileToCopy {
  /** The file on the host. */
  source: string;
  /** Its absolute path in the container; missing parent directories are made. */
  target: string;
  /** Its mode in the container. @default the host file's */
  mode?: number;
}

/** A host directory copied (recursively) into the container before it starts. */
export interface DirectoryToCopy {
  source: string;
  /** The directory's absolute path in the container. */
  target: string;
  /** The mode of every copied entry. @default each host entry's */
  mode?: number;
}

/** Text or bytes written as a file into the container. */
export interface ContentToCopy {
  content: string | Uint8Array;
  /** The file's absolute path in the container. */
  target: string;
  /** @default 0o644 */
  mode?: number;
}

/** A tar archive extracted into the container. */
export interface ArchiveToCopy {
  tar: Readable | Uint8Array;
  /** The directory it is extracted into. @default "/" */
  target?: string;
}

/** A host path bind-mounted into the container. */
export interface BindMount {
  source: string;
  target: string;
  /** `"ro"` mounts it read-only. @default "rw" */
  mode?: "rw" | "ro";
}

/** Options of `withVolume`. */
export interface VolumeMountOptions {
  /** @default false */
  readOnly?: boolean;
}

/** Memory and CPU limits as testcontainers names them. */
export interface ResourcesQuota {
  /** Memory limit in GiB (fractions allowed: `0.5`). @default none */
  memory?: number;
  /** CPUs (fractions allowed: `0.5`). @default none */
  cpu?: number;
}

/** Something `withLogConsumer` hands the container's output stream to. */
export type LogConsumer = (stream: Readable) => unknown;

/**
 * Every option a {@link GenericContainer} collects. Kept as plain data (plus the network,
 * volume and wait objects) so that it can be hashed for reuse.
 */
export interface GenericContainerOptions {
  image: string;
  imageId?: string;
  name?: string;
  cmd?: string[];
  entrypoint?: string[];
  labels: Record<string, string>;
  env: Record<string, string>;
  exposedPorts: { port: number; protocol: "tcp" | "udp"; host?: number }[];
  mounts: string[];
  tmpfs: string[];
  networks: { network: Network; aliases: string[] }[];
  networkMode?: string;
  networkAliases: string[];
  extraHosts: { host: string; ipAddress: string }[];
  files: FileToCopy[];
  directories: DirectoryToCopy[];
  contents: ContentToCopy[];
  archives: ArchiveToCopy[];
  healthcheck?: HealthcheckOptions;
  startupTimeout?: number;
  waitStrategy?: WaitStrategy;
  pullPolicy?: "missing" | "always" | "never";
  reuse?: boolean;
  autoRemove?: boolean;
  autoCleanup?: boolean;
  logConsumers: LogConsumer[];
  privileged?: boolean;
  user?: string;
  workingDir?: string;
  resources?: ResourceLimits;
  shmSize?: number;
  hostname?: string;
  capAdd: string[];
  capDrop: string[];
  ulimits: Ulimit[];
  platform?: string;
}

/** Parses `6379`, `"53/udp"` or `{ container, host }`; a bad one is `BERTH_INVALID_ARGUMENT`. */
export function parsePortToExpose(value: PortToExpose): { port: number; protocol: "tcp" | "udp"; host?: number } {
  const spec = typeof value === "object" ? value.container : value;
  const match = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(String(spec).trim());
  const port = match ? Number(match[1]) : Number.NaN;
  const host = typeof value === "object" ? value.host : undefined;
  if (!match || port < 1 || port > 65535 || (host !== undefined && (!Number.isInteger(host) || host < 0 || host > 65535))) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid exposed port ${JSON.stringify(value)}: use 6379, "53/udp" or { container, host }`, { field: "exposedPorts" });
  }
  return { port, protocol: (match[2]?.toLowerCase() ?? "tcp") as "tcp" | "udp", ...(host !== undefined ? { host } : {}) };
}

/** Parses `6379` or `"6379/udp"` as given to `getMappedPort`. */
export function parsePortRef(value: number | string): ExposedPort & { protocol: "tcp" | "udp" } {
  const { port, protocol } = parsePortToExpose(value);
  return { port, protocol };
}

/**
 * The archive that puts files, directories and content at their absolute targets when
 * extracted at `base`, a directory all the targets are under.
 */
export async function copyArchive(files: readonly FileToCopy[], directories: readonly DirectoryToCopy[], contents: readonly ContentToCopy[], base = "/"): Promise<Readable> {
  const pack = tarStream.pack();
  const put = (name: string, body: Buffer, mode: number) =>
    new Promise<void>((resolve, reject) => pack.entry({ name: relativeTarget(name, base), mode, mtime: new Date() }, body, (error) => (error ? reject(error) : resolve())));
  try {
    for (const file of files) {
      const st = await stat(file.source);
      if (!st.isFile()) throw new BerthError("BERTH_INVALID_ARGUMENT", `${file.source} is not a file`, { path: file.source });
      await put(file.target, await readFile(file.source), file.mode ?? st.mode & 0o7777);
    }
    for (const content of contents) await put(content.target, Buffer.from(content.content), content.mode ?? 0o644);
    for (const dir of directories) await packDirectory(pack, dir, base);
  } catch (error) {
    pack.destroy();
    throw new BerthError(isBerthErrorLike(error) ? (error.code as "BERTH_INVALID_ARGUMENT") : "BERTH_IO", `cannot read what to copy into the container: ${(error as Error).message}`, { cause: error });
  }
  pack.finalize();
  // tar-stream's pack is a streamx Readable, which the engine reads like Node's.
  return pack as unknown as Readable;
}

/** Adds a host directory's entries under `dir.target` to `pack`, through tar-fs's packer. */
async function packDirectory(pack: tarStream.Pack, dir: DirectoryToCopy, base: string): Promise<void> {
  const st = await stat(dir.source);
  if (!st.isDirectory()) throw new BerthError("BERTH_INVALID_ARGUMENT", `${dir.source} is not a directory`, { path: dir.source });
  const prefix = relativeTarget(dir.target, base);
  await new Promise<void>((resolve, reject) => {
    const source = tarFs.pack(dir.source, {
      map: (header) => ({ ...header, name: header.name === "." ? prefix : `${prefix}/${header.name}`, ...(dir.mode !== undefined ? { mode: dir.mode } : {}) }),
    });
    const extract = tarStream.extract();
    extract.on("entry", (header, stream, next) => {
      stream.pipe(pack.entry(header, next) as NodeJS.WritableStream);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
    source.on("error", reject);
    source.pipe(extract);
  });
}

function relativeTarget(target: string, base: string): string {
  if (!target.startsWith("/")) throw new BerthError("BERTH_INVALID_ARGUMENT", `the target ${JSON.stringify(target)} must be an absolute path in the container`, { path: target });
  const name = posix.relative(base, posix.normalize(target));
  if (name === "" || name.startsWith("..") || target.split("/").includes("..")) throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid target ${JSON.stringify(target)}`, { path: target });
  return name;
}

/** The deepest directory every target is under (`/` at worst). */
export function commonParent(targets: readonly string[]): string {
  const parts = targets.map((t) => posix.dirname(posix.normalize(t)).split("/").filter(Boolean));
  const first = parts[0] ?? [];
  let depth = 0;
  while (depth < first.length && parts.every((p) => p[depth] === first[depth])) depth++;
  return `/${first.slice(0, depth).join("/")}`;
}

function isBerthErrorLike(error: unknown): error is { code: string } {
  return typeof (error as { code?: unknown })?.code === "string" && (error as { code: string }).code.startsWith("BERTH_");
}
