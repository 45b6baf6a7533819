import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { BerthError } from "../../common/berth-error.js";
import { checkPort } from "./listening-ports-wait-strategy.js";
import { pollUntil } from "./poll.js";
import { AbstractWaitStrategy } from "./wait-strategy.js";
import type { WaitTarget } from "./wait-target.js";

/** Options of {@link HttpWaitStrategy}. */
export interface HttpWaitOptions {
  /** Reuse connections between attempts. @default false, so each attempt proves a fresh connect */
  keepAlive?: boolean;
}

/** A response as the predicates see it. */
export interface HttpWaitResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * Ready when an HTTP request to a published port gets an acceptable answer: by default any
 * 200, else every status code / predicate given must hold. Requests go to the host's mapped
 * port, the path a test's client will use.
 */
export class HttpWaitStrategy extends AbstractWaitStrategy {
  readonly #path: string;
  readonly #port: number;
  readonly #keepAlive: boolean;
  readonly #statusCodes: number[] = [];
  readonly #statusPredicates: ((status: number) => boolean)[] = [];
  #responsePredicate: ((body: string, response: HttpWaitResponse) => boolean | Promise<boolean>) | undefined;
  #method = "GET";
  #headers: Record<string, string> = {};
  #readTimeout = 1_000;
  #tls = false;
  #insecure = false;

  constructor(path: string, port: number, options: HttpWaitOptions = {}) {
    super();
    checkPort(port, "port");
    this.#path = path.startsWith("/") ? path : `/${path}`;
    this.#port = port;
    this.#keepAlive = options.keepAlive ?? false;
  }

  /** Accept this status code (may be given several times). @default 200 when no status check is given */
  forStatusCode(code: number): this {
    this.#statusCodes.push(code);
    return this;
  }

  /** Accept a status code for which `predicate` holds. */
  forStatusCodeMatching(predicate: (status: number) => boolean): this {
    this.#statusPredicates.push(predicate);
    return this;
  }

  /** Accept only a response whose body satisfies `predicate`. */
  forResponsePredicate(predicate: (body: string, response: HttpWaitResponse) => boolean | Promise<boolean>): this {
    this.#responsePredicate = predicate;
    return this;
  }

  /** The request method. @default "GET" */
  withMethod(method: string): this {
    this.#method = method.toUpperCase();
    return this;
  }

  /** Request headers, added to any given before. @default {} */
  withHeaders(headers: Record<string, string>): this {
    this.#headers = { ...this.#headers, ...headers };
    return this;
  }

  /** Send `Authorization: Basic` with these credentials. */
  withBasicCredentials(username: string, password: string): this {
    return this.withHeaders({ Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` });
  }

  /** How long one attempt may take before it counts as failed, in ms. @default 1000 */
  withReadTimeout(ms: number): this {
    this.#readTimeout = ms;
    return this;
  }

  /** Use HTTPS. @default false */
  usingTls(): this {
    this.#tls = true;
    return this;
  }

  /** Accept any certificate (self-signed test certificates). @default false */
  allowInsecure(): this {
    this.#insecure = true;
    return this;
  }

  describe(): string {
    const accept = this.#statusCodes.length > 0 ? ` status ${this.#statusCodes.join("|")}` : this.#statusPredicates.length > 0 ? " matching status" : " status 200";
    return `HTTP ${this.#method} ${this.#tls ? "https" : "http"}://…:${this.#port}${this.#path}${accept}${this.#responsePredicate ? " and body predicate" : ""}`;
  }

  protected async waitFor(target: WaitTarget, signal: AbortSignal): Promise<void> {
    const mapped = target.mappedPort(this.#port, "tcp");
    if (mapped === undefined) {
      throw new BerthError("BERTH_INVALID_ARGUMENT", `port ${this.#port} of ${target.name} is not published: expose it to wait for HTTP on it`, {
        container: target.id,
        field: "port",
      });
    }
    await pollUntil(async () => {
      const response = await this.#attempt(target.host, mapped, signal).catch(() => undefined);
      return response !== undefined && (await this.#accepts(response));
    }, signal, { initialInterval: 10, maxInterval: 100 });
  }

  async #accepts(response: HttpWaitResponse): Promise<boolean> {
    const anyStatusCheck = this.#statusCodes.length > 0 || this.#statusPredicates.length > 0;
    const statusOk = anyStatusCheck
      ? this.#statusCodes.includes(response.status) || this.#statusPredicates.some((p) => p(response.status))
      : response.status === 200;
    if (!statusOk) return false;
    return this.#responsePredicate ? Boolean(await this.#responsePredicate(response.body, response)) : true;
  }

  #attempt(host: string, port: number, signal: AbortSignal): Promise<HttpWaitResponse> {
    const request = this.#tls ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          path: this.#path,
          method: this.#method,
          headers: this.#headers,
          signal,
          timeout: this.#readTimeout,
          agent: this.#keepAlive ? undefined : false,
          rejectUnauthorized: !this.#insecure,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.#readTimeout} ms`)));
      req.on("error", reject);
      req.end();
    });
  }
}
