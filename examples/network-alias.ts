// Two containers talking over a user network by alias: a busybox httpd known as "web", and a
// client container that fetches http://web:8080/ with wget. Nothing is published on the
// host: the traffic stays on the network's bridge. The busybox image is made from Debian's
// busybox-static (the test fixture) into the state root (BERTH_ROOT, else /var/lib/berth).
//   npx tsx examples/network-alias.ts
// Needs root (namespaces, mounts, cgroups, the bridge).
import { GenericContainer, Image, Network, Wait, isBerthError } from "../src/index.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";

try {
  const image = await Image.fromRootfs(await busyboxRootfs(), { tag: "busybox:berth-example", config: { Cmd: ["sh"] } });
  await using network = await Network.create({ name: `berth-example-${process.pid}` });

  await using web = await new GenericContainer(image)
    .withNetwork(network)
    .withNetworkAliases("web")
    .withCommand(["httpd", "-f", "-p", "8080", "-h", "/www"])
    .withCopyContentToContainer([{ content: "hello over the network, by alias\n", target: "/www/index.html" }])
    .withWaitStrategy(Wait.forListeningPorts([8080]))
    .start();

  await using client = await new GenericContainer(image).withNetwork(network).withCommand(["sleep", "600"]).start();
  const result = await client.exec(["wget", "-q", "-O", "-", "http://web:8080/"]);
  if (result.exitCode !== 0) throw new Error(`wget exited with ${result.exitCode}: ${result.stderr}`);
  console.error(`${client.getName()} (${client.getIpAddress(network.name)}) fetched from ${web.getName()} (${web.getIpAddress(network.name)}) as "web":`);
  process.stdout.write(result.stdout);
} catch (error) {
  console.error(isBerthError(error) ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
}
