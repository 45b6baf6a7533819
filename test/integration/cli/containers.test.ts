import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useCliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);

describeAsRoot("berth container verbs (the CLI as a user runs it)", () => {
  world = useCliWorld("berth-cli-ctr-");

  it("run prints the container's stdout and stderr apart and exits with its code", async () => {
    const r = await berth(["run", "--name", "fg", "busybox:test", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    const ps = await berth(["ps", "-a", "--filter", "name=fg", "--format", "{{.Names}} {{.Status}}"]);
    expect(ps.stdout).toMatch(/^fg Exited \(3\) .* ago\n$/);
  });

  it("run in the foreground passes SIGTERM on to the container", async () => {
    const child = execa(process.execPath, [world.cli, "run", "--rm", "busybox:test", "sh", "-c", 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done'], {
      env: world.env,
      reject: false,
      timeout: 60_000,
      stdin: "ignore",
      stripFinalNewline: false,
    });
    await new Promise<void>((resolve) => {
      child.stdout!.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("ready")) resolve();
      });
    });
    child.kill("SIGTERM");
    const r = await child;
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe("ready\ngot-term\n");
  });

  it("run --rm leaves no container behind", async () => {
    const r = await berth(["run", "--rm", "--name", "gone", "busybox:test", "echo", "hello"]);
    expect(r).toMatchObject({ code: 0, stdout: "hello\n" });
    expect((await berth(["ps", "-a", "--filter", "name=gone", "-q"])).stdout).toBe("");
  });

  it("run: 127 for a command not found, 126 for one that cannot be invoked, 125 for berth's own failures", async () => {
    const missing = await berth(["run", "--rm", "busybox:test", "no-such-command"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^berth: .*exec: "no-such-command": executable file not found in \$PATH\n$/);
    const notExec = await berth(["run", "--rm", "busybox:test", "/etc/passwd"]);
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toMatch(/permission denied\n$/);
    const noImage = await berth(["run", "--rm", "--pull", "never", "nosuch/image:1"]);
    expect(noImage.code).toBe(125);
    expect(noImage.stderr.split("\n")).toHaveLength(2);
    const badFlag = await berth(["run", "--bogus", "busybox:test"]);
    expect(badFlag).toEqual({ code: 125, stdout: "", stderr: "berth: unknown flag: --bogus\nSee 'berth run --help'.\n" });
    const badPull = await berth(["run", "--pull", "sometimes", "busybox:test"]);
    expect(badPull.code).toBe(125);
    expect(badPull.stderr).toContain('must be one of "always", "missing" or "never"');
  });

  it("run -e, --env-file, -w, -u, --entrypoint, --hostname, --add-host reach the process", async () => {
    await writeFile(join(world.root, "vars.env"), "X=1\n# a comment\nY=two\n");
    const r = await berth(
      ["run", "--rm", "--env-file", "vars.env", "-e", "Z=3", "-e", "FROM_HOST", "-w", "/tmp", "-u", "1000:1000", "--hostname", "hh", "--add-host", "db.local:10.1.2.3", "--entrypoint", "sh", "busybox:test", "-c", 'echo "$X $Y $Z $FROM_HOST"; pwd; id -u; hostname; grep db.local /etc/hosts'],
      { env: { FROM_HOST: "passed" } },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("1 two 3 passed\n/tmp\n1000\nhh\n10.1.2.3\tdb.local\n");
  });

  it("run -v, --mount, --tmpfs and --read-only", async () => {
    const host = join(world.root, "bind");
    await mkdir(host);
    await writeFile(join(host, "in.txt"), "from host\n");
    const r = await berth([
      "run", "--rm", "--read-only", "-v", "cli-vol:/data", "-v", `${host}:/bind:ro`, "--mount", "type=tmpfs,target=/t1", "--tmpfs", "/t2",
      "busybox:test", "sh", "-c", "echo kept > /data/f; cat /bind/in.txt; touch /t1/a /t2/b && echo tmpfs-ok; touch /root/x 2>&1; touch /bind/y 2>&1; true",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("from host\ntmpfs-ok\ntouch: /root/x: Read-only file system\ntouch: /bind/y: Read-only file system\n");
    const again = await berth(["run", "--rm", "-v", "cli-vol:/data", "busybox:test", "cat", "/data/f"]);
    expect(again.stdout).toBe("kept\n");
    const bad = await berth(["run", "--rm", "--mount", "type=nonsense,target=/x", "busybox:test", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr.split("\n")).toHaveLength(2);
  });

  it("run --memory, --cpus, --pids-limit, --init, --privileged, --cap-drop are applied", async () => {
    const id = (await berth(["run", "-d", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "--init", "--cap-drop", "ALL", "busybox:test", "sleep", "60"])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const hc = await berth(["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.Init}}", id]);
    expect(hc.stdout).toBe("67108864 50 true\n");
    const caps = await berth(["exec", id, "sh", "-c", "grep CapEff /proc/self/status"]);
    expect(caps.stdout).toMatch(/CapEff:\s+0+\n/);
    const priv = await berth(["run", "--rm", "--privileged", "busybox:test", "sh", "-c", "grep CapEff /proc/self/status"]);
    expect(priv.stdout).not.toMatch(/CapEff:\s+0+\n/);
    expect((await berth(["rm", "-f", id])).code).toBe(0);
  });

  it("run -d, ps (filters, -q, --no-trunc, --format, -n, -l), logs, inspect, exec, top", async () => {
    const run = await berth(["run", "-d", "--name", "web", "-l", "app=cli", "-e", "FOO=bar", "busybox:test", "sh", "-c", "echo one; echo two; echo three >&2; sleep 120"]);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const table = await berth(["ps"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    expect(table.stdout).toContain(`${id.slice(0, 12)}   busybox:test`);
    expect((await berth(["ps", "-q", "--filter", "label=app=cli"])).stdout).toBe(`${id.slice(0, 12)}\n`);
    expect((await berth(["ps", "-q", "--no-trunc", "--filter", "status=running", "--filter", "name=web"])).stdout).toBe(`${id}\n`);
    expect((await berth(["ps", "-q", "--filter", "label=app=other"])).stdout).toBe("");
    expect((await berth(["ps", "--format", "{{.Names}}\t{{.Label \"app\"}}", "--filter", "label=app"])).stdout).toBe("web\tcli\n");
    expect((await berth(["ps", "--filter", "bogus=1"])).code).toBe(125);
    expect((await berth(["ps", "-l", "-q", "--no-trunc"])).stdout).toBe(`${id}\n`);
    expect((await berth(["ps", "-n", "1", "-q", "--no-trunc"])).stdout).toBe(`${id}\n`);
    expect(await berth(["ps", "-s"])).toEqual({ code: 125, stdout: "", stderr: "berth: berth ps does not support --size yet\n" });

    await expect.poll(async () => (await berth(["logs", "web"])).stdout, { timeout: 10_000 }).toBe("one\ntwo\n");
    expect((await berth(["logs", "web"])).stderr).toBe("three\n");
    // --tail counts the lines of both streams, as Docker's does.
    expect(await berth(["logs", "--tail", "2", "web"])).toEqual({ code: 0, stdout: "two\n", stderr: "three\n" });
    expect((await berth(["logs", "-t", "--tail", "2", "web"])).stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z two\n$/);

    const inspect = await berth(["inspect", "web"]);
    const parsed = JSON.parse(inspect.stdout) as { Id: string; Name: string; Config: { Labels: Record<string, string> } }[];
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ Id: id, Config: { Labels: { app: "cli" } } });
    expect((await berth(["inspect", "--format", "{{.State.Status}}", "web"])).stdout).toBe("running\n");
    const missing = await berth(["inspect", "web", "nosuch"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("berth: No such container: nosuch\n");

    const ex = await berth(["exec", "-e", "A=1", "-w", "/tmp", "-u", "1000", "web", "sh", "-c", 'echo "$FOO $A"; pwd; id -u; exit 5']);
    expect(ex).toEqual({ code: 5, stdout: "bar 1\n/tmp\n1000\n", stderr: "" });
    await writeFile(join(world.root, "exec.env"), "FROM_FILE=yes\n");
    expect((await berth(["exec", "--env-file", "exec.env", "web", "sh", "-c", "echo $FROM_FILE"])).stdout).toBe("yes\n");
    const piped = await berth(["exec", "-i", "web", "sh", "-c", "tr a-z A-Z"], { input: "piped in\n" });
    expect(piped.stdout).toBe("PIPED IN\n");
    expect((await berth(["exec", "-d", "web", "sh", "-c", "echo bg > /tmp/bg"])).code).toBe(0);
    await expect.poll(async () => (await berth(["exec", "web", "cat", "/tmp/bg"])).stdout, { timeout: 10_000 }).toBe("bg\n");
    const top = await berth(["top", "web"]);
    expect(top.stdout.split("\n")[0]).toMatch(/^UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
    expect(top.stdout).toContain("sleep 120");
    expect(top.stdout).not.toContain("vitest");
    const notFound = await berth(["exec", "web", "nope"]);
    expect(notFound.code).toBe(127);
  });

  it("logs -f follows until the container exits", async () => {
    const id = (await berth(["run", "-d", "busybox:test", "sh", "-c", "echo a; sleep 1; echo b"])).stdout.trim();
    const r = await berth(["logs", "-f", id]);
    expect(r).toMatchObject({ code: 0, stdout: "a\nb\n" });
    await berth(["rm", id]);
  });

  it("create, start -a, stop -t, restart, kill -s, wait, pause, unpause, rm", async () => {
    const created = await berth(["create", "--name", "life", "busybox:test", "sh", "-c", "echo started; exit 4"]);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect((await berth(["ps", "-a", "--filter", "status=created", "--format", "{{.Names}}"])).stdout).toContain("life\n");
    expect(await berth(["start", "-a", "life"])).toMatchObject({ code: 4, stdout: "started\n" });
    expect((await berth(["wait", "life"])).stdout).toBe("4\n");
    expect((await berth(["rm", "life"])).stdout).toBe("life\n");

    await berth(["run", "-d", "--name", "sleeper", "busybox:test", "sleep", "300"]);
    expect((await berth(["pause", "sleeper"])).stdout).toBe("sleeper\n");
    expect((await berth(["inspect", "--format", "{{.State.Status}}", "sleeper"])).stdout).toBe("paused\n");
    expect((await berth(["unpause", "sleeper"])).stdout).toBe("sleeper\n");
    expect((await berth(["restart", "-t", "1", "sleeper"])).stdout).toBe("sleeper\n");
    expect((await berth(["inspect", "--format", "{{.State.Status}}", "sleeper"])).stdout).toBe("running\n");
    expect((await berth(["kill", "-s", "KILL", "sleeper"])).stdout).toBe("sleeper\n");
    expect((await berth(["wait", "sleeper"])).stdout).toBe("137\n");
    expect((await berth(["start", "sleeper"])).code).toBe(0);
    const busy = await berth(["rm", "sleeper"]);
    expect(busy.code).toBe(1);
    expect(busy.stderr.split("\n")).toHaveLength(2);
    expect((await berth(["stop", "-s", "KILL", "sleeper"])).stdout).toBe("sleeper\n");
    expect((await berth(["inspect", "--format", "{{.State.ExitCode}}", "sleeper"])).stdout).toBe("137\n");
    expect((await berth(["rm", "-v", "sleeper", "nosuch"]))).toEqual({ code: 1, stdout: "sleeper\n", stderr: "berth: No such container: nosuch\n" });
  });

  it("cp both ways, with - for a tar stream; commit", async () => {
    await berth(["run", "-d", "--name", "files", "busybox:test", "sleep", "120"]);
    const host = join(world.root, "cp");
    await mkdir(host);
    await writeFile(join(host, "a.txt"), "alpha\n");
    expect((await berth(["cp", join(host, "a.txt"), "files:/tmp/"])).code).toBe(0);
    expect((await berth(["exec", "files", "cat", "/tmp/a.txt"])).stdout).toBe("alpha\n");
    expect((await berth(["cp", "files:/tmp/a.txt", join(host, "b.txt")])).code).toBe(0);
    expect(await readFile(join(host, "b.txt"), "utf8")).toBe("alpha\n");
    expect((await berth(["cp", "files:/etc", join(host, "etc-copy")])).code).toBe(0);
    expect(await readFile(join(host, "etc-copy", "hostname"), "utf8")).toMatch(/^[0-9a-f]{12}\n$/);
    const tar = await berth(["cp", "files:/tmp/a.txt", "-"]);
    expect(tar.stdout).toContain("alpha\n");
    const packed = await execa("tar", ["-C", host, "-c", "b.txt"], { encoding: "buffer" });
    expect((await berth(["cp", "-", "files:/root"], { input: Buffer.from(packed.stdout) })).code).toBe(0);
    expect((await berth(["exec", "files", "cat", "/root/b.txt"])).stdout).toBe("alpha\n");
    const missing = await berth(["cp", "files:/no/such", host]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/^berth: Could not find the file \/no\/such in container files/);
    const committed = await berth(["commit", "-m", "with a.txt", "files", "committed:1"]);
    expect(committed.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await berth(["run", "--rm", "committed:1", "cat", "/tmp/a.txt"])).stdout).toBe("alpha\n");
    await berth(["rm", "-f", "files"]);
  });

  it("-p publishes, port lists, ps shows it; --network and --network-alias give names", async () => {
    expect((await berth(["network", "create", "cli-net"])).code).toBe(0);
    const srv = await berth(["run", "-d", "--name", "srv", "--network", "cli-net", "--network-alias", "webalias", "-p", "127.0.0.1::8080", "busybox:test", "sh", "-c", "mkdir /w; echo hello-http > /w/index.html; exec httpd -f -p 8080 -h /w"]);
    expect(srv.code).toBe(0);
    const port = await berth(["port", "srv", "8080"]);
    expect(port.stdout).toMatch(/^127\.0\.0\.1:\d+\n$/);
    await expect
      .poll(async () => (await fetch(`http://${port.stdout.trim()}/`).then((r) => r.text()).catch(() => "")), { timeout: 10_000 })
      .toBe("hello-http\n");
    expect((await berth(["port", "srv"])).stdout).toBe(`8080/tcp -> ${port.stdout}`);
    expect((await berth(["ps", "--filter", "name=srv", "--format", "{{.Ports}}"])).stdout).toBe(`${port.stdout.trim()}->8080/tcp\n`);
    const client = await berth(["run", "--rm", "--network", "cli-net", "busybox:test", "wget", "-qO-", "http://webalias:8080/"]);
    expect(client.stdout).toBe("hello-http\n");
    const all = await berth(["run", "-d", "--name", "allports", "-P", "--expose", "9090", "busybox:test", "sleep", "60"]);
    expect(all.code).toBe(0);
    expect((await berth(["port", "allports", "9090/tcp"])).stdout).toMatch(/^127\.0\.0\.1:\d+\n/);
    await berth(["rm", "-f", "allports"]);
    const noNet = await berth(["run", "--rm", "--network", "no-such-net", "busybox:test", "true"]);
    expect(noNet).toMatchObject({ code: 125, stderr: "berth: network no-such-net not found\n" });
    await berth(["rm", "-f", "srv"]);
    expect((await berth(["network", "rm", "cli-net"])).code).toBe(0);
  });

  it("--health-* flags set the container's health check", async () => {
    const id = (await berth(["create", "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms", "--health-retries", "1", "busybox:test", "sleep", "60"])).stdout.trim();
    const hc = JSON.parse((await berth(["inspect", "--format", "{{json .Config.Healthcheck}}", id])).stdout) as Record<string, unknown>;
    expect(hc).toMatchObject({ Test: ["CMD-SHELL", "test -e /tmp/ok"], Interval: 200_000_000, Retries: 1 });
    await berth(["rm", id]);
  });

  it("run -d --health-cmd turns healthy after the CLI has exited (the monitor probes), then unhealthy; ps shows it", async () => {
    const run = await berth(["run", "-d", "--name", "hc", "--health-cmd", "test ! -e /tmp/sick", "--health-interval", "100ms", "--health-retries", "1", "busybox:test", "sleep", "60"]);
    expect(run.code).toBe(0);
    const health = async () => (await berth(["inspect", "--format", "{{.State.Health.Status}}", "hc"])).stdout.trim();
    await expect.poll(health, { timeout: 20_000, interval: 100 }).toBe("healthy");
    expect((await berth(["ps", "--filter", "name=hc", "--format", "{{.Status}}"])).stdout).toMatch(/\(healthy\)/);
    expect((await berth(["exec", "hc", "touch", "/tmp/sick"])).code).toBe(0);
    await expect.poll(health, { timeout: 20_000, interval: 100 }).toBe("unhealthy");
    const log = JSON.parse((await berth(["inspect", "--format", "{{json .State.Health.Log}}", "hc"])).stdout) as { ExitCode: number }[];
    expect(log.at(-1)?.ExitCode).toBe(1);
    await berth(["rm", "-f", "hc"]);
  });

  it("run -i pipes stdin in and run -t gives a terminal (more in interactive.test.ts)", async () => {
    const i = await berth(["run", "-i", "--rm", "busybox:test", "cat"], { input: "x" });
    expect(i).toEqual({ code: 0, stdout: "x", stderr: "" });
    const t = await berth(["run", "-t", "--rm", "busybox:test", "sh", "-c", "tty; exit 2"]);
    expect(t).toEqual({ code: 2, stdout: "/dev/pts/0\r\n", stderr: "" });
  });
});
