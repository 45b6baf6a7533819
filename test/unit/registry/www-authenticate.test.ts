import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate } from "../../../src/registry/www-authenticate.js";

describe("parseWwwAuthenticate", () => {
  it("parses Docker Hub's bearer challenge, commas inside the quoted scope included", () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull,push"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/redis:pull,push" },
      },
    ]);
  });

  it("parses a basic challenge, case-insensitively", () => {
    expect(parseWwwAuthenticate('BASIC Realm="Registry Realm"')).toEqual([{ scheme: "basic", params: { realm: "Registry Realm" } }]);
  });

  it("parses several challenges in one header and spaces around separators", () => {
    expect(parseWwwAuthenticate('Basic realm="a" , Bearer realm="https://t/x", service=reg, error="insufficient_scope"')).toEqual([
      { scheme: "basic", params: { realm: "a" } },
      { scheme: "bearer", params: { realm: "https://t/x", service: "reg", error: "insufficient_scope" } },
    ]);
  });

  it("unescapes quoted pairs", () => {
    expect(parseWwwAuthenticate('Bearer realm="a\\"b\\\\c"')[0]!.params.realm).toBe('a"b\\c');
  });

  it("accepts several headers and an absent one", () => {
    expect(parseWwwAuthenticate(['Basic realm="x"', 'Bearer realm="y"']).map((c) => c.scheme)).toEqual(["basic", "bearer"]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate("")).toEqual([]);
  });

  it("never throws on garbage", () => {
    for (const junk of ['Bearer realm="unterminated', "=,=,=", ",,,", "Bearer ,,realm=", '"quoted"', "Bearer realm"]) {
      expect(() => parseWwwAuthenticate(junk)).not.toThrow();
    }
    expect(parseWwwAuthenticate('Bearer realm="unterminated')[0]).toEqual({ scheme: "bearer", params: { realm: "unterminated" } });
  });
});
