import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { RegistryClient } from "../../../src/registry/registry-client.js";
import type { RepositoryRef } from "../../../src/registry/types.js";
import { blobOf, readAll, streamOf } from "../../helpers/registry-blobs.js";
import { startRegistry } from "../../helpers/registry-server.js";
import type { StartedRegistry } from "../../helpers/registry-server.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { loopbackLookup } from "../../helpers/loopback-lookup.js";

/** Resolves the test registry's name to 127.0.0.1. */
const lookup = loopbackLookup("registry.berth.test");

describe("TLS with a self-signed CA against docker-registry", () => {
  let registry: StartedRegistry;
  let certsDir: string;
  const repo = (): RepositoryRef => ({ registry: registry.host, repository: "tls/app" });
  const base = { env: {}, retries: 1, retryDelay: 10, lookup };

  beforeAll(async () => {
    registry = await startRegistry({ mode: "tls" });
    certsDir = await makeTempDir("berth-certs-d-");
  });
  afterAll(async () => {
    await registry?.stop();
    if (certsDir) await removeTempDir(certsDir);
  });

  it("pushes and pulls over HTTPS with the CA given as the ca option", async () => {
    const client = new RegistryClient({ ...base, certsDir: "/nonexistent", ca: registry.certificates!.caCert });
    const blob = blobOf("over tls");
    await client.pushBlob(repo(), blob.digest, blob.size, () => streamOf(blob.bytes));
    expect((await readAll(await client.getBlob(repo(), blob.digest))).toString()).toBe("over tls");
    client.close();
  });

  it("trusts the CA found in certs.d/<host:port>/ca.crt, as Docker does", async () => {
    await mkdir(join(certsDir, registry.host), { recursive: true });
    await writeFile(join(certsDir, registry.host, "ca.crt"), registry.certificates!.caCert);
    const client = new RegistryClient({ ...base, certsDir });
    expect(await client.hasBlob(repo(), blobOf("over tls").digest)).toBe(true);
    client.close();
  });

  it("fails with BERTH_REGISTRY_TLS, without retrying, when the CA is not trusted", async () => {
    const client = new RegistryClient({ ...base, certsDir: "/nonexistent" });
    const error = await client.hasBlob(repo(), blobOf("over tls").digest).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_TLS")).toBe(true);
    expect((error as Error).message).toContain(`/nonexistent/${registry.host}/ca.crt`);
    client.close();
  });
});

describe("mutual TLS (the registry requires a client certificate)", () => {
  let registry: StartedRegistry;
  let certsDir: string;
  beforeAll(async () => {
    registry = await startRegistry({ mode: "tls", requireClientCert: true });
    certsDir = await makeTempDir("berth-certs-d-");
  });
  afterAll(async () => {
    await registry?.stop();
    if (certsDir) await removeTempDir(certsDir);
  });

  it("presents client.cert and client.key from certs.d/<host:port>/, as Docker does", async () => {
    const dir = join(certsDir, registry.host);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "ca.crt"), registry.certificates!.caCert);
    await writeFile(join(dir, "client.cert"), registry.clientCertificate!.cert);
    await writeFile(join(dir, "client.key"), registry.clientCertificate!.key);
    const client = new RegistryClient({ env: {}, retries: 1, retryDelay: 10, lookup, certsDir });
    const blob = blobOf("mutual tls");
    await client.pushBlob({ registry: registry.host, repository: "mtls/app" }, blob.digest, blob.size, () => streamOf(blob.bytes));
    expect(await client.hasBlob({ registry: registry.host, repository: "mtls/app" }, blob.digest)).toBe(true);
    client.close();
  });

  it("fails without a client certificate", async () => {
    const client = new RegistryClient({ env: {}, retries: 0, lookup, certsDir: "/nonexistent", ca: registry.certificates!.caCert });
    const error = await client.hasBlob({ registry: registry.host, repository: "mtls/app" }, blobOf("x").digest).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("BERTH_REGISTRY_TLS");
    expect((error as Error).message).toContain("client.cert and client.key");
    client.close();
  });
});
