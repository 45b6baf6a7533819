import type { LookupFunction } from "node:net";
import type { CredentialOptions } from "./credentials.js";
import type { RegistryHostOptions } from "./registry-hosts.js";
import type { RegistryAuth } from "./types.js";

/** Options of `RegistryClient`. */
export interface RegistryClientOptions extends RegistryHostOptions, CredentialOptions {
  /**
   * Credentials to use instead of looking them up: one set for every registry, or a
   * function of the registry name (`docker.io`, `localhost:5000`) returning undefined to fall
   * back to the lookup.
   * @default undefined: `DOCKER_AUTH_CONFIG`, then the Docker config file
   */
  auth?: RegistryAuth | ((registry: string) => RegistryAuth | undefined);
  /**
   * Extra CA certificates (PEM) trusted for HTTPS registries, on top of the system's.
   * @default none
   */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /**
   * Docker's per-registry TLS directory: `<certsDir>/<host:port>/*.crt` are CAs and
   * `client.cert` + `client.key` a client certificate.
   * @default "/etc/docker/certs.d"
   */
  certsDir?: string;
  /**
   * How long to wait for a response's headers, and for each piece of a body after them, in ms.
   * @default 30000
   */
  timeout?: number;
  /**
   * Retries of a request that failed on the network, with a 5xx or with a 429.
   * @default 4
   */
  retries?: number;
  /**
   * The first delay between retries, in ms; each next one doubles, up to 10 s.
   * @default 500
   */
  retryDelay?: number;
  /**
   * The longest `Retry-After` honoured, in ms; a registry asking for longer is taken to be
   * unavailable rather than waited for.
   * @default 60000
   */
  maxRetryAfter?: number;
  /**
   * How host names are resolved (`dns.lookup`'s signature). Tests point a TLS registry's
   * name at 127.0.0.1 with it, so its certificate is checked against a real name.
   * @default the system resolver
   */
  lookup?: LookupFunction;
  /**
   * The `User-Agent` header.
   * @default "berth/<version>"
   */
  userAgent?: string;
}

/** Options of `RegistryClient.login`. */
export interface RegistryLoginOptions {
  /**
   * Whether to save the credentials (credential helper or config file `auths`) once the
   * registry accepted them.
   * @default true
   */
  store?: boolean;
}

/** What `RegistryClient.login` did. */
export interface RegistryLoginResult {
  /** Where the credentials were saved, or undefined when `store` was false. */
  storedIn: string | undefined;
  /** Whether the token service gave an identity token, which was saved instead of the password. */
  identityToken: boolean;
}
