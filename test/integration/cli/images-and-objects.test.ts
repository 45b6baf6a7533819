import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { startRegistry, type StartedRegistry } from "../../helpers/registry-server.js";
import { cliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);

describeAsRoot("berth image, build, volume, network and system verbs (the CLI as a user runs it)", () => {
  beforeAll(async () => {
    world = await cliWorld("berth-cli-img-");
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it("images, tag, rmi with -q and --format", async () => {
    const table = await berth(["images"]);
    expect(table.stdout).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\nbusybox +test +[0-9a-f]{12} +.+ ago +[\d.]+MB\n$/);
    expect((await berth(["tag", "busybox:test", "my/bb:1"])).code).toBe(0);
    const formatted = await berth(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(formatted.stdout.split("\n").filter(Boolean).sort()).toEqual(["busybox:test", "my/bb:1"]);
    // One image with two tags: -q lists it once.
    expect((await berth(["images", "-q"])).stdout).toMatch(/^[0-9a-f]{12}\n$/);
    expect((await berth(["images", "my/bb"])).stdout.split("\n")).toHaveLength(3);
    expect(await berth(["rmi", "my/bb:1"])).toEqual({ code: 0, stdout: "Untagged: my/bb:1\n", stderr: "" });
    const gone = await berth(["rmi", "my/bb:1"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr.split("\n")).toHaveLength(2);
    // A flag berth parses but cannot honour yet is refused in one line.
    expect(await berth(["import", "--message", "m", "x.tar"])).toEqual({ code: 125, stdout: "", stderr: "berth: berth import does not support --message yet\n" });
    const tagMissing = await berth(["tag", "nosuch:1", "x:1"]);
    expect(tagMissing.code).toBe(125);
    expect(tagMissing.stderr.split("\n")).toHaveLength(2);
  });

  it("save -o and load -i round-trip; save to stdout is a tar; import and history", async () => {
    const archive = join(world.root, "bb.tar");
    await berth(["tag", "busybox:test", "saved:1"]);
    expect((await berth(["save", "-o", archive, "saved:1"])).code).toBe(0);
    expect((await stat(archive)).size).toBeGreaterThan(100_000);
    await berth(["rmi", "saved:1"]);
    expect((await berth(["load", "-i", archive])).stdout).toContain("Loaded image: saved:1\n");
    const piped = await execa("sh", ["-c", 'node "$0" save saved:1 | tar -t', world.cli], { env: world.env });
    expect(piped.stdout).toContain("index.json");
    const fromStdin = await berth(["load"], { input: await readFile(archive) });
    expect(fromStdin.stdout).toContain("Loaded image: saved:1\n");

    const rootfs = join(world.root, "rootfs");
    await mkdir(rootfs);
    await writeFile(join(rootfs, "hello.txt"), "imported\n");
    const tarball = join(world.root, "rootfs.tar");
    await execa("tar", ["-C", rootfs, "-cf", tarball, "."]);
    const imported = await berth(["import", tarball, "imported:1"]);
    expect(imported.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await berth(["images", "--format", "{{.Repository}}:{{.Tag}}", "imported"])).stdout).toBe("imported:1\n");

    const history = await berth(["history", "busybox:test"]);
    expect(history.stdout.split("\n")[0]).toMatch(/^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
    expect((await berth(["history", "-q", "busybox:test"])).stdout).toMatch(/^[0-9a-f]{12}\n/);
  });

  it("build -t -f --build-arg --target --secret --progress plain, and -q", async () => {
    const ctx = join(world.root, "ctx");
    await mkdir(ctx);
    await writeFile(
      join(ctx, "Build.dockerfile"),
      [
        "FROM busybox:test AS base",
        "ARG GREETING=hi",
        'RUN echo "$GREETING" > /greeting && echo building',
        "FROM base AS final",
        "RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /toklen",
        'CMD ["cat", "/greeting", "/toklen"]',
        "",
      ].join("\n"),
    );
    await writeFile(join(world.root, "tok.txt"), "s3cret\n");
    const built = await berth(["build", "-t", "built:1", "-t", "built:2", "-f", join(ctx, "Build.dockerfile"), "--build-arg", "GREETING=hello", "--secret", "id=tok,src=tok.txt", "--progress", "plain", "ctx"]);
    expect(built.code).toBe(0);
    expect(built.stdout).toBe("");
    expect(built.stderr).toMatch(/^#1 \[base\] RUN echo "\$GREETING" > \/greeting && echo building\n#1 building\n#1 DONE \d+\.\ds\n/);
    expect(built.stderr).toContain("naming to built:2 done\n");
    expect((await berth(["run", "--rm", "built:2"])).stdout).toBe("hello\n7\n");
    const quiet = await berth(["build", "-q", "--no-cache", "--target", "base", "-f", join(ctx, "Build.dockerfile"), "ctx"]);
    expect(quiet).toMatchObject({ code: 0, stderr: "" });
    expect(quiet.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const broken = await berth(["build", "-f", join(ctx, "missing.dockerfile"), "ctx"]);
    expect(broken.code).toBe(125);
    expect(broken.stderr.split("\n")).toHaveLength(2);
    const badSecret = await berth(["build", "--secret", "src=x", "ctx"]);
    expect(badSecret.code).toBe(125);
  });

  it("volume create, ls, inspect, rm, prune", async () => {
    expect(await berth(["volume", "create", "--label", "k=v", "cli-v1"])).toEqual({ code: 0, stdout: "cli-v1\n", stderr: "" });
    expect((await berth(["volume", "ls"])).stdout).toMatch(/^DRIVER +VOLUME NAME\nlocal +cli-v1\n$/);
    expect((await berth(["volume", "ls", "-q"])).stdout).toBe("cli-v1\n");
    expect((await berth(["volume", "ls", "-q", "--filter", "label=k=v"])).stdout).toBe("cli-v1\n");
    expect((await berth(["volume", "ls", "-q", "--filter", "name=other"])).stdout).toBe("");
    expect((await berth(["volume", "ls", "--filter", "colour=red"])).code).toBe(125);
    const inspect = JSON.parse((await berth(["volume", "inspect", "cli-v1"])).stdout) as { Name: string; Labels: Record<string, string> }[];
    expect(inspect).toMatchObject([{ Name: "cli-v1", Driver: "local", Labels: { k: "v" } }]);
    expect((await berth(["volume", "inspect", "--format", "{{.Name}} {{.Driver}}", "cli-v1"])).stdout).toBe("cli-v1 local\n");
    // A volume in use cannot be removed.
    const user = (await berth(["run", "-d", "-v", "cli-v1:/data", "busybox:test", "sleep", "60"])).stdout.trim();
    const busy = await berth(["volume", "rm", "cli-v1"]);
    expect(busy.code).toBe(1);
    expect(busy.stderr.split("\n")).toHaveLength(2);
    await berth(["rm", "-f", user]);
    expect(await berth(["volume", "rm", "cli-v1"])).toEqual({ code: 0, stdout: "cli-v1\n", stderr: "" });
    await berth(["volume", "create", "cli-v2"]);
    const pruned = await berth(["volume", "prune", "-f", "-a"]);
    expect(pruned.stdout).toContain("cli-v2\n");
    expect(pruned.stdout).toMatch(/Total reclaimed space: .+\n$/);
    expect((await berth(["volume", "ls", "-q"])).stdout).toBe("");
  });

  it("network create, ls, inspect, connect, disconnect, rm, prune", async () => {
    const created = await berth(["network", "create", "--subnet", "10.231.7.0/24", "--label", "team=cli", "cli-n1"]);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect((await berth(["network", "ls", "--format", "{{.Name}} {{.Driver}}"])).stdout.split("\n").filter(Boolean).sort()).toEqual(["bridge bridge", "cli-n1 bridge"]);
    const inspect = JSON.parse((await berth(["network", "inspect", "cli-n1"])).stdout) as unknown[];
    expect(inspect).toMatchObject([{ Name: "cli-n1", IPAM: { Config: [{ Subnet: "10.231.7.0/24" }] }, Labels: { team: "cli" } }]);
    const id = (await berth(["run", "-d", "--name", "joiner", "busybox:test", "sleep", "60"])).stdout.trim();
    expect((await berth(["network", "connect", "--alias", "jj", "cli-n1", "joiner"])).code).toBe(0);
    expect((await berth(["network", "inspect", "--format", "{{len .Containers}}", "cli-n1"])).stdout).toBe("1\n");
    expect((await berth(["exec", "joiner", "sh", "-c", "ip -4 addr | grep -c 10.231.7."])).stdout).toBe("1\n");
    const inUse = await berth(["network", "rm", "cli-n1"]);
    expect(inUse.code).toBe(1);
    expect((await berth(["network", "disconnect", "cli-n1", "joiner"])).code).toBe(0);
    expect((await berth(["network", "inspect", "--format", "{{len .Containers}}", "cli-n1"])).stdout).toBe("0\n");
    await berth(["rm", "-f", id]);
    expect(await berth(["network", "rm", "cli-n1"])).toEqual({ code: 0, stdout: "cli-n1\n", stderr: "" });
    expect((await berth(["network", "rm", "-f", "cli-n1"])).code).toBe(0);
    const missing = await berth(["network", "rm", "cli-n1"]);
    expect(missing.code).toBe(1);
    await berth(["network", "create", "cli-n2"]);
    expect((await berth(["network", "prune", "-f"])).stdout).toBe("Deleted Networks:\ncli-n2\n");
    const badDriver = await berth(["network", "create", "-d", "overlay", "x"]);
    expect(badDriver.code).toBe(125);
    expect(badDriver.stderr).toBe('berth: network driver "overlay" is not supported: berth has bridge networks only\n');
  });

  it("version, info, system df, system prune", async () => {
    expect((await berth(["version", "--format", "{{.Client.Version}}"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect((await berth(["info", "--format", "{{.Images}} {{.DockerRootDir}}"])).stdout).toMatch(new RegExp(`^\\d+ ${world.root}\\n$`));
    expect((await berth(["info"])).stdout).toContain(" Storage Driver: overlay\n");
    const df = await berth(["system", "df"]);
    expect(df.stdout).toMatch(/^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE\nImages +\d+ /);
    await berth(["run", "--name", "exited-one", "busybox:test", "true"]);
    const prune = await berth(["system", "prune", "-f"]);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain("Deleted Containers:\n");
    expect((await berth(["ps", "-aq"])).stdout).toBe("");
  });

  it("login without a password says how to give one; logout of a registry never logged in to", async () => {
    const login = await berth(["login", "-u", "me", "127.0.0.1:1"]);
    expect(login).toMatchObject({ code: 125, stdout: "" });
    expect(login.stderr).toContain("-p or --password-stdin");
    expect(await berth(["logout", "127.0.0.1:1"])).toEqual({ code: 0, stdout: "Not logged in to 127.0.0.1:1\n", stderr: "" });
  });
});

describeAsRoot("berth login, push, pull, logout against a local registry (the CLI as a user runs it)", () => {
  let registry: StartedRegistry;
  beforeAll(async () => {
    world = await cliWorld("berth-cli-reg-");
    registry = await startRegistry({ mode: "basic" });
  });
  afterAll(async () => {
    await registry?.stop();
    await world?.cleanup();
  });

  it("login --password-stdin, push, rmi, pull, run, logout", async () => {
    const ref = `${registry.host}/cli/bb:1`;
    const refused = await berth(["login", "-u", "tester", "--password-stdin", registry.host], { input: "wrong\n" });
    expect(refused.code).toBe(125);
    expect(refused.stderr.split("\n")).toHaveLength(2);
    expect(await berth(["login", "-u", "tester", "--password-stdin", registry.host], { input: "s3cret\n" })).toEqual({ code: 0, stdout: "Login Succeeded\n", stderr: "" });
    expect(JSON.parse(await readFile(join(world.env.DOCKER_CONFIG!, "config.json"), "utf8"))).toMatchObject({ auths: { [registry.host]: {} } });
    await berth(["tag", "busybox:test", ref]);
    const push = await berth(["push", ref]);
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/digest: sha256:[0-9a-f]{64}\n$/);
    await berth(["rmi", ref]);
    const pull = await berth(["pull", ref]);
    expect(pull.code).toBe(0);
    // Off a terminal: the statuses, one plain line each, without bars. The layers are still
    // in the store (busybox:test shares them), so nothing is downloaded.
    expect(pull.stdout).toMatch(new RegExp(`^1: Pulling from cli/bb\n([0-9a-f]{12}: [A-Z][a-z ]+\n)*Digest: sha256:[0-9a-f]{64}\nStatus: Image is up to date for ${ref.replace(/\./g, "\\.")}\n${ref.replace(/\./g, "\\.")}\n$`));
    expect((await berth(["pull", "-q", ref])).stdout).toBe(`${ref}\n`);
    expect((await berth(["run", "--rm", ref, "echo", "pulled"])).stdout).toBe("pulled\n");
    expect((await berth(["logout", registry.host])).stdout).toBe(`Removing login credentials for ${registry.host}\n`);
    const denied = await berth(["pull", "-q", ref]);
    expect(denied.code).toBe(125);
    expect(denied.stderr.split("\n")).toHaveLength(2);
  });
});
