import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isBerthError } from "../../../src/common/index.js";
import { RegistryClient } from "../../../src/registry/registry-client.js";
import type { RepositoryRef } from "../../../src/registry/types.js";
import { blobOf, readAll, streamOf } from "../../helpers/registry-blobs.js";
import { startTestProxy, type TestProxy } from "../../helpers/registry-proxy.js";
import { startRegistry, type StartedRegistry } from "../../helpers/registry-server.js";
import { loopbackLookup } from "../../helpers/loopback-lookup.js";

// The client is given `registry.berth.test:PORT`, a name nothing on this machine resolves
// (unless a test passes its own lookup): a request that arrives proves it went through the
// proxy, which sends everything to 127.0.0.1.
const name = "registry.berth.test";

/** Resolves the test name to 127.0.0.1, for the NO_PROXY test that goes direct. */
const lookup = loopbackLookup(name);

describe("HTTP_PROXY: plain HTTP through a forwarding proxy to docker-registry", () => {
  let registry: StartedRegistry;
  let proxy: TestProxy;
  const repo = (): RepositoryRef => ({ registry: `${name}:${registry.port}`, repository: "proxied/app" });

  beforeAll(async () => {
    registry = await startRegistry({ mode: "plain" });
  });
  afterAll(async () => registry?.stop());
  afterEach(async () => proxy?.stop());

  it("sends every request to the proxy with the absolute URL, and pushes and pulls through it", async () => {
    proxy = await startTestProxy();
    const client = new RegistryClient({
      env: { HTTP_PROXY: proxy.url },
      insecureRegistries: [`${name}:${registry.port}`],
      retries: 0,
    });
    const blob = blobOf("through the proxy");
    await client.pushBlob(repo(), blob.digest, blob.size, () => streamOf(blob.bytes));
    expect((await readAll(await client.getBlob(repo(), blob.digest))).toString()).toBe("through the proxy");
    client.close();
    expect(proxy.seen.length).toBeGreaterThan(2);
    for (const request of proxy.seen) expect(request.target.startsWith(`http://${name}:${registry.port}/v2/`)).toBe(true);
  });

  it("sends the proxy's credentials from the proxy URL, and fails without them", async () => {
    proxy = await startTestProxy({ credentials: "pu:pp" });
    const good = new RegistryClient({
      env: { http_proxy: `http://pu:pp@127.0.0.1:${proxy.port}` },
      insecureRegistries: [`${name}:${registry.port}`],
      retries: 0,
    });
    expect(await good.hasBlob(repo(), blobOf("nothing").digest)).toBe(false);
    good.close();
    expect(proxy.seen.at(-1)!.proxyAuthorization).toBe(`Basic ${Buffer.from("pu:pp").toString("base64")}`);

    const bad = new RegistryClient({ env: { HTTP_PROXY: proxy.url }, insecureRegistries: [`${name}:${registry.port}`], retries: 0 });
    const error = await bad.hasBlob(repo(), blobOf("nothing").digest).catch((e: unknown) => e);
    bad.close();
    expect(isBerthError(error)).toBe(true);
  });

  it("goes direct for a host NO_PROXY lists, and for loopback addresses always", async () => {
    proxy = await startTestProxy();
    const client = new RegistryClient({
      env: { HTTP_PROXY: proxy.url, NO_PROXY: `example.org,.berth.test` },
      insecureRegistries: [`${name}:${registry.port}`],
      retries: 0,
      lookup,
    });
    expect(await client.hasBlob(repo(), blobOf("x").digest)).toBe(false);
    expect(await client.hasBlob({ registry: registry.host, repository: "proxied/app" }, blobOf("x").digest)).toBe(false);
    client.close();
    expect(proxy.seen).toEqual([]);
  });
});

describe("HTTPS_PROXY: a CONNECT tunnel to a TLS docker-registry", () => {
  let registry: StartedRegistry;
  let proxy: TestProxy;
  const repo = (): RepositoryRef => ({ registry: registry.host, repository: "tunnelled/app" });

  beforeAll(async () => {
    registry = await startRegistry({ mode: "tls", tlsName: name });
  });
  afterAll(async () => registry?.stop());
  afterEach(async () => proxy?.stop());

  it("opens a tunnel to host:port and speaks TLS with the registry end to end", async () => {
    proxy = await startTestProxy({ credentials: "pu:pp" });
    const client = new RegistryClient({
      env: { HTTPS_PROXY: `http://pu:pp@127.0.0.1:${proxy.port}`, HTTP_PROXY: "http://127.0.0.1:9" },
      ca: registry.certificates!.caCert,
      certsDir: "/nonexistent",
      retries: 0,
    });
    const blob = blobOf("through a tunnel");
    await client.pushBlob(repo(), blob.digest, blob.size, () => streamOf(blob.bytes));
    expect((await readAll(await client.getBlob(repo(), blob.digest))).toString()).toBe("through a tunnel");
    client.close();
    expect(proxy.seen.length).toBeGreaterThan(0);
    for (const request of proxy.seen) expect([request.method, request.target]).toEqual(["CONNECT", registry.host]);
  });

  it("fails with a BerthError when the proxy refuses the tunnel", async () => {
    proxy = await startTestProxy({ credentials: "pu:pp" });
    const client = new RegistryClient({
      env: { HTTPS_PROXY: proxy.url },
      ca: registry.certificates!.caCert,
      certsDir: "/nonexistent",
      retries: 0,
    });
    const error = await client.hasBlob(repo(), blobOf("y").digest).catch((e: unknown) => e);
    client.close();
    expect(isBerthError(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/proxy|407/);
  });
});
