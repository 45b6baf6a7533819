import { cp, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BuildProgress } from "../../../src/build/dockerfile-build.js";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Image } from "../../../src/harness/image.js";
import { ImageStore } from "../../../src/image/image-store.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";
import { busyboxRootfs } from "../../fixtures/busybox.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { runIn as runInEngine, removeAllContainers } from "./build-test-engine.js";

const fixtures = join(import.meta.dirname, "../../fixtures/build");
const child = fileURLToPath(new URL("./build-child.ts", import.meta.url));

describeAsRoot("Image.fromDockerfile on busybox", () => {
  let root: string;
  let work: string;
  let engine: ContainerEngine;

  beforeAll(async () => {
    root = await makeTempDir("berth-build-");
    work = await makeTempDir("berth-build-ctx-");
    await Image.fromRootfs(await busyboxRootfs(), { root, tag: "busybox:test", config: { Cmd: ["sh"] } });
    engine = new ContainerEngine({
      stateRoot: root,
      runtime: new OciRuntime({ root: join(root, "run", "runtime"), timeout: 20_000 }),
      pull: async () => {
        // No registry here: FROM an image that is not in the store stays missing.
      },
    });
  });

  afterAll(async () => {
    engine?.dispose();
    const failures: unknown[] = [];
    for (const c of (await engine?.list({ all: true })) ?? []) {
      await engine.remove(c.Id, { force: true, volumes: true }).catch((error: unknown) => failures.push(error));
    }
    if (failures.length > 0) throw new AggregateError(failures, `could not remove every container of ${root}`);
    if (root) await removeTempDir(root);
    if (work) await removeTempDir(work);
  });

  /** Builds and records the progress events. */
  async function build(context: string, tag: string | undefined, options: Parameters<typeof Image.fromDockerfile>[1] = {}) {
    const events: BuildProgress[] = [];
    const image = await Image.fromDockerfile(context, { engine, network: "none", ...options, onProgress: (e) => events.push(e) }).build(tag);
    const steps = events.filter((e): e is Extract<BuildProgress, { type: "step" }> => e.type === "step");
    return {
      image,
      events,
      ran: steps.filter((e) => e.status === "running").map((e) => e.instruction),
      cached: steps.filter((e) => e.status === "cached").map((e) => e.instruction),
    };
  }

  const runIn = (image: string, script: string): Promise<string> => runInEngine(engine, image, script, { user: "0" });

  it("builds a multi-stage Dockerfile: COPY --from, RUN layers with whiteouts, --chown/--chmod and the config", async () => {
    const context = join(work, "multistage");
    await cp(join(fixtures, "multistage"), context, { recursive: true });
    const { image, ran } = await build(context, "built/multistage:1");
    expect(ran).toHaveLength(8);
    const info = await image.inspect();
    expect(info.repoTags).toContain("built/multistage:1");
    const c = info.config.config!;
    expect(c.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/srv/app", "GREETING=hello world"]);
    expect(c.WorkingDir).toBe("/srv/app");
    expect(c.User).toBe("user");
    expect(c.Entrypoint).toEqual(["/bin/sh", "-c"]);
    expect(c.Cmd).toEqual(["cat greeting.txt"]);
    expect(c.ExposedPorts).toEqual({ "8080/tcp": {} });
    expect(c.Labels).toEqual({ "org.example.name": "multistage" });
    // The base's layer and one per WORKDIR/COPY/RUN of the final stage.
    expect(info.layers).toHaveLength(6);
    const history = info.config.history!;
    expect(history.filter((h) => !h.empty_layer)).toHaveLength(6);
    expect(history.map((h) => h.created_by)).toContain("USER user");
    expect(history.find((h) => h.created_by === "USER user")!.empty_layer).toBe(true);
    expect(history.some((h) => h.created_by?.startsWith("RUN |1 FLAVOUR=plain /bin/sh -c rm /data/keep"))).toBe(true);

    const out = await runIn(
      "built/multistage:1",
      "cat /srv/app/joined.txt /srv/app/greeting.txt; stat -c '%u:%g %a' /srv/app/owned.txt; ls -A /data | wc -l; test -e /home/user && echo home-present || echo home-gone",
    );
    expect(out.split("\n")).toEqual(["alpha", "beta", "built", "hello world plain", "1000:1000 640", "0", "home-gone", ""]);
  });

  it("rebuilds from the cache without running a container, and reruns what an edited file invalidates", async () => {
    const context = join(work, "multistage");
    const first = await Image.get("built/multistage:1", { root });
    const again = await build(context, "built/multistage:1");
    expect(again.ran).toEqual([]);
    expect(again.cached).toHaveLength(8);
    expect(again.image.id).toBe(first.id);

    // A touched but unchanged file is still a hit: the key covers content, not mtime.
    await utimes(join(context, "src/a.txt"), new Date(), new Date(Date.now() + 5000));
    expect((await build(context, undefined)).ran).toEqual([]);

    await writeFile(join(context, "src/sub/b.txt"), "gamma\n");
    const edited = await build(context, "built/multistage:2");
    expect(edited.cached).toContain("WORKDIR /work");
    expect(edited.cached).toContain("WORKDIR $APP_HOME");
    // The final stage's COPY of a.txt does not depend on b.txt, but follows a changed layer.
    expect(edited.ran).toEqual([
      "COPY src/ ./src/",
      "RUN cat src/a.txt src/sub/b.txt > joined.txt && echo built >> joined.txt",
      "COPY --from=builder /work/joined.txt ./",
      "COPY --chown=user:user --chmod=0640 src/a.txt owned.txt",
      'RUN echo "$GREETING $FLAVOUR" > greeting.txt && rm -r /home/user && mkdir -p /data && touch /data/keep',
      "RUN rm /data/keep",
    ]);
    expect(await runIn("built/multistage:2", "cat /srv/app/joined.txt")).toBe("alpha\ngamma\nbuilt\n");
  });

  it("reuses the cache written by another process", async () => {
    const context = join(work, "cross-process");
    await cp(join(fixtures, "ignore"), context, { recursive: true });
    await writeFile(join(context, "Dockerfile"), "FROM busybox:test\nCOPY visible.txt /v.txt\nRUN echo from another process > /p.txt\nCMD [\"cat\", \"/p.txt\"]\n");
    const result = await execa(process.execPath, ["--import", "tsx", child, root, context, "built/cross:1"], { timeout: 120_000, reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const built = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { id: string; executed: number };
    expect(built.executed).toBe(2);
    const again = await build(context, "built/cross:1");
    expect(again.ran).toEqual([]);
    expect(again.cached).toEqual(["COPY visible.txt /v.txt", "RUN echo from another process > /p.txt"]);
    expect(again.image.id).toBe(built.id);
  });

  it("runs a base stage's ONBUILD triggers in the stage built on it, and builds the target stage only", async () => {
    const context = join(work, "onbuild");
    await cp(join(fixtures, "ignore"), context, { recursive: true });
    await writeFile(
      join(context, "Dockerfile"),
      "FROM busybox:test AS base\nONBUILD RUN echo triggered > /onbuild.txt\n\nFROM base AS app\nRUN cat /onbuild.txt > /seen.txt\n\nFROM busybox:test AS unused\nRUN exit 1\n",
    );
    const app = await build(context, "built/onbuild:app", { target: "app" });
    expect(app.ran).toEqual(["RUN echo triggered > /onbuild.txt", "RUN cat /onbuild.txt > /seen.txt"]);
    expect((await app.image.inspect()).config.config!.OnBuild).toBeUndefined();
    expect(await runIn("built/onbuild:app", "cat /seen.txt")).toBe("triggered\n");
    const base = await build(context, "built/onbuild:base", { target: "base" });
    expect((await base.image.inspect()).config.config!.OnBuild).toEqual(["RUN echo triggered > /onbuild.txt"]);
  });

  it("runs RUN steps on the default bridge unless --network says otherwise", async () => {
    const context = join(work, "network");
    await cp(join(fixtures, "ignore"), context, { recursive: true });
    await writeFile(
      join(context, "Dockerfile"),
      "FROM busybox:test\nRUN ip -4 route > /bridge-routes.txt\nRUN --network=none ip -4 route > /none-routes.txt; ls /sys/class/net > /none-links.txt\n",
    );
    const events: BuildProgress[] = [];
    await Image.fromDockerfile(context, { engine, onProgress: (e) => events.push(e) }).build("built/network:1");
    const out = await runIn("built/network:1", "cat /bridge-routes.txt; echo --; cat /none-routes.txt; echo --; cat /none-links.txt");
    const [bridge, none, links] = out.split("--\n");
    expect(bridge).toMatch(/^default via \S+ dev eth0/m);
    expect(none).toBe("");
    expect(links!.trim()).toBe("lo");
  });

  it("takes build args, labels and noCache", async () => {
    const context = join(work, "multistage");
    const { image, ran } = await build(context, "built/multistage:args", { buildArgs: { FLAVOUR: "special" }, labels: { "com.example.extra": "yes" }, noCache: true });
    expect(ran).toHaveLength(8);
    const c = (await image.inspect()).config.config!;
    expect(c.Labels).toEqual({ "org.example.name": "multistage", "com.example.extra": "yes" });
    expect(await runIn("built/multistage:args", "cat /srv/app/greeting.txt")).toBe("hello world special\n");
  });

  it("leaves out what .dockerignore excludes", async () => {
    const { ran } = await build(join(fixtures, "ignore"), "built/ignore:1");
    expect(ran).toEqual(["COPY . /ctx/", "RUN ls -a /ctx | sort > /listing.txt"]);
    const listing = (await runIn("built/ignore:1", "cat /listing.txt")).split("\n").filter(Boolean);
    expect(listing).toEqual([".", "..", ".dockerignore", "Dockerfile", "keep.log", "visible.txt"]);
  });

  it("fails a RUN with its exit code and last lines, leaving no image, tag or container", async () => {
    const store = new ImageStore(root);
    const imagesBefore = (await store.list()).map((r) => r.id).sort();
    let error: unknown;
    const output: string[] = [];
    try {
      await Image.fromDockerfile(join(fixtures, "failing"), {
        engine,
        network: "none",
        onProgress: (e) => {
          if (e.type === "output") output.push(e.text);
        },
      }).build("built/failing:1");
    } catch (e) {
      error = e;
    }
    expect(hasErrorCode(error, "BERTH_BUILD_STEP_FAILED")).toBe(true);
    const e = error as { exitCode: number; lastLines: string[]; context: { line: number }; message: string };
    expect(e.exitCode).toBe(3);
    expect(e.context.line).toBe(3);
    expect(e.lastLines).toContain("the last words");
    expect(e.message).toContain("line 3");
    expect(output).toContain("line two");
    expect((await store.list()).map((r) => r.id).sort()).toEqual(imagesBefore);
    expect(await store.find("built/failing:1")).toBeUndefined();
    expect(await engine.list({ all: true })).toEqual([]);
    expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(root);
  });
});
