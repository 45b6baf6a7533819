import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { BerthError, logger } from "../common/index.js";
import type { BerthErrorCode } from "../common/index.js";
import { EndpointAuthenticator, UnauthorizedSignal, normaliseScopes } from "./auth.js";
import type { CredentialLookup } from "./auth.js";
import { eraseCredentials, resolveCredentials, storeCredentials } from "./credentials.js";
import { digestAlgorithm, manifestMediaType, manifestMediaTypes, maxManifestBytes, verifyManifestDigest } from "./manifest-checks.js";
import { hostOptionsFromEnv, readCertsDir, registryEndpoints, registryHostname } from "./registry-hosts.js";
import type { RegistryEndpoint, RegistryHostOptions, RegistryTlsFiles } from "./registry-hosts.js";
import {
  HttpAgents,
  discardBody,
  isTlsError,
  isTransientNetworkError,
  readBody,
  readRegistryErrors,
  sendHttpRequest,
} from "./registry-http.js";
import type { HttpRequest, HttpResponse, TlsMaterial } from "./registry-http.js";
import { RetryableStatus, retryAfter, retryRegistryCall } from "./registry-retry.js";
import type { RetryPolicy } from "./registry-retry.js";
import type { RegistryClientOptions, RegistryLoginOptions, RegistryLoginResult } from "./registry-client-options.js";
import type { FetchedManifest, RegistryTransport, RepositoryRef, TransferProgress } from "./types.js";
import { VerifyingStream, withProgress } from "./verifying-stream.js";
import { parseWwwAuthenticate } from "./www-authenticate.js";

const log = logger("registry");

type Access = "pull" | "push";

interface RequestSpec {
  endpoint: RegistryEndpoint;
  method: HttpRequest["method"];
  /** A path under the endpoint (`/v2/...`) or an absolute URL (an upload location). */
  path: string | URL;
  scopes: string[];
  headers?: Record<string, string>;
  body?: HttpRequest["body"];
  signal?: AbortSignal;
  /** Statuses the caller handles itself; any other non-2xx is turned into an error. */
  accept?: number[];
  /** What the request is about, for messages: `manifest docker.io/library/redis:7`. */
  subject: string;
  /**
   * Whether this layer retries the request. Requests inside an upload session do not: a
   * PATCH repeated after a lost answer would not line up with what the registry holds, so
   * the whole upload is retried instead.
   */
  retry?: boolean;
}

/**
 * The HTTP side of the OCI distribution API (v2), speaking to Docker Hub, any OCI registry,
 * mirrors and local registries, with Docker's authentication flows. One client keeps its
 * connections, TLS settings and tokens; share it across pulls and call {@link close} when done.
 */
export class RegistryClient implements RegistryTransport {
  private readonly agents: HttpAgents;
  private readonly hostOptions: Required<RegistryHostOptions>;
  private readonly authenticators = new Map<string, EndpointAuthenticator>();
  private readonly tlsCache = new Map<string, Promise<TlsMaterial>>();
  private readonly timeout: number;
  private readonly retryPolicy: RetryPolicy;
  private readonly userAgent: string;
  private readonly extraCa: string[];
  private readonly certsDir: string;

  constructor(private readonly options: RegistryClientOptions = {}) {
    const fromEnv = hostOptionsFromEnv(options.env ?? process.env);
    this.agents = new HttpAgents(options.env ?? process.env);
    this.hostOptions = {
      insecureRegistries: options.insecureRegistries ?? fromEnv.insecureRegistries,
      mirrors: options.mirrors ?? fromEnv.mirrors,
    };
    this.timeout = options.timeout ?? 30_000;
    this.retryPolicy = {
      retries: options.retries ?? 4,
      retryDelay: options.retryDelay ?? 500,
      maxRetryAfter: options.maxRetryAfter ?? 60_000,
    };
    this.userAgent = options.userAgent ?? "berth/0.1.0";
    const ca = options.ca === undefined ? [] : Array.isArray(options.ca) ? options.ca : [options.ca];
    this.extraCa = (ca as Array<string | Buffer>).map((c) => c.toString());
    this.certsDir = options.certsDir ?? "/etc/docker/certs.d";
  }

  /** Closes kept-alive connections. The client still works afterwards, opening new ones. */
  close(): void {
    this.agents.destroy();
  }

  async getManifest(repo: RepositoryRef, tagOrDigest: string): Promise<FetchedManifest> {
    const subject = manifestSubject(repo, tagOrDigest);
    return this.withEndpoints(repo.registry, false, async (endpoint) => {
      const response = await this.request({
        endpoint,
        method: "GET",
        path: `/v2/${repo.repository}/manifests/${tagOrDigest}`,
        scopes: [scope(repo, "pull")],
        headers: { Accept: manifestMediaTypes.join(", ") },
        subject,
      });
      const bytes = await readBody(response, maxManifestBytes);
      const mediaType = manifestMediaType(response.headers["content-type"], bytes, subject);
      const digest = verifyManifestDigest(bytes, tagOrDigest, header(response.headers["docker-content-digest"]), subject);
      return { mediaType, digest, bytes };
    });
  }

  /**
   * The digest, media type and size of a manifest without its body (HEAD), or undefined when
   * the registry has no such tag or digest. A pull of an image already stored uses this to
   * skip the download.
   */
  async headManifest(
    repo: RepositoryRef,
    tagOrDigest: string,
  ): Promise<{ digest: string | undefined; mediaType: string | undefined; size: number | undefined } | undefined> {
    const subject = manifestSubject(repo, tagOrDigest);
    return this.withEndpoints(repo.registry, false, async (endpoint) => {
      const response = await this.request({
        endpoint,
        method: "HEAD",
        path: `/v2/${repo.repository}/manifests/${tagOrDigest}`,
        scopes: [scope(repo, "pull")],
        headers: { Accept: manifestMediaTypes.join(", ") },
        accept: [404],
        subject,
      });
      discardBody(response);
      if (response.status === 404) return undefined;
      const length = Number(response.headers["content-length"]);
      return {
        digest: header(response.headers["docker-content-digest"]),
        mediaType: header(response.headers["content-type"])?.split(";")[0]?.trim(),
        size: Number.isFinite(length) ? length : undefined,
      };
    });
  }

  async getBlob(
    repo: RepositoryRef,
    digest: string,
    options: {
      size?: number;
      onProgress?: (p: TransferProgress) => void;
      signal?: AbortSignal;
      urls?: readonly string[];
      verifyDigest?: boolean;
    } = {},
  ): Promise<Readable> {
    const subject = `blob ${digest} of ${repo.registry}/${repo.repository}`;
    const algorithm = digestAlgorithm(digest, subject);
    // A foreign layer (Windows base layers, some licensed content) is fetched from its URLs,
    // as Docker does, and from the registry only when none of them answers.
    for (const url of options.urls ?? []) {
      try {
        return await this.getForeignBlob(new URL(url), digest, algorithm, options);
      } catch (error) {
        options.signal?.throwIfAborted();
        log("foreign layer %s: %s failed (%s), trying the next source", digest, url, (error as Error).message);
      }
    }
    return this.withEndpoints(repo.registry, false, async (endpoint) => {
      const response = await this.request({
        endpoint,
        method: "GET",
        path: `/v2/${repo.repository}/blobs/${digest}`,
        scopes: [scope(repo, "pull")],
        signal: options.signal,
        subject,
      });
      const length = Number(response.headers["content-length"]);
      const expected = options.size ?? (Number.isFinite(length) ? length : undefined);
      const verifier = new VerifyingStream(digest, algorithm, expected, subject, options.onProgress, options.verifyDigest !== false);
      let current = response;
      let resumes = 0;
      // Bytes handed to the verifier, which may not have hashed them all yet: a resume
      // starts after them, never after `verifier.received`, or bytes would repeat.
      let delivered = 0;
      const truncated = (cause: unknown): BerthError =>
        new BerthError("BERTH_DOWNLOAD_TRUNCATED", `${subject} broke off after ${verifier.received} of ${expected ?? "?"} bytes`, {
          digest,
          registry: repo.registry,
          received: verifier.received,
          expected,
          cause,
        });
      // A connection that breaks midway is resumed from the byte where it stopped with a
      // Range request, as Docker does, so a large layer survives a flaky network. A registry
      // that ignores Range (answers 200) cannot be resumed: the bytes already passed on.
      const resume = async (cause: unknown): Promise<void> => {
        resumes++;
        log("%s broke off after %d bytes, resuming (%d)", subject, delivered, resumes);
        const next = await this.request({
          endpoint,
          method: "GET",
          path: `/v2/${repo.repository}/blobs/${digest}`,
          scopes: [scope(repo, "pull")],
          headers: { Range: `bytes=${delivered}-` },
          signal: options.signal,
          accept: [206, 200, 416],
          subject,
        });
        const range = /^bytes (\d+)-/.exec(header(next.headers["content-range"]) ?? "");
        if (next.status !== 206 || !range || Number(range[1]) !== delivered) {
          discardBody(next);
          throw truncated(cause);
        }
        if (verifier.destroyed) {
          next.body.destroy();
          return;
        }
        attach(next);
      };
      const attach = (source: HttpResponse): void => {
        current = source;
        source.body.on("data", (chunk: Buffer) => {
          delivered += chunk.length;
        });
        source.body.on("error", (error) => {
          source.body.unpipe(verifier);
          const cause = source.stopReason ?? error;
          if (options.signal?.aborted) {
            verifier.destroy(options.signal.reason as Error);
          } else if (verifier.destroyed) {
            // The consumer gave up; nothing to report.
          } else if (resumes < this.retryPolicy.retries && isTransientNetworkError(cause)) {
            resume(cause).catch((failure: unknown) => verifier.destroy(failure as Error));
          } else {
            verifier.destroy(truncated(cause));
          }
        });
        source.body.pipe(verifier);
      };
      // A consumer that gives up (destroys the stream) must free the socket too.
      verifier.on("close", () => {
        if (!current.body.complete) current.body.destroy();
      });
      // See getForeignBlob: a verdict before the consumer attaches stays on the stream.
      verifier.on("error", () => {});
      attach(response);
      return verifier;
    });
  }

  /** One GET of a foreign layer's URL: no credentials, plain redirects, verified like any blob. */
  private async getForeignBlob(
    url: URL,
    digest: string,
    algorithm: "sha256" | "sha512",
    options: { size?: number; onProgress?: (p: TransferProgress) => void; signal?: AbortSignal; verifyDigest?: boolean },
  ): Promise<Readable> {
    const subject = `foreign layer ${digest} from ${url.href}`;
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `${subject}: only http and https URLs are fetched`, { url: url.href });
    }
    const response = await this.send({ baseUrl: url.origin, registry: url.host, mirror: false }, {
      method: "GET",
      url,
      headers: {},
      timeout: this.timeout,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status !== 200) {
      discardBody(response);
      throw new BerthError("BERTH_REGISTRY_NOT_FOUND", `${subject}: answered ${response.status}`, { url: url.href, status: response.status });
    }
    const length = Number(response.headers["content-length"]);
    const verifier = new VerifyingStream(
      digest,
      algorithm,
      options.size ?? (Number.isFinite(length) ? length : undefined),
      subject,
      options.onProgress,
      options.verifyDigest !== false,
    );
    response.body.on("error", (error) => verifier.destroy(new BerthError("BERTH_DOWNLOAD_TRUNCATED", `${subject} broke off`, { url: url.href, cause: response.stopReason ?? error })));
    verifier.on("close", () => {
      if (!response.body.complete) response.body.destroy();
    });
    // A small body ends (and is judged) before the consumer attaches: the verdict stays on the
    // stream (`errored`) for the consumer's pipeline, and must not be an uncaught exception.
    verifier.on("error", () => {});
    response.body.pipe(verifier);
    return verifier;
  }

  async hasBlob(repo: RepositoryRef, digest: string): Promise<boolean> {
    return this.blobExists(repo, digest, "pull");
  }

  private async blobExists(repo: RepositoryRef, digest: string, access: Access): Promise<boolean> {
    const subject = `blob ${digest} of ${repo.registry}/${repo.repository}`;
    return this.withEndpoints(repo.registry, access === "push", async (endpoint) => {
      const response = await this.request({
        endpoint,
        method: "HEAD",
        path: `/v2/${repo.repository}/blobs/${digest}`,
        scopes: [scope(repo, access)],
        accept: [404],
        subject,
      });
      discardBody(response);
      return response.status !== 404;
    });
  }

  async pushBlob(
    repo: RepositoryRef,
    digest: string,
    size: number,
    open: () => Readable,
    options: { mountFrom?: RepositoryRef; chunkSize?: number; onProgress?: (p: TransferProgress) => void } = {},
  ): Promise<void> {
    const subject = `blob ${digest} to ${repo.registry}/${repo.repository}`;
    digestAlgorithm(digest, subject);
    const [endpoint] = registryEndpoints(repo.registry, this.hostOptions, true);
    const done = (): void => options.onProgress?.({ digest, current: size, total: size });
    if (await this.blobExists(repo, digest, "push")) {
      log("%s already there", subject);
      done();
      return;
    }
    const mountFrom = options.mountFrom?.registry === repo.registry ? options.mountFrom : undefined;
    const scopes = [scope(repo, "push")];
    if (mountFrom) scopes.push(scope(mountFrom, "pull"));
    // The whole upload is the unit of retry: an upload session that failed midway is
    // abandoned (the registry expires it) and a new one starts from the first byte.
    await retryRegistryCall(this.retryPolicy, subject, async () => {
      const post = new URL(`/v2/${repo.repository}/blobs/uploads/`, endpoint!.baseUrl);
      if (mountFrom) {
        post.searchParams.set("mount", digest);
        post.searchParams.set("from", mountFrom.repository);
      }
      const started = await this.request({
        endpoint: endpoint!,
        method: "POST",
        path: post,
        scopes,
        subject,
        accept: [201, 202],
        retry: false,
      });
      discardBody(started);
      if (started.status === 201) {
        log("%s mounted from %s", subject, mountFrom?.repository);
        done();
        return;
      }
      // 202 on a mount request: the registry declined to mount and opened an upload instead.
      let location = uploadLocation(started, subject);
      if (options.chunkSize !== undefined && options.chunkSize > 0 && options.chunkSize < size) {
        location = await this.uploadChunks(endpoint!, scopes, location, digest, size, open, options.chunkSize, subject, options.onProgress);
        await this.finishUpload(endpoint!, scopes, location, digest, Buffer.alloc(0), subject);
      } else {
        const body = (): Readable => withProgress(open(), digest, size, options.onProgress);
        await this.finishUpload(endpoint!, scopes, location, digest, body, subject, size);
      }
      done();
    });
  }

  private async uploadChunks(
    endpoint: RegistryEndpoint,
    scopes: string[],
    start: URL,
    digest: string,
    size: number,
    open: () => Readable,
    chunkSize: number,
    subject: string,
    onProgress: ((p: TransferProgress) => void) | undefined,
  ): Promise<URL> {
    let location = start;
    let offset = 0;
    const send = async (chunk: Buffer): Promise<void> => {
      const response = await this.request({
        endpoint,
        method: "PATCH",
        path: location,
        scopes,
        headers: {
          "Content-Type": "application/octet-stream",
          "Content-Range": `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
        accept: [202],
        subject,
        retry: false,
      });
      discardBody(response);
      location = uploadLocation(response, subject);
      offset += chunk.length;
      onProgress?.({ digest, current: offset, total: size });
    };
    let pending: Buffer[] = [];
    let pendingLength = 0;
    for await (const piece of open() as AsyncIterable<Buffer>) {
      let rest = piece;
      while (pendingLength + rest.length >= chunkSize) {
        const take = chunkSize - pendingLength;
        pending.push(rest.subarray(0, take));
        rest = rest.subarray(take);
        await send(Buffer.concat(pending, chunkSize));
        pending = [];
        pendingLength = 0;
      }
      if (rest.length > 0) {
        pending.push(rest);
        pendingLength += rest.length;
      }
    }
    if (pendingLength > 0) await send(Buffer.concat(pending, pendingLength));
    if (offset !== size) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `${subject}: the source gave ${offset} bytes, ${size} were announced`, {
        digest,
        size,
      });
    }
    return location;
  }

  private async finishUpload(
    endpoint: RegistryEndpoint,
    scopes: string[],
    location: URL,
    digest: string,
    body: Buffer | (() => Readable),
    subject: string,
    size?: number,
  ): Promise<void> {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream" };
    if (size !== undefined) headers["Content-Length"] = String(size);
    const response = await this.request({
      endpoint,
      method: "PUT",
      path: url,
      scopes,
      headers,
      body,
      accept: [201, 204],
      subject,
      retry: false,
    });
    discardBody(response);
    const reported = header(response.headers["docker-content-digest"]);
    if (reported && reported !== digest) {
      throw new BerthError("BERTH_DIGEST_MISMATCH", `${subject}: the registry stored ${reported}, not ${digest}`, {
        digest,
        reported,
      });
    }
  }

  async putManifest(repo: RepositoryRef, tagOrDigest: string, mediaType: string, bytes: Buffer): Promise<string> {
    const subject = manifestSubject(repo, tagOrDigest);
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (tagOrDigest.includes(":")) verifyManifestDigest(bytes, tagOrDigest, undefined, subject);
    const [endpoint] = registryEndpoints(repo.registry, this.hostOptions, true);
    const response = await this.request({
      endpoint: endpoint!,
      method: "PUT",
      path: `/v2/${repo.repository}/manifests/${tagOrDigest}`,
      scopes: [scope(repo, "push")],
      headers: { "Content-Type": mediaType },
      body: bytes,
      accept: [201, 200, 202],
      subject,
    });
    discardBody(response);
    return header(response.headers["docker-content-digest"]) ?? digest;
  }

  /**
   * Checks credentials against a registry as `docker login` does (the `/v2/` endpoint,
   * through its token service when it has one) and saves them where `docker login` would:
   * the credential helper for the registry, else `auths` in the Docker config file.
   * Fails with `BERTH_REGISTRY_UNAUTHORIZED` when the registry refuses them.
   */
  async login(
    registry: string,
    auth: { username: string; password: string },
    options: RegistryLoginOptions = {},
  ): Promise<RegistryLoginResult> {
    const [endpoint] = registryEndpoints(registry, this.hostOptions, true);
    const subject = `login to ${registry}`;
    const authenticator = new EndpointAuthenticator(
      registry,
      async () => ({ auth, source: "the login credentials", searched: ["the login credentials"] }),
      (r) => this.fetchToken(endpoint!, r),
    );
    const ping = async (authorization: string | undefined): Promise<HttpResponse> =>
      retryRegistryCall(this.retryPolicy, subject, async () => {
        const response = await this.send(endpoint!, {
          method: "GET",
          url: new URL("/v2/", endpoint!.baseUrl),
          headers: authorization ? { Authorization: authorization } : {},
          timeout: this.timeout,
        });
        if (response.status >= 500 || response.status === 429) {
          discardBody(response);
          throw new RetryableStatus(response.status, retryAfter(response.headers["retry-after"]), `${subject}: ${response.status}`);
        }
        return response;
      });
    const refused = (detail: string): BerthError =>
      new BerthError("BERTH_REGISTRY_UNAUTHORIZED", `${registry} refused the login of ${auth.username}: ${detail}`, {
        registry,
      });
    let identityToken: string | undefined;
    const first = await ping(undefined);
    discardBody(first);
    if (first.status === 401) {
      const challenges = parseWwwAuthenticate(first.headers["www-authenticate"]);
      const bearer = challenges.find((c) => c.scheme === "bearer");
      if (bearer) {
        try {
          const answer = await authenticator.requestTokenAnswer(bearer, [], auth, { offline: true });
          identityToken = answer.refreshToken;
        } catch (error) {
          if (error instanceof UnauthorizedSignal) throw refused(error.detail);
          throw error;
        }
      } else {
        const second = await ping(`Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`);
        discardBody(second);
        if (second.status === 401 || second.status === 403) throw refused(`${second.status} from /v2/`);
        if (second.status >= 400) throw unexpectedStatus(second.status, [], subject, registry);
      }
    } else if (first.status >= 400) {
      throw unexpectedStatus(first.status, [], subject, registry);
    }
    if (options.store === false) return { storedIn: undefined, identityToken: identityToken !== undefined };
    const storedIn = await storeCredentials(
      registry,
      identityToken ? { identityToken, username: auth.username } : auth,
      this.options,
    );
    this.authenticators.clear();
    return { storedIn, identityToken: identityToken !== undefined };
  }

  /** Forgets a registry's saved credentials as `docker logout` does. Returns whether any were saved. */
  async logout(registry: string): Promise<boolean> {
    const removed = await eraseCredentials(registry, this.options);
    this.authenticators.clear();
    return removed;
  }

  /** Runs `fn` on each endpoint (mirrors first) until one succeeds. */
  private async withEndpoints<T>(registry: string, forPush: boolean, fn: (e: RegistryEndpoint) => Promise<T>): Promise<T> {
    const endpoints = registryEndpoints(registry, this.hostOptions, forPush);
    for (let i = 0; ; i++) {
      const endpoint = endpoints[i]!;
      try {
        return await fn(endpoint);
      } catch (error) {
        // A mirror that fails in any way (down, missing the image, refusing) is skipped, as
        // Docker does with registry-mirrors; the registry itself has the last word.
        if (!endpoint.mirror || i === endpoints.length - 1) throw error;
        log("mirror %s failed, trying the next endpoint: %s", endpoint.baseUrl, (error as Error).message);
      }
    }
  }

  private authenticator(endpoint: RegistryEndpoint): EndpointAuthenticator {
    let authenticator = this.authenticators.get(endpoint.baseUrl);
    if (!authenticator) {
      // A mirror has credentials of its own, filed under its host.
      const credentialRegistry = endpoint.mirror ? new URL(endpoint.baseUrl).host : endpoint.registry;
      authenticator = new EndpointAuthenticator(
        credentialRegistry,
        () => this.lookupCredentials(credentialRegistry),
        (r) => this.fetchToken(endpoint, r),
      );
      this.authenticators.set(endpoint.baseUrl, authenticator);
    }
    return authenticator;
  }

  private async lookupCredentials(registry: string): Promise<CredentialLookup> {
    const explicit = typeof this.options.auth === "function" ? this.options.auth(registry) : this.options.auth;
    if (explicit) return { auth: explicit, source: "the auth option", searched: ["the auth option"] };
    const found = await resolveCredentials(registry, this.options);
    return { ...found, searched: ["the auth option", ...found.searched] };
  }

  private async fetchToken(
    endpoint: RegistryEndpoint,
    r: { method: "GET" | "POST"; url: URL; headers: Record<string, string>; body?: string },
  ): Promise<{ status: number; body: Buffer; wwwAuthenticate: string | string[] | undefined }> {
    return retryRegistryCall(this.retryPolicy, `token from ${r.url.host}`, async () => {
      const response = await this.send(endpoint, {
        method: r.method,
        url: r.url,
        headers: r.headers,
        body: r.body,
        timeout: this.timeout,
      });
      if (response.status >= 500 || response.status === 429) {
        discardBody(response);
        throw new RetryableStatus(response.status, retryAfter(response.headers["retry-after"]), `token service answered ${response.status}`);
      }
      const body = await readBody(response, 1024 * 1024);
      return { status: response.status, body, wwwAuthenticate: response.headers["www-authenticate"] };
    });
  }

  private async tlsFor(url: URL): Promise<TlsMaterial | undefined> {
    if (url.protocol !== "https:") return undefined;
    let material = this.tlsCache.get(url.host);
    if (!material) {
      material = readCertsDir(this.certsDir, url.host).then((files: RegistryTlsFiles) => {
        const extra = [...this.extraCa, ...files.ca];
        return {
          // Node's `ca` replaces the system roots; Docker adds to them, and so does berth.
          ca: extra.length > 0 ? [...rootCertificates, ...extra] : undefined,
          cert: files.cert?.cert,
          key: files.cert?.key,
        };
      });
      // A certs.d that could not be read is read again next time, once fixed.
      material.catch(() => this.tlsCache.delete(url.host));
      this.tlsCache.set(url.host, material);
    }
    return material;
  }

  /** One HTTP exchange with TLS settings, the user agent, and TLS failures made explicit. */
  private async send(endpoint: RegistryEndpoint, request: Omit<HttpRequest, "tls">): Promise<HttpResponse> {
    const tls = await this.tlsFor(request.url);
    const headers = { "User-Agent": this.userAgent, ...request.headers };
    try {
      return await sendHttpRequest(this.agents, { ...request, headers, tls, lookup: this.options.lookup });
    } catch (error) {
      if (isTlsError(error)) {
        const host = request.url.host;
        const code = (error as { code?: string }).code ?? "";
        const dir = `${this.certsDir}/${host}`;
        // An alert is the registry refusing us (most often: no client certificate); anything
        // else is berth refusing the registry's certificate.
        const advice = /_ALERT_/.test(code)
          ? `the registry refused the handshake; if it requires a client certificate, put client.cert and client.key in ${dir}/`
          : `trust its CA with the \`ca\` option or ${dir}/ca.crt, or list ${registryHostname(endpoint.registry)} as an ` +
            `insecure registry (BERTH_INSECURE_REGISTRIES) if it speaks plain HTTP`;
        throw new BerthError("BERTH_REGISTRY_TLS", `TLS with ${host} failed (${code}): ${advice}`, {
          registry: endpoint.registry,
          url: request.url.href,
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * A registry request with auth, retries and status checks: authorised from the known
   * challenge, sent again once after a 401 that taught something, retried with backoff on
   * network failures, 5xx and 429, and turned into a `BerthError` on any status the caller
   * did not list in `accept`.
   */
  private async request(spec: RequestSpec): Promise<HttpResponse> {
    const bodyIsStream = typeof spec.body === "function";
    const attempt = async (): Promise<HttpResponse> => {
      const authenticator = this.authenticator(spec.endpoint);
      const url = typeof spec.path === "string" ? new URL(spec.path, spec.endpoint.baseUrl) : spec.path;
      let scopes = spec.scopes;
      for (let authRound = 0; ; authRound++) {
        let authorization: string | undefined;
        try {
          authorization = await authenticator.authorization(scopes);
        } catch (error) {
          if (error instanceof UnauthorizedSignal) throw await this.unauthorized(spec, authenticator, error.detail);
          throw error;
        }
        const headers: Record<string, string> = { ...spec.headers };
        if (authorization) headers.Authorization = authorization;
        const response = await this.send(spec.endpoint, {
          method: spec.method,
          url,
          headers,
          body: spec.body,
          timeout: this.timeout,
          signal: spec.signal,
        });
        if (spec.accept?.includes(response.status)) return response;
        if (response.status === 401) {
          const retry = authRound === 0 && authenticator.onUnauthorized(response.headers["www-authenticate"], authorization);
          const errors = await readRegistryErrors(response);
          if (retry) {
            scopes = normaliseScopes([...scopes, ...authenticator.challengeScopes()]);
            continue;
          }
          throw await this.unauthorized(spec, authenticator, errors.map((e) => e.message ?? e.code).join("; ") || "401");
        }
        if (response.status >= 200 && response.status < 300) return response;
        if (response.status === 429 || response.status >= 500) {
          const errors = await readRegistryErrors(response);
          throw new RetryableStatus(
            response.status,
            retryAfter(response.headers["retry-after"]),
            `${spec.subject}: ${spec.endpoint.registry} answered ${response.status}${describe(errors)}`,
          );
        }
        const errors = await readRegistryErrors(response);
        if (response.status === 403) {
          throw await this.unauthorized(spec, authenticator, `403 Forbidden${describe(errors)}`);
        }
        throw unexpectedStatus(response.status, errors, spec.subject, spec.endpoint.registry);
      }
    };
    // A streamed body cannot be replayed by this layer; pushBlob retries the whole upload.
    if (bodyIsStream || spec.retry === false) return attempt();
    return retryRegistryCall(this.retryPolicy, spec.subject, attempt, spec.signal);
  }

  private async unauthorized(spec: RequestSpec, authenticator: EndpointAuthenticator, detail: string): Promise<BerthError> {
    const { auth, source, searched } = await authenticator.credentialLookup().catch(
      (): CredentialLookup => ({ auth: undefined, source: undefined, searched: [] }),
    );
    const registry = authenticator.registry;
    const which = auth
      ? `the credentials from ${source} were refused`
      : `no credentials were found (looked in: ${searched.join(", ")})`;
    return new BerthError("BERTH_REGISTRY_UNAUTHORIZED", `${registry} refused ${spec.subject}: ${which}; the registry said: ${detail}`, {
      registry,
      credentialsSource: source,
      searched,
    });
  }
}

function manifestSubject(repo: RepositoryRef, tagOrDigest: string): string {
  return `manifest ${repo.registry}/${repo.repository}${tagOrDigest.includes(":") ? "@" : ":"}${tagOrDigest}`;
}

function scope(repo: RepositoryRef, access: Access): string {
  return `repository:${repo.repository}:${access === "push" ? "pull,push" : "pull"}`;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function describe(errors: Array<{ code?: string; message?: string }>): string {
  if (errors.length === 0) return "";
  return `: ${errors.map((e) => [e.code, e.message].filter(Boolean).join(" ")).join("; ")}`;
}

function unexpectedStatus(
  status: number,
  errors: Array<{ code?: string; message?: string }>,
  subject: string,
  registry: string,
): BerthError {
  const codes = errors.map((e) => e.code);
  let code: BerthErrorCode = "BERTH_REGISTRY_PROTOCOL";
  if (status === 404) code = "BERTH_REGISTRY_NOT_FOUND";
  else if (codes.includes("DIGEST_INVALID")) code = "BERTH_DIGEST_MISMATCH";
  const what = status === 404 ? `${subject} not found` : `${subject}: ${registry} answered ${status}`;
  return new BerthError(code, `${what}${describe(errors)}`, { registry, status, registryErrors: errors });
}

function uploadLocation(response: HttpResponse, subject: string): URL {
  const location = header(response.headers.location);
  if (!location) {
    throw new BerthError("BERTH_REGISTRY_PROTOCOL", `${subject}: the registry opened an upload without a Location`, {
      status: response.status,
    });
  }
  return new URL(location, response.url);
}

