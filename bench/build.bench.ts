// The Dockerfile builder: a cold build and fully cached rebuilds of a 10-step Dockerfile on the
// busybox image (5 filesystem steps: WORKDIR, 2 COPY, 2 RUN; 5 metadata steps). Target for
// the cached rebuild: ≤ 30 ms (issue 6; Docker's classic builder took 65 ms for a cached
// rebuild of a Postgres Dockerfile here). Each rebuild is a new builder, as a new
// `Image.fromDockerfile(...).build()` call is: it reads the Dockerfile and .dockerignore,
// plans, hashes the COPY sources, looks up every step and commits the image.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { DockerfileBuilder } from "../src/build/dockerfile-build.js";
import { Image } from "../src/harness/image.js";
import { ContainerEngine } from "../src/runtime/engine/index.js";
import { OciRuntime } from "../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../test/fixtures/busybox.js";
import { summary, time } from "./stats.js";

const dockerfile = `FROM busybox:test
ARG VERSION=1
ENV APP=/app
WORKDIR /app
COPY a.txt ./
COPY src/ ./src/
RUN echo "$VERSION" > version.txt
RUN ls -R /app > listing.txt
LABEL bench=build
EXPOSE 8080
CMD ["sh"]
`;

export default async function buildBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("  skipped: needs root (RUN steps run in containers)");
    return;
  }
  const root = await mkdtemp(join(tmpdir(), "berth-bench-build-"));
  const engine = new ContainerEngine({ stateRoot: root, runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }), pull: async () => {} });
  try {
    const context = join(root, "ctx");
    await mkdir(join(context, "src"), { recursive: true });
    await writeFile(join(context, "Dockerfile"), dockerfile);
    await writeFile(join(context, "a.txt"), "a\n");
    for (let i = 0; i < 20; i++) await writeFile(join(context, "src", `f${i}.txt`), `file ${i}\n`);
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });

    console.log(`  load average: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${cpus().length} CPUs)`);
    const cold = await time(() => new DockerfileBuilder(context, { engine, network: "none" }).build("bench/build:1"));
    console.log(`  cold build (2 RUN containers, none): ${cold.toFixed(0)} ms`);

    const cached: number[] = [];
    for (let i = 0; i < 30; i++) {
      cached.push(
        await time(async () => {
          const result = await new DockerfileBuilder(context, { engine, network: "none" }).build("bench/build:1");
          if (result.executed !== 0) throw new Error(`a cached rebuild ran ${result.executed} steps`);
        }),
      );
    }
    console.log(`  fully cached rebuild, 10 steps:      ${summary(cached.slice(5))}   target ≤ 30 ms`);

    const edited: number[] = [];
    for (let i = 0; i < 3; i++) {
      await writeFile(join(context, "src", "f0.txt"), `edited ${i}\n`);
      edited.push(await time(() => new DockerfileBuilder(context, { engine, network: "none" }).build("bench/build:1")));
    }
    console.log(`  rebuild after editing a copied file: ${summary(edited)}   (reruns COPY src/ and both RUNs)`);

    // Last: a noCache build refreshes the cache records of the COPY steps with layers whose new
    // parent directories have this second's mtime, which would make the next `none` build miss.
    const bridged = await time(() => new DockerfileBuilder(context, { engine, noCache: true }).build("bench/build:bridge"));
    console.log(`  cold build, RUN on the default bridge: ${bridged.toFixed(0)} ms`);
    // The cold-build peer is `docker build` of the same Dockerfile where dockerd runs.
    const dockerd = await execa("docker", ["info", "--format", "{{.ServerVersion}}"], { reject: false, timeout: 10_000 });
    console.log(
      dockerd.exitCode === 0
        ? `  docker build (cold):                 not measured: run \`docker build --no-cache\` of the same context by hand (dockerd ${dockerd.stdout.trim()})`
        : "  docker build (cold):                 n/a (no dockerd on this machine)",
    );
  } finally {
    engine.dispose();
    for (const c of await engine.list({ all: true })) await engine.remove(c.Id, { force: true }).catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}
