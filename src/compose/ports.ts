import type { ComposePort } from "./types.js";

/** Thrown by the parsers here; the caller adds the file and the path. */
export class SyntaxProblem extends Error {}

function parseRange(text: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw new SyntaxProblem(`invalid port ${JSON.stringify(text)}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 0 || end > 65535 || end < start) throw new SyntaxProblem(`invalid port range ${JSON.stringify(text)}`);
  return [start, end];
}

/**
 * Parses Compose's short port syntax, `[HOST_IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/PROTO]`,
 * into long-syntax entries as `docker compose config` prints them: a container range
 * becomes one entry per port, paired with the host range when the sizes match.
 */
export function parseShortPort(spec: string | number): ComposePort[] {
  let text = String(spec).trim();
  let protocol = "tcp";
  const slash = text.lastIndexOf("/");
  if (slash !== -1) {
    protocol = text.slice(slash + 1).toLowerCase();
    text = text.slice(0, slash);
    if (!["tcp", "udp", "sctp"].includes(protocol)) throw new SyntaxProblem(`invalid protocol ${JSON.stringify(protocol)}`);
  }
  let hostIp: string | undefined;
  // An IPv6 host address is written in brackets: `[::1]:8080:80`.
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(text);
  if (v6) {
    hostIp = v6[1];
    text = v6[2]!;
  }
  const parts = text.split(":");
  let hostPart: string | undefined;
  let containerPart: string;
  if (parts.length === 1) {
    containerPart = parts[0]!;
  } else if (parts.length === 2) {
    hostPart = parts[0]!;
    containerPart = parts[1]!;
  } else if (parts.length === 3 && !hostIp) {
    hostIp = parts[0]!;
    hostPart = parts[1]!;
    containerPart = parts[2]!;
  } else {
    throw new SyntaxProblem(`invalid port specification ${JSON.stringify(String(spec))}`);
  }
  if (hostIp !== undefined && !isIp(hostIp)) throw new SyntaxProblem(`invalid host IP ${JSON.stringify(hostIp)}`);
  const [cStart, cEnd] = parseRange(containerPart);
  const base = { protocol, mode: "ingress", ...(hostIp ? { hostIp } : {}) };
  if (hostPart === undefined || hostPart === "") {
    return range(cStart, cEnd).map((target) => ({ target, ...base }));
  }
  const [hStart, hEnd] = parseRange(hostPart);
  const cSize = cEnd - cStart;
  const hSize = hEnd - hStart;
  if (cSize === hSize) {
    return range(cStart, cEnd).map((target, i) => ({ target, published: String(hStart + i), ...base }));
  }
  // One container port and a host range: Docker picks a free host port from the range.
  if (cSize === 0) return [{ target: cStart, published: `${hStart}-${hEnd}`, ...base }];
  throw new SyntaxProblem(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start + 1 }, (_, i) => start + i);
}

/** Whether `text` is an IPv4 or IPv6 address. */
export function isIp(text: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(text)) return text.split(".").every((p) => Number(p) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(text) && text.includes(":");
}
