import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import {
  hostOptionsFromEnv,
  isInsecureRegistry,
  readCertsDir,
  registryEndpoints,
} from "../../../src/registry/registry-hosts.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const none = { insecureRegistries: [], mirrors: {} };

describe("registry endpoints", () => {
  it("sends docker.io to registry-1.docker.io over HTTPS", () => {
    expect(registryEndpoints("docker.io", none)).toEqual([
      { baseUrl: "https://registry-1.docker.io", registry: "docker.io", mirror: false },
    ]);
  });

  it("reaches loopback registries over plain HTTP, IPv6 in brackets", () => {
    expect(registryEndpoints("localhost:5000", none)[0]!.baseUrl).toBe("http://localhost:5000");
    expect(registryEndpoints("127.0.0.1:5000", none)[0]!.baseUrl).toBe("http://127.0.0.1:5000");
    expect(registryEndpoints("[::1]:5000", none)[0]!.baseUrl).toBe("http://[::1]:5000");
    expect(registryEndpoints("ghcr.io", none)[0]!.baseUrl).toBe("https://ghcr.io");
  });

  it("reaches insecure registries over plain HTTP, by host or by host:port", () => {
    expect(isInsecureRegistry("reg.local:5000", ["reg.local"])).toBe(true);
    expect(isInsecureRegistry("reg.local:5000", ["reg.local:5000"])).toBe(true);
    expect(isInsecureRegistry("reg.local:5001", ["reg.local:5000"])).toBe(false);
    expect(isInsecureRegistry("reg.local", ["http://reg.local/"])).toBe(true);
    expect(isInsecureRegistry("other.local", ["reg.local"])).toBe(false);
  });

  it("reads BERTH_INSECURE_REGISTRIES and BERTH_REGISTRY_MIRROR (Docker Hub's mirrors)", () => {
    const options = hostOptionsFromEnv({
      BERTH_INSECURE_REGISTRIES: "a.local, b.local:5000",
      BERTH_REGISTRY_MIRROR: "https://mirror.local,http://127.0.0.1:5001",
    });
    expect(options.insecureRegistries).toEqual(["a.local", "b.local:5000"]);
    expect(registryEndpoints("docker.io", options)).toEqual([
      { baseUrl: "https://mirror.local", registry: "docker.io", mirror: true },
      { baseUrl: "http://127.0.0.1:5001", registry: "docker.io", mirror: true },
      { baseUrl: "https://registry-1.docker.io", registry: "docker.io", mirror: false },
    ]);
    expect(registryEndpoints("b.local:5000", options)).toEqual([
      { baseUrl: "http://b.local:5000", registry: "b.local:5000", mirror: false },
    ]);
  });

  it("leaves mirrors out of pushes, as Docker does", () => {
    const options = hostOptionsFromEnv({ BERTH_REGISTRY_MIRROR: "https://mirror.local" });
    expect(registryEndpoints("docker.io", options, true).map((e) => e.baseUrl)).toEqual(["https://registry-1.docker.io"]);
  });

  it("refuses a mirror that is not a URL", () => {
    const error = (() => {
      try {
        registryEndpoints("docker.io", { insecureRegistries: [], mirrors: { "docker.io": ["http://exa mple"] } });
      } catch (e) {
        return e;
      }
    })();
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });
});

describe("certs.d", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir("berth-certs-");
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });

  it("reads every *.crt as a CA and client.cert with client.key", async () => {
    const host = join(dir, "reg.local:5000");
    await mkdir(host);
    await writeFile(join(host, "ca.crt"), "CA1");
    await writeFile(join(host, "other.crt"), "CA2");
    await writeFile(join(host, "client.cert"), "CERT");
    await writeFile(join(host, "client.key"), "KEY");
    expect(await readCertsDir(dir, "reg.local:5000")).toEqual({ ca: ["CA1", "CA2"], cert: { cert: "CERT", key: "KEY" } });
  });

  it("finds nothing for a host without a directory", async () => {
    expect(await readCertsDir(dir, "nothing.local")).toEqual({ ca: [] });
  });

  it("refuses a client certificate without its key", async () => {
    const host = join(dir, "nokey.local");
    await mkdir(host);
    await writeFile(join(host, "client.cert"), "CERT");
    const error = await readCertsDir(dir, "nokey.local").catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });
});
