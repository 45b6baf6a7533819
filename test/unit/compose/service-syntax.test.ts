import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseShortPort } from "../../../src/compose/ports.js";
import { load, rejection, writeProject } from "./helpers.js";

async function service(yaml: string, extraTop = "", env: Record<string, string> = {}) {
  const dir = writeProject({ "compose.yaml": `services:\n  s:\n${yaml.replace(/^/gm, "    ")}\n${extraTop}` });
  return { dir, s: (await load(dir, { environment: env })).services.s! };
}

describe("ports, short syntax", () => {
  it.each([
    ["80", [{ target: 80, protocol: "tcp", mode: "ingress" }]],
    ["8080:80", [{ target: 80, published: "8080", protocol: "tcp", mode: "ingress" }]],
    ["127.0.0.1:8080:80/udp", [{ target: 80, published: "8080", hostIp: "127.0.0.1", protocol: "udp", mode: "ingress" }]],
    ["127.0.0.1::80", [{ target: 80, hostIp: "127.0.0.1", protocol: "tcp", mode: "ingress" }]],
    ["[::1]:6000:6000", [{ target: 6000, published: "6000", hostIp: "::1", protocol: "tcp", mode: "ingress" }]],
    ["8000-8010:80", [{ target: 80, published: "8000-8010", protocol: "tcp", mode: "ingress" }]],
    ["6060:6060/udp", [{ target: 6060, published: "6060", protocol: "udp", mode: "ingress" }]],
  ])("%s", (spec, expected) => {
    expect(parseShortPort(spec)).toEqual(expected);
  });

  it("a bare range becomes one entry per port", () => {
    expect(parseShortPort("3000-3005").map((p) => p.target)).toEqual([3000, 3001, 3002, 3003, 3004, 3005]);
  });

  it("matching ranges pair up", () => {
    expect(parseShortPort("9090-9091:8080-8081").map((p) => `${p.published}->${p.target}`)).toEqual(["9090->8080", "9091->8081"]);
  });

  it("a YAML number is a container port", () => {
    expect(parseShortPort(5432)).toEqual([{ target: 5432, protocol: "tcp", mode: "ingress" }]);
  });

  it.each([["80:80:80:80"], ["abc"], ["8080:80/xyz"], ["1-2:5-7"], ["999.1.1.1:80:80"], ["70000"]])("%s is refused", (spec) => {
    expect(() => parseShortPort(spec)).toThrow();
  });
});

describe("service keys, every form", () => {
  it("ports long syntax", async () => {
    const { s } = await service("image: x\nports:\n  - target: 80\n    published: 8080\n    host_ip: 127.0.0.1\n    protocol: udp\n    mode: host\n  - target: 443");
    expect(s.ports).toEqual([
      { target: 80, published: "8080", hostIp: "127.0.0.1", protocol: "udp", mode: "host" },
      { target: 443, protocol: "tcp", mode: "ingress" },
    ]);
  });

  it("build as a string and as a mapping with args as a map or a list", async () => {
    const a = await service("build: ./app");
    expect(a.s.build).toEqual({ context: join(a.dir, "app"), dockerfile: "Dockerfile", args: {} });
    const b = await service("build:\n  context: ctx\n  dockerfile: Dockerfile.dev\n  target: test\n  args:\n    - VERSION=1\n    - FROM_ENV");
    expect(b.s.build).toEqual({ context: join(b.dir, "ctx"), dockerfile: "Dockerfile.dev", target: "test", args: { VERSION: "1", FROM_ENV: null } });
    const c = await service("build:\n  context: .\n  args:\n    N: 3");
    expect(c.s.build!.args).toEqual({ N: "3" });
    const d = await service("build:\n  context: .\n  cache_from: [app:cache]\n  platforms: [linux/amd64, linux/arm64]\n  network: none");
    expect(d.s.build).toMatchObject({ cacheFrom: ["app:cache"], platforms: ["linux/amd64", "linux/arm64"], network: "none" });
  });

  it("a git URL build context is kept as it is", async () => {
    const { s } = await service("build: https://github.com/example/app.git#main");
    expect(s.build!.context).toBe("https://github.com/example/app.git#main");
  });

  it("command and entrypoint: strings are shell-split, lists kept, null kept", async () => {
    const { s } = await service(`image: x\ncommand: bundle exec thin -p "3000 x"\nentrypoint: ["/bin/sh", "-c"]`);
    expect(s.command).toEqual(["bundle", "exec", "thin", "-p", "3000 x"]);
    expect(s.entrypoint).toEqual(["/bin/sh", "-c"]);
    const n = await service("image: x\ncommand: null");
    expect(n.s.command).toBeNull();
  });

  it("environment as a map and a list; a bare KEY takes the host's value or stays unset", async () => {
    const m = await service("image: x\nenvironment:\n  A: 1\n  B: true\n  C:\n  D: ''", "", { C: "fromhost" });
    expect(m.s.environment).toEqual({ A: "1", B: "true", C: "fromhost", D: "" });
    const l = await service("image: x\nenvironment:\n  - A=1\n  - B=x=y\n  - HOSTONLY\n  - NOTSET", "", { HOSTONLY: "h" });
    expect(l.s.environment).toEqual({ A: "1", B: "x=y", HOSTONLY: "h", NOTSET: null });
  });

  it("env_file: string, list, long form with required: false; environment wins over it", async () => {
    const dir = writeProject({
      "a.env": "A=from-a\nB=from-a\n",
      "b.env": "B=from-b\n",
      "compose.yaml": "services:\n  s:\n    image: x\n    env_file:\n      - a.env\n      - path: b.env\n      - path: missing.env\n        required: false\n    environment:\n      A: from-environment\n",
    });
    const s = (await load(dir)).services.s!;
    expect(s.environment).toEqual({ A: "from-environment", B: "from-b" });
    expect(s.envFile).toEqual([
      { path: join(dir, "a.env"), required: true },
      { path: join(dir, "b.env"), required: true },
      { path: join(dir, "missing.env"), required: false },
    ]);
  });

  it("a required env_file that is missing names the service and the file", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  s:\n    image: x\n    env_file: nope.env\n" });
    const e = await rejection(load(dir));
    expect(e.code).toBe("BERTH_COMPOSE_INVALID");
    expect(e.message).toMatch(/services\.s\.env_file: env file .*nope\.env not found/);
  });

  it("volumes short syntax: named, relative bind, absolute bind, home, anonymous, modes", async () => {
    const { s, dir } = await service(
      "image: x\nvolumes:\n  - data:/var/lib/data\n  - ./src:/app:ro\n  - /etc/hosts:/etc/hosts:ro,z\n  - /anon\n  - data2:/d2:nocopy\n  - ../up:/up:rw,rshared",
      "volumes:\n  data: {}\n  data2:\n",
    );
    expect(s.volumes).toEqual([
      { type: "volume", source: "data", target: "/var/lib/data", readOnly: false, volume: {} },
      { type: "bind", source: join(dir, "src"), target: "/app", readOnly: true, bind: { createHostPath: true } },
      { type: "bind", source: "/etc/hosts", target: "/etc/hosts", readOnly: true, bind: { createHostPath: true, selinux: "z" } },
      { type: "volume", target: "/anon", readOnly: false },
      { type: "volume", source: "data2", target: "/d2", readOnly: false, volume: { nocopy: true } },
      { type: "bind", source: join(dir, "..", "up"), target: "/up", readOnly: false, bind: { createHostPath: true, propagation: "rshared" } },
    ]);
  });

  it("volumes long syntax: volume, bind, tmpfs with options", async () => {
    const { s, dir } = await service(
      [
        "image: x",
        "volumes:",
        "  - type: volume",
        "    source: data",
        "    target: /data",
        "    volume: { nocopy: true, subpath: sub }",
        "  - type: bind",
        "    source: ./static",
        "    target: /static",
        "    read_only: true",
        "    bind: { create_host_path: false, propagation: rslave }",
        "  - type: tmpfs",
        "    target: /tmp",
        "    tmpfs: { size: 64m, mode: 1777 }",
      ].join("\n"),
      "volumes:\n  data: {}\n",
    );
    expect(s.volumes).toEqual([
      { type: "volume", source: "data", target: "/data", readOnly: false, volume: { nocopy: true, subpath: "sub" } },
      { type: "bind", source: join(dir, "static"), target: "/static", readOnly: true, bind: { createHostPath: false, propagation: "rslave" } },
      { type: "tmpfs", target: "/tmp", readOnly: false, tmpfs: { size: 64 * 1024 ** 2, mode: 1777 } },
    ]);
  });

  it("networks as a list and as a map with aliases and ipv4_address; no networks means default", async () => {
    const l = await service("image: x\nnetworks: [front, back]", "networks:\n  front:\n  back:\n");
    expect(l.s.networks).toEqual({ front: null, back: null });
    const m = await service("image: x\nnetworks:\n  front:\n    aliases: [api, web]\n    ipv4_address: 172.28.0.10", "networks:\n  front:\n    ipam:\n      config:\n        - subnet: 172.28.0.0/16\n");
    expect(m.s.networks).toEqual({ front: { aliases: ["api", "web"], ipv4Address: "172.28.0.10" } });
    const d = await service("image: x");
    expect(d.s.networks).toEqual({ default: null });
  });

  it("depends_on as a list and as a map with conditions, restart and required", async () => {
    const dir = writeProject({
      "compose.yaml": `services:
  web:
    image: x
    depends_on:
      db: { condition: service_healthy, restart: true }
      migrate: { condition: service_completed_successfully }
      optional: { condition: service_started, required: false }
  worker: { image: x, depends_on: [db] }
  db: { image: pg }
  migrate: { image: m }
`,
    });
    const p = await load(dir);
    expect(p.services.web!.dependsOn).toEqual({
      db: { condition: "service_healthy", restart: true, required: true },
      migrate: { condition: "service_completed_successfully", restart: false, required: true },
      optional: { condition: "service_started", restart: false, required: false },
    });
    expect(p.services.worker!.dependsOn).toEqual({ db: { condition: "service_started", restart: false, required: true } });
  });

  it("healthcheck: test as a string, a list, NONE; durations", async () => {
    const a = await service("image: x\nhealthcheck:\n  test: curl -f http://localhost\n  interval: 1m30s\n  timeout: 10s\n  retries: 3\n  start_period: 40s\n  start_interval: 5s");
    expect(a.s.healthcheck).toEqual({ test: ["CMD-SHELL", "curl -f http://localhost"], interval: 90e9, timeout: 10e9, retries: 3, startPeriod: 40e9, startInterval: 5e9 });
    const b = await service("image: x\nhealthcheck:\n  test: [CMD, pg_isready]");
    expect(b.s.healthcheck!.test).toEqual(["CMD", "pg_isready"]);
    const c = await service("image: x\nhealthcheck:\n  test: NONE");
    expect(c.s.healthcheck!.test).toEqual(["NONE"]);
    const d = await service("image: x\nhealthcheck:\n  disable: true");
    expect(d.s.healthcheck).toEqual({ disable: true });
  });

  it("restart, user, working_dir, labels (list and map), hostname, init", async () => {
    const { s } = await service("image: x\nrestart: on-failure:3\nuser: 1000:1000\nworking_dir: /app\nlabels:\n  - a=1\n  - b\nhostname: h\ninit: true");
    expect([s.restart, s.user, s.workingDir, s.labels, s.hostname, s.init]).toEqual(["on-failure:3", "1000:1000", "/app", { a: "1", b: "" }, "h", true]);
    const n = await service("image: x\nuser: 1000");
    expect(n.s.user).toBe("1000");
  });

  it("deploy.resources.limits and deploy.replicas; legacy mem_limit/cpus/pids_limit map onto them", async () => {
    const { s } = await service("image: x\ndeploy:\n  replicas: 3\n  resources:\n    limits:\n      cpus: '0.5'\n      memory: 512M\n      pids: 100");
    expect(s.deploy).toEqual({ replicas: 3, resources: { limits: { cpus: 0.5, memory: 512 * 1024 ** 2, pids: 100 } } });
    expect(s.scale).toBe(3);
    const legacy = await service("image: x\nmem_limit: 1g\ncpus: 1.5\npids_limit: 50");
    expect(legacy.s.deploy!.resources!.limits).toEqual({ memory: 1024 ** 3, cpus: 1.5, pids: 50 });
  });

  it("--scale overrides deploy.replicas", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  s:\n    image: x\n    deploy: { replicas: 2 }\n" });
    expect((await load(dir, { scale: { s: 5 } })).services.s!.scale).toBe(5);
  });

  it("interpolated values are cast back to the types the keys expect", async () => {
    const { s } = await service("image: x\ninit: ${INIT}\nports:\n  - target: ${PORT}\ndeploy:\n  replicas: ${N}", "", { INIT: "true", PORT: "80", N: "2" });
    expect([s.init, s.ports[0]!.target, s.scale]).toEqual([true, 80, 2]);
  });
});

describe("top-level networks and volumes", () => {
  it("names them <project>_<key>, keeps external names, reads ipam, labels, driver_opts", async () => {
    const dir = writeProject({
      "compose.yaml": `name: shop
services:
  s: { image: x, networks: [front, ext], volumes: ["db:/db", "shared:/s"] }
networks:
  front:
    driver: bridge
    internal: true
    labels: [team=a]
    ipam:
      config:
        - subnet: 172.28.0.0/16
          gateway: 172.28.0.1
  ext:
    external: true
    name: corp-net
volumes:
  db:
    driver_opts: { type: tmpfs, device: tmpfs }
    labels: { backup: "daily" }
  shared:
    external: true
`,
    });
    const p = await load(dir);
    expect(p.networks).toEqual({
      front: { name: "shop_front", driver: "bridge", internal: true, external: false, labels: { team: "a" }, ipam: { config: [{ subnet: "172.28.0.0/16", gateway: "172.28.0.1" }] } },
      ext: { name: "corp-net", external: true, labels: {} },
    });
    expect(p.volumes).toEqual({
      db: { name: "shop_db", external: false, labels: { backup: "daily" }, driverOpts: { type: "tmpfs", device: "tmpfs" } },
      shared: { name: "shared", external: true, labels: {} },
    });
  });

  it("adds the default network only when a service uses it", async () => {
    const used = await load(writeProject({ "compose.yaml": "services: { s: { image: x } }\n" }));
    expect(used.networks).toEqual({ default: { name: "myapp_default", external: false, labels: {} } });
    const unused = await load(writeProject({ "compose.yaml": "services: { s: { image: x, networks: [n] } }\nnetworks: { n: {} }\n" }));
    expect(Object.keys(unused.networks)).toEqual(["n"]);
  });

  it("legacy external: { name } is read", async () => {
    const p = await load(writeProject({ "compose.yaml": "services: { s: { image: x, volumes: ['v:/v'] } }\nvolumes:\n  v:\n    external:\n      name: real\n" }));
    expect(p.volumes.v).toEqual({ name: "real", external: true, labels: {} });
  });
});

describe("network_mode", () => {
  it("a service with network_mode joins no project network, and no default network is made for it", async () => {
    const p = await load(writeProject({ "compose.yaml": "services:\n  s: { image: x, network_mode: host }\n" }));
    expect(p.services.s!.networks).toEqual({});
    expect(p.services.s!.extra.network_mode).toBe("host");
    expect(p.networks).toEqual({});
  });

  it("network_mode with networks is an error", async () => {
    const e = await rejection(load(writeProject({ "compose.yaml": "services:\n  s: { image: x, network_mode: host, networks: [a] }\nnetworks: { a: {} }\n" })));
    expect(e.message).toContain("services.s.networks: network_mode and networks cannot be combined");
  });
});
