import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import getPort from "get-port";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Image } from "../../../src/harness/image.js";
import { ensureFixtureImages, fixtureTags } from "../../fixtures/fixture-images.js";
import { findLeaks } from "../../helpers/leaks.js";
import { startRegistry } from "../../helpers/registry-server.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { cliWorld, type CliWorld } from "../cli/cli-helper.js";

const webapp = fileURLToPath(new URL("../../fixtures/compose/webapp/", import.meta.url));

let world: CliWorld;
let env: Record<string, string>;
let webPort: number;

/** Fetches `url` until it answers `expected` or `attempts` run out; the last body otherwise. */
async function fetchUntil(url: string, expected: string, attempts = 50): Promise<string> {
  let last = "";
  for (let i = 0; i < attempts; i++) {
    try {
      last = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
      if (last === expected) return last;
    } catch (error) {
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

/** A compose file in its own directory of the state root, for the failure cases. */
async function project(name: string, yaml: string): Promise<string> {
  const dir = join(world.root, "projects", name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "compose.yaml"), yaml);
  return dir;
}

/** What a project left behind: containers, networks, volumes (by the project's labels and names). */
async function leftovers(projectName: string): Promise<string[]> {
  const out: string[] = [];
  const ps = await world.berth(["ps", "-a", "--format", "{{.Names}}"]);
  out.push(...ps.stdout.split("\n").filter((n) => n.startsWith(`${projectName}-`)).map((n) => `container ${n}`));
  const nets = await world.berth(["network", "ls", "--format", "{{.Name}}"]);
  out.push(...nets.stdout.split("\n").filter((n) => n.startsWith(`${projectName}_`)).map((n) => `network ${n}`));
  const vols = await world.berth(["volume", "ls", "--format", "{{.Name}}"]);
  out.push(...vols.stdout.split("\n").filter((n) => n.startsWith(`${projectName}_`)).map((n) => `volume ${n}`));
  return out;
}

describeAsRoot("berth compose end to end (webapp: web built from a Dockerfile, Postgres, Redis)", () => {
  beforeAll(async () => {
    world = await cliWorld("berth-compose-e2e-");
    await ensureFixtureImages({ stateRoot: world.root });
    // The web Dockerfile says `FROM busybox`: the test store's busybox stands in for Docker Hub's.
    await (await Image.get("busybox:test", { root: world.root })).tag("busybox:latest");
    webPort = await getPort();
    env = { POSTGRES_PASSWORD: "compose-pw", DB_IMAGE: fixtureTags.postgres, CACHE_IMAGE: fixtureTags.redis, WEB_HOST_PORT: String(webPort) };
  }, 600_000);

  afterAll(async () => {
    await world?.cleanup();
  }, 120_000);

  const compose = (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) =>
    world.berth(["compose", ...args], { cwd: options.cwd ?? webapp, env: { ...env, ...options.env } });

  it("builds and brings the webapp up, answers through the published port, lists, logs, execs, runs one-offs and goes down leaving nothing", async () => {
    const build = await compose(["-p", "webtest", "build", "-q"]);
    expect(build).toMatchObject({ code: 0, stdout: "" });
    expect((await world.berth(["images", "--format", "{{.Repository}}"])).stdout).toContain("webtest-web\n");
    const up = await compose(["-p", "webtest", "up", "-d", "--wait"]);
    // Built already: up does not build again.
    expect(up.stderr).not.toContain("Building");
    expect(up.stderr).toContain(" Network webtest_default  Created");
    expect(up.stderr).toContain(" Volume webtest_db-data  Created");
    expect(up.stderr).toContain(" Container webtest-db-1  Healthy");
    expect(up.stderr).toContain(" Container webtest-web-1  Started");
    expect(up.code, up.stderr).toBe(0);

    // web reaches db and cache by their service names, and answers on the published port.
    expect(await fetchUntil(`http://127.0.0.1:${webPort}/`, "ok db cache")).toBe("ok db cache");

    const ps = await compose(["-p", "webtest", "ps", "--format", "{{.Name}} {{.Service}} {{.State}}"]);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout.trim().split("\n").sort()).toEqual(["webtest-cache-1 cache running", "webtest-db-1 db running", "webtest-web-1 web running"]);
    const table = await compose(["-p", "webtest", "ps"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS/);
    expect(table.stdout).toContain(`:${webPort}->8080/tcp`);

    const logs = await compose(["-p", "webtest", "logs", "db"]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^db-1 {2}\| .*ready to accept connections/m);
    const all = await compose(["-p", "webtest", "logs", "--tail", "5"]);
    expect(all.stdout).toMatch(/^cache-1 {2}\| /m);
    expect(all.stdout).toMatch(/^db-1 {5}\| /m);

    const ping = await compose(["-p", "webtest", "exec", "-T", "cache", "redis-cli", "ping"]);
    expect(ping).toMatchObject({ code: 0, stdout: "PONG\n" });
    // The caller's stdin goes to the command, as with `echo 'select 1' | docker compose exec -T db psql`.
    const sql = await world.berth(["compose", "-p", "webtest", "exec", "-T", "-e", "PGPASSWORD=compose-pw", "db", "psql", "-h", "127.0.0.1", "-U", "app", "-d", "app", "-tA"], {
      cwd: webapp,
      env,
      input: "select 40 + 2;\n",
    });
    expect(sql).toMatchObject({ code: 0, stdout: "42\n" });
    const failing = await compose(["-p", "webtest", "exec", "-T", "web", "sh", "-c", "exit 4"]);
    expect(failing.code).toBe(4);

    // A second up with nothing changed leaves the containers alone.
    const ids = (await world.berth(["ps", "-q", "--no-trunc"])).stdout;
    const again = await compose(["-p", "webtest", "up", "-d"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(" Container webtest-db-1  Running");
    expect((await world.berth(["ps", "-q", "--no-trunc"])).stdout).toBe(ids);

    const run = await compose(["-p", "webtest", "run", "--rm", "web", "sh", "-c", "nc -w 1 db 5432 </dev/null && echo one-off reached db; exit 3"]);
    expect(run.stdout).toContain("one-off reached db");
    expect(run.code).toBe(3);
    expect((await world.berth(["ps", "-a", "--filter", "label=com.docker.compose.oneoff=True", "-q"])).stdout).toBe("");

    // The project network's bridge, with a veth per container on it, goes with `down`.
    const bridge = JSON.parse((await world.berth(["network", "inspect", "webtest_default"])).stdout)[0].Options["com.docker.network.bridge.name"] as string;
    expect((await execa("ip", ["-o", "link", "show", "master", bridge])).stdout.trim().split("\n")).toHaveLength(3);

    const down = await compose(["-p", "webtest", "down", "-v"]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toContain(" Container webtest-web-1  Removed");
    expect(await leftovers("webtest")).toEqual([]);
    expect(findLeaks({ match: "webtest-", paths: [join(world.root, "containers")] })).toEqual([]);
    expect((await execa("ip", ["link", "show", bridge], { reject: false })).exitCode).not.toBe(0);
    expect((await compose(["-p", "webtest", "ps", "-a", "-q"])).stdout).toBe("");
  }, 300_000);

  it("scales, reaches replicas by service name, alias and container name, recreates on change, stops, starts, restarts, removes orphans and goes down by -p alone", async () => {
    const serve = (word: string) => `["sh", "-c", "mkdir -p /www && echo ${word} > /www/index.html && exec httpd -f -p 80 -h /www"]`;
    const dir = await project(
      "lite",
      [
        "services:",
        "  api:",
        "    image: busybox",
        `    command: ${serve("${WORD:-hi}")}`,
        "    networks:",
        "      back: { aliases: [backend] }",
        "      front: {}",
        "  client:",
        "    image: busybox",
        '    command: ["sleep", "300"]',
        "    init: true",
        "    networks: [back]",
        "    depends_on: [api]",
        "networks:",
        "  back: {}",
        "  front: {}",
        "",
      ].join("\n"),
    );
    await writeFile(join(dir, "api-only.yaml"), ["services:", "  api:", "    image: busybox", `    command: ${serve("${WORD:-hi}")}`, ""].join("\n"));
    const lite = (args: string[], extra: Record<string, string> = {}) => compose(args, { cwd: dir, env: extra });
    const up = await lite(["up", "-d", "--scale", "api=2"]);
    expect(up.code, up.stderr).toBe(0);
    const names = async () => (await lite(["ps", "-a", "--format", "{{.Name}} {{.State}}"])).stdout.trim().split("\n").sort();
    expect(await names()).toEqual(["lite-api-1 running", "lite-api-2 running", "lite-client-1 running"]);
    for (const host of ["api", "backend", "lite-api-2"]) {
      const got = await lite(["exec", "-T", "client", "wget", "-qO-", `http://${host}/`]);
      expect(got, host).toMatchObject({ code: 0, stdout: "hi\n" });
    }

    const changed = await lite(["up", "-d", "--scale", "api=1"], { WORD: "changed" });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toContain(" Container lite-api-1  Recreate");
    expect(changed.stderr).toContain(" Container lite-api-2  Removed");
    expect(changed.stderr).toContain(" Container lite-client-1  Running");
    expect(await names()).toEqual(["lite-api-1 running", "lite-client-1 running"]);
    expect((await lite(["exec", "-T", "client", "wget", "-qO-", "http://backend/"])).stdout).toBe("changed\n");

    expect((await lite(["stop", "-t", "0"])).code).toBe(0);
    expect(await names()).toEqual(["lite-api-1 exited", "lite-client-1 exited"]);
    expect((await lite(["start"])).code).toBe(0);
    expect(await names()).toEqual(["lite-api-1 running", "lite-client-1 running"]);
    const restart = await lite(["restart", "-t", "0", "client"]);
    expect(restart.stderr).toContain(" Container lite-client-1  Restarting");
    expect(await names()).toEqual(["lite-api-1 running", "lite-client-1 running"]);

    const orphaned = await lite(["-f", "api-only.yaml", "up", "-d"], { WORD: "changed" });
    expect(orphaned.stderr).toContain("Found orphan containers ([lite-client-1])");
    const removed = await lite(["-f", "api-only.yaml", "up", "-d", "--remove-orphans"], { WORD: "changed" });
    expect(removed.stderr).toContain(" Container lite-client-1  Removed");

    // Without the files, -p finds the project by its labels, as `docker compose -p lite down` does.
    const elsewhere = { cwd: world.root };
    expect((await compose(["-p", "lite", "ps", "--format", "{{.Name}}"], elsewhere)).stdout).toBe("lite-api-1\n");
    const down = await compose(["-p", "lite", "down", "-t", "0"], elsewhere);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toContain(" Network lite_back  Removed");
    expect(await leftovers("lite")).toEqual([]);
  }, 300_000);

  it("pulls service images from a registry with pull, and the missing ones with up", async () => {
    const registry = await startRegistry({ mode: "plain" });
    try {
      const ref = `${registry.host}/compose/bb:1`;
      expect((await world.berth(["tag", "busybox:test", ref])).code).toBe(0);
      const push = await world.berth(["push", ref]);
      expect(push.code, push.stderr).toBe(0);
      expect((await world.berth(["rmi", ref])).code).toBe(0);
      const dir = await project("pulled", `services:\n  app:\n    image: ${ref}\n    command: ["sleep", "300"]\n    init: true\n`);
      const pull = await compose(["pull"], { cwd: dir });
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stderr).toContain(` Image ${ref}  Pulled`);
      expect((await world.berth(["rmi", ref])).code).toBe(0);
      const up = await compose(["up", "-d"], { cwd: dir });
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toContain(` Image ${ref}  Pulling`);
      expect((await compose(["ps", "--format", "{{.Image}} {{.State}}"], { cwd: dir })).stdout).toBe(`${ref} running\n`);
      expect((await compose(["down", "-t", "0"], { cwd: dir })).code).toBe(0);
      expect(await leftovers("pulled")).toEqual([]);
    } finally {
      await registry.stop();
    }
  }, 120_000);

  it("applies user, working_dir, hostname, labels, binds, tmpfs, init and resource limits", async () => {
    const dir = await project(
      "opts",
      [
        "services:",
        "  app:",
        "    image: busybox",
        '    command: ["sleep", "300"]',
        '    user: "1000:1000"',
        "    working_dir: /tmp",
        "    hostname: apphost",
        "    init: true",
        "    labels: { team: core }",
        "    volumes:",
        "      - ./shared:/shared:ro",
        "      - type: tmpfs",
        "        target: /scratch",
        "    deploy:",
        "      resources:",
        "        limits: { memory: 64M, pids: 100 }",
        "",
      ].join("\n"),
    );
    await mkdir(join(dir, "shared"));
    await writeFile(join(dir, "shared", "note"), "from the host\n");
    const up = await compose(["up", "-d"], { cwd: dir });
    expect(up.code, up.stderr).toBe(0);
    const r = await compose(["exec", "-T", "app", "sh", "-c", "id -u; pwd; hostname; cat /shared/note; grep -c ' /scratch tmpfs ' /proc/mounts"], { cwd: dir });
    expect(r).toMatchObject({ code: 0, stdout: "1000\n/tmp\napphost\nfrom the host\n1\n" });
    const inspect = JSON.parse((await world.berth(["inspect", "opts-app-1"])).stdout)[0];
    expect(inspect.HostConfig).toMatchObject({ Memory: 64 * 1024 * 1024, PidsLimit: 100, Init: true });
    expect(inspect.Config.Labels).toMatchObject({ team: "core", "com.docker.compose.service": "app", "com.docker.compose.container-number": "1" });
    expect((await compose(["down", "-t", "0"], { cwd: dir })).code).toBe(0);
    expect(await leftovers("opts")).toEqual([]);
  });

  it("runs attached without -d: prefixed output until the services exit; logs -f ends with them", async () => {
    const dir = await project("attached", 'services:\n  hello:\n    image: busybox\n    command: ["sh", "-c", "echo hello from compose"]\n');
    const r = await compose(["up"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("hello-1  | hello from compose\n");
    expect(r.stdout).toContain("hello-1 exited with code 0\n");
    // A follow ends once every container has exited.
    const follow = await compose(["logs", "-f", "--no-log-prefix"], { cwd: dir });
    expect(follow).toMatchObject({ code: 0, stdout: "hello from compose\n" });
    expect((await compose(["down"], { cwd: dir })).code).toBe(0);
    expect(await leftovers("attached")).toEqual([]);
  });

  it("stops the services on Ctrl-C when attached, and exits 130", async () => {
    const dir = await project("ctrlc", 'services:\n  svc:\n    image: busybox\n    init: true\n    command: ["sh", "-c", "echo serving; exec sleep 300"]\n');
    const proc = execa(process.execPath, [world.cli, "compose", "up"], { cwd: dir, env: { ...world.env, ...env }, reject: false, timeout: 60_000 });
    // Once the container's first line is out, the command is attached.
    await new Promise<void>((resolve, reject) => {
      let seen = "";
      proc.stdout!.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes("svc-1  | serving")) resolve();
      });
      void proc.then((r) => reject(new Error(`compose up ended early: ${r.stderr}`)));
    });
    proc.kill("SIGINT");
    const r = await proc;
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.stderr).toContain("Gracefully stopping...");
    expect(r.stderr).toContain(" Container ctrlc-svc-1  Stopped");
    expect((await compose(["ps", "-a", "--format", "{{.Name}} {{.State}}"], { cwd: dir })).stdout).toBe("ctrlc-svc-1 exited\n");
    expect((await compose(["down"], { cwd: dir })).code).toBe(0);
    expect(await leftovers("ctrlc")).toEqual([]);
  });

  it("refuses an external network that does not exist, before creating anything", async () => {
    const dir = await project("external", "services:\n  web:\n    image: busybox\n    networks: [outside]\nnetworks:\n  outside:\n    external: true\n    name: not-there\n");
    const r = await compose(["up", "-d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("network not-there declared as external, but could not be found");
    expect(await leftovers("external")).toEqual([]);
  });

  it("names the file, the path inside it and what was expected for an invalid file, and starts nothing", async () => {
    const dir = await project("invalid", "services:\n  web:\n    image: busybox\n    ports:\n      - \"80:80:80:80\"\n");
    const r = await compose(["up", "-d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/compose\.yaml: services\.web\.ports\[0\]: invalid port specification "80:80:80:80"; expected/);
    expect(await leftovers("invalid")).toEqual([]);
  });

  it("names a depends_on cycle and creates nothing", async () => {
    const dir = await project("cycle", "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n");
    const r = await compose(["up", "-d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dependency cycle detected: (a -> b -> a|b -> a -> b)/);
    expect(await leftovers("cycle")).toEqual([]);
  });

  it("stops at a missing required variable before anything starts", async () => {
    const dir = await project("required", "services:\n  web:\n    image: busybox\n    environment:\n      PW: ${PW:?set a password}\n");
    const r = await compose(["up", "-d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("required variable PW is missing a value: set a password");
    expect(await leftovers("required")).toEqual([]);
  });

  it("removes what a failed up started when a service_healthy dependency exits 1", async () => {
    const dir = await project(
      "failhealthy",
      [
        "services:",
        "  bad:",
        "    image: busybox",
        '    command: ["sh", "-c", "sleep 1; exit 1"]',
        "    healthcheck: { test: [\"CMD\", \"false\"], interval: 500ms, retries: 100 }",
        "    volumes: [data:/data]",
        "  ok:",
        "    image: busybox",
        '    command: ["sleep", "300"]',
        "  app:",
        "    image: busybox",
        '    command: ["sleep", "300"]',
        "    depends_on:",
        "      bad: { condition: service_healthy }",
        "      ok: { condition: service_started }",
        "volumes:",
        "  data:",
        "",
      ].join("\n"),
    );
    const r = await compose(["up", "-d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("dependency failed to start: container failhealthy-bad-1 exited (1)");
    expect(await leftovers("failhealthy")).toEqual([]);
    expect(findLeaks({ match: "failhealthy-" })).toEqual([]);
  });

  it("removes what a failed up started when a service_completed_successfully dependency fails", async () => {
    const dir = await project(
      "failcompleted",
      [
        "services:",
        "  migrate:",
        "    image: busybox",
        '    command: ["sh", "-c", "exit 2"]',
        "  app:",
        "    image: busybox",
        '    command: ["sleep", "300"]',
        "    depends_on:",
        "      migrate: { condition: service_completed_successfully }",
        "",
      ].join("\n"),
    );
    const r = await compose(["up", "-d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`service "migrate" didn't complete successfully: exit 2`);
    expect(await leftovers("failcompleted")).toEqual([]);
  });
});
