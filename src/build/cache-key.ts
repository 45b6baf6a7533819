import { createHash } from "node:crypto";
import { BerthError } from "../common/index.js";
import type { RunMount } from "./run-mounts.js";
import type { CopyStep, RunStep, WorkdirStep } from "./stage-evaluator.js";

/**
 * Build cache keys. A filesystem step's key is the sha256 of a canonical JSON document:
 *
 * - `v`: the key format version (bumped whenever the document changes meaning);
 * - `parent`: the previous filesystem step's key in the stage, or the base image's digest
 *   (`scratch` for none). Metadata instructions (LABEL, EXPOSE, CMD...) are not parents, as in
 *   BuildKit: they change a later step's key only through what that step runs with. A
 *   `COPY --link` has no parent: the executor passes `link <uid>:<gid>` (the owner `--chown`
 *   resolves to), so its hit survives a change of what is below it;
 * - RUN: the argv (shell already prepended), the full environment sorted by name (which holds
 *   the stage's ARG values and ENV), user, working directory, the declared ARGs with their
 *   values (Docker's rule: a RUN depends on every build arg declared in its stage), the mounts
 *   (secrets by id only, never content; bind and cache sources by the digest of where they
 *   come from), network and security modes, and inline heredoc scripts. Proxy args given but
 *   not declared are left out, as Docker leaves them out;
 * - COPY/ADD: the keyword, the sources as written after expansion, inline heredoc files, the
 *   absolute destination, the content hash of the selected files (see `context-hash.ts`) or of
 *   the stage/image they come from, and every flag that changes the result (chown, chmod,
 *   link, exclude, parents, checksum, keep-git-dir, unpack). USER and ENV do not matter;
 * - WORKDIR: the path and the user that owns what it creates.
 *
 * Keys are stable across processes and machines: no timestamps, paths of the context on
 * disk, or object key order enter them.
 */

/** Version of the key document; part of every key. */
export const cacheKeyVersion = 1;

/** Input of {@link stepCacheKey}. */
export interface StepCacheKeyInput {
  /** The parent key, or the base image digest, or `"scratch"`. */
  parent: string;
  step: RunStep | CopyStep | WorkdirStep;
  /**
   * For COPY/ADD: the content hash of the sources (`hashCopySources`), or the key/digest of the
   * stage or image named by `--from`, or of the downloaded URL.
   */
  sourceDigest?: string;
  /**
   * For RUN: the digest of each mount's `from` (a stage key or an image digest), by the `from`
   * value as written; mounts of the context use the key `"context"`.
   * @default {}
   */
  mountDigests?: Readonly<Record<string, string>>;
}

function sortedEnv(env: readonly string[]): string[] {
  return [...env].sort((a, b) => {
    const ka = a.split("=", 1)[0]!;
    const kb = b.split("=", 1)[0]!;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

function mountDocument(m: RunMount, digests: Readonly<Record<string, string>>): unknown {
  const fromDigest = m.type === "bind" || m.type === "cache" ? (digests[m.from ?? "context"] ?? null) : null;
  if (m.type === "bind" && fromDigest === null) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `no digest given for the bind mount source ${m.from ?? "context"}`, { field: "mountDigests" });
  }
  return [m.type, m.target ?? null, m.source ?? null, m.from ?? null, fromDigest, m.readonly, m.id ?? null, m.sharing ?? null, m.mode ?? null, m.uid ?? null, m.gid ?? null, m.required, m.env ?? null, m.size ?? null];
}

/** The cache key (`sha256:<hex>`) of a filesystem step; see the module comment for what it covers. */
export function stepCacheKey(input: StepCacheKeyInput): string {
  const { step } = input;
  let doc: unknown;
  switch (step.kind) {
    case "run": {
      const e = step.environment;
      doc = {
        v: cacheKeyVersion,
        parent: input.parent,
        kind: "run",
        command: step.command,
        env: sortedEnv(e.env),
        user: e.user,
        workdir: e.workdir,
        args: [...e.args].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((a) => [a.name, a.value ?? null]),
        mounts: step.mounts.map((m) => mountDocument(m, input.mountDigests ?? {})),
        network: step.network,
        security: step.security,
        files: step.files.map((f) => [f.path, f.mode, f.content]),
      };
      break;
    }
    case "copy": {
      if (input.sourceDigest === undefined && step.sources.length > 0) {
        throw new BerthError("BERTH_INVALID_ARGUMENT", `the cache key of ${step.keyword} on line ${step.instruction.startLine} needs the sources' digest`, {
          field: "sourceDigest",
        });
      }
      const f = step.flags;
      doc = {
        v: cacheKeyVersion,
        parent: input.parent,
        kind: step.keyword.toLowerCase(),
        sources: step.sources,
        inline: step.inline.map((i) => [i.name, i.content]),
        destination: step.absoluteDestination,
        sourceDigest: input.sourceDigest ?? null,
        from: f.from ?? null,
        chown: f.chown ? `${f.chown.user}:${f.chown.group ?? ""}` : null,
        chmod: f.chmod?.text ?? null,
        link: f.link,
        exclude: f.exclude,
        parents: f.parents,
        checksum: f.checksum ?? null,
        keepGitDir: f.keepGitDir,
        unpack: f.unpack ?? null,
      };
      break;
    }
    case "workdir":
      doc = { v: cacheKeyVersion, parent: input.parent, kind: "workdir", path: step.path, user: step.user };
      break;
  }
  return `sha256:${createHash("sha256").update(JSON.stringify(doc)).digest("hex")}`;
}
