import { createHash } from "node:crypto";
import { BerthError } from "../common/index.js";

/** The manifest media types berth understands, in the order of preference sent in `Accept`. */
export const manifestMediaTypes = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
] as const;

/** Docker caps manifests at 4 MiB; a larger answer is refused rather than buffered. */
export const maxManifestBytes = 4 * 1024 * 1024;

/** The algorithm of a `sha256:` or `sha512:` digest; anything else is refused. */
export function digestAlgorithm(digest: string, subject: string): "sha256" | "sha512" {
  const match = /^(sha256|sha512):([a-f0-9]+)$/.exec(digest);
  if (!match || match[2]!.length !== (match[1] === "sha256" ? 64 : 128)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `${subject}: ${JSON.stringify(digest)} is not a sha256 or sha512 digest`, {
      digest,
    });
  }
  return match[1] as "sha256" | "sha512";
}

/**
 * The manifest's media type: the `Content-Type` when it names one, else the `mediaType` field
 * or the shape of the document (OCI allows both to be missing; some registries answer
 * `application/json`). Docker schema 1 and anything else unknown are refused.
 */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer, subject: string): string {
  const declared = contentType?.split(";")[0]?.trim().toLowerCase();
  let mediaType = declared;
  if (!declared || declared === "application/json" || declared === "text/plain" || declared === "application/octet-stream") {
    try {
      const doc = JSON.parse(bytes.toString("utf8")) as { mediaType?: string; manifests?: unknown; layers?: unknown; schemaVersion?: number };
      mediaType =
        doc.mediaType ??
        (Array.isArray(doc.manifests)
          ? "application/vnd.oci.image.index.v1+json"
          : Array.isArray(doc.layers)
            ? "application/vnd.oci.image.manifest.v1+json"
            : doc.schemaVersion === 1
              ? "application/vnd.docker.distribution.manifest.v1+json"
              : declared);
    } catch (error) {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `${subject} is not JSON`, { cause: error });
    }
  }
  if (!mediaType || !(manifestMediaTypes as readonly string[]).includes(mediaType)) {
    throw new BerthError(
      "BERTH_MEDIA_TYPE_UNSUPPORTED",
      `${subject} has media type ${mediaType ?? "(none)"}; berth reads ${manifestMediaTypes.join(", ")}`,
      { mediaType },
    );
  }
  return mediaType;
}

/**
 * The digest of a manifest, computed over the exact bytes received, checked against the
 * digest asked for and against the registry's `Docker-Content-Digest`.
 */
export function verifyManifestDigest(bytes: Buffer, tagOrDigest: string, reported: string | undefined, subject: string): string {
  const requested = tagOrDigest.includes(":") ? tagOrDigest : undefined;
  const algorithm = requested ? digestAlgorithm(requested, subject) : "sha256";
  const digest = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
  if (requested && requested !== digest) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `${subject}: received bytes hash to ${digest}`, { expected: requested, actual: digest });
  }
  if (reported && reported.startsWith(`${algorithm}:`) && reported !== digest) {
    throw new BerthError("BERTH_DIGEST_MISMATCH", `${subject}: received bytes hash to ${digest}, the registry says ${reported}`, {
      expected: reported,
      actual: digest,
    });
  }
  return digest;
}

