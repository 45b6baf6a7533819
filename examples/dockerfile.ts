// A Dockerfile built with berth's builder (Image.fromDockerfile), then run with
// GenericContainer and fetched on its published port. The base image is busybox, made from
// Debian's busybox-static (the test fixture, cached under ~/.cache/berth/fixtures) into the
// state root (BERTH_ROOT, else /var/lib/berth), so nothing is pulled.
//   npx tsx examples/dockerfile.ts
// Needs root (namespaces, mounts, cgroups, the bridge).
import { fileURLToPath } from "node:url";
import { GenericContainer, Image, Wait, isBerthError } from "../src/index.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";

try {
  await Image.fromRootfs(await busyboxRootfs(), { tag: "busybox:berth-example", config: { Cmd: ["sh"] } });
  const building = Date.now();
  const image = await Image.fromDockerfile(fileURLToPath(new URL("./dockerfile-app", import.meta.url))).build("berth-example/web:dev");
  console.error(`built ${image.reference ?? image.id} in ${Date.now() - building} ms`);

  await using web = await new GenericContainer(image).withExposedPorts(8080).withWaitStrategy(Wait.forHttp("/", 8080)).start();
  const base = `http://${web.getHost()}:${web.getMappedPort(8080)}`;
  process.stdout.write(await (await fetch(`${base}/index.html`)).text());
  process.stdout.write(await (await fetch(`${base}/built.txt`)).text());
} catch (error) {
  console.error(isBerthError(error) ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
}
