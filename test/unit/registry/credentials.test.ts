import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import {
  credentialKey,
  dockerConfigPath,
  eraseCredentials,
  resolveCredentials,
  storeCredentials,
} from "../../../src/registry/credentials.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("Docker credentials", () => {
  let dir: string;
  let bin: string;
  let helperLog: string;

  beforeAll(async () => {
    dir = await makeTempDir("berth-creds-");
    bin = join(dir, "bin");
    helperLog = join(dir, "helper.log");
    await mkdir(bin);
    // A real credential helper process speaking Docker's protocol: `get` reads the server
    // URL on stdin, `store` a JSON document, `erase` the server URL.
    const store = join(dir, "helper-store");
    await mkdir(store);
    await writeFile(
      join(bin, "docker-credential-test"),
      `#!/bin/sh
set -e
input=$(cat)
echo "$1 $input" >> "${helperLog}"
case "$1" in
  get)
    key=$(printf %s "$input" | tr -c 'A-Za-z0-9.' _)
    if [ -f "${store}/$key" ]; then cat "${store}/$key"; exit 0; fi
    case "$input" in
      https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"hubuser","Secret":"hubpass"}';;
      token.local) echo '{"ServerURL":"token.local","Username":"<token>","Secret":"refresh-123"}';;
      *) echo "credentials not found in native keychain"; exit 1;;
    esac;;
  store)
    server=$(printf %s "$input" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/')
    key=$(printf %s "$server" | tr -c 'A-Za-z0-9.' _)
    printf %s "$input" > "${store}/$key";;
  erase)
    key=$(printf %s "$input" | tr -c 'A-Za-z0-9.' _)
    rm -f "${store}/$key";;
esac
`,
    );
    await chmod(join(bin, "docker-credential-test"), 0o755);
    await writeFile(join(bin, "docker-credential-broken"), "#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n");
    await writeFile(join(bin, "docker-credential-stuck"), "#!/bin/sh\nexec sleep 30\n");
    await chmod(join(bin, "docker-credential-stuck"), 0o755);
    await chmod(join(bin, "docker-credential-broken"), 0o755);
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });

  const env = (configDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    DOCKER_CONFIG: configDir,
    PATH: `${bin}:/usr/bin:/bin`,
    ...extra,
  });
  async function config(name: string, content: unknown): Promise<string> {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, "config.json"), JSON.stringify(content));
    return d;
  }

  it("files Docker Hub under https://index.docker.io/v1/ and others under host[:port]", () => {
    expect(credentialKey("docker.io")).toBe("https://index.docker.io/v1/");
    expect(credentialKey("localhost:5000")).toBe("localhost:5000");
    expect(dockerConfigPath({ DOCKER_CONFIG: "/x" })).toBe("/x/config.json");
    expect(dockerConfigPath({ HOME: "/home/u" })).toBe("/home/u/.docker/config.json");
  });

  it("decodes base64 auth and matches keys written with a scheme or a path", async () => {
    const d = await config("auths", {
      auths: {
        "https://index.docker.io/v1/": { auth: b64("hub:pw") },
        "http://reg.local:5000/v2/": { auth: b64("u:p:with:colons") },
        "ghcr.io": { identitytoken: "idt" },
      },
    });
    const hub = await resolveCredentials("docker.io", { env: env(d) });
    expect(hub.auth).toEqual({ username: "hub", password: "pw" });
    expect(hub.source).toBe(`${join(d, "config.json")} (auths)`);
    expect((await resolveCredentials("reg.local:5000", { env: env(d) })).auth).toEqual({ username: "u", password: "p:with:colons" });
    expect((await resolveCredentials("ghcr.io", { env: env(d) })).auth).toEqual({ identityToken: "idt" });
    const missing = await resolveCredentials("quay.io", { env: env(d) });
    expect(missing.auth).toBeUndefined();
    expect(missing.searched).toEqual([`${join(d, "config.json")} (auths)`]);
  });

  it("prefers DOCKER_AUTH_CONFIG, then falls back to the config file", async () => {
    const d = await config("env-first", { auths: { "reg.local": { auth: b64("file:pw") }, "other.local": { auth: b64("o:p") } } });
    const e = env(d, { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { "reg.local": { auth: b64("env:pw") } } }) });
    expect((await resolveCredentials("reg.local", { env: e })).auth).toEqual({ username: "env", password: "pw" });
    const other = await resolveCredentials("other.local", { env: e });
    expect(other.auth).toEqual({ username: "o", password: "p" });
    expect(other.searched).toEqual(["DOCKER_AUTH_CONFIG (auths)", `${join(d, "config.json")} (auths)`]);
  });

  it("runs credHelpers for their registry and credsStore for the rest", async () => {
    const d = await config("helpers", { credsStore: "test", credHelpers: { "token.local": "test" }, auths: {} });
    const hub = await resolveCredentials("docker.io", { env: env(d) });
    expect(hub.auth).toEqual({ username: "hubuser", password: "hubpass" });
    expect(hub.source).toContain("credsStore: docker-credential-test");
    const token = await resolveCredentials("token.local", { env: env(d) });
    expect(token.auth).toEqual({ identityToken: "refresh-123" });
    expect(token.source).toContain("credHelpers");
    expect((await readFile(helperLog, "utf8")).split("\n")).toContain("get https://index.docker.io/v1/");
  });

  it("falls through to auths when the helper has nothing", async () => {
    const d = await config("helper-miss", { credsStore: "test", auths: { "reg.local": { auth: b64("a:b") } } });
    const found = await resolveCredentials("reg.local", { env: env(d) });
    expect(found.auth).toEqual({ username: "a", password: "b" });
    expect(found.searched).toHaveLength(2);
  });

  it("fails with BERTH_CREDENTIAL_HELPER_FAILED when a helper breaks or is missing", async () => {
    const broken = await config("broken", { credsStore: "broken" });
    const error = await resolveCredentials("reg.local", { env: env(broken) }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_CREDENTIAL_HELPER_FAILED")).toBe(true);
    expect((error as Error).message).toContain("keychain locked");
    const missing = await config("missing", { credsStore: "nosuch" });
    const error2 = await resolveCredentials("reg.local", { env: env(missing) }).catch((e: unknown) => e);
    expect(hasErrorCode(error2, "BERTH_CREDENTIAL_HELPER_FAILED")).toBe(true);
    expect((error2 as Error).message).toContain("not installed");
  });

  it("fails with BERTH_CREDENTIAL_HELPER_FAILED when a helper does not answer in time", async () => {
    const d = await config("stuck", { credsStore: "stuck" });
    const error = await resolveCredentials("reg.local", { env: env(d), helperTimeout: 300 }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_CREDENTIAL_HELPER_FAILED")).toBe(true);
    expect((error as Error).message).toContain("timed out after 300 ms");
  });

  it("refuses a config file that is not JSON", async () => {
    const d = join(dir, "bad-json");
    await mkdir(d);
    await writeFile(join(d, "config.json"), "{nope");
    const error = await resolveCredentials("reg.local", { env: env(d) }).catch((e: unknown) => e);
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("stores and erases in auths (mode 0600, other keys kept), as docker login and logout do", async () => {
    const d = await config("store", { auths: { "keep.local": { auth: b64("k:k") } }, psFormat: "table" });
    const where = await storeCredentials("reg.local:5000", { username: "me", password: "pw" }, { env: env(d) });
    expect(where).toBe(`${join(d, "config.json")} (auths)`);
    const written = JSON.parse(await readFile(join(d, "config.json"), "utf8")) as Record<string, unknown>;
    expect(written).toEqual({
      auths: { "keep.local": { auth: b64("k:k") }, "reg.local:5000": { auth: b64("me:pw") } },
      psFormat: "table",
    });
    expect((await stat(join(d, "config.json"))).mode & 0o777).toBe(0o600);
    expect(await eraseCredentials("reg.local:5000", { env: env(d) })).toBe(true);
    expect(await eraseCredentials("reg.local:5000", { env: env(d) })).toBe(false);
    const after = JSON.parse(await readFile(join(d, "config.json"), "utf8")) as { auths: Record<string, unknown> };
    expect(Object.keys(after.auths)).toEqual(["keep.local"]);
  });

  it("stores and erases through the credential helper when credsStore is set", async () => {
    const d = await config("store-helper", { credsStore: "test" });
    expect(await storeCredentials("new.local", { username: "x", password: "y" }, { env: env(d) })).toBe("docker-credential-test");
    expect((await resolveCredentials("new.local", { env: env(d) })).auth).toEqual({ username: "x", password: "y" });
    const written = JSON.parse(await readFile(join(d, "config.json"), "utf8")) as { auths: Record<string, unknown> };
    expect(written.auths).toEqual({ "new.local": {} });
    expect(await eraseCredentials("new.local", { env: env(d) })).toBe(true);
    expect((await resolveCredentials("new.local", { env: env(d) })).auth).toBeUndefined();
  });
});
