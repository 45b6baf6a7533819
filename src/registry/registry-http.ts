import http from "node:http";
import https from "node:https";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { LookupFunction } from "node:net";
import { Readable } from "node:stream";
import { BerthError, logger } from "../common/index.js";
import { ProxyConfig, TunnelingAgent, proxyAuthorization } from "./http-proxy.js";

const log = logger("registry:http");

/** TLS material for one request. */
export interface TlsMaterial {
  ca?: string[];
  cert?: string;
  key?: string;
}

/** One HTTP request to a registry, a token service or a blob store. */
export interface HttpRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: URL;
  headers?: Record<string, string>;
  /** The body; a function is called once per attempt, so a redirect or auth retry can resend it. */
  body?: Buffer | string | (() => Readable | Buffer);
  /** How long to wait for the response headers, and for each chunk of the body after them, in ms. */
  timeout: number;
  /** Redirects followed (GET and HEAD only). */
  maxRedirects?: number;
  tls?: TlsMaterial;
  signal?: AbortSignal;
  /** Host name resolution, instead of the system's. */
  lookup?: LookupFunction;
}

/** A response whose body has not been read yet. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: IncomingMessage;
  /** Why the body stopped, when berth stopped it (an idle timeout); the socket error says less. */
  readonly stopReason: Error | undefined;
}

/**
 * Errors of a connection or of the socket under a request: worth a retry, unlike an answer
 * the registry chose to give.
 */
const transientCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "BERTH_TIMEOUT",
]);

/** Whether an error is a network failure that a retry may cure. */
export function isTransientNetworkError(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && transientCodes.has(code)) return true;
    if (e instanceof Error && /socket hang up/i.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

const tlsErrorCodes = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_|HOSTNAME_MISMATCH)/;

/** Whether an error is a TLS verification or handshake failure, which no retry cures. */
export function isTlsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && tlsErrorCodes.test(code);
}

/**
 * The sockets of one client: kept alive between requests to the same registry, and sent
 * through the proxy that `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` name (see {@link ProxyConfig}).
 */
export class HttpAgents {
  readonly http = new http.Agent({ keepAlive: true, maxSockets: 32 });
  readonly https = new https.Agent({ keepAlive: true, maxSockets: 32 });
  readonly proxies: ProxyConfig;
  private readonly tunnels = new Map<string, TunnelingAgent>();

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.proxies = new ProxyConfig(env);
  }

  /** How to reach `url`: the agent, and the proxy a plain-HTTP request is sent to. */
  route(url: URL): { agent: http.Agent; forwardProxy: URL | undefined } {
    const proxy = this.proxies.proxyFor(url);
    if (url.protocol === "https:") {
      if (!proxy) return { agent: this.https, forwardProxy: undefined };
      let tunnel = this.tunnels.get(proxy.href);
      if (!tunnel) {
        tunnel = new TunnelingAgent(proxy, { keepAlive: true, maxSockets: 32 });
        this.tunnels.set(proxy.href, tunnel);
      }
      return { agent: tunnel, forwardProxy: undefined };
    }
    return { agent: this.http, forwardProxy: proxy };
  }

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
    for (const tunnel of this.tunnels.values()) tunnel.destroy();
    this.tunnels.clear();
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/**
 * Sends one request and resolves with the response once its headers arrive, following
 * redirects for GET and HEAD. The `Authorization` header is dropped when a redirect leaves
 * the origin (scheme, host and port) it was meant for, as blob stores behind a registry
 * (S3, a CDN) must never see a registry token.
 */
export async function sendHttpRequest(agents: HttpAgents, request: HttpRequest): Promise<HttpResponse> {
  const maxRedirects = request.maxRedirects ?? 10;
  let url = request.url;
  let headers = { ...request.headers };
  let tls = request.tls;
  const origin = request.url.origin;
  for (let hop = 0; ; hop++) {
    const response = await sendOnce(agents, { ...request, url, headers, tls });
    const location = response.headers.location;
    if (!isRedirect(response.status) || !location || (request.method !== "GET" && request.method !== "HEAD")) {
      return response;
    }
    response.body.resume();
    if (hop >= maxRedirects) {
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `more than ${maxRedirects} redirects from ${request.url.href}`, {
        url: request.url.href,
      });
    }
    const next = new URL(location, url);
    log("%s %s redirected to %s", request.method, url.href, next.href);
    if (next.origin !== origin) {
      const { Authorization: _dropped, ...rest } = headers;
      headers = rest;
      // Nor does the client certificate meant for the registry go to the blob store.
      if (tls) tls = { ca: tls.ca };
    }
    url = next;
  }
}

function sendOnce(agents: HttpAgents, request: HttpRequest): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const isHttps = request.url.protocol === "https:";
    const body = typeof request.body === "function" ? request.body() : request.body;
    const headers: Record<string, string> = { ...request.headers };
    if (typeof body === "string" || Buffer.isBuffer(body)) headers["Content-Length"] = String(Buffer.byteLength(body));
    const route = agents.route(request.url);
    const options: https.RequestOptions = {
      method: request.method,
      headers,
      agent: route.agent,
      signal: request.signal,
    };
    if (request.lookup) options.lookup = request.lookup;
    if (isHttps && request.tls) {
      if (request.tls.ca) options.ca = request.tls.ca;
      if (request.tls.cert) options.cert = request.tls.cert;
      if (request.tls.key) options.key = request.tls.key;
    }
    let req: http.ClientRequest;
    if (route.forwardProxy) {
      // Plain HTTP through a proxy: the request goes to the proxy with the absolute URL as
      // its target (RFC 9112 absolute-form), the Host header naming the registry.
      const proxy = route.forwardProxy;
      const auth = proxyAuthorization(proxy);
      req = http.request({
        ...options,
        host: proxy.hostname.replace(/^\[|\]$/g, ""),
        port: Number(proxy.port || 80),
        path: request.url.href,
        headers: { ...headers, Host: request.url.host, ...(auth ? { "Proxy-Authorization": auth } : {}) },
      });
    } else {
      req = (isHttps ? https : http).request(request.url, options);
    }
    let settled = false;
    const headerTimer = setTimeout(() => {
      req.destroy(
        new BerthError("BERTH_TIMEOUT", `no answer from ${request.url.host} within ${request.timeout} ms`, {
          url: request.url.href,
        }),
      );
    }, request.timeout);
    req.on("response", (res) => {
      clearTimeout(headerTimer);
      settled = true;
      // From here on the timeout is an idle timeout: a body that stops flowing fails
      // instead of hanging a pull forever.
      let stopReason: Error | undefined;
      req.setTimeout(request.timeout, () => {
        stopReason = new BerthError("BERTH_TIMEOUT", `${request.url.host} sent nothing for ${request.timeout} ms`, {
          url: request.url.href,
        });
        req.destroy(stopReason);
      });
      res.on("end", () => req.setTimeout(0));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        url: request.url,
        body: res,
        get stopReason() {
          return stopReason;
        },
      });
    });
    req.on("error", (error) => {
      clearTimeout(headerTimer);
      if (!settled) {
        settled = true;
        reject(error);
      }
    });
    if (body instanceof Readable) {
      body.on("error", (error) => req.destroy(error));
      // A failed request must not leave the source (often an open file) half read.
      req.on("close", () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(req);
    } else {
      req.end(body);
    }
  });
}

/**
 * Reads a whole response body, refusing more than `limit` bytes: a manifest or a token
 * answer is small, and a hostile server must not make berth buffer gigabytes.
 */
export async function readBody(response: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) {
      response.body.destroy();
      throw new BerthError("BERTH_REGISTRY_PROTOCOL", `answer from ${response.url.host} is larger than ${limit} bytes`, {
        url: response.url.href,
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length);
}

/** The registry's own explanation of an error answer (`{"errors":[{"code","message"}]}`). */
export interface RegistryErrorDetail {
  code?: string;
  message?: string;
}

/** Reads an error answer's body (at most 64 KiB) and extracts the registry's error entries. */
export async function readRegistryErrors(response: HttpResponse): Promise<RegistryErrorDetail[]> {
  let text: string;
  try {
    text = (await readBody(response, 64 * 1024)).toString("utf8");
  } catch {
    return [];
  }
  try {
    const parsed = JSON.parse(text) as { errors?: RegistryErrorDetail[] };
    if (Array.isArray(parsed.errors)) return parsed.errors;
  } catch {
    // Not JSON: some proxies answer with HTML.
  }
  const line = text.trim().split("\n")[0];
  return line ? [{ message: line.slice(0, 200) }] : [];
}

/** Discards a response body so its socket goes back to the pool. */
export function discardBody(response: HttpResponse): void {
  response.body.resume();
}
