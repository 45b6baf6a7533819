import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BuildProgress } from "../../../src/build/dockerfile-build.js";
import { RootfsView } from "../../../src/build/rootfs-view.js";
import { Image } from "../../../src/harness/image.js";
import { ImageStore } from "../../../src/image/image-store.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { busyboxBuildEngine, removeAllContainers } from "./build-test-engine.js";

/** COPY --link, writing through symlinked directories of the image, and RUN --mount=type=bind,rw. */
describeAsRoot("COPY --link, symlinked destinations and writable bind mounts", () => {
  let root: string;
  let context: string;
  let engine: ContainerEngine;

  beforeAll(async () => {
    root = await makeTempDir("berth-build-link-");
    context = await makeTempDir("berth-build-link-ctx-");
    engine = await busyboxBuildEngine(root);
    await writeFile(join(context, "app.txt"), "app\n");
    await writeFile(join(context, "other.txt"), "other\n");
    await writeFile(join(context, "data.txt"), "original\n");
    // A tree with a link to a directory, and a payload whose path goes through that link.
    await mkdir(join(context, "tree", "real"), { recursive: true });
    await symlink("real", join(context, "tree", "lnk"));
    await symlink("/real", join(context, "tree", "abs"));
    await mkdir(join(context, "payload", "lnk", "deeper"), { recursive: true });
    await writeFile(join(context, "payload", "lnk", "inner.txt"), "inner\n");
    await writeFile(join(context, "payload", "lnk", "deeper", "d.txt"), "deeper\n");
    await mkdir(join(context, "tarsrc", "abs"), { recursive: true });
    await writeFile(join(context, "tarsrc", "abs", "fromtar.txt"), "from tar\n");
    execFileSync("tar", ["-cf", join(context, "payload.tar"), "-C", join(context, "tarsrc"), "abs"]);
  });

  afterAll(async () => {
    await removeAllContainers(engine);
    if (root) await removeTempDir(root);
    if (context) await removeTempDir(context);
  });

  async function build(dockerfile: string, tag: string, buildArgs: Record<string, string> = {}) {
    await writeFile(join(context, "Dockerfile"), dockerfile);
    const events: BuildProgress[] = [];
    const image = await Image.fromDockerfile(context, { engine, network: "none", buildArgs, onProgress: (e) => events.push(e) }).build(tag);
    const steps = events.filter((e): e is Extract<BuildProgress, { type: "step" }> => e.type === "step");
    const view = new RootfsView((await new ImageStore(root).getRootfsLayers(tag)).layerDirs);
    return {
      image,
      view,
      ran: steps.filter((e) => e.status === "running").map((e) => e.instruction),
      cached: steps.filter((e) => e.status === "cached").map((e) => e.instruction),
    };
  }

  it("reuses a COPY --link layer on a changed base, where a plain COPY runs again", async () => {
    await build("FROM busybox:test\nCOPY other.txt /other.txt\n", "built/base2:1");
    const dockerfile = "ARG BASE\nFROM $BASE\nCOPY --link app.txt /app/\nCOPY app.txt /plain/\n";
    const first = await build(dockerfile, "built/link:1", { BASE: "busybox:test" });
    expect(first.ran).toEqual(["COPY --link app.txt /app/", "COPY app.txt /plain/"]);
    const rebased = await build(dockerfile, "built/link:2", { BASE: "built/base2:1" });
    expect(rebased.cached).toEqual(["COPY --link app.txt /app/"]);
    expect(rebased.ran).toEqual(["COPY app.txt /plain/"]);
    expect(await rebased.view.readFile("/app/app.txt")).toBe("app\n");
    expect(await rebased.view.readFile("/other.txt")).toBe("other\n");
    // The same blob, on another chain.
    const a = (await first.image.inspect()).layers.at(-2)!;
    const b = (await rebased.image.inspect()).layers.at(-2)!;
    expect(b.digest).toBe(a.digest);
    expect((await rebased.image.inspect()).layers).toHaveLength(4);
  });

  it("writes through a directory that is a symlink in the image, from COPY and from ADD of an archive", async () => {
    const { view } = await build("FROM scratch\nCOPY tree/ /\nCOPY payload/ /\nADD payload.tar /\n", "built/through:1");
    expect(await view.readFile("/real/inner.txt")).toBe("inner\n");
    expect(await view.readFile("/real/deeper/d.txt")).toBe("deeper\n");
    expect(await view.readFile("/real/fromtar.txt")).toBe("from tar\n");
    expect((await view.stat("/lnk"))?.isSymbolicLink()).toBe(true);
    expect((await view.stat("/abs"))?.isSymbolicLink()).toBe(true);
  });

  it("lets RUN write to a bind mount with rw and throws the writes away", async () => {
    const { view } = await build(
      [
        "FROM busybox:test AS tools",
        "RUN mkdir -p /opt/tool && echo v1 > /opt/tool/version",
        "FROM busybox:test",
        "RUN --mount=type=bind,rw,target=/ctx sh -c 'echo changed > /ctx/data.txt && touch /ctx/new.txt && cat /ctx/data.txt > /rw-seen.txt'",
        "RUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /after.txt",
        "RUN --mount=type=bind,rw,from=tools,source=/opt/tool,target=/tool sh -c 'echo v2 > /tool/version && cat /tool/version > /stage-rw.txt'",
        "RUN --mount=type=bind,from=tools,source=/opt/tool,target=/tool cat /tool/version > /stage-after.txt",
        "",
      ].join("\n"),
      "built/rw:1",
    );
    expect(await view.readFile("/rw-seen.txt")).toBe("changed\n");
    expect(await view.readFile("/after.txt")).toBe("original\n");
    expect(await view.readFile("/stage-rw.txt")).toBe("v2\n");
    expect(await view.readFile("/stage-after.txt")).toBe("v1\n");
    expect(await view.stat("/tool")).toBeUndefined();
    expect(await view.stat("/ctx")).toBeUndefined();
    expect(await readFile(join(context, "data.txt"), "utf8")).toBe("original\n");
    expect((await readdir(context)).includes("new.txt")).toBe(false);
    // A failing step with a writable bind leaves its overlay behind no more than a passing one.
    const failed = await build("FROM busybox:test\nRUN --mount=type=bind,rw,target=/ctx sh -c 'echo x > /ctx/data.txt; exit 3'\n", "built/rw:bad").catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: "BERTH_BUILD_STEP_FAILED", context: { exitCode: 3 } });
    expect(await readFile(join(context, "data.txt"), "utf8")).toBe("original\n");
    // Nothing mounted or left over.
    expect((await readFile("/proc/self/mountinfo", "utf8")).includes("berth-build-rw-")).toBe(false);
    expect((await readdir(tmpdir())).filter((n) => n.startsWith("berth-build-rw-"))).toEqual([]);
  });

  it("adds no layer for a step that changes nothing, only an empty_layer history entry, as BuildKit", async () => {
    const dockerfile = "FROM busybox:test\nRUN true\nWORKDIR /etc\nCOPY nothing* /x/\nCOPY app.txt /after/\n";
    const first = await build(dockerfile, "built/empty:1");
    const info = await first.image.inspect();
    expect(info.layers).toHaveLength(2);
    expect(info.history.slice(-4).map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ["RUN /bin/sh -c true # buildkit", true],
      ["WORKDIR /etc", true],
      ["COPY nothing* /x/ # buildkit", true],
      ["COPY app.txt /after/ # buildkit", false],
    ]);
    expect(await first.view.readFile("/after/app.txt")).toBe("app\n");
    const again = await build(dockerfile, "built/empty:2");
    expect(again.ran).toEqual([]);
    expect(again.image.id).toBe(first.image.id);
  });
});
