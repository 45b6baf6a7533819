import { isIP } from "node:net";
import { BerthError } from "../common/berth-error.js";

/** A published port. */
export interface PortSpec {
  /** The port inside the container. */
  containerPort: number;
  /** The port on the host; 0 picks a free one. @default 0 */
  hostPort?: number;
  /** @default "tcp" */
  protocol?: "tcp" | "udp";
  /**
   * The host address to listen on; `loopback` is both 127.0.0.1 and ::1 on one port number
   * (`localhost` resolves to either). @default "loopback"
   */
  hostIp?: string;
}

/**
 * Parses Docker's `[hostIp:][hostPort:]containerPort[/tcp|udp]` (IPv6 host addresses in
 * brackets: `[::1]:8080:80`), or a bare port number.
 */
export function parsePortSpec(spec: string | number | PortSpec): Required<PortSpec> {
  if (typeof spec === "object") return normalise(spec, JSON.stringify(spec));
  const text = String(spec);
  const bad = () =>
    new BerthError("BERTH_INVALID_ARGUMENT", `invalid port specification ${JSON.stringify(text)}: expected [hostIp:][hostPort:]containerPort[/tcp|udp]`, {
      field: "ports",
      value: text,
    });
  const [body, protocol = "tcp", ...rest] = text.split("/");
  if (rest.length > 0 || (protocol !== "tcp" && protocol !== "udp") || !body) throw bad();
  let hostIp: string | undefined;
  let remainder = body;
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(body);
  if (bracketed) {
    hostIp = bracketed[1];
    remainder = bracketed[2]!;
  }
  const parts = remainder.split(":");
  if (!hostIp && parts.length === 3) hostIp = parts.shift();
  if (parts.length > 2) throw bad();
  const containerPort = parts.pop()!;
  const hostPort = parts.pop() ?? "";
  if (!/^\d+$/.test(containerPort) || (hostPort !== "" && !/^\d+$/.test(hostPort))) throw bad();
  return normalise(
    { containerPort: Number(containerPort), hostPort: hostPort === "" ? 0 : Number(hostPort), protocol, ...(hostIp ? { hostIp } : {}) },
    text,
  );
}

function normalise(spec: PortSpec, text: string): Required<PortSpec> {
  const hostIp = spec.hostIp ?? "loopback";
  const hostPort = spec.hostPort ?? 0;
  const protocol = spec.protocol ?? "tcp";
  const okPort = (p: number, min: number) => Number.isInteger(p) && p >= min && p <= 65535;
  if (!okPort(spec.containerPort, 1) || !okPort(hostPort, 0) || (hostIp !== "loopback" && isIP(hostIp) === 0) || (protocol !== "tcp" && protocol !== "udp")) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `invalid port specification ${text}`, { field: "ports", value: text });
  }
  return { containerPort: spec.containerPort, hostPort, protocol, hostIp };
}

/** The `--map` argument of `port-proxy` for a port whose container answers at `targetIp`. */
export function proxyMap(port: Required<PortSpec>, targetIp: string): string {
  const host = isIP(port.hostIp) === 6 ? `[${port.hostIp}]` : port.hostIp;
  const target = isIP(targetIp) === 6 ? `[${targetIp}]` : targetIp;
  return `${port.protocol}:${host}:${port.hostPort}:${target}:${port.containerPort}`;
}
