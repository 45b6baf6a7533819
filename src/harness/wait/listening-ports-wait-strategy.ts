import { connect } from "node:net";
import { BerthError } from "../../common/berth-error.js";
import { pollUntil } from "./poll.js";
import { listeningPorts } from "./proc-net.js";
import { AbstractWaitStrategy } from "./wait-strategy.js";
import type { ExposedPort, WaitTarget } from "./wait-target.js";

/**
 * Ready when every exposed port has a listening socket inside the container's network
 * namespace, read from the kernel's socket tables: it works for images with no shell and no
 * tools, runs nothing in the container, and has no fixed pre-wait. Then, unless turned off,
 * each published TCP port is connected to on the host, to prove the proxy path too.
 */
export class ListeningPortsWaitStrategy extends AbstractWaitStrategy {
  #ports: ExposedPort[] | undefined;
  #checkHost = true;

  /** @param ports the ports to wait for. @default every exposed port of the container */
  constructor(ports?: readonly (number | ExposedPort)[]) {
    super();
    this.#ports = ports?.map((p) => (typeof p === "number" ? { port: p, protocol: "tcp" } : p));
  }

  /** Whether to also connect to each published port on the host. @default true */
  withHostCheck(enabled: boolean): this {
    this.#checkHost = enabled;
    return this;
  }

  describe(): string {
    return this.#ports ? `listening ports ${this.#ports.map(formatPort).join(", ")}` : "listening ports (all exposed)";
  }

  protected async waitFor(target: WaitTarget, signal: AbortSignal): Promise<void> {
    const ports = this.#ports ?? [...target.exposedPorts];
    if (ports.length === 0) return;
    const tcp = ports.filter((p) => (p.protocol ?? "tcp") === "tcp").map((p) => p.port);
    const udp = ports.filter((p) => p.protocol === "udp").map((p) => p.port);
    await pollUntil(async () => {
      const pid = target.netnsPid();
      const path = pid === undefined ? target.netnsPath() : undefined;
      if (pid === undefined && path === undefined) return false;
      const where = { pid, path };
      if (tcp.length > 0 && !allIn(tcp, await listeningPorts(where, "tcp", signal).catch(() => new Set<number>()))) return false;
      if (udp.length > 0 && !allIn(udp, await listeningPorts(where, "udp", signal).catch(() => new Set<number>()))) return false;
      return true;
    }, signal, fastPoll);
    if (!this.#checkHost) return;
    for (const port of tcp) {
      const mapped = target.mappedPort(port, "tcp");
      if (mapped === undefined) continue;
      await pollUntil(() => canConnect(target.host, mapped, signal), signal, fastPoll);
    }
  }
}

/**
 * Reading the socket tables costs well under a millisecond: poll at 1 ms first, so that a
 * port that opens is seen within about a millisecond, backing off to 20 ms for slow starters.
 */
const fastPoll = { initialInterval: 1, maxInterval: 20 };

function allIn(wanted: number[], have: Set<number>): boolean {
  return wanted.every((p) => have.has(p));
}

function formatPort(p: ExposedPort): string {
  return `${p.port}/${p.protocol ?? "tcp"}`;
}

/** Whether a TCP connection to host:port opens within a second. */
function canConnect(host: string, port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, signal, timeout: 1_000 });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

/** Rejects a port that cannot be one, at construction rather than at the deadline. */
export function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `${field} must be a port number (1-65535), got ${port}`, { field });
  }
}
