import { createSign, randomUUID, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** Who may do what, by repository: anonymous pulls where `public`, users pull and push. */
export interface TokenPolicy {
  /** User names and passwords the token service accepts. */
  users: Record<string, string>;
  /** Repositories anyone may pull without credentials (a prefix ending in `/` matches below it). */
  publicRepositories: string[];
}

/** One request the token service received, for assertions. */
export interface TokenRequestRecord {
  method: string;
  user: string | undefined;
  scopes: string[];
  grantType: string | undefined;
}

/** A running token service. */
export interface TokenServer {
  /** The realm URL the registry sends clients to. */
  realm: string;
  issuer: string;
  service: string;
  requests: TokenRequestRecord[];
  /** Refresh tokens issued, by user: what `docker login` stores as `identitytoken`. */
  refreshTokens: Map<string, string>;
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString("base64url");

/**
 * A token service like Docker Hub's auth.docker.io, on 127.0.0.1: GET with optional basic
 * credentials, POST with an OAuth2 `refresh_token` or `password` grant. It signs RS256 JWTs
 * whose header carries the signing certificate in `x5c`: distribution 2.8 checks that chain
 * against `auth.token.rootcertbundle` (a `kid` would have to be libtrust's key fingerprint).
 * The claims are those distribution checks: iss, aud (the service), exp, nbf, iat, jti,
 * sub and `access`. A scope the caller may not have is left out of `access`, as Docker Hub
 * does, rather than refused: the registry then answers 401 with `insufficient_scope`.
 */
export async function startTokenServer(options: {
  certPath: string;
  keyPath: string;
  policy: TokenPolicy;
  /** Token lifetime in seconds. @default 300 */
  expiresIn?: number;
}): Promise<TokenServer> {
  const key = await readFile(options.keyPath, "utf8");
  const certPem = await readFile(options.certPath, "utf8");
  const certDer = new X509Certificate(certPem).raw;
  const issuer = "berth-test-issuer";
  const service = "berth-test-registry";
  const requests: TokenRequestRecord[] = [];
  const refreshTokens = new Map<string, string>();
  const expiresIn = options.expiresIn ?? 300;

  const sign = (user: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = splitScope(scope);
      if (type !== "repository") return [];
      const allowed = actions.filter((action) =>
        user !== undefined ? action === "pull" || action === "push" : action === "pull" && isPublic(name, options.policy),
      );
      return allowed.length > 0 ? [{ type, name, actions: allowed }] : [];
    });
    const header = { typ: "JWT", alg: "RS256", x5c: [certDer.toString("base64")] };
    const claims = {
      iss: issuer,
      sub: user ?? "",
      aud: service,
      exp: now + expiresIn,
      nbf: now - 5,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(input).sign(key);
    return `${input}.${b64url(signature)}`;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://token");
      const deny = (): void => {
        res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ details: "incorrect username or password" }));
      };
      const reply = (user: string | undefined, scopes: string[], withRefresh: boolean): void => {
        const body: Record<string, unknown> = { token: sign(user, scopes), expires_in: expiresIn, issued_at: new Date().toISOString() };
        body.access_token = body.token;
        if (withRefresh && user) {
          const refresh = refreshTokens.get(user) ?? `refresh-${randomUUID()}`;
          refreshTokens.set(user, refresh);
          body.refresh_token = refresh;
        }
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      };
      if (url.pathname !== "/token") {
        res.writeHead(404).end();
        return;
      }
      if (req.method === "GET") {
        const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
        const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "");
        let user: string | undefined;
        if (basic) {
          const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
          const colon = decoded.indexOf(":");
          const name = decoded.slice(0, colon);
          if (colon < 0 || options.policy.users[name] !== decoded.slice(colon + 1)) {
            requests.push({ method: "GET", user: name, scopes, grantType: undefined });
            deny();
            return;
          }
          user = name;
        }
        requests.push({ method: "GET", user, scopes, grantType: undefined });
        reply(user, scopes, url.searchParams.get("offline_token") === "true");
        return;
      }
      if (req.method === "POST") {
        const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
        const scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
        const grantType = form.get("grant_type") ?? undefined;
        let user: string | undefined;
        if (grantType === "refresh_token") {
          user = [...refreshTokens.entries()].find(([, t]) => t === form.get("refresh_token"))?.[0];
        } else if (grantType === "password") {
          const name = form.get("username") ?? "";
          if (options.policy.users[name] === form.get("password")) user = name;
        }
        requests.push({ method: "POST", user, scopes, grantType });
        if (!user) {
          deny();
          return;
        }
        reply(user, scopes, true);
        return;
      }
      res.writeHead(405).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    issuer,
    service,
    requests,
    refreshTokens,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function splitScope(scope: string): [string, string, string[]] {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  return [scope.slice(0, first), scope.slice(first + 1, last), scope.slice(last + 1).split(",")];
}

function isPublic(name: string, policy: TokenPolicy): boolean {
  return policy.publicRepositories.some((p) => (p.endsWith("/") ? name.startsWith(p) : name === p));
}
