import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  allocateAddress,
  checkOverlap,
  checkRequestedAddress,
  hostRoutes,
  parseSubnet,
  pickUserSubnet,
  subnetsOverlap,
} from "../../../src/network/ipam.js";

describe("ipam", () => {
  it("parses subnets and refuses host bits, IPv6 and silly prefixes", () => {
    expect(parseSubnet("10.89.3.0/24")).toEqual({ base: 0x0a590300, prefix: 24 });
    for (const bad of ["10.89.3.1/24", "10.89.3.0", "fd00::/64", "10.0.0.0/4", "10.0.0.0/31", "300.1.1.0/24"]) {
      expect(() => parseSubnet(bad)).toThrow(expect.objectContaining({ code: "BERTH_INVALID_ARGUMENT" }));
    }
  });

  it("detects overlaps both ways", () => {
    expect(subnetsOverlap(parseSubnet("10.0.0.0/8"), parseSubnet("10.89.1.0/24"))).toBe(true);
    expect(subnetsOverlap(parseSubnet("10.89.1.0/24"), parseSubnet("10.0.0.0/8"))).toBe(true);
    expect(subnetsOverlap(parseSubnet("10.89.1.0/24"), parseSubnet("10.89.2.0/24"))).toBe(false);
  });

  it("refuses a subnet overlapping a network or a route, naming it", () => {
    const taken = {
      networks: [{ name: "app", subnet: "10.89.0.0/24" }],
      routes: [{ device: "eth0", subnet: parseSubnet("192.168.0.0/16") }],
    };
    expect(() => checkOverlap(parseSubnet("10.89.0.128/25"), taken)).toThrow(/overlaps network app/);
    expect(() => checkOverlap(parseSubnet("192.168.5.0/24"), taken)).toThrow(/route 192.168.0.0\/16 on eth0/);
    expect(() => checkOverlap(parseSubnet("10.89.1.0/24"), taken)).not.toThrow();
  });

  it("picks the first free /24 of 10.89.0.0/16", () => {
    const taken = { networks: [{ name: "a", subnet: "10.89.0.0/24" }], routes: [{ device: "x", subnet: parseSubnet("10.89.1.0/25") }] };
    expect(pickUserSubnet(taken)).toEqual(parseSubnet("10.89.2.0/24"));
    const full = { networks: [{ name: "all", subnet: "10.89.0.0/16" }], routes: [] };
    expect(() => pickUserSubnet(full)).toThrow(expect.objectContaining({ code: "BERTH_SUBNET_EXHAUSTED" }));
  });

  it("allocates the lowest free address, never the gateway, network or broadcast address", () => {
    const subnet = parseSubnet("10.89.7.0/30");
    expect(allocateAddress(subnet, "10.89.7.1", [], "n")).toBe("10.89.7.2");
    expect(() => allocateAddress(subnet, "10.89.7.1", ["10.89.7.2"], "n")).toThrow(expect.objectContaining({ code: "BERTH_SUBNET_EXHAUSTED" }));
    expect(allocateAddress(parseSubnet("10.89.7.0/24"), "10.89.7.1", ["10.89.7.2", "10.89.7.4"], "n")).toBe("10.89.7.3");
  });

  it("allocates at random (the shared default bridge) inside the host range, never a used address", () => {
    const subnet = parseSubnet("10.88.0.0/16");
    const used = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const ip = allocateAddress(subnet, "10.88.0.1", used, "bridge", { random: true });
      expect(ip).toMatch(/^10\.88\.\d+\.\d+$/);
      expect(used.has(ip) || ip === "10.88.0.1" || ip === "10.88.0.0" || ip === "10.88.255.255").toBe(false);
      used.add(ip);
    }
    const tiny = parseSubnet("10.88.0.0/30");
    expect(allocateAddress(tiny, "10.88.0.1", [], "bridge", { random: true })).toBe("10.88.0.2");
  });

  it("checks a requested address", () => {
    const subnet = parseSubnet("10.89.7.0/24");
    expect(checkRequestedAddress(subnet, "10.89.7.1", [], "10.89.7.9", "n")).toBe("10.89.7.9");
    for (const bad of ["10.89.7.0", "10.89.7.255", "10.89.7.1", "10.89.8.2", "10.89.7.5"]) {
      expect(() => checkRequestedAddress(subnet, "10.89.7.1", ["10.89.7.5"], bad, "n")).toThrow(expect.objectContaining({ code: "BERTH_INVALID_ARGUMENT" }));
    }
  });

  it("reads the host's routes from /proc/net/route's little-endian words, without default routes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-routes-"));
    try {
      const file = join(dir, "route");
      await writeFile(
        file,
        [
          "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
          "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
          "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
          "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0",
        ].join("\n"),
      );
      expect(await hostRoutes(file)).toEqual([
        { device: "eth0", subnet: parseSubnet("192.0.2.0/24") },
        { device: "docker0", subnet: parseSubnet("172.17.0.0/16") },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
