import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { ProxyConfig, proxyAuthorization } from "../../../src/registry/http-proxy.js";

const proxyFor = (env: NodeJS.ProcessEnv, url: string) => new ProxyConfig(env).proxyFor(new URL(url))?.href;

describe("ProxyConfig (HTTP_PROXY, HTTPS_PROXY, NO_PROXY as Docker reads them)", () => {
  it("uses HTTPS_PROXY for https and HTTP_PROXY for http; the upper-case name wins", () => {
    const env = { HTTP_PROXY: "http://p1:3128", HTTPS_PROXY: "p2:3129", https_proxy: "http://ignored:1" };
    expect(proxyFor(env, "http://registry.example/v2/")).toBe("http://p1:3128/");
    expect(proxyFor(env, "https://registry.example/v2/")).toBe("http://p2:3129/");
    expect(proxyFor({ https_proxy: "http://lower:1" }, "https://r.example/")).toBe("http://lower:1/");
    expect(proxyFor({}, "https://r.example/")).toBeUndefined();
  });

  it("never proxies localhost or loopback addresses", () => {
    const env = { HTTP_PROXY: "http://p:1", HTTPS_PROXY: "http://p:1" };
    for (const url of ["http://localhost:5000/", "http://127.0.0.1:5000/", "https://127.8.9.10/", "http://[::1]:5000/"]) {
      expect(proxyFor(env, url)).toBeUndefined();
    }
  });

  it.each([
    ["*", "https://any.example/", undefined],
    ["example.com", "https://example.com/", undefined],
    ["example.com", "https://registry.example.com/", undefined],
    [".example.com", "https://registry.example.com/", undefined],
    [".example.com", "https://example.com/", undefined],
    ["example.com", "https://notexample.com/", "http://p:1/"],
    ["registry.example:5000", "https://registry.example:5000/", undefined],
    ["registry.example:5000", "https://registry.example/", "http://p:1/"],
    ["10.0.0.0/8", "https://10.1.2.3/", undefined],
    ["10.0.0.0/8", "https://11.1.2.3/", "http://p:1/"],
    ["192.0.2.7", "https://192.0.2.7:443/", undefined],
    [" a.example , b.example ", "https://b.example/", undefined],
  ])("NO_PROXY=%j for %s → %s", (noProxy, url, expected) => {
    expect(proxyFor({ HTTPS_PROXY: "http://p:1", NO_PROXY: noProxy }, url)).toBe(expected);
  });

  it("refuses a proxy URL that is not http://", () => {
    let error: unknown;
    try {
      new ProxyConfig({ HTTPS_PROXY: "socks5://p:1080" });
    } catch (e) {
      error = e;
    }
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("makes Proxy-Authorization from the URL's user info, percent-decoded", () => {
    expect(proxyAuthorization(new URL("http://us%40er:p%3Ass@p:1"))).toBe(`Basic ${Buffer.from("us@er:p:ss").toString("base64")}`);
    expect(proxyAuthorization(new URL("http://p:1"))).toBeUndefined();
  });
});
