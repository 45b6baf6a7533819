import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";

/** A CA and a server certificate it signed, as PEM files in a directory. */
export interface TestCertificates {
  caCert: string;
  caCertPath: string;
  caKeyPath: string;
  serverCertPath: string;
  serverKeyPath: string;
}

/**
 * Makes a throwaway CA with `openssl` and a server certificate signed by it for `names`
 * (DNS names and IP addresses), valid one day. EC keys: quick to generate.
 */
export async function makeTestCertificates(dir: string, names: string[]): Promise<TestCertificates> {
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caKey = join(dir, "ca.key");
  const caCertPath = join(dir, "ca.crt");
  await execa("openssl", ["req", "-x509", ...ecKey, "-keyout", caKey, "-out", caCertPath, "-days", "1", "-subj", "/CN=berth test CA"]);
  const serverKeyPath = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  await execa("openssl", ["req", ...ecKey, "-keyout", serverKeyPath, "-out", csr, "-subj", `/CN=${names[0]}`]);
  const ext = join(dir, "server.ext");
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  const serverCertPath = join(dir, "server.crt");
  await execa("openssl", [
    "x509", "-req", "-in", csr, "-CA", caCertPath, "-CAkey", caKey, "-CAcreateserial",
    "-out", serverCertPath, "-days", "1", "-extfile", ext,
  ]);
  const { readFile } = await import("node:fs/promises");
  return { caCert: await readFile(caCertPath, "utf8"), caCertPath, caKeyPath: caKey, serverCertPath, serverKeyPath };
}

/** A client certificate signed by the test CA, for registries that require mutual TLS. */
export async function makeClientCertificate(
  dir: string,
  ca: TestCertificates,
): Promise<{ cert: string; key: string }> {
  const keyPath = join(dir, "client.key");
  const csr = join(dir, "client.csr");
  const certPath = join(dir, "client.cert");
  const ext = join(dir, "client.ext");
  await execa("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath, "-out", csr, "-subj", "/CN=berth test client"]);
  await writeFile(ext, "extendedKeyUsage=clientAuth\n");
  await execa("openssl", [
    "x509", "-req", "-in", csr, "-CA", ca.caCertPath, "-CAkey", ca.caKeyPath, "-CAcreateserial",
    "-out", certPath, "-days", "1", "-extfile", ext,
  ]);
  const { readFile } = await import("node:fs/promises");
  return { cert: await readFile(certPath, "utf8"), key: await readFile(keyPath, "utf8") };
}

/** A self-signed RSA certificate and key for signing tokens (the registry trusts the cert). */
export async function makeSigningCertificate(dir: string): Promise<{ certPath: string; keyPath: string }> {
  const keyPath = join(dir, "token.key");
  const certPath = join(dir, "token.crt");
  await execa("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath,
    "-days", "1", "-subj", "/CN=berth test token issuer",
  ]);
  return { certPath, keyPath };
}
