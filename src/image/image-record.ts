/** One layer of a stored image. */
export interface LayerRecord {
  /** `sha256:` of the blob as stored and pushed (compressed, usually). */
  digest: string;
  /** Size of the blob in bytes. */
  size: number;
  /** The blob's media type as the manifest names it. */
  mediaType: string;
  /** `sha256:` of the uncompressed tar. */
  diffId: string;
  /** The chain ID that names this layer's snapshot. */
  chainId: string;
}

/** A repository a blob is known to be in; push mounts from it on the same registry. */
export interface BlobSource {
  registry: string;
  repository: string;
}

/** What the store keeps about one image (`images/<id hex>.json`). */
export interface ImageRecord {
  /** The image ID: the config digest, as Docker defines it. */
  id: string;
  /** Digest of the manifest stored for the image. */
  manifestDigest: string;
  /** Media type of that manifest (OCI or Docker schema 2). */
  manifestMediaType: string;
  /** `registry/repository@sha256:…` of each manifest the image was pulled or pushed as. */
  repoDigests: string[];
  layers: LayerRecord[];
  /** Repositories the image's blobs were pulled from or pushed to. */
  sources: BlobSource[];
  /** Bytes of file content in the unpacked layers. */
  unpackedSize: number;
  /** When the image entered this store (ISO 8601). */
  addedAt: string;
}
