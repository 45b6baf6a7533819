import { readFile } from "node:fs/promises";
import { execa } from "execa";
import { BerthError } from "../../common/berth-error.js";

/** TCP_LISTEN in the kernel's tcp_states.h, as /proc/net/tcp prints it. */
const tcpListen = "0A";
/** TCP_CLOSE: what an unconnected UDP socket reports. */
const udpUnconnected = "07";

/**
 * The local ports with a listening socket in a /proc/net/{tcp,tcp6,udp,udp6} table: for TCP
 * the sockets in LISTEN, for UDP every bound unconnected socket.
 */
export function parseListeningPorts(table: string, protocol: "tcp" | "udp"): Set<number> {
  const wanted = protocol === "tcp" ? tcpListen : udpUnconnected;
  const ports = new Set<number>();
  for (const line of table.split("\n").slice(1)) {
    // "  0: 00000000:1F90 00000000:0000 0A ..." — local address, remote address, state.
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const local = fields[1] ?? "";
    const state = fields[3];
    const colon = local.lastIndexOf(":");
    if (colon < 0 || state !== wanted) continue;
    const port = Number.parseInt(local.slice(colon + 1), 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

/**
 * The listening ports of a network namespace. `/proc/<pid>/net/*` shows the tables of the
 * namespace `pid` lives in, so no tool in the image is needed and nothing is executed; a
 * namespace known only by path is read by `nsenter` + `cat` on the host.
 */
export async function listeningPorts(where: { pid?: number; path?: string }, protocol: "tcp" | "udp", signal?: AbortSignal): Promise<Set<number>> {
  const files = protocol === "tcp" ? ["tcp", "tcp6"] : ["udp", "udp6"];
  let tables: string[];
  if (where.pid !== undefined) {
    // A kernel without IPv6 has no tcp6 table: missing is empty, not an error.
    tables = await Promise.all(files.map((f) => readFile(`/proc/${where.pid}/net/${f}`, "utf8").catch(() => "")));
  } else if (where.path !== undefined) {
    const result = await execa("nsenter", [`--net=${where.path}`, "cat", ...files.map((f) => `/proc/net/${f}`)], {
      reject: false,
      cancelSignal: signal,
      timeout: 5_000,
    });
    tables = [String(result.stdout)];
  } else {
    throw new BerthError("BERTH_CONTAINER_NOT_RUNNING", "the container has no network namespace to inspect");
  }
  const ports = new Set<number>();
  for (const table of tables) for (const port of parseListeningPorts(table, protocol)) ports.add(port);
  return ports;
}
