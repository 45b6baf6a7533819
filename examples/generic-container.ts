// busybox httpd started with GenericContainer, fetched through its published port, then
// removed by `await using`. The busybox image is made from Debian's busybox-static (the test
// fixture, cached under ~/.cache/berth/fixtures) into the state root (BERTH_ROOT, else
// /var/lib/berth) as busybox:berth-example.
//   npx tsx examples/generic-container.ts
// Needs root (namespaces, mounts, cgroups, the bridge).
import { GenericContainer, Image, Wait, isBerthError } from "../src/index.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";

try {
  const image = await Image.fromRootfs(await busyboxRootfs(), { tag: "busybox:berth-example", config: { Cmd: ["sh"] } });
  const started = Date.now();
  await using web = await new GenericContainer(image)
    .withCommand(["httpd", "-f", "-v", "-p", "80", "-h", "/www"])
    .withCopyContentToContainer([{ content: "hello from a berth container\n", target: "/www/index.html" }])
    .withExposedPorts(80)
    .withWaitStrategy(Wait.forListeningPorts())
    .start();
  const url = `http://${web.getHost()}:${web.getMappedPort(80)}/`;
  console.error(`${web.getName()} ready in ${Date.now() - started} ms, serving ${url}`);
  process.stdout.write(await (await fetch(url)).text());
} catch (error) {
  console.error(isBerthError(error) ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
}
