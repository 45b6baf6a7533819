import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { buildHostname, buildHosts, buildResolvConf, parseExtraHost } from "../../../src/runtime/container-config/etc-files.js";

// Docker docs, "Networking overview" / `docker run --add-host`, and libnetwork's etchosts.
describe("buildHosts", () => {
  it("writes Docker's localhost lines and the container's own address with its hostname", () => {
    expect(buildHosts({ hostname: "abc123def456", addresses: ["172.17.0.2"] })).toBe(
      [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        "172.17.0.2\tabc123def456",
        "",
      ].join("\n"),
    );
  });
  it("--network none: no own address line; without IPv6 no IPv6 lines (Docker 26+)", () => {
    expect(buildHosts({ hostname: "h", ipv6: false })).toBe("127.0.0.1\tlocalhost\n");
  });
  it("--add-host entries come before the own line; host-gateway needs its address", () => {
    const hosts = buildHosts({
      hostname: "web",
      domainname: "example.test",
      addresses: ["10.0.0.2"],
      aliases: ["app"],
      extraHosts: ["db:10.0.0.3", "v6=::1", "gw:host-gateway", { name: "x", ip: "[2001:db8::1]".slice(1, -1) }],
      hostGatewayIp: "10.0.0.1",
      ipv6: false,
    });
    expect(hosts.split("\n")).toEqual(["127.0.0.1\tlocalhost", "10.0.0.3\tdb", "::1\tv6", "10.0.0.1\tgw", "2001:db8::1\tx", "10.0.0.2\tweb.example.test web app", ""]);
    expect(() => buildHosts({ hostname: "h", extraHosts: ["gw:host-gateway"] })).toThrowError(/host-gateway/);
  });
  it("on the host network starts from the host's file", () => {
    expect(buildHosts({ hostname: "h", hostFile: "127.0.0.1 localhost\n10.1.1.1 myhost\n", extraHosts: ["a:1.2.3.4"] })).toBe(
      "127.0.0.1 localhost\n10.1.1.1 myhost\n1.2.3.4\ta\n",
    );
  });
  it("parses --add-host forms and refuses bad ones", () => {
    expect(parseExtraHost("h:[::1]")).toEqual({ name: "h", ip: "::1" });
    expect(parseExtraHost("h:fe80::1")).toEqual({ name: "h", ip: "fe80::1" });
    for (const bad of ["nohost", "h:300.1.1.1", ":1.2.3.4", "bad_host!:1.2.3.4"]) {
      try {
        parseExtraHost(bad);
        expect.unreachable(bad);
      } catch (error) {
        expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
      }
    }
  });
  it("writes /etc/hostname", () => {
    expect(buildHostname("abc")).toBe("abc\n");
  });
});

// Docker docs, "Container networking" → DNS services: a private network does not get the
// host's loopback resolvers.
describe("buildResolvConf", () => {
  const host = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver fd00::1\nsearch corp.test\noptions edns0 trust-ad\n";
  it("drops loopback and (without IPv6) IPv6 nameservers, keeps the rest", () => {
    expect(buildResolvConf({ hostFile: host })).toBe("# generated\nsearch corp.test\nnameserver 10.0.0.1\noptions edns0 trust-ad\n");
    expect(buildResolvConf({ hostFile: host, ipv6: true })).toContain("nameserver fd00::1");
  });
  it("keeps everything on the host network", () => {
    expect(buildResolvConf({ hostFile: host, hostNetwork: true })).toContain("nameserver 127.0.0.53");
  });
  it("uses the fallback only when nothing is left, and berth's fallback is none by default", () => {
    expect(buildResolvConf({ hostFile: "nameserver 127.0.0.53\n" })).toBe("");
    expect(buildResolvConf({ hostFile: "nameserver 127.0.0.53\n", fallbackNameservers: ["192.0.2.53"] })).toBe("nameserver 192.0.2.53\n");
  });
  it("--dns, --dns-search and --dns-option replace their kind", () => {
    expect(buildResolvConf({ hostFile: host, nameservers: ["127.0.0.11"], search: ["a.test"], options: ["ndots:0"] })).toBe(
      "# generated\nsearch a.test\nnameserver 127.0.0.11\noptions ndots:0\n",
    );
  });
});
