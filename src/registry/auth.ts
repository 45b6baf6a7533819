import { BerthError, logger } from "../common/index.js";
import type { RegistryAuth } from "./types.js";
import type { AuthChallenge } from "./www-authenticate.js";
import { parseWwwAuthenticate } from "./www-authenticate.js";

const log = logger("registry:auth");

/** Credentials for a registry and where they were found. */
export interface CredentialLookup {
  auth: RegistryAuth | undefined;
  /** Where the credentials came from, for messages. */
  source: string | undefined;
  /** Every place looked at. */
  searched: string[];
}

/** What the authenticator needs to reach a token service. */
export interface TokenFetcher {
  (request: { method: "GET" | "POST"; url: URL; headers: Record<string, string>; body?: string }): Promise<{
    status: number;
    body: Buffer;
    wwwAuthenticate: string | string[] | undefined;
  }>;
}

interface CachedToken {
  /** Actions granted, by resource (`repository:library/redis` → pull, push). */
  scopes: Map<string, Set<string>>;
  token: string;
  /** ms since epoch; 0 for a token with no known expiry (a `registryToken`). */
  expiresAt: number;
}

/** A token service's answer (Docker's token spec and OAuth2 both). */
interface TokenAnswer {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
  refresh_token?: string;
}

/** Docker's floor: a token service that announces less is taken to mean 60 seconds. */
const minimumTokenLifetime = 60;

/** Thrown inside the client when a registry refuses, before the message is assembled. */
export class UnauthorizedSignal extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/**
 * Authorises requests to one registry endpoint the way Docker does: nothing until the
 * registry answers 401, then the challenge it sent decides — `Bearer` fetches a token from
 * the realm (anonymously, with basic credentials, or by POSTing an identity token as an
 * OAuth2 refresh token) and `Basic` sends the credentials on every request. Tokens are
 * cached by scope until they expire; a token for `pull,push` also serves `pull`.
 */
export class EndpointAuthenticator {
  private challenge: AuthChallenge | undefined;
  private tokens: CachedToken[] = [];
  private credentials: Promise<CredentialLookup> | undefined;
  private readonly pending = new Map<string, Promise<string | undefined>>();

  constructor(
    /** The registry name, for messages. */
    readonly registry: string,
    private readonly lookupCredentials: () => Promise<CredentialLookup>,
    private readonly fetchToken: TokenFetcher,
    private readonly now: () => number = Date.now,
  ) {}

  /** The credentials lookup, done once per endpoint and shared by every request. */
  credentialLookup(): Promise<CredentialLookup> {
    this.credentials ??= this.lookupCredentials();
    return this.credentials;
  }

  /**
   * The scopes the last challenge named (`scope="repository:a:pull repository:b:pull"`). A
   * registry that needs more than berth asked for says so there, with
   * `error="insufficient_scope"`; asking for them too is what containerd does.
   */
  challengeScopes(): string[] {
    return (this.challenge?.params.scope ?? "").split(" ").filter((s) => s.includes(":"));
  }

  /** The `Authorization` header for a request needing `scopes`, if the registry wants one. */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") {
      const { auth } = await this.credentialLookup();
      if (auth && "username" in auth) return basicHeader(auth.username, auth.password);
      return undefined;
    }
    if (challenge.scheme !== "bearer") return undefined;
    const token = await this.bearerToken(challenge, scopes);
    return token === undefined ? undefined : `Bearer ${token}`;
  }

  /**
   * Learns from a 401. Returns whether the request is worth sending again: the first 401
   * teaches the challenge; a later one means the token was refused (expired or revoked,
   * so it is dropped) or its scope was short (`insufficient_scope`).
   */
  onUnauthorized(header: string | string[] | undefined, usedAuthorization: string | undefined): boolean {
    const challenges = parseWwwAuthenticate(header);
    const next = challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
    if (!next) return false;
    const first = this.challenge === undefined;
    const changed = !first && (next.scheme !== this.challenge!.scheme || next.params.realm !== this.challenge!.params.realm);
    this.challenge = next;
    if (usedAuthorization?.startsWith("Bearer ")) {
      const used = usedAuthorization.slice("Bearer ".length);
      this.tokens = this.tokens.filter((t) => t.token !== used);
    }
    log("%s challenge %s %o", this.registry, next.scheme, next.params);
    return first || changed || usedAuthorization === undefined || usedAuthorization.startsWith("Bearer ");
  }

  private async bearerToken(challenge: AuthChallenge, scopes: readonly string[]): Promise<string | undefined> {
    const { auth } = await this.credentialLookup();
    if (auth && "registryToken" in auth) return auth.registryToken;
    const wanted = normaliseScopes(scopes);
    const now = this.now();
    const cached = this.tokens.find((t) => t.expiresAt > now && covers(t.scopes, wanted));
    if (cached) return cached.token;
    // Parallel layer downloads ask at once; one token request serves them all.
    const key = `${challenge.params.realm}|${wanted.join(" ")}`;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.requestToken(challenge, wanted, auth).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /**
   * Asks the token service for a token covering `scopes` (none for a login check). Returns
   * the token and, when the service issued one, a refresh token (`identitytoken`).
   */
  async requestToken(
    challenge: AuthChallenge,
    scopes: readonly string[],
    auth: RegistryAuth | undefined,
    options: { offline?: boolean } = {},
  ): Promise<string | undefined> {
    return (await this.requestTokenAnswer(challenge, scopes, auth, options)).token;
  }

  /** {@link requestToken} with the refresh token as well. */
  async requestTokenAnswer(
    challenge: AuthChallenge,
    scopes: readonly string[],
    auth: RegistryAuth | undefined,
    options: { offline?: boolean } = {},
  ): Promise<{ token: string | undefined; refreshToken: string | undefined }> {
    const realm = challenge.params.realm;
    if (!realm) {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `${this.registry} sent a Bearer challenge without a realm`, {
        registry: this.registry,
      });
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch (error) {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `${this.registry} sent a token realm that is not a URL: ${realm}`, {
        registry: this.registry,
        cause: error,
      });
    }
    const service = challenge.params.service;
    let answer;
    if (auth && "identityToken" in auth) {
      // An identity token is an OAuth2 refresh token: POST it, as Docker does.
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: auth.identityToken, client_id: "berth" });
      if (service) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      answer = await this.fetchToken({
        method: "POST",
        url,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      });
    } else {
      if (service) url.searchParams.set("service", service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      const headers: Record<string, string> = {};
      if (auth && "username" in auth) {
        headers.Authorization = basicHeader(auth.username, auth.password);
        if (options.offline) {
          url.searchParams.set("offline_token", "true");
          url.searchParams.set("client_id", "berth");
        }
      }
      answer = await this.fetchToken({ method: "GET", url, headers });
    }
    if (answer.status === 401 || answer.status === 403) {
      throw new UnauthorizedSignal(answer.status, `the token service ${url.host} refused (${answer.status})`);
    }
    if (answer.status !== 200) {
      throw new BerthError(
        answer.status >= 500 ? "BERTH_REGISTRY_UNAVAILABLE" : "BERTH_REGISTRY_PROTOCOL",
        `the token service ${url.host} of ${this.registry} answered ${answer.status}`,
        { registry: this.registry, status: answer.status },
      );
    }
    let parsed: TokenAnswer;
    try {
      parsed = JSON.parse(answer.body.toString("utf8")) as TokenAnswer;
    } catch (error) {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `the token service ${url.host} answered something other than JSON`, {
        registry: this.registry,
        cause: error,
      });
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `the token service ${url.host} answered without a token`, {
        registry: this.registry,
      });
    }
    const lifetime = Math.max(parsed.expires_in ?? minimumTokenLifetime, minimumTokenLifetime);
    const issued = parsed.issued_at ? Date.parse(parsed.issued_at) : Number.NaN;
    const start = Number.isFinite(issued) && issued <= this.now() ? issued : this.now();
    // Renew a little early so a token does not expire between the check and its use.
    const expiresAt = start + lifetime * 1000 - Math.min(10_000, (lifetime * 1000) / 10);
    if (scopes.length > 0) this.tokens.push({ scopes: scopeMap(scopes), token, expiresAt });
    return { token, refreshToken: parsed.refresh_token };
  }
}

/**
 * Scopes sorted and with actions merged per resource, so `pull` and `push` requests for one
 * repository share a cache key.
 */
export function normaliseScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const last = scope.lastIndexOf(":");
    if (last < 0) continue;
    const resource = scope.slice(0, last);
    const actions = byResource.get(resource) ?? new Set<string>();
    for (const a of scope.slice(last + 1).split(",")) if (a) actions.add(a);
    byResource.set(resource, actions);
  }
  return [...byResource.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([resource, actions]) => `${resource}:${[...actions].sort().join(",")}`);
}

function splitScope(scope: string): [string, string[]] {
  const last = scope.lastIndexOf(":");
  return [scope.slice(0, last), scope.slice(last + 1).split(",").filter(Boolean)];
}

function scopeMap(scopes: readonly string[]): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const [resource, actions] = splitScope(scope);
    map.set(resource, new Set([...(map.get(resource) ?? []), ...actions]));
  }
  return map;
}

/** Whether a token granted `granted` serves a request needing `wanted`. */
function covers(granted: Map<string, Set<string>>, wanted: readonly string[]): boolean {
  return wanted.every((scope) => {
    const [resource, actions] = splitScope(scope);
    const have = granted.get(resource);
    return have !== undefined && actions.every((a) => have.has(a) || have.has("*"));
  });
}

/** `Basic base64(user:password)`. */
export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}
