import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { load, rejection, writeProject } from "./helpers.js";

const base = `
services:
  web:
    image: web:1
    command: ["npm", "start"]
    environment:
      A: base
      B: base
    labels:
      - tier=front
    ports:
      - "8080:80"
    expose: ["3000"]
    volumes:
      - ./data:/data
      - cache:/cache
    depends_on: [db]
    networks: [front]
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
  db:
    image: postgres
networks:
  front: {}
volumes:
  cache: {}
`;

describe("merging files (compose-spec merge.md)", () => {
  async function merged(override: string) {
    const dir = writeProject({ "compose.yaml": base, "override.yml": override });
    return (await load(dir, { files: ["compose.yaml", "override.yml"] })).services.web!;
  }

  it("scalars are replaced", async () => {
    expect((await merged("services:\n  web:\n    image: web:2\n")).image).toBe("web:2");
  });

  it("command and entrypoint are replaced, not appended", async () => {
    const web = await merged("services:\n  web:\n    command: [node, server.js]\n");
    expect(web.command).toEqual(["node", "server.js"]);
  });

  it("healthcheck.test is replaced while the other healthcheck keys merge", async () => {
    const web = await merged("services:\n  web:\n    healthcheck:\n      test: [CMD, curl, -f, localhost]\n");
    expect(web.healthcheck).toEqual({ test: ["CMD", "curl", "-f", "localhost"], interval: 10e9 });
  });

  it("environment merges by key, the list form too", async () => {
    const web = await merged("services:\n  web:\n    environment:\n      - B=override\n      - C=new\n");
    expect(web.environment).toEqual({ A: "base", B: "override", C: "new" });
  });

  it("labels merge by key across list and map forms", async () => {
    const web = await merged("services:\n  web:\n    labels:\n      tier: back\n      extra: 'yes'\n");
    expect(web.labels).toEqual({ tier: "back", extra: "yes" });
  });

  it("ports append, and an identical entry is not duplicated", async () => {
    const web = await merged("services:\n  web:\n    ports:\n      - '8080:80'\n      - '8443:443'\n");
    expect(web.ports.map((p) => `${p.published}:${p.target}`)).toEqual(["8080:80", "8443:443"]);
  });

  it("expose appends unique values", async () => {
    expect((await merged("services:\n  web:\n    expose: ['3000', '4000']\n")).expose).toEqual(["3000", "4000"]);
  });

  it("volumes merge by container path: the override's mount replaces the one at the same target", async () => {
    const web = await merged("services:\n  web:\n    volumes:\n      - ./other:/data:ro\n      - /logs\n");
    expect(web.volumes.map((v) => [v.target, v.source?.split("/").pop(), v.readOnly])).toEqual([
      ["/data", "other", true],
      ["/cache", "cache", false],
      ["/logs", undefined, false],
    ]);
  });

  it("depends_on merges the list form with the map form", async () => {
    const web = await merged("services:\n  web:\n    depends_on:\n      db:\n        condition: service_healthy\n");
    expect(web.dependsOn).toEqual({ db: { condition: "service_healthy", restart: false, required: true } });
  });

  it("networks merge the list form with the map form", async () => {
    const dir = writeProject({
      "compose.yaml": base,
      "override.yml": "services:\n  web:\n    networks:\n      back: { aliases: [api] }\nnetworks:\n  back: {}\n",
    });
    const p = await load(dir, { files: ["compose.yaml", "override.yml"] });
    expect(p.services.web!.networks).toEqual({ front: null, back: { aliases: ["api"] } });
  });

  it("!reset removes what the base set and !override replaces it whole", async () => {
    const web = await merged("services:\n  web:\n    ports: !reset []\n    environment: !override\n      ONLY: this\n");
    expect(web.ports).toEqual([]);
    expect(web.environment).toEqual({ ONLY: "this" });
  });

  it("a service only in the override file is added", async () => {
    const dir = writeProject({ "compose.yaml": base, "override.yml": "services:\n  cache:\n    image: redis\n" });
    const p = await load(dir, { files: ["compose.yaml", "override.yml"] });
    expect(Object.keys(p.services)).toEqual(["web", "db", "cache"]);
  });

  it("relative paths in the override are relative to the project directory, not the override's folder", async () => {
    const dir = writeProject({ "compose.yaml": base, "env/override.yml": "services:\n  web:\n    build: ./app\n" });
    const p = await load(dir, { files: ["compose.yaml", "env/override.yml"] });
    expect(p.services.web!.build!.context).toBe(join(dir, "app"));
  });
});

describe("extends", () => {
  it("extends a service of the same file, the extending service winning", async () => {
    const dir = writeProject({
      "compose.yaml": `
services:
  base:
    image: app
    environment: { A: "1", B: "1" }
    restart: always
  worker:
    extends: base
    environment: { B: "2" }
    command: ["work"]
`,
    });
    const w = (await load(dir)).services.worker!;
    expect(w.image).toBe("app");
    expect(w.environment).toEqual({ A: "1", B: "2" });
    expect(w.restart).toBe("always");
    expect(w.command).toEqual(["work"]);
  });

  it("extends a service of another file, with its relative paths rebased on that file", async () => {
    const dir = writeProject({
      "common/services.yml": "services:\n  app:\n    build: ./src\n    env_file: ./app.env\n    volumes: ['./conf:/conf']\n",
      "common/app.env": "FROM_FILE=yes\n",
      "compose.yaml": "services:\n  web:\n    extends:\n      file: common/services.yml\n      service: app\n    ports: ['80']\n",
    });
    const web = (await load(dir)).services.web!;
    expect(web.build!.context).toBe(join(dir, "common", "src"));
    expect(web.environment).toEqual({ FROM_FILE: "yes" });
    expect(web.volumes[0]!.source).toBe(join(dir, "common", "conf"));
    expect(web.ports).toHaveLength(1);
  });

  it("chains of extends resolve", async () => {
    const dir = writeProject({
      "compose.yaml": "services:\n  a: { image: x, user: 'a' }\n  b: { extends: a, hostname: b }\n  c: { extends: b, working_dir: /c }\n",
    });
    const c = (await load(dir)).services.c!;
    expect([c.image, c.user, c.hostname, c.workingDir]).toEqual(["x", "a", "b", "/c"]);
  });

  it("a circular extends is BERTH_COMPOSE_CYCLE", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  a: { extends: b, image: x }\n  b: { extends: a }\n" });
    const e = await rejection(load(dir));
    expect(e.code).toBe("BERTH_COMPOSE_CYCLE");
    expect(e.message).toMatch(/a -> b -> a/);
  });

  it("extending a service that does not exist names it", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  a: { extends: ghost }\n" });
    const e = await rejection(load(dir));
    expect(e.code).toBe("BERTH_COMPOSE_INVALID");
    expect(e.message).toMatch(/services\.a\.extends: cannot extend service "ghost"/);
  });
});

describe("profiles", () => {
  const file = `
services:
  web: { image: web }
  debug: { image: busybox, profiles: [debug] }
  seed: { image: seed, profiles: [tools, setup], depends_on: [web] }
  admin: { image: admin, profiles: [tools], depends_on: [adminer-db] }
  adminer-db: { image: pg, profiles: [tools-db] }
`;

  it("services with profiles are left out unless a profile of theirs is enabled", async () => {
    const p = await load(writeProject({ "compose.yaml": file }));
    expect(Object.keys(p.services)).toEqual(["web"]);
    expect(Object.keys(p.disabledServices).sort()).toEqual(["admin", "adminer-db", "debug", "seed"]);
  });

  it("--profile enables them", async () => {
    const p = await load(writeProject({ "compose.yaml": file }), { profiles: ["debug"] });
    expect(Object.keys(p.services)).toEqual(["web", "debug"]);
  });

  it("COMPOSE_PROFILES enables a comma-separated list", async () => {
    const p = await load(writeProject({ "compose.yaml": file }), { environment: { COMPOSE_PROFILES: "debug,setup" } });
    expect(Object.keys(p.services)).toEqual(["web", "debug", "seed"]);
  });

  it("'*' enables every profile", async () => {
    const p = await load(writeProject({ "compose.yaml": file }), { profiles: ["*"] });
    expect(Object.keys(p.services)).toHaveLength(5);
  });

  it("an enabled service that depends on a disabled one is an error", async () => {
    const e = await rejection(load(writeProject({ "compose.yaml": file }), { profiles: ["tools"] }));
    expect(e.code).toBe("BERTH_COMPOSE_INVALID");
    expect(e.message).toMatch(/"admin" depends on service "adminer-db", which is not enabled/);
  });

  it("naming a service enables it and what it depends on, whatever their profiles", async () => {
    const p = await load(writeProject({ "compose.yaml": file }), { services: ["admin"] });
    expect(Object.keys(p.services).sort()).toEqual(["admin", "adminer-db", "web"]);
  });

  it("naming a service that does not exist is BERTH_COMPOSE_SERVICE_NOT_FOUND", async () => {
    expect((await rejection(load(writeProject({ "compose.yaml": file }), { services: ["nope"] }))).code).toBe("BERTH_COMPOSE_SERVICE_NOT_FOUND");
  });
});
