import type { Readable } from "node:stream";

/**
 * The contract between the registry client (`src/registry/registry-client.ts`, the HTTP
 * side of the OCI distribution protocol) and the code that pulls into and pushes from the
 * image store. The client knows nothing of the store; the store knows nothing of HTTP.
 */

/** A repository on a registry, as normalised by `src/image/reference.ts`. */
export interface RepositoryRef {
  /** The registry as Docker names it: `docker.io`, `localhost:5000`, `ghcr.io`. */
  registry: string;
  /** The repository path: `library/redis`, `org/app`. */
  repository: string;
}

/** Credentials for one registry. */
export type RegistryAuth =
  | {
      /** User name for basic auth or for the token service. */
      username: string;
      /** Password or access token. */
      password: string;
    }
  | {
      /** An identity (refresh) token, as `docker login` stores for some registries. */
      identityToken: string;
    }
  | {
      /** A bearer token sent as is. */
      registryToken: string;
    };

/** Bytes done and total of one blob transfer. */
export interface TransferProgress {
  /** The blob's digest. */
  digest: string;
  /** Bytes transferred so far. */
  current: number;
  /** The blob's size, when known. */
  total: number | undefined;
}

/** A manifest or index as fetched: raw bytes (the digest is over them) and its type. */
export interface FetchedManifest {
  mediaType: string;
  /** `sha256:…` of `bytes`; verified against the requested digest when one was asked for. */
  digest: string;
  bytes: Buffer;
}

/** What the store's pull and push need from a registry client. */
export interface RegistryTransport {
  /** Fetches a manifest or index by tag or digest (`Accept` covers OCI and Docker schema 2). */
  getManifest(repo: RepositoryRef, tagOrDigest: string): Promise<FetchedManifest>;
  /**
   * Streams a blob. The stream verifies size and digest as it flows and errors with
   * `BERTH_DIGEST_MISMATCH` or `BERTH_DOWNLOAD_TRUNCATED` at the end when they differ, so a
   * consumer that commits on `end` never commits bad bytes.
   */
  getBlob(
    repo: RepositoryRef,
    digest: string,
    options?: {
      size?: number;
      onProgress?: (p: TransferProgress) => void;
      signal?: AbortSignal;
      /**
       * Where a foreign (non-distributable) layer lives: tried in order before the registry,
       * with no credentials, the bytes verified against the digest all the same.
       */
      urls?: readonly string[];
      /**
       * Whether the stream hashes the bytes and fails on a digest mismatch. `false` only when
       * the consumer checks the digest itself before committing anything (the native layer
       * unpacker does); the size is checked either way. @default true
       */
      verifyDigest?: boolean;
    },
  ): Promise<Readable>;
  /** Whether the registry already has the blob (HEAD). */
  hasBlob(repo: RepositoryRef, digest: string): Promise<boolean>;
  /**
   * Uploads a blob unless present: tries a cross-repository mount from `mountFrom` first,
   * then a monolithic upload (or chunked when `chunkSize` is set). `open` may be called more
   * than once (retries), each time returning the blob's bytes from the start.
   */
  pushBlob(
    repo: RepositoryRef,
    digest: string,
    size: number,
    open: () => Readable,
    options?: { mountFrom?: RepositoryRef; chunkSize?: number; onProgress?: (p: TransferProgress) => void },
  ): Promise<void>;
  /** Uploads a manifest under a tag or its digest; returns the digest the registry reports. */
  putManifest(repo: RepositoryRef, tagOrDigest: string, mediaType: string, bytes: Buffer): Promise<string>;
}
