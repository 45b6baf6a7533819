import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

/** What the proxy saw: a forwarded request (absolute-form target) or a CONNECT tunnel. */
export interface ProxiedRequest {
  method: string;
  /** `http://host:port/path` for a forwarded request, `host:port` for CONNECT. */
  target: string;
  proxyAuthorization: string | undefined;
}

/** A small HTTP proxy on 127.0.0.1 (forwarding and CONNECT), for tests of the client's proxy support. */
export interface TestProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  seen: ProxiedRequest[];
  stop(): Promise<void>;
}

/**
 * Starts a forward proxy that sends every request, whatever host it names, to 127.0.0.1 at
 * the named port: so a client reaching `registry.berth.test:PORT` (a name nothing else
 * resolves) proves it went through the proxy, and no traffic can leave the machine. With
 * `credentials` set (`user:password`), requests without that `Proxy-Authorization` get 407.
 */
export async function startTestProxy(options: { credentials?: string } = {}): Promise<TestProxy> {
  const seen: ProxiedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const expected = options.credentials ? `Basic ${Buffer.from(options.credentials).toString("base64")}` : undefined;
  const server = http.createServer((req, res) => {
    const auth = req.headers["proxy-authorization"];
    seen.push({ method: req.method ?? "", target: req.url ?? "", proxyAuthorization: auth });
    if (expected && auth !== expected) {
      res.writeHead(407, { "Proxy-Authenticate": 'Basic realm="proxy"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end("absolute-form target expected");
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const upstream = http.request(
      { host: "127.0.0.1", port: Number(target.port || 80), method: req.method, path: `${target.pathname}${target.search}`, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const auth = req.headers["proxy-authorization"];
    seen.push({ method: "CONNECT", target: req.url ?? "", proxyAuthorization: auth });
    client.on("error", () => {});
    if (expected && auth !== expected) {
      client.end("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
      return;
    }
    const port = Number((req.url ?? "").split(":").at(-1));
    const upstream = net.connect(port, "127.0.0.1", () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
  });
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
