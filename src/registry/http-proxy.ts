import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { BerthError } from "../common/index.js";

/**
 * The proxies of `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (or their lower-case forms), read
 * the way Docker (Go's `httpproxy.FromEnvironment`) reads them: the upper-case name wins;
 * `http://` is assumed for a proxy without a scheme; `NO_PROXY` lists host names (a leading
 * `.` or none: the name and its subdomains), `host:port`, IP addresses, CIDR ranges or `*`;
 * and `localhost` and loopback addresses are never proxied.
 */
export class ProxyConfig {
  readonly httpProxy: URL | undefined;
  readonly httpsProxy: URL | undefined;
  private readonly noProxy: string[];

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.httpProxy = parseProxy(env.HTTP_PROXY ?? env.http_proxy, "HTTP_PROXY");
    this.httpsProxy = parseProxy(env.HTTPS_PROXY ?? env.https_proxy, "HTTPS_PROXY");
    this.noProxy = (env.NO_PROXY ?? env.no_proxy ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean);
  }

  /** The proxy for a request to `url`, or undefined to connect directly. */
  proxyFor(url: URL): URL | undefined {
    const proxy = url.protocol === "https:" ? this.httpsProxy : url.protocol === "http:" ? this.httpProxy : undefined;
    if (!proxy) return undefined;
    const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
    if (host === "localhost" || isLoopback(host)) return undefined;
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    for (const entry of this.noProxy) {
      if (entry === "*") return undefined;
      if (entry.includes("/") && isIP(host) === 4 && inCidr(host, entry)) return undefined;
      const [name, entryPort] = splitHostPort(entry);
      if (entryPort && entryPort !== port) continue;
      if (isIP(name) !== 0) {
        if (name === host) return undefined;
        continue;
      }
      const bare = name.startsWith(".") ? name.slice(1) : name;
      if (host === bare || host.endsWith(`.${bare}`)) return undefined;
    }
    return proxy;
  }
}

function parseProxy(value: string | undefined, name: string): URL | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    if (url.protocol !== "http:") {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `${name}=${value}: only http:// proxies are supported`, { option: name });
    }
    return url;
  } catch (error) {
    if (error instanceof BerthError) throw error;
    throw new BerthError("BERTH_INVALID_ARGUMENT", `${name}=${value} is not a URL`, { option: name, cause: error });
  }
}

function splitHostPort(entry: string): [string, string | undefined] {
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    return [entry.slice(1, close), entry.slice(close + 2) || undefined];
  }
  const colon = entry.lastIndexOf(":");
  if (colon > 0 && entry.indexOf(":") === colon) return [entry.slice(0, colon), entry.slice(colon + 1)];
  return [entry, undefined];
}

function isLoopback(host: string): boolean {
  return host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  if (!base || isIP(base) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (a: string) => a.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base) & mask) >>> 0);
}

/** `Proxy-Authorization` for a proxy URL with a user name, as curl and Go send it. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username) return undefined;
  const user = decodeURIComponent(proxy.username);
  const password = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/**
 * An HTTPS agent whose connections go through an HTTP proxy's `CONNECT` tunnel; TLS then runs
 * end to end with the registry, so the proxy sees neither the bytes nor the credentials.
 */
export class TunnelingAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(args: http.ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): undefined {
    const options = args as tls.ConnectionOptions & { host?: string; port?: number; timeout?: number };
    const target = `${options.host}:${options.port ?? 443}`;
    const headers: Record<string, string> = { Host: target };
    const auth = proxyAuthorization(this.proxy);
    if (auth) headers["Proxy-Authorization"] = auth;
    const request = http.request({
      host: this.proxy.hostname.replace(/^\[|\]$/g, ""),
      port: Number(this.proxy.port || 80),
      method: "CONNECT",
      path: target,
      headers,
      agent: false,
    });
    const fail = (error: Error) => callback?.(error, undefined as unknown as Duplex);
    request.once("connect", (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        fail(
          new BerthError("BERTH_REGISTRY_UNAVAILABLE", `proxy ${this.proxy.host} refused to connect to ${target} (${response.statusCode})`, {
            url: this.proxy.origin,
            status: response.statusCode,
          }),
        );
        return;
      }
      const { path: _path, ...rest } = options as tls.ConnectionOptions & { path?: unknown };
      const secure = tls.connect({ ...rest, socket, servername: options.servername ?? (isIP(options.host ?? "") ? undefined : options.host) });
      callback?.(null, secure);
    });
    request.once("error", fail);
    if (options.timeout) {
      request.setTimeout(options.timeout, () =>
        request.destroy(new BerthError("BERTH_TIMEOUT", `proxy ${this.proxy.host} did not open a tunnel to ${target} in time`, { url: this.proxy.origin })),
      );
    }
    request.end();
    return undefined;
  }
}
