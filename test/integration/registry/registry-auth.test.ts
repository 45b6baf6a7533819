import { mkdir, readFile, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { RegistryClient } from "../../../src/registry/registry-client.js";
import type { RepositoryRef } from "../../../src/registry/types.js";
import { blobOf, handMadeImage, readAll, streamOf } from "../../helpers/registry-blobs.js";
import { startRegistry } from "../../helpers/registry-server.js";
import type { StartedRegistry } from "../../helpers/registry-server.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const quick = { certsDir: "/nonexistent", retries: 1, retryDelay: 10 };

describe("basic auth (htpasswd) against docker-registry", () => {
  let registry: StartedRegistry;
  let home: string;
  beforeAll(async () => {
    registry = await startRegistry({ mode: "basic" });
    home = await makeTempDir("berth-docker-config-");
  });
  afterAll(async () => {
    await registry?.stop();
    if (home) await removeTempDir(home);
  });
  const repo = (): RepositoryRef => ({ registry: registry.host, repository: "private/app" });

  it("pushes and pulls with credentials from the auth option", async () => {
    const client = new RegistryClient({ ...quick, env: {}, auth: { username: "tester", password: "s3cret" } });
    const blob = blobOf("basic auth blob");
    await client.pushBlob(repo(), blob.digest, blob.size, () => streamOf(blob.bytes));
    expect((await readAll(await client.getBlob(repo(), blob.digest))).toString()).toBe("basic auth blob");
    client.close();
  });

  it("reads credentials from $DOCKER_CONFIG/config.json auths", async () => {
    const dir = join(home, "from-config");
    await mkdir(dir, { recursive: true });
    const auth = Buffer.from("tester:s3cret").toString("base64");
    await writeFile(join(dir, "config.json"), JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const client = new RegistryClient({ ...quick, env: { DOCKER_CONFIG: dir } });
    expect(await client.hasBlob(repo(), blobOf("basic auth blob").digest)).toBe(true);
    client.close();
  });

  it("reads credentials from DOCKER_AUTH_CONFIG", async () => {
    const auth = Buffer.from("tester:s3cret").toString("base64");
    const client = new RegistryClient({
      ...quick,
      env: { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { [`http://${registry.host}`]: { auth } } }), HOME: home },
    });
    expect(await client.hasBlob(repo(), blobOf("basic auth blob").digest)).toBe(true);
    client.close();
  });

  it("fails with BERTH_REGISTRY_UNAUTHORIZED naming the registry and the refused source for a bad password", async () => {
    const client = new RegistryClient({ ...quick, env: {}, auth: { username: "tester", password: "wrong" } });
    const error = await client.getManifest(repo(), "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((error as Error).message).toContain(registry.host);
    expect((error as Error).message).toContain("the auth option");
    client.close();
  });

  it("fails with BERTH_REGISTRY_UNAUTHORIZED listing where credentials were looked for when there are none", async () => {
    const dir = join(home, "empty");
    const client = new RegistryClient({ ...quick, env: { DOCKER_CONFIG: dir } });
    const error = await client.getManifest(repo(), "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((error as Error).message).toContain(join(dir, "config.json"));
    client.close();
  });

  it("logs in (storing base64 auth in config.json as docker login does), then logs out", async () => {
    const dir = join(home, "login");
    const client = new RegistryClient({ ...quick, env: { DOCKER_CONFIG: dir } });
    const bad = await client.login(registry.host, { username: "tester", password: "nope" }).catch((e: unknown) => e);
    expect(hasErrorCode(bad, "BERTH_REGISTRY_UNAUTHORIZED")).toBe(true);
    const result = await client.login(registry.host, { username: "tester", password: "s3cret" });
    expect(result.storedIn).toBe(`${join(dir, "config.json")} (auths)`);
    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(config.auths[registry.host]!.auth, "base64").toString()).toBe("tester:s3cret");
    expect(await client.hasBlob(repo(), blobOf("basic auth blob").digest)).toBe(true);
    expect(await client.logout(registry.host)).toBe(true);
    const after = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { auths: Record<string, unknown> };
    expect(after.auths[registry.host]).toBeUndefined();
    client.close();
  });

  it("gets credentials from a credential helper (docker-credential-test on PATH)", async () => {
    const bin = join(home, "bin");
    await mkdir(bin, { recursive: true });
    const helper = join(bin, "docker-credential-test");
    await writeFile(
      helper,
      `#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "${registry.host}" ]; then\n` +
        `  echo '{"ServerURL":"${registry.host}","Username":"tester","Secret":"s3cret"}'\n  exit 0\nfi\n` +
        `echo "credentials not found in native keychain"\nexit 1\n`,
    );
    await chmod(helper, 0o755);
    const dir = join(home, "helper");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "config.json"), JSON.stringify({ credHelpers: { [registry.host]: "test" } }));
    const client = new RegistryClient({ ...quick, env: { DOCKER_CONFIG: dir, PATH: `${bin}:/usr/bin:/bin` } });
    expect(await client.hasBlob(repo(), blobOf("basic auth blob").digest)).toBe(true);
    client.close();
  });
});

describe("token auth (a Docker Hub-like token service) against docker-registry", () => {
  let registry: StartedRegistry;
  let home: string;
  beforeAll(async () => {
    registry = await startRegistry({ mode: "token" });
    home = await makeTempDir("berth-docker-config-");
  });
  afterAll(async () => {
    await registry?.stop();
    if (home) await removeTempDir(home);
  });

  it("pushes with a token got with basic credentials, then pulls it anonymously from a public repository", async () => {
    const image = await handMadeImage("token");
    const publicRepo: RepositoryRef = { registry: registry.host, repository: "public/hello" };
    const pusher = new RegistryClient({ ...quick, env: {}, auth: { username: "tester", password: "s3cret" } });
    for (const blob of [image.layer, image.config]) {
      await pusher.pushBlob(publicRepo, blob.digest, blob.size, () => streamOf(blob.bytes));
    }
    await pusher.putManifest(publicRepo, "latest", image.mediaType, image.manifest.bytes);
    pusher.close();
    const pushTokens = registry.tokenServer!.requests.filter((r) => r.user === "tester");
    expect(pushTokens.length).toBeGreaterThan(0);
    // One push token serves every request of the push (cached by scope).
    expect(pushTokens.length).toBeLessThanOrEqual(2);

    const before = registry.tokenServer!.requests.length;
    const anonymous = new RegistryClient({ ...quick, env: { DOCKER_CONFIG: join(home, "none") } });
    const manifest = await anonymous.getManifest(publicRepo, "latest");
    expect(manifest.digest).toBe(image.manifest.digest);
    const layer = await readAll(await anonymous.getBlob(publicRepo, image.layer.digest));
    expect(layer.equals(image.layer.bytes)).toBe(true);
    const anonymousTokens = registry.tokenServer!.requests.slice(before);
    expect(anonymousTokens.every((r) => r.user === undefined)).toBe(true);
    expect(anonymousTokens).toHaveLength(1);
    anonymous.close();
  });

  it("sends a registryToken as the bearer token as is", async () => {
    const realm = new URL(registry.tokenServer!.realm);
    realm.searchParams.set("service", registry.tokenServer!.service);
    realm.searchParams.set("scope", "repository:private/token-only:pull,push");
    const answer = await fetch(realm, { headers: { Authorization: `Basic ${Buffer.from("tester:s3cret").toString("base64")}` } });
    const { token } = (await answer.json()) as { token: string };
    const before = registry.tokenServer!.requests.length;
    const client = new RegistryClient({ ...quick, env: {}, auth: { registryToken: token } });
    const blob = blobOf("registry token");
    await client.pushBlob({ registry: registry.host, repository: "private/token-only" }, blob.digest, blob.size, () => streamOf(blob.bytes));
    expect(registry.tokenServer!.requests.length).toBe(before);
    client.close();
  });

  it("parallel requests for one scope share a single token request", async () => {
    const client = new RegistryClient({ ...quick, env: {}, auth: { username: "tester", password: "s3cret" } });
    const before = registry.tokenServer!.requests.length;
    const digests = ["a", "b", "c", "d", "e", "f"].map((x) => blobOf(x).digest);
    const found = await Promise.all(digests.map((d) => client.hasBlob({ registry: registry.host, repository: "public/hello" }, d)));
    expect(found).toEqual([false, false, false, false, false, false]);
    expect(registry.tokenServer!.requests.length - before).toBe(1);
    client.close();
  });

  it("fails with BERTH_REGISTRY_UNAUTHORIZED when an anonymous client pushes", async () => {
    const anonymous = new RegistryClient({ ...quick, env: { DOCKER_CONFIG: join(home, "none") } });
    const blob = blobOf("anonymous push");
    const error = await anonymous
      .pushBlob({ registry: registry.host, repository: "public/hello" }, blob.digest, blob.size, () => streamOf(blob.bytes))
      .catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((error as Error).message).toContain("no credentials were found");
    anonymous.close();
  });

  it("fails with BERTH_REGISTRY_UNAUTHORIZED when the token service refuses the password", async () => {
    const client = new RegistryClient({ ...quick, env: {}, auth: { username: "tester", password: "bad" } });
    const error = await client.getManifest({ registry: registry.host, repository: "public/hello" }, "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((error as Error).message).toContain("the auth option");
    client.close();
  });

  it("logs in, stores the identity token the service returns, and uses it (OAuth2 refresh_token POST)", async () => {
    const dir = join(home, "login");
    const client = new RegistryClient({ ...quick, env: { DOCKER_CONFIG: dir } });
    const result = await client.login(registry.host, { username: "tester", password: "s3cret" });
    expect(result.identityToken).toBe(true);
    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as {
      auths: Record<string, { identitytoken?: string }>;
    };
    expect(config.auths[registry.host]!.identitytoken).toBe(registry.tokenServer!.refreshTokens.get("tester"));
    const blob = blobOf("pushed with an identity token");
    await client.pushBlob({ registry: registry.host, repository: "private/x" }, blob.digest, blob.size, () => streamOf(blob.bytes));
    expect(registry.tokenServer!.requests.at(-1)).toMatchObject({ method: "POST", grantType: "refresh_token", user: "tester" });
    client.close();
  });
});
