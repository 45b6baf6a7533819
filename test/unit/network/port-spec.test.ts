import { describe, expect, it } from "vitest";
import { parsePortSpec, proxyMap } from "../../../src/network/port-spec.js";

describe("published port specifications", () => {
  it("parses Docker's forms", () => {
    expect(parsePortSpec("8080:80")).toEqual({ hostIp: "loopback", hostPort: 8080, containerPort: 80, protocol: "tcp" });
    expect(parsePortSpec("53/udp")).toEqual({ hostIp: "loopback", hostPort: 0, containerPort: 53, protocol: "udp" });
    expect(parsePortSpec(5432)).toEqual({ hostIp: "loopback", hostPort: 0, containerPort: 5432, protocol: "tcp" });
    expect(parsePortSpec("0.0.0.0:8080:80/tcp")).toEqual({ hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80, protocol: "tcp" });
    expect(parsePortSpec("[::1]:9000:90/udp")).toEqual({ hostIp: "::1", hostPort: 9000, containerPort: 90, protocol: "udp" });
    expect(parsePortSpec("127.0.0.1::80")).toEqual({ hostIp: "127.0.0.1", hostPort: 0, containerPort: 80, protocol: "tcp" });
    expect(parsePortSpec({ containerPort: 80 })).toEqual({ hostIp: "loopback", hostPort: 0, containerPort: 80, protocol: "tcp" });
  });

  it("refuses bad ones", () => {
    for (const bad of ["", "80/sctp", "a:80", "1:2:3:4", "70000", "0", "8080:", "nothost:1:2", "80/tcp/udp"]) {
      expect(() => parsePortSpec(bad), bad).toThrow(expect.objectContaining({ code: "BERTH_INVALID_ARGUMENT" }));
    }
  });

  it("writes the proxy's map, IPv6 in brackets", () => {
    expect(proxyMap(parsePortSpec("8080:80"), "10.88.0.2")).toBe("tcp:loopback:8080:10.88.0.2:80");
    expect(proxyMap(parsePortSpec("[::1]:0:53/udp"), "10.88.0.2")).toBe("udp:[::1]:0:10.88.0.2:53");
  });
});
