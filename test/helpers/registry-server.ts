import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { writeFile, mkdir } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { join } from "node:path";
import { execa } from "execa";
import getPort from "get-port";
import { makeClientCertificate, makeSigningCertificate, makeTestCertificates } from "./registry-certs.js";
import type { TestCertificates } from "./registry-certs.js";
import { startTokenServer } from "./registry-token-server.js";
import type { TokenPolicy, TokenServer } from "./registry-token-server.js";
import { makeTempDir, removeTempDir } from "./temp-dir.js";

/** How the test registry authenticates and whether it speaks TLS. */
export type RegistryMode = "plain" | "basic" | "tls" | "token";

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** @default "plain" */
  mode?: RegistryMode;
  /** Users for `basic` and `token` modes. @default { tester: "s3cret" } */
  users?: Record<string, string>;
  /** Repositories anonymous clients may pull in `token` mode. @default ["public/"] */
  publicRepositories?: string[];
  /**
   * The name the TLS certificate is made for; clients resolve it to 127.0.0.1 themselves.
   * @default "registry.berth.test"
   */
  tlsName?: string;
  /** TLS mode: require a client certificate signed by the test CA (mutual TLS). @default false */
  requireClientCert?: boolean;
  /**
   * Patterns of the URLs a manifest's foreign layers may name (distribution's
   * `validation.manifests.urls.allow`); without it the registry refuses such manifests.
   * @default none
   */
  allowManifestUrls?: string[];
}

/** A running Debian `docker-registry`. */
export interface StartedRegistry {
  /** The registry as image references name it: `127.0.0.1:PORT` (or `<tlsName>:PORT`). */
  host: string;
  /** Its base URL: `http://127.0.0.1:PORT` or `https://<tlsName>:PORT`. */
  url: string;
  port: number;
  /** TLS mode: the CA that signed the registry's certificate. */
  certificates?: TestCertificates;
  /** TLS mode with `requireClientCert`: a client certificate (PEM) the registry accepts. */
  clientCertificate?: { cert: string; key: string };
  /** Token mode: the token service. */
  tokenServer?: TokenServer;
  users: Record<string, string>;
  /** Kills the registry (and token service) and removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 and a free port, with a
 * config written into a temp dir: plain HTTP, htpasswd basic auth, TLS with a throwaway CA,
 * or bearer tokens from {@link startTokenServer}. Resolves once `/v2/` answers.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<StartedRegistry> {
  const mode = options.mode ?? "plain";
  const users = options.users ?? { tester: "s3cret" };
  const dir = await makeTempDir("berth-registry-");
  let child: ChildProcess | undefined;
  let tokenServer: TokenServer | undefined;
  const cleanup = async (): Promise<void> => {
    if (child) await killChild(child);
    await tokenServer?.stop();
    await removeTempDir(dir);
  };
  try {
    const port = await getPort({ host: "127.0.0.1" });
    await mkdir(join(dir, "data"));
    const tlsName = options.tlsName ?? "registry.berth.test";
    let certificates: TestCertificates | undefined;
    let clientCertificate: { cert: string; key: string } | undefined;
    let auth = "";
    let tls = "";
    if (mode === "basic") {
      const lines = await Promise.all(
        Object.entries(users).map(async ([user, password]) => (await execa("htpasswd", ["-Bbn", user, password])).stdout.trim()),
      );
      await writeFile(join(dir, "htpasswd"), `${lines.join("\n")}\n`);
      auth = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, "htpasswd")}\n`;
    } else if (mode === "token") {
      const signing = await makeSigningCertificate(dir);
      const policy: TokenPolicy = { users, publicRepositories: options.publicRepositories ?? ["public/"] };
      tokenServer = await startTokenServer({ ...signing, policy });
      auth =
        `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${tokenServer.service}\n` +
        `    issuer: ${tokenServer.issuer}\n    rootcertbundle: ${signing.certPath}\n`;
    } else if (mode === "tls") {
      certificates = await makeTestCertificates(dir, [tlsName, "127.0.0.1"]);
      tls = `  tls:\n    certificate: ${certificates.serverCertPath}\n    key: ${certificates.serverKeyPath}\n`;
      if (options.requireClientCert) {
        tls += `    clientcas:\n      - ${certificates.caCertPath}\n`;
        clientCertificate = await makeClientCertificate(dir, certificates);
      }
    }
    const config =
      "version: 0.1\n" +
      "log:\n  level: warn\n  accesslog:\n    disabled: true\n" +
      `storage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: false\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  secret: berth-test-secret\n${tls}` +
      auth +
      (options.allowManifestUrls
        ? `validation:\n  manifests:\n    urls:\n      allow:\n${options.allowManifestUrls.map((p) => `        - ${JSON.stringify(p)}\n`).join("")}`
        : "");
    await writeFile(join(dir, "config.yml"), config);
    const output: string[] = [];
    // The registry runs under a small shell that kills it when its stdin closes, which the
    // kernel does when this process dies however it dies (a SIGKILLed vitest worker too),
    // and then removes the temp dir: no registry or data outlives the test that started it.
    // The shell exits when the registry does, so a registry that fails to start is seen.
    const wrapper = [
      'trap "" PIPE',
      "exec 3<&0",
      'docker-registry serve "$1/config.yml" & pid=$!',
      "(cat <&3 >/dev/null; kill $pid 2>/dev/null) 3<&3 & watcher=$!",
      "exec 3<&-",
      "wait $pid 2>/dev/null; code=$?",
      "kill $watcher 2>/dev/null",
      'rm -rf "$1"',
      "exit $code",
    ].join("\n");
    child = spawn("sh", ["-c", wrapper, "registry-wrapper", dir], { stdio: ["pipe", "pipe", "pipe"], detached: true });
    // Closing the pipe also ends the watcher's `cat` when the registry died on its own.
    child.once("exit", () => child?.stdin?.destroy());
    child.stdin!.on("error", () => {});
    const collect = (chunk: Buffer): void => {
      output.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      if (output.length > 50) output.splice(0, output.length - 50);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    const exited = new Promise<never>((_, reject) =>
      child!.once("exit", (code) => reject(new Error(`docker-registry exited (${code}):\n${output.join("\n")}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForRegistry(port, mode === "tls", clientCertificate), exited]).catch((error: unknown) => {
      throw new Error(`docker-registry did not start: ${(error as Error).message}\n${output.slice(-10).join("\n")}`);
    });
    const host = mode === "tls" ? `${tlsName}:${port}` : `127.0.0.1:${port}`;
    return {
      host,
      url: `${mode === "tls" ? "https" : "http"}://${host}`,
      port,
      certificates,
      clientCertificate,
      tokenServer,
      users,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function waitForRegistry(port: number, tls: boolean, client?: { cert: string; key: string }): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await new Promise<number | undefined>((resolve) => {
      const req = (tls ? https : http).get(
        { host: "127.0.0.1", port, path: "/v2/", rejectUnauthorized: false, timeout: 1000, agent: false, ...client },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on("error", () => resolve(undefined));
      req.on("timeout", () => req.destroy());
    });
    if (status === 200 || status === 401) return;
    if (Date.now() > deadline) throw new Error(`no answer on 127.0.0.1:${port}/v2/ within 15 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.stdin?.end();
  // The shell and the registry form their own process group (detached): kill it whole if
  // the polite way did not work.
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}
