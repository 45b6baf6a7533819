import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { busyboxBuildEngine, runIn as runInEngine, removeAllContainers } from "./build-test-engine.js";

const context = join(import.meta.dirname, "../../fixtures/build/mounts");

describeAsRoot("RUN --mount", () => {
  let root: string;
  let engine: ContainerEngine;

  beforeAll(async () => {
    root = await makeTempDir("berth-build-mounts-");
    engine = await busyboxBuildEngine(root);
  });

  afterAll(async () => {
    await removeAllContainers(engine);
    if (root) await removeTempDir(root);
  });

  const runIn = (image: string, script: string): Promise<string> => runInEngine(engine, image, script);

  it("mounts caches, tmpfs, binds, secrets and heredoc scripts, and leaves none of them in the layers", async () => {
    const secrets = { token: { value: "s3cr3t" } };
    const image = await Image.fromDockerfile(context, { engine, network: "none", secrets }).build("built/mounts:1");
    const out = await runIn(
      "built/mounts:1",
      "cat /cache-seen.txt /tmpfs-seen.txt /bind-seen.txt /stage-seen.txt /secret-seen.txt /script-seen.txt; ls -A /var/cache/demo /build-scratch /run/secrets /tool 2>&1 | wc -l",
    );
    expect(out.split("\n")).toEqual(["run 1", "temp", "bound from the context", "tool-from-stage", "6", "from a script: /dev/pipes/EOF", expect.stringMatching(/^\s*\d+$/), ""]);
    // Nothing of the mounts is in the image: no mount point, no cache content, no secret.
    const ls = await runIn("built/mounts:1", "for p in /var/cache/demo /build-scratch /mnt/data.txt /tool /run/secrets/token /run/other; do test -e $p && echo present $p; done; true");
    expect(ls).toBe("");
    expect(JSON.stringify((await image.inspect()).config)).not.toContain("s3cr3t");

    // The cache mount keeps its content across builds; the step runs again with a new arg.
    await Image.fromDockerfile(context, { engine, network: "none", secrets, buildArgs: { RUN_ID: "2" } }).build("built/mounts:2");
    expect(await runIn("built/mounts:2", "cat /cache-seen.txt")).toBe("run 1\nrun 2\n");
    const caches = await readdir(join(root, "build-cache", "mounts"));
    expect(caches).toHaveLength(1);
    expect(await readFile(join(root, "build-cache", "mounts", caches[0]!, "runs"), "utf8")).toBe("run 1\nrun 2\n");
  });

  it("fails when a required secret is missing", async () => {
    const { writeFile } = await import("node:fs/promises");
    const dir = await makeTempDir("berth-build-secret-");
    try {
      await writeFile(join(dir, "Dockerfile"), "FROM busybox:test\nRUN --mount=type=secret,id=nope,required=true true\n");
      await expect(Image.fromDockerfile(dir, { engine, network: "none" }).build()).rejects.toMatchObject({ code: "BERTH_BUILD_INVALID_FLAG" });
    } finally {
      await removeTempDir(dir);
    }
  });
});
