import { BerthError } from "../common/berth-error.js";

/** A parsed, normalised image reference. Compatible with `RepositoryRef` of the registry layer. */
export interface ImageReference {
  /** The registry as Docker names it: `docker.io`, `localhost:5000`, `ghcr.io`. */
  registry: string;
  /** The repository path: `library/redis`, `org/app`. */
  repository: string;
  /** The tag; `latest` when neither a tag nor a digest was given. */
  tag: string | undefined;
  /** `sha256:…` when given; it wins over the tag when both are. */
  digest: string | undefined;
}

export const defaultRegistry = "docker.io";
const legacyDefaultRegistry = "index.docker.io";
const officialPrefix = "library/";

// The grammar of github.com/distribution/reference, which Docker follows.
const pathComponent = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const ipv6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainRe = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?$`);
const pathRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const sha256Re = /^sha256:[a-f0-9]{64}$/;
const bareIdRe = /^[a-f0-9]{64}$/;
const maxNameLength = 255;

function invalid(reference: string, reason: string): BerthError {
  return new BerthError("BERTH_REFERENCE_INVALID", `invalid image reference ${JSON.stringify(reference)}: ${reason}`, {
    image: reference,
  });
}

/**
 * Parses `reference` and normalises it as Docker does: `redis` →
 * `docker.io/library/redis:latest`; the first path component is a registry host when it
 * holds a `.` or a `:`, is `localhost`, or has an upper-case letter; `name:tag@sha256:…` keeps
 * both but the digest is what gets pulled. Fails with `BERTH_REFERENCE_INVALID`.
 */
export function parseReference(reference: string): ImageReference {
  if (typeof reference !== "string" || reference.length === 0) throw invalid(String(reference), "empty");
  if (reference !== reference.trim()) throw invalid(reference, "surrounding whitespace");

  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestRe.test(digest)) throw invalid(reference, `bad digest ${JSON.stringify(digest)}`);
    if (digest.startsWith("sha256:") && !sha256Re.test(digest)) {
      throw invalid(reference, "a sha256 digest has 64 lower-case hex characters");
    }
  }

  // A tag is after the last ':' that comes after the last '/', so `localhost:5000/app` has none.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw invalid(reference, `bad tag ${JSON.stringify(tag)}`);
  }
  if (rest.length === 0) throw invalid(reference, "no repository name");
  if (bareIdRe.test(rest)) {
    throw invalid(reference, "a 64-character hex string is an image ID, not a repository name");
  }

  let registry = defaultRegistry;
  let repository = rest;
  const slash = rest.indexOf("/");
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first.toLowerCase() !== first) {
      registry = first;
      repository = rest.slice(slash + 1);
      if (!domainRe.test(registry)) throw invalid(reference, `bad registry host ${JSON.stringify(registry)}`);
    }
  }
  if (registry === legacyDefaultRegistry) registry = defaultRegistry;
  if (repository.toLowerCase() !== repository) throw invalid(reference, "repository name must be lowercase");
  if (!pathRe.test(repository)) throw invalid(reference, `bad repository name ${JSON.stringify(repository)}`);
  if (registry === defaultRegistry && !repository.includes("/")) repository = officialPrefix + repository;
  if (registry.length + 1 + repository.length > maxNameLength) {
    throw invalid(reference, `name longer than ${maxNameLength} characters`);
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository, tag, digest };
}

/** The full normalised name without tag or digest: `docker.io/library/redis`. */
export function repositoryName(ref: Pick<ImageReference, "registry" | "repository">): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The full normalised form: `docker.io/library/redis:7`, `…@sha256:…`, or both. */
export function formatReference(ref: ImageReference): string {
  let out = repositoryName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** The name as Docker shows it: `redis:latest`, `org/app:1`, `localhost:5000/app:dev`. */
export function familiarName(ref: ImageReference): string {
  let name = repositoryName(ref);
  if (ref.registry === defaultRegistry) {
    name = ref.repository.startsWith(officialPrefix) ? ref.repository.slice(officialPrefix.length) : ref.repository;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** Whether `value` is a valid `sha256:<64 hex>` digest. */
export function isSha256Digest(value: string): boolean {
  return sha256Re.test(value);
}
