import http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request a hostile server received. */
export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

/** A running hostile server. */
export interface HostileServer {
  /** `127.0.0.1:PORT` (or `localhost:PORT` when started with that host name). */
  host: string;
  url: string;
  requests: SeenRequest[];
  stop(): Promise<void>;
}

/**
 * A tiny HTTP server on 127.0.0.1 playing a misbehaving registry for the failures a real
 * one cannot produce (a wrong digest, a body cut short, 500s, 429s, redirects elsewhere).
 * `handle` answers every request; every request is recorded first.
 */
export async function startHostileServer(
  handle: (req: IncomingMessage, res: ServerResponse, seen: SeenRequest[]) => void,
  options: { hostName?: string } = {},
): Promise<HostileServer> {
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", path: req.url ?? "", authorization: req.headers.authorization, range: req.headers.range });
    req.resume();
    handle(req, res, requests);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const host = `${options.hostName ?? "127.0.0.1"}:${port}`;
  return {
    host,
    url: `http://${host}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
