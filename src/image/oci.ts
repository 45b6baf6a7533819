import { createHash } from "node:crypto";
import { BerthError } from "../common/berth-error.js";

/** Media types berth reads; Docker schema 2 and OCI image-spec v1. */
export const mediaTypes = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNondistGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

export const indexMediaTypes: ReadonlySet<string> = new Set([mediaTypes.ociIndex, mediaTypes.dockerManifestList]);
export const manifestMediaTypes: ReadonlySet<string> = new Set([mediaTypes.ociManifest, mediaTypes.dockerManifest]);
export const configMediaTypes: ReadonlySet<string> = new Set([mediaTypes.ociConfig, mediaTypes.dockerConfig]);
export const layerMediaTypes: ReadonlySet<string> = new Set([
  mediaTypes.ociLayer,
  mediaTypes.ociLayerGzip,
  mediaTypes.ociLayerZstd,
  mediaTypes.ociLayerNondistGzip,
  mediaTypes.dockerLayerGzip,
  mediaTypes.dockerLayer,
  mediaTypes.dockerForeignLayerGzip,
]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The runtime part of an image config, as Docker and OCI name its fields. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  [key: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

/** `sha256:` + the hex SHA-256 of `bytes`. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The hex part of a `sha256:` digest, validated so it is safe as a file name. */
export function digestHex(digest: string): string {
  const match = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!match) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `unsupported or malformed digest ${JSON.stringify(digest)}`, {
      digest,
    });
  }
  return match[1]!;
}

/** The chain IDs of a layer stack (OCI image-spec): each names the layer and all below it. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    out.push(out.length === 0 ? diffId : sha256Digest(`${out[out.length - 1]} ${diffId}`));
  }
  return out;
}

/** Parses JSON that came from outside (a registry, an archive), as `BERTH_ARCHIVE_INVALID`/given code. */
export function parseJson<T>(bytes: Uint8Array | string, what: string, code: "BERTH_ARCHIVE_INVALID" | "BERTH_REGISTRY_PROTOCOL" = "BERTH_ARCHIVE_INVALID"): T {
  try {
    return JSON.parse(typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8")) as T;
  } catch (error) {
    throw new BerthError(code, `${what} is not valid JSON`, { cause: error });
  }
}

/** The platform of this host, as OCI names it (`linux/amd64`, `linux/arm64/v8`). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  const architecture = arch[process.arch] ?? process.arch;
  if (architecture === "arm64") return { os: "linux", architecture, variant: "v8" };
  return { os: "linux", architecture };
}

/** Parses `linux/arm64/v8` (or `linux/amd64`) into a platform. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split("/");
  if (!os || !architecture || rest.length > 0) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `bad platform ${JSON.stringify(text)}: expected os/arch[/variant]`, {
      platform: text,
    });
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/**
 * Whether `candidate` serves `wanted`. As containerd does, arm64 without a variant is v8 and
 * a wanted variant must match when the candidate names one.
 */
export function platformMatches(wanted: Platform, candidate: Platform | undefined): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  const norm = (p: Platform) => p.variant ?? (p.architecture === "arm64" ? "v8" : undefined);
  const w = norm(wanted);
  const c = norm(candidate);
  return w === undefined || c === undefined || w === c;
}
