import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useCliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);

describeAsRoot("berth commit --change and build progress", () => {
  world = useCliWorld("berth-cli-commit-");

  it("commit --change applies Dockerfile instructions to the new image's config", async () => {
    expect((await berth(["run", "--name", "src", "busybox:test", "sh", "-c", "echo data > /made"])).code).toBe(0);
    const changes = [
      'CMD ["cat", "/made"]',
      "ENV A=1 B=two",
      "EXPOSE 8080 53/udp",
      'LABEL com.example.x="y z"',
      "USER nobody",
      "WORKDIR /srv",
      "WORKDIR app",
      "STOPSIGNAL SIGINT",
      "VOLUME /data",
      "ONBUILD RUN true",
      "HEALTHCHECK --interval=5s --retries=2 CMD true",
    ];
    const commit = await berth(["commit", ...changes.flatMap((c) => ["--change", c]), "src", "changed:1"]);
    expect(commit.stderr).toBe("");
    expect(commit.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const run = await berth(["run", "--rm", "--user", "root", "changed:1"]);
    expect(run).toMatchObject({ code: 0, stdout: "data\n" });
    const id = (await berth(["create", "changed:1"])).stdout.trim();
    const config = JSON.parse((await berth(["inspect", "--format", "{{json .Config}}", id])).stdout) as Record<string, unknown>;
    expect(config).toMatchObject({
      Cmd: ["cat", "/made"],
      User: "nobody",
      WorkingDir: "/srv/app",
      StopSignal: "SIGINT",
      Labels: { "com.example.x": "y z" },
      ExposedPorts: { "8080/tcp": {}, "53/udp": {} },
      Volumes: { "/data": {} },
      // The shell form, as Docker stores it.
      Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 5_000_000_000, Retries: 2 },
    });
    expect(config.Env).toEqual(expect.arrayContaining(["A=1", "B=two"]));
    await berth(["rm", "-v", id]);
    // An ENTRYPOINT change drops the CMD, as in a Dockerfile.
    await berth(["commit", "--change", "ENTRYPOINT echo from-entrypoint", "src", "changed:2"]);
    expect((await berth(["run", "--rm", "changed:2"])).stdout).toBe("from-entrypoint\n");
    const bad = await berth(["commit", "--change", "RUN true", "src"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe("berth: run is not a valid change command\n");
    await berth(["rm", "src"]);
  });

  it("import --change gives the imported rootfs its config", async () => {
    const rootfs = join(world.root, "import-rootfs");
    await mkdir(rootfs, { recursive: true });
    await writeFile(join(rootfs, "hello.txt"), "imported\n");
    const tarball = join(world.root, "import-rootfs.tar");
    await execa("tar", ["-C", rootfs, "-cf", tarball, "."]);
    const imported = await berth(["import", "--change", 'CMD ["/hello"]', "--change", "ENV X=1", "--change", "WORKDIR /w", tarball, "imported:changes"]);
    expect(imported.stderr).toBe("");
    const id = (await berth(["create", "imported:changes"])).stdout.trim();
    expect(JSON.parse((await berth(["inspect", "--format", "{{json .Config}}", id])).stdout)).toMatchObject({ Cmd: ["/hello"], WorkingDir: "/w", Env: expect.arrayContaining(["X=1"]) });
    await berth(["rm", id]);
  });

  it("build prints plain numbered steps off a terminal; with --progress tty, one line per step redrawn in place", async () => {
    const dir = join(world.root, "ctx-progress");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "Dockerfile"), "FROM busybox:test\nRUN echo building-now\nLABEL done=yes\n");
    const plain = await berth(["build", "--no-cache", "-t", "progress:1", dir]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/^#\d+ \[[^\]]+\] RUN echo building-now$/m);
    expect(plain.stderr).toMatch(/^#\d+ building-now$/m);
    expect(plain.stderr).not.toContain("\x1b[");
    const tty = await berth(["build", "--no-cache", "--progress", "tty", "-t", "progress:2", dir]);
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain("\x1b[");
    expect(tty.stderr).toMatch(/\[\+\] Building [\d.]+s \(\d+\/\d+\)/);
    expect(tty.stderr).toMatch(/=> \[[^\]]+\] RUN echo building-now +[\d.]+s/);
    expect(tty.stderr).toMatch(/=> => # building-now/);
    expect(tty.stderr).toMatch(/=> => naming to progress:2/);
  });

  it("build --network none runs RUN steps with loopback only, and takes --cache-from of a stored image", async () => {
    const dir = join(world.root, "ctx-network");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "Dockerfile"), "FROM busybox:test\nRUN ls /sys/class/net > /nets\nCMD [\"cat\", \"/nets\"]\n");
    const none = await berth(["build", "-q", "--no-cache", "--network", "none", "--cache-from", "busybox:test", "-t", "net:none", dir]);
    expect(none.stderr).toBe("");
    expect(none.code).toBe(0);
    const run = await berth(["run", "--rm", "net:none"]);
    expect(run.stdout.trim().split("\n")).toEqual(["lo"]);
    const bad = await berth(["build", "--network", "overlay", dir]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/invalid --network "overlay"/);
  });
});
