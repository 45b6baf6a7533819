import { createHash, randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { ImageStore } from "../../../src/image/image-store.js";
import { pullImage } from "../../../src/registry/pull.js";
import { RegistryClient } from "../../../src/registry/registry-client.js";
import type { RepositoryRef } from "../../../src/registry/types.js";
import { blobOf, handMadeImage, readAll } from "../../helpers/registry-blobs.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { startHostileServer } from "../../helpers/registry-hostile-server.js";
import type { HostileServer } from "../../helpers/registry-hostile-server.js";

const servers: HostileServer[] = [];
const clients: RegistryClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

async function hostile(...args: Parameters<typeof startHostileServer>): Promise<HostileServer> {
  const server = await startHostileServer(...args);
  servers.push(server);
  return server;
}

function client(options: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  const c = new RegistryClient({ env: {}, certsDir: "/nonexistent", retries: 2, retryDelay: 10, ...options });
  clients.push(c);
  return c;
}

const manifestBytes = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: blobOf("{}").digest, size: 2 },
    layers: [],
  }),
);
const manifestDigest = blobOf(manifestBytes).digest;

function sendManifest(res: ServerResponse, bytes = manifestBytes, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    "Content-Type": "application/vnd.oci.image.manifest.v1+json",
    "Content-Length": String(bytes.length),
    ...headers,
  });
  res.end(bytes);
}

const repoOf = (server: HostileServer): RepositoryRef => ({ registry: server.host, repository: "hostile/app" });

describe("a hostile registry", () => {
  it("a blob whose bytes do not match its digest fails the stream with BERTH_DIGEST_MISMATCH at the end", async () => {
    const blob = blobOf(randomBytes(50_000));
    const server = await hostile((_req, res) => {
      const other = randomBytes(blob.size);
      res.writeHead(200, { "Content-Length": String(other.length) }).end(other);
    });
    const stream = await client().getBlob(repoOf(server), blob.digest, { size: blob.size });
    const error = await readAll(stream).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DIGEST_MISMATCH")).toBe(true);
  });

  it("with verifyDigest false the stream only counts: other bytes of the right size pass, a short body is still BERTH_DOWNLOAD_TRUNCATED", async () => {
    const blob = blobOf(randomBytes(50_000));
    const other = randomBytes(blob.size);
    const server = await hostile((req, res) => {
      const body = req.url?.includes("/short/") ? other.subarray(0, 1000) : other;
      res.writeHead(200, { "Content-Length": String(body.length) }).end(body);
    });
    const passed = await readAll(await client().getBlob(repoOf(server), blob.digest, { size: blob.size, verifyDigest: false }));
    expect(passed.equals(other)).toBe(true);
    const short = await client().getBlob({ ...repoOf(server), repository: "hostile/short" }, blob.digest, { size: blob.size, verifyDigest: false });
    expect(hasErrorCode(await readAll(short).catch((e: unknown) => e), "BERTH_DOWNLOAD_TRUNCATED")).toBe(true);
  });

  it("a pull whose layer has other bytes (unhashed by the stream, checked by the unpacker) fails with BERTH_DIGEST_MISMATCH and commits nothing", async () => {
    const image = await handMadeImage("hostile");
    // Another gzip header time: the same tar (diff_id) and size, other bytes (digest).
    const forged = Buffer.from(image.layer.bytes);
    forged.writeUInt32LE(forged.readUInt32LE(4) + 1, 4);
    const server = await hostile((req, res) => {
      const path = req.url ?? "";
      if (path.includes("/manifests/")) return sendManifest(res, Buffer.from(image.manifest.bytes));
      const body = path.endsWith(image.config.digest) ? image.config.bytes : path.endsWith(image.layer.digest) ? forged : undefined;
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { "Content-Length": String(body.length) }).end(body);
    });
    const dir = await makeTempDir("berth-hostile-pull-");
    try {
      const store = new ImageStore(join(dir, "state"));
      const error = await pullImage(store, client(), `${server.host}/hostile/app:v1`).catch((e: unknown) => e);
      expect(hasErrorCode(error, "BERTH_DIGEST_MISMATCH")).toBe(true);
      expect(await store.list()).toEqual([]);
      for (const sub of ["snapshots", "ingest", "blobs/sha256"]) expect(await readdir(join(store.root, sub)).catch(() => [])).toEqual([]);
    } finally {
      await removeTempDir(dir);
    }
  });

  it("a body cut off before its Content-Length fails with BERTH_DOWNLOAD_TRUNCATED", async () => {
    const blob = blobOf(randomBytes(100_000));
    const server = await hostile((_req, res) => {
      res.writeHead(200, { "Content-Length": String(blob.size) });
      res.write(blob.bytes.subarray(0, 40_000), () => res.socket?.destroy());
    });
    const stream = await client().getBlob(repoOf(server), blob.digest);
    const error = await readAll(stream).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DOWNLOAD_TRUNCATED")).toBe(true);
  });

  it("a body cut off midway is resumed with a Range request and verified whole", async () => {
    const blob = blobOf(randomBytes(100_000));
    const server = await hostile((req, res) => {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (range) {
        const start = Number(range[1]);
        res.writeHead(206, {
          "Content-Length": String(blob.size - start),
          "Content-Range": `bytes ${start}-${blob.size - 1}/${blob.size}`,
        });
        res.end(blob.bytes.subarray(start));
        return;
      }
      res.writeHead(200, { "Content-Length": String(blob.size) });
      res.write(blob.bytes.subarray(0, 40_000), () => res.socket?.destroy());
    });
    const stream = await client().getBlob(repoOf(server), blob.digest, { size: blob.size });
    expect((await readAll(stream)).equals(blob.bytes)).toBe(true);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.range).toMatch(/^bytes=\d+-$/);
  });

  it("a close-delimited body shorter than the expected size fails with BERTH_DOWNLOAD_TRUNCATED", async () => {
    const blob = blobOf(randomBytes(30_000));
    const server = await hostile((_req, res) => {
      res.writeHead(200, { Connection: "close" });
      res.end(blob.bytes.subarray(0, 10_000));
    });
    const stream = await client().getBlob(repoOf(server), blob.digest, { size: blob.size });
    const error = await readAll(stream).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DOWNLOAD_TRUNCATED")).toBe(true);
  });

  it("a body that stalls fails within the timeout instead of hanging", async () => {
    const blob = blobOf(randomBytes(10_000));
    const server = await hostile((_req, res) => {
      res.writeHead(200, { "Content-Length": String(blob.size) });
      res.write(blob.bytes.subarray(0, 100));
    });
    const stream = await client({ timeout: 1000 }).getBlob(repoOf(server), blob.digest);
    const error = await readAll(stream).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DOWNLOAD_TRUNCATED")).toBe(true);
    expect(hasErrorCode((error as Error).cause, "BERTH_TIMEOUT")).toBe(true);
  });

  it("a registry that never answers fails with BERTH_REGISTRY_UNAVAILABLE after the timeout and retries", async () => {
    const server = await hostile(() => {});
    const error = await client({ timeout: 200, retries: 1 }).getManifest(repoOf(server), "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_UNAVAILABLE")).toBe(true);
    expect(server.requests).toHaveLength(2);
  });

  it("500 twice then success: the request is retried and succeeds", async () => {
    const server = await hostile((_req, res, seen) => {
      if (seen.length <= 2) res.writeHead(500).end("boom");
      else sendManifest(res);
    });
    const manifest = await client().getManifest(repoOf(server), "latest");
    expect(manifest.digest).toBe(manifestDigest);
    expect(server.requests).toHaveLength(3);
  });

  it("500 for ever: BERTH_REGISTRY_UNAVAILABLE after the retries", async () => {
    const server = await hostile((_req, res) => res.writeHead(503).end());
    const error = await client({ retries: 2 }).getManifest(repoOf(server), "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_UNAVAILABLE")).toBe(true);
    expect(server.requests).toHaveLength(3);
  });

  it("429 with Retry-After: the retry waits at least as long as asked", async () => {
    const times: number[] = [];
    const server = await hostile((_req, res, seen) => {
      times.push(performance.now());
      if (seen.length === 1) res.writeHead(429, { "Retry-After": "1" }).end();
      else sendManifest(res);
    });
    await client().getManifest(repoOf(server), "latest");
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
  });

  it("a redirect to another host does not carry the Authorization header there", async () => {
    const blob = blobOf(randomBytes(20_000));
    const storage = await hostile((_req, res) => res.writeHead(200, { "Content-Length": String(blob.size) }).end(blob.bytes), {
      hostName: "localhost",
    });
    const auth = `Basic ${Buffer.from("tester:s3cret").toString("base64")}`;
    const server = await hostile((req, res) => {
      if (req.headers.authorization !== auth) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="hostile"' }).end();
        return;
      }
      res.writeHead(307, { Location: `${storage.url}/storage/blob?sig=abc` }).end();
    });
    const stream = await client({ auth: { username: "tester", password: "s3cret" } }).getBlob(repoOf(server), blob.digest);
    expect((await readAll(stream)).equals(blob.bytes)).toBe(true);
    expect(server.requests.at(-1)!.authorization).toBe(auth);
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0]!.authorization).toBeUndefined();
  });

  it("a manifest whose Docker-Content-Digest disagrees with its bytes fails with BERTH_DIGEST_MISMATCH", async () => {
    const server = await hostile((_req, res) => sendManifest(res, manifestBytes, { "Docker-Content-Digest": blobOf("x").digest }));
    const error = await client().getManifest(repoOf(server), "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DIGEST_MISMATCH")).toBe(true);
  });

  it("a manifest fetched by digest whose bytes hash otherwise fails with BERTH_DIGEST_MISMATCH", async () => {
    const server = await hostile((_req, res) => sendManifest(res, Buffer.from(`${manifestBytes.toString()} `)));
    const error = await client().getManifest(repoOf(server), manifestDigest).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_DIGEST_MISMATCH")).toBe(true);
  });

  it("a Docker schema 1 manifest fails with BERTH_MEDIA_TYPE_UNSUPPORTED", async () => {
    const server = await hostile((_req, res) =>
      sendManifest(res, Buffer.from('{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[]}'), {
        "Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws",
      }),
    );
    const error = await client().getManifest(repoOf(server), "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_MEDIA_TYPE_UNSUPPORTED")).toBe(true);
  });

  it("a manifest served as application/json is recognised by its shape", async () => {
    const server = await hostile((_req, res) => {
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
      sendManifest(res, bytes, { "Content-Type": "application/json" });
    });
    const manifest = await client().getManifest(repoOf(server), "latest");
    expect(manifest.mediaType).toBe("application/vnd.oci.image.index.v1+json");
  });

  it("a mirror that is down is skipped for the registry itself", async () => {
    const origin = await hostile((_req, res) => sendManifest(res));
    const down = await hostile(() => {});
    await down.stop();
    servers.splice(servers.indexOf(down), 1);
    const c = client({ mirrors: { [origin.host]: [down.url] } });
    expect((await c.getManifest(repoOf(origin), "latest")).digest).toBe(manifestDigest);
    expect(origin.requests).toHaveLength(1);
  });

  it("a working mirror serves the pull and the registry itself is not contacted", async () => {
    const origin = await hostile((_req, res) => res.writeHead(500).end());
    const mirror = await hostile((_req, res) => sendManifest(res));
    const c = client({ mirrors: { [origin.host]: [mirror.url] } });
    expect((await c.getManifest(repoOf(origin), "latest")).digest).toBe(manifestDigest);
    expect(origin.requests).toHaveLength(0);
    expect(mirror.requests[0]!.path).toBe("/v2/hostile/app/manifests/latest");
  });

  it("a manifest larger than 4 MiB is refused rather than buffered", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const server = await hostile((_req, res) => sendManifest(res, big));
    const error = await client().getManifest(repoOf(server), "latest").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_PROTOCOL")).toBe(true);
  });

  it("digests are computed over the exact bytes, whitespace included", async () => {
    const spaced = Buffer.from(JSON.stringify(JSON.parse(manifestBytes.toString()), null, 3));
    const server = await hostile((_req, res) => sendManifest(res, spaced));
    const manifest = await client().getManifest(repoOf(server), "latest");
    expect(manifest.digest).toBe(`sha256:${createHash("sha256").update(spaced).digest("hex")}`);
  });

  it("an upload that fails with 500 is restarted from the first byte in a new session", async () => {
    const blob = blobOf(randomBytes(30_000));
    let puts = 0;
    const server = await hostile((req, res) => {
      if (req.method === "HEAD") res.writeHead(404).end();
      else if (req.method === "POST") res.writeHead(202, { Location: `/v2/hostile/app/blobs/uploads/${puts}?_state=x` }).end();
      else if (req.method === "PUT") {
        puts++;
        if (puts === 1) res.writeHead(500).end();
        else res.writeHead(201, { "Docker-Content-Digest": blob.digest }).end();
      } else res.writeHead(405).end();
    });
    let opened = 0;
    await client().pushBlob(repoOf(server), blob.digest, blob.size, () => {
      opened++;
      return Readable.from([blob.bytes]);
    });
    expect(opened).toBe(2);
    expect(server.requests.map((r) => r.method)).toEqual(["HEAD", "POST", "PUT", "POST", "PUT"]);
    expect(server.requests[4]!.path).toBe(`/v2/hostile/app/blobs/uploads/1?_state=x&digest=${encodeURIComponent(blob.digest)}`);
  });

  it("an upload the registry keeps failing ends with BERTH_REGISTRY_UNAVAILABLE", async () => {
    const blob = blobOf(randomBytes(1_000));
    const server = await hostile((req, res) => {
      if (req.method === "HEAD") res.writeHead(404).end();
      else if (req.method === "POST") res.writeHead(202, { Location: "/v2/hostile/app/blobs/uploads/u" }).end();
      else res.writeHead(502).end();
    });
    const error = await client({ retries: 1 })
      .pushBlob(repoOf(server), blob.digest, blob.size, () => Readable.from([blob.bytes]))
      .catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_REGISTRY_UNAVAILABLE")).toBe(true);
  });

  it("aborting a download through its signal stops the stream with the abort reason", async () => {
    const blob = blobOf(randomBytes(10_000));
    const server = await hostile((_req, res) => {
      res.writeHead(200, { "Content-Length": String(blob.size) });
      res.write(blob.bytes.subarray(0, 1000));
    });
    const controller = new AbortController();
    const stream = await client().getBlob(repoOf(server), blob.digest, { signal: controller.signal });
    stream.once("data", () => controller.abort(new Error("user gave up")));
    const error = await readAll(stream).catch((e: unknown) => e);
    expect((error as Error).message).toBe("user gave up");
  });

  it("a bearer challenge naming more scopes than asked (insufficient_scope) gets a token for all of them, once", async () => {
    const tokens: string[] = [];
    const tokenServer = await hostile((req, res) => {
      const scope = new URL(req.url ?? "/", "http://x").searchParams.getAll("scope").join(" ");
      tokens.push(scope);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: `tok ${scope}` }));
    });
    const needed = "repository:hostile/app:pull repository:other/base:pull";
    const server = await hostile((req, res) => {
      if (req.headers.authorization === `Bearer tok ${needed}`) {
        sendManifest(res);
        return;
      }
      const error = req.headers.authorization ? ',error="insufficient_scope"' : "";
      res.writeHead(401, { "WWW-Authenticate": `Bearer realm="${tokenServer.url}/token",service="h",scope="${needed}"${error}` }).end();
    });
    const c = client();
    expect((await c.getManifest(repoOf(server), "latest")).digest).toBe(manifestDigest);
    expect(tokens).toEqual([needed]);
    expect(server.requests).toHaveLength(2);
    // The token is cached for what it covers: the next pull goes straight through.
    await c.getManifest(repoOf(server), "latest");
    expect(tokens).toHaveLength(1);
    expect(server.requests).toHaveLength(3);
  });

});
