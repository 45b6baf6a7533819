import { readFile } from "node:fs/promises";
import { isIPv4 } from "node:net";
import { BerthError } from "../common/berth-error.js";

/** An IPv4 subnet as numbers: its first address and its prefix length. */
export interface Ipv4Subnet {
  base: number;
  prefix: number;
}

/** A subnet another party routes on this host, from the kernel's main table. */
export interface HostRoute {
  device: string;
  subnet: Ipv4Subnet;
}

/** The default bridge's pool, as Docker's 172.17.0.0/16: one that this host's routes do not use. */
export const defaultBridgeSubnet = "10.88.0.0/16";

/** User networks get a /24 each from 10.89.0.0/16, in order, skipping any that is taken. */
const userPoolBase = ipToInt("10.89.0.0");

export function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0) as number;
}

export function intToIp(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses `a.b.c.d/N` (IPv4 only: berth's bridges are IPv4; IPv6 is not offered yet). Host
 * bits set are refused, as Docker refuses them.
 */
export function parseSubnet(cidr: string): Ipv4Subnet {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  const prefix = match ? Number(match[2]) : NaN;
  if (!match || !isIPv4(match[1]!) || prefix > 30 || prefix < 8) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid subnet ${cidr}: expected an IPv4 a.b.c.d/N with N from 8 to 30`, {
      field: "subnet",
      value: cidr,
    });
  }
  const base = ipToInt(match[1]!);
  if ((base & mask(prefix)) >>> 0 !== base) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid subnet ${cidr}: host bits are set (did you mean ${intToIp((base & mask(prefix)) >>> 0)}/${prefix}?)`, {
      field: "subnet",
      value: cidr,
    });
  }
  return { base, prefix };
}

export function formatSubnet(subnet: Ipv4Subnet): string {
  return `${intToIp(subnet.base)}/${subnet.prefix}`;
}

export function subnetContains(subnet: Ipv4Subnet, ip: string): boolean {
  return isIPv4(ip) && (ipToInt(ip) & mask(subnet.prefix)) >>> 0 === subnet.base;
}

export function subnetsOverlap(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return (a.base & mask(prefix)) >>> 0 === (b.base & mask(prefix)) >>> 0;
}

/** The first usable address: Docker's gateway by default. */
export function firstHost(subnet: Ipv4Subnet): string {
  return intToIp(subnet.base + 1);
}

/**
 * The host's IPv4 routes other than default routes, from /proc/net/route (no spawn). Routes
 * on berth's bridges count too: another state root's network (or a bridge a crash left) holds
 * its subnet as much as any other interface does.
 */
export async function hostRoutes(routeFile = "/proc/net/route"): Promise<HostRoute[]> {
  const text = await readFile(routeFile, "utf8").catch(() => "");
  const routes: HostRoute[] = [];
  for (const line of text.split("\n").slice(1)) {
    const [device, destination, , , , , , maskHex] = line.trim().split(/\s+/);
    if (!device || !destination || !maskHex) continue;
    const prefix = popcount(littleEndianHex(maskHex));
    if (prefix === 0) continue;
    routes.push({ device, subnet: { base: littleEndianHex(destination), prefix } });
  }
  return routes;
}

/** /proc/net/route prints addresses as host-order (little-endian here) hex words. */
function littleEndianHex(hex: string): number {
  const v = parseInt(hex, 16);
  return (((v & 255) << 24) | (((v >>> 8) & 255) << 16) | (((v >>> 16) & 255) << 8) | (v >>> 24)) >>> 0;
}

function popcount(v: number): number {
  let n = 0;
  for (let x = v; x; x >>>= 1) n += x & 1;
  return n;
}

/** What a new subnet must not overlap: berth's networks and the host's routes. */
export interface TakenSubnets {
  networks: { name: string; subnet: string }[];
  routes: HostRoute[];
}

/** Refuses a subnet that overlaps another berth network or a route of the host. */
export function checkOverlap(subnet: Ipv4Subnet, taken: TakenSubnets): void {
  for (const network of taken.networks) {
    if (subnetsOverlap(subnet, parseSubnet(network.subnet))) {
      throw new BerthError("BERTH_SUBNET_OVERLAP", `subnet ${formatSubnet(subnet)} overlaps network ${network.name} (${network.subnet})`, {
        subnet: formatSubnet(subnet),
        network: network.name,
      });
    }
  }
  for (const route of taken.routes) {
    if (subnetsOverlap(subnet, route.subnet)) {
      throw new BerthError(
        "BERTH_SUBNET_OVERLAP",
        `subnet ${formatSubnet(subnet)} overlaps the host's route ${formatSubnet(route.subnet)} on ${route.device}`,
        { subnet: formatSubnet(subnet), device: route.device },
      );
    }
  }
}

/** The first free /24 of the user pool. */
export function pickUserSubnet(taken: TakenSubnets): Ipv4Subnet {
  for (let n = 0; n < 256; n++) {
    const candidate = { base: userPoolBase + n * 256, prefix: 24 };
    try {
      checkOverlap(candidate, taken);
      return candidate;
    } catch {
      // taken: try the next one
    }
  }
  throw new BerthError("BERTH_SUBNET_EXHAUSTED", "every /24 of berth's pool 10.89.0.0/16 is in use: remove networks or give a subnet", {
    field: "subnet",
  });
}

/**
 * The lowest free host address of `subnet` (or a random free one): not the network or
 * broadcast address, not the gateway, not in `used`.
 */
export function allocateAddress(subnet: Ipv4Subnet, gateway: string, used: Iterable<string>, network: string, options: { random?: boolean } = {}): string {
  const taken = new Set(used);
  taken.add(gateway);
  const size = 2 ** (32 - subnet.prefix);
  if (options.random) {
    // A few random tries, then the ordered scan (a nearly full subnet).
    for (let attempt = 0; attempt < 16; attempt++) {
      const ip = intToIp(subnet.base + 2 + Math.floor(Math.random() * (size - 3)));
      if (!taken.has(ip)) return ip;
    }
  }
  for (let offset = 1; offset < size - 1; offset++) {
    const ip = intToIp(subnet.base + offset);
    if (!taken.has(ip)) return ip;
  }
  throw new BerthError("BERTH_SUBNET_EXHAUSTED", `network ${network} has no free address left in ${formatSubnet(subnet)}`, { network });
}

/** Checks a requested address: inside the subnet, not its network/broadcast/gateway, not used. */
export function checkRequestedAddress(subnet: Ipv4Subnet, gateway: string, used: Iterable<string>, ip: string, network: string): string {
  const size = 2 ** (32 - subnet.prefix);
  const value = isIPv4(ip) ? ipToInt(ip) : NaN;
  if (!subnetContains(subnet, ip) || value === subnet.base || value === subnet.base + size - 1 || ip === gateway) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `address ${ip} is not a usable address of network ${network} (${formatSubnet(subnet)})`, {
      network,
      field: "ipv4Address",
    });
  }
  for (const u of used) {
    if (u === ip) throw new BerthError("BERTH_INVALID_ARGUMENT", `address ${ip} is already in use on network ${network}`, { network, field: "ipv4Address" });
  }
  return ip;
}

/** Whether `ip` is a usable, free address of `subnet` (what {@link checkRequestedAddress} accepts). */
export function isFreeAddress(subnet: Ipv4Subnet, gateway: string, used: Iterable<string>, ip: string): boolean {
  try {
    checkRequestedAddress(subnet, gateway, used, ip, "");
    return true;
  } catch {
    return false;
  }
}
