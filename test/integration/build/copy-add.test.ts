import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Image } from "../../../src/harness/image.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { busyboxBuildEngine, runIn as runInEngine, removeAllContainers } from "./build-test-engine.js";

describeAsRoot("COPY and ADD layers", () => {
  let root: string;
  let context: string;
  let engine: ContainerEngine;

  beforeAll(async () => {
    root = await makeTempDir("berth-build-copy-");
    context = await makeTempDir("berth-build-copy-ctx-");
    engine = await busyboxBuildEngine(root);
    await writeFile(join(context, "a.txt"), "A\n");
    await writeFile(join(context, "b.txt"), "B\n");
    await mkdir(join(context, "dir/inner"), { recursive: true });
    await writeFile(join(context, "dir/top.txt"), "top\n");
    await writeFile(join(context, "dir/inner/deep.txt"), "deep\n");
    await mkdir(join(context, "arch/pkg"), { recursive: true });
    await writeFile(join(context, "arch/pkg/file.txt"), "from the archive\n");
    // Archives made by GNU tar, as users make them; the sources are removed from the context
    // by .dockerignore so only the archives carry them.
    execFileSync("tar", ["-czf", join(context, "archive.tar.gz"), "-C", join(context, "arch"), "pkg"]);
    execFileSync("tar", ["-cf", join(context, "plain.tar"), "-C", join(context, "arch"), "pkg"]);
    execFileSync("tar", ["-cJf", join(context, "archive.tar.xz"), "-C", join(context, "arch"), "pkg"]);
    execFileSync("tar", ["-cjf", join(context, "archive.tar.bz2"), "-C", join(context, "arch"), "pkg"]);
    await writeFile(join(context, ".dockerignore"), "arch\n");
  });

  afterAll(async () => {
    await removeAllContainers(engine);
    if (root) await removeTempDir(root);
    if (context) await removeTempDir(context);
  });

  const runIn = (image: string, script: string): Promise<string> => runInEngine(engine, image, script);

  it("follows Docker's destination rules, unpacks local archives with ADD and copies from a scratch stage and an image", async () => {
    await writeFile(
      join(context, "Dockerfile"),
      [
        "FROM scratch AS files",
        "COPY a.txt b.txt /multi/",
        "COPY a.txt /renamed.txt",
        "COPY dir /dircontents",
        "COPY --chmod=755 a.txt /exec/",
        "ADD archive.tar.gz /unpacked/",
        "ADD plain.tar /plain",
        "ADD archive.tar.xz archive.tar.bz2 /compressed/",
        "COPY --from=busybox:test /etc/group /from-image/",
        "COPY <<EOF /inline.txt",
        "written inline",
        "EOF",
        "",
        "FROM busybox:test",
        "RUN mkdir -p /usr/lib && ln -s usr/lib /lib2 && ln -s /usr/lib /lib3",
        "COPY a.txt /lib2/sub/",
        "COPY dir /lib3",
        "COPY --from=files / /copied/",
      ].join("\n"),
    );
    const image = await Image.fromDockerfile(context, { engine, network: "none" }).build("built/copy:1");
    const out = await runIn(
      "built/copy:1",
      "cd /copied && find . | sort && cat renamed.txt unpacked/pkg/file.txt plain/pkg/file.txt compressed/pkg/file.txt inline.txt && stat -c %a exec/a.txt multi/a.txt",
    );
    expect(out.split("\n")).toEqual([
      ".",
      "./compressed",
      "./compressed/pkg",
      "./compressed/pkg/file.txt",
      "./dircontents",
      "./dircontents/inner",
      "./dircontents/inner/deep.txt",
      "./dircontents/top.txt",
      "./exec",
      "./exec/a.txt",
      "./from-image",
      "./from-image/group",
      "./inline.txt",
      "./multi",
      "./multi/a.txt",
      "./multi/b.txt",
      "./plain",
      "./plain/pkg",
      "./plain/pkg/file.txt",
      "./renamed.txt",
      "./unpacked",
      "./unpacked/pkg",
      "./unpacked/pkg/file.txt",
      "A",
      "from the archive",
      "from the archive",
      "from the archive",
      "written inline",
      "755",
      "644",
      "",
    ]);
    expect((await image.inspect()).layers).toHaveLength(5);
    // Destinations through symlinks land where the links point; the links stay links.
    expect(await runIn("built/copy:1", "cat /usr/lib/sub/a.txt /usr/lib/top.txt; readlink /lib2; readlink /lib3")).toBe("A\ntop\nusr/lib\n/usr/lib\n");
  });

  it("refuses several sources without a directory destination, a missing source and a source outside the context", async () => {
    const attempt = async (dockerfile: string) => {
      await writeFile(join(context, "Dockerfile"), dockerfile);
      try {
        // No registry in these tests: an image missing from the store stays missing.
        await Image.fromDockerfile(context, { engine, network: "none", pull: async () => {} }).build();
      } catch (error) {
        return error;
      }
      throw new Error("the build should have failed");
    };
    const multi = await attempt("FROM busybox:test\nCOPY a.txt b.txt /notadir\n");
    expect(hasErrorCode(multi, "BERTH_BUILD_STEP_FAILED")).toBe(true);
    expect((multi as Error).message).toContain("must be a directory and end with a /");
    expect(hasErrorCode(await attempt("FROM busybox:test\nCOPY missing.txt /x\n"), "BERTH_BUILD_SOURCE_NOT_FOUND")).toBe(true);
    expect(hasErrorCode(await attempt("FROM busybox:test\nCOPY ../etc/passwd /x\n"), "BERTH_BUILD_SOURCE_OUTSIDE_CONTEXT")).toBe(true);
    expect(hasErrorCode(await attempt("FROM absent/image:1\nRUN true\n"), "BERTH_IMAGE_NOT_FOUND")).toBe(true);
  });
});
