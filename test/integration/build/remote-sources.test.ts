import { createHash } from "node:crypto";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";
import { gzipSync } from "node:zlib";
import getPort from "get-port";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BuildProgress } from "../../../src/build/dockerfile-build.js";
import { RootfsView } from "../../../src/build/rootfs-view.js";
import { Image } from "../../../src/harness/image.js";
import { ImageStore } from "../../../src/image/image-store.js";
import type { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { busyboxBuildEngine, removeAllContainers } from "./build-test-engine.js";

/**
 * ADD of URLs (an HTTP server on 127.0.0.1) and git repositories (a bare repository served by
 * `git daemon` and by the dumb HTTP protocol on 127.0.0.1).
 */
describeAsRoot("ADD of URLs and git repositories", () => {
  let root: string;
  let context: string;
  let served: string;
  let engine: ContainerEngine;
  let server: http.Server;
  let base: string;
  let daemon: ChildProcess | undefined;
  let gitBase: string;
  const requests: string[] = [];
  const lastModified = new Date("2021-06-01T12:00:00Z");
  const tarball = gzipSync(Buffer.from("not really a tar, but gzip magic\n"));
  const tarballDigest = `sha256:${createHash("sha256").update(tarball).digest("hex")}`;
  let v1: string;

  beforeAll(async () => {
    root = await makeTempDir("berth-build-remote-");
    context = await makeTempDir("berth-build-remote-ctx-");
    served = await makeTempDir("berth-build-remote-srv-");
    engine = await busyboxBuildEngine(root);

    // A repository with a tag v1 and a later commit on main, served bare.
    const work = join(served, "work");
    await mkdir(join(work, "sub", "dir"), { recursive: true });
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], { cwd: work }).toString().trim();
    git("init", "-q", "-b", "main");
    await writeFile(join(work, "README"), "readme\n");
    await writeFile(join(work, "sub", "dir", "file.txt"), "version 1\n");
    git("add", ".");
    git("commit", "-q", "-m", "one");
    git("tag", "v1");
    v1 = git("rev-parse", "HEAD");
    await writeFile(join(work, "sub", "dir", "file.txt"), "version 2\n");
    git("commit", "-q", "-am", "two");
    execFileSync("git", ["clone", "-q", "--bare", work, join(served, "repo.git")]);
    execFileSync("git", ["update-server-info"], { cwd: join(served, "repo.git") });

    server = http.createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      requests.push(path);
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/plain" }).end("the root\n");
      } else if (path === "/files/tool.tar.gz") {
        res.writeHead(200, { "last-modified": lastModified.toUTCString(), "content-length": tarball.length }).end(tarball);
      } else if (path === "/files/notes.txt") {
        res.writeHead(200).end("notes\n");
      } else if (path.startsWith("/repo.git/")) {
        // The dumb HTTP protocol: the bare repository's files as they are.
        const file = join(served, normalize(path));
        createReadStream(file)
          .on("error", () => res.writeHead(404).end())
          .on("open", () => res.writeHead(200))
          .pipe(res);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const port = await getPort({ host: "127.0.0.1" });
    daemon = spawn("git", ["daemon", "--reuseaddr", "--export-all", `--base-path=${served}`, "--listen=127.0.0.1", `--port=${port}`, served], { stdio: "ignore" });
    gitBase = `git://127.0.0.1:${port}`;
    // Ready once it lists the repository's refs.
    for (let i = 0; ; i++) {
      try {
        execFileSync("git", ["ls-remote", `${gitBase}/repo.git`], { stdio: "ignore" });
        break;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  afterAll(async () => {
    daemon?.kill("SIGTERM");
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    await removeAllContainers(engine);
    if (root) await removeTempDir(root);
    if (context) await removeTempDir(context);
    if (served) await removeTempDir(served);
  });

  async function build(dockerfile: string, tag: string) {
    await writeFile(join(context, "Dockerfile"), dockerfile);
    const events: BuildProgress[] = [];
    const image = await Image.fromDockerfile(context, { engine, network: "none", onProgress: (e) => events.push(e) }).build(tag);
    const steps = events.filter((e): e is Extract<BuildProgress, { type: "step" }> => e.type === "step");
    const view = new RootfsView((await new ImageStore(root).getRootfsLayers(tag)).layerDirs);
    return { image, view, ran: steps.filter((e) => e.status === "running").length, cached: steps.filter((e) => e.status === "cached").length };
  }

  it("downloads URLs with Docker's names, mode and mtime, verifies --checksum and never unpacks them", async () => {
    const dockerfile = [
      "FROM busybox:test",
      `ADD --checksum=${tarballDigest} ${base}/files/tool.tar.gz /downloads/`,
      `ADD ${base}/files/notes.txt /notes-renamed.txt`,
      `ADD --chmod=644 ${base}/ /root-url/`,
      "",
    ].join("\n");
    const first = await build(dockerfile, "built/remote:1");
    expect(first.ran).toBe(3);
    const st = await first.view.stat("/downloads/tool.tar.gz");
    expect(st?.isFile()).toBe(true);
    expect(st!.mode & 0o7777).toBe(0o600);
    expect(st!.mtime.getTime()).toBe(lastModified.getTime());
    expect(await first.view.readFile("/notes-renamed.txt")).toBe("notes\n");
    expect(await first.view.readFile("/root-url/__unnamed__")).toBe("the root\n");
    expect(((await first.view.stat("/root-url/__unnamed__"))!.mode & 0o7777).toString(8)).toBe("644");

    // Cached: the checksummed URL is not requested again; the others are, to hash their content.
    const before = requests.filter((r) => r === "/files/tool.tar.gz").length;
    const again = await build(dockerfile, "built/remote:2");
    expect({ ran: again.ran, cached: again.cached }).toEqual({ ran: 0, cached: 3 });
    expect(requests.filter((r) => r === "/files/tool.tar.gz").length).toBe(before);
    expect(again.image.id).toBe(first.image.id);
  });

  it("fails a wrong checksum and a missing URL naming the URL, leaving no image or temp files", async () => {
    const url = `${base}/files/tool.tar.gz`;
    const wrong = `sha256:${"0".repeat(64)}`;
    const mismatch = await build(`FROM busybox:test\nADD --checksum=${wrong} ${url} /x\n`, "built/remote:bad").catch((e: unknown) => e);
    expect(mismatch).toMatchObject({ code: "BERTH_BUILD_CHECKSUM_MISMATCH", context: { url, expected: wrong, actual: tarballDigest } });
    expect((mismatch as Error).message).toContain(url);
    const missing = await build(`FROM busybox:test\nADD ${base}/files/absent.bin /x\n`, "built/remote:404").catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: "BERTH_BUILD_SOURCE_NOT_FOUND", context: { url: `${base}/files/absent.bin`, status: 404 } });
    expect(await new ImageStore(root).find("built/remote:bad")).toBeUndefined();
    const { readdir } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    expect((await readdir(tmpdir())).filter((n) => n.startsWith("berth-build-remote-") && !root.endsWith(n) && !context.endsWith(n) && !served.endsWith(n))).toEqual([]);
  });

  it("adds git repositories at a ref and subdirectory, over git:// and dumb HTTP, with --keep-git-dir", async () => {
    const dockerfile = [
      "FROM busybox:test",
      `ADD ${gitBase}/repo.git#v1:sub /from-tag/`,
      `ADD ${base}/repo.git /whole/`,
      `ADD --keep-git-dir=true ${gitBase}/repo.git#main /kept/`,
      `ADD ${gitBase}/repo.git#${v1} /by-commit/`,
      "",
    ].join("\n");
    const { view, ran } = await build(dockerfile, "built/git:1");
    expect(ran).toBe(4);
    expect(await view.readFile("/from-tag/dir/file.txt")).toBe("version 1\n");
    expect(await view.stat("/from-tag/README")).toBeUndefined();
    expect(await view.readFile("/whole/sub/dir/file.txt")).toBe("version 2\n");
    expect(await view.readFile("/whole/README")).toBe("readme\n");
    expect(await view.stat("/whole/.git")).toBeUndefined();
    expect((await view.stat("/kept/.git"))?.isDirectory()).toBe(true);
    expect(await view.readFile("/by-commit/sub/dir/file.txt")).toBe("version 1\n");

    // Keyed by the resolved commit: a rebuild only asks for the refs; a new commit reruns its step.
    expect((await build(dockerfile, "built/git:2")).ran).toBe(0);
    const work = join(served, "work");
    await writeFile(join(work, "README"), "readme 3\n");
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-am", "three"], { cwd: work });
    execFileSync("git", ["push", "-q", join(served, "repo.git"), "main"], { cwd: work });
    execFileSync("git", ["update-server-info"], { cwd: join(served, "repo.git") });
    const third = await build(dockerfile, "built/git:3");
    // /whole/ and /kept/ follow the moved branch; /by-commit/ reruns only because its parent did.
    expect({ ran: third.ran, cached: third.cached }).toEqual({ ran: 3, cached: 1 });
    expect(await third.view.readFile("/whole/README")).toBe("readme 3\n");

    const absent = await build(`FROM busybox:test\nADD ${gitBase}/repo.git#no-such-ref /x/\n`, "built/git:bad").catch((e: unknown) => e);
    expect(absent).toMatchObject({ code: "BERTH_BUILD_SOURCE_NOT_FOUND", context: { ref: "no-such-ref" } });
  });

  it("builds a Dockerfile using every instruction, with the config docker build writes", async () => {
    const fixture = join(import.meta.dirname, "../../fixtures/build/every-instruction");
    const tag = "built/every:1";
    const image = await Image.fromDockerfile(fixture, { engine, network: "none", buildArgs: { URL: base, GIT: gitBase, SUM: tarballDigest } }).build(tag);
    const info = await image.inspect();
    expect(info.config.author).toBe("Jane Doe <jane@example.com>");
    expect(info.config.config).toEqual({
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words"],
      Labels: { a: "1", "b c": "d e" },
      WorkingDir: "/srv/app",
      ExposedPorts: { "80/tcp": {}, "443/tcp": {}, "53/udp": {} },
      Volumes: { "/data": {}, "/cache": {} },
      StopSignal: "SIGTERM",
      Shell: ["/bin/sh", "-e", "-c"],
      Healthcheck: { Test: ["CMD", "true"], Interval: 90e9, Timeout: 10e9, StartPeriod: 1e9, StartInterval: 2e9, Retries: 5 },
      User: "1000:1000",
      OnBuild: ["RUN echo later"],
      Entrypoint: ["/bin/sh", "-e", "-c", "exec /bin/app"],
      Cmd: ["--help"],
      ArgsEscaped: true,
    });
    const created = info.history.map((h) => h.created_by);
    expect(created).toContain("RUN /bin/sh -c echo triggered > /onbuild.txt # buildkit");
    expect(created).toContain("EXPOSE map[443/tcp:{} 53/udp:{} 80/tcp:{}]");
    expect(created).toContain(`ADD ${gitBase}/repo.git#v1:sub /src/ # buildkit`);
    expect(created.find((c) => c?.includes("exec form"))).toMatch(/^RUN \|5 URL=\S+ GIT=\S+ SUM=sha256:[0-9a-f]{64} X=x1 Y= \/bin\/sh -c echo exec form > \/exec.txt # buildkit$/);
    // One layer per filesystem step: the base, ONBUILD's RUN, two WORKDIRs, two ADDs, COPY, two RUNs.
    expect(info.layers).toHaveLength(9);
    expect(info.history.filter((h) => !h.empty_layer)).toHaveLength(9);

    const view = new RootfsView((await new ImageStore(root).getRootfsLayers(tag)).layerDirs);
    expect(await view.readFile("/onbuild.txt")).toBe("triggered\n");
    expect((await view.stat("/tmp/tool.tar.gz"))?.isFile()).toBe(true);
    expect(await view.readFile("/src/dir/file.txt")).toBe("version 1\n");
    expect(await view.readFile("/dst/b/keep.txt")).toBe("kept\n");
    expect(await view.stat("/dst/b/notes.md")).toBeUndefined();
    const kept = (await view.stat("/dst/b/keep.txt"))!;
    expect([kept.uid, kept.gid, (kept.mode & 0o777).toString(8)]).toEqual([1000, 1000, "644"]);
    expect(await view.readFile("/srv/app/run.txt")).toBe("1 x1 two words\n");
    expect(await view.readFile("/exec.txt")).toBe("exec form\n");
  });
});
