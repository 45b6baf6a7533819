// A peer run inside a network namespace (through nsenter) by the network-native tests.
//   node net-peer.mjs serve PORT         TCP echo and UDP echo on PORT, on every address;
//                                        prints "ready" once both listen
//   node net-peer.mjs send HOST PORT MSG connects, sends MSG, half-closes, prints the reply
import { createSocket } from "node:dgram";
import { createConnection, createServer } from "node:net";

const [mode, ...args] = process.argv.slice(2);

if (mode === "serve") {
  const port = Number(args[0]);
  // allowHalfOpen: reply after the client's FIN, the way a request/response server does,
  // which is what shows that the proxy passes a half-close on instead of closing.
  const tcp = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("data", (chunk) => socket.write(chunk));
    socket.on("end", () => socket.end());
    socket.on("error", () => socket.destroy());
  });
  const udp = createSocket({ type: "udp6", ipv6Only: false });
  udp.on("message", (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
  let pending = 2;
  const ready = () => {
    if (--pending === 0) process.stdout.write("ready\n");
  };
  tcp.listen({ port, host: "::" }, ready);
  udp.bind(port, "::", ready);
} else if (mode === "send") {
  const [host, port, message] = args;
  const chunks = [];
  const socket = createConnection({ host, port: Number(port), allowHalfOpen: true }, () => {
    socket.end(message);
  });
  socket.on("data", (chunk) => chunks.push(chunk));
  socket.on("end", () => {
    process.stdout.write(Buffer.concat(chunks));
    socket.destroy();
  });
  socket.on("error", (error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
  setTimeout(() => {
    process.stderr.write("no reply within 10 s\n");
    process.exit(1);
  }, 10_000).unref();
} else {
  process.stderr.write("usage: net-peer.mjs serve PORT | send HOST PORT MSG\n");
  process.exit(2);
}
