import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { load, rejection, writeProject } from "./helpers.js";

describe("finding the files", () => {
  it("finds compose.yaml and its override file beside it, merging the override last", async () => {
    const dir = writeProject({
      "compose.yaml": "services:\n  web:\n    image: nginx\n",
      "compose.override.yml": "services:\n  web:\n    image: nginx:alpine\n",
    });
    const p = await load(dir);
    expect(p.configFiles).toEqual([join(dir, "compose.yaml"), join(dir, "compose.override.yml")]);
    expect(p.services.web!.image).toBe("nginx:alpine");
  });

  it("prefers compose.yaml over docker-compose.yml", async () => {
    const dir = writeProject({ "compose.yaml": "services: { a: { image: x } }\n", "docker-compose.yml": "services: { b: { image: y } }\n" });
    expect(Object.keys((await load(dir)).services)).toEqual(["a"]);
  });

  it("finds docker-compose.yml when it is the only one", async () => {
    const dir = writeProject({ "docker-compose.yml": "services: { b: { image: y } }\n" });
    expect(Object.keys((await load(dir)).services)).toEqual(["b"]);
  });

  it("looks in parent directories, and the project directory is where the file is", async () => {
    const dir = writeProject({ "compose.yaml": "services: { a: { image: x } }\n", "sub/deeper/.keep": "" });
    const p = await load(join(dir, "sub", "deeper"));
    expect(p.workingDir).toBe(dir);
    expect(p.name).toBe("myapp");
  });

  it("COMPOSE_FILE lists files with the path separator", async () => {
    const dir = writeProject({ "a.yml": "services: { a: { image: x } }\n", "b.yml": "services: { b: { image: y } }\n" });
    const p = await load(dir, { environment: { COMPOSE_FILE: "a.yml:b.yml" } });
    expect(Object.keys(p.services)).toEqual(["a", "b"]);
  });

  it("COMPOSE_FILE may come from .env", async () => {
    const dir = writeProject({ ".env": "COMPOSE_FILE=other.yml\n", "other.yml": "services: { o: { image: x } }\n" });
    expect(Object.keys((await load(dir)).services)).toEqual(["o"]);
  });

  it("no file is BERTH_COMPOSE_FILE_NOT_FOUND", async () => {
    const dir = writeProject({ "README": "" });
    expect((await rejection(load(dir))).code).toBe("BERTH_COMPOSE_FILE_NOT_FOUND");
  });

  it("a -f file that does not exist is BERTH_COMPOSE_FILE_NOT_FOUND naming it", async () => {
    const dir = writeProject({ "compose.yaml": "services: {}\n" });
    const e = await rejection(load(dir, { files: ["nope.yml"] }));
    expect(e.code).toBe("BERTH_COMPOSE_FILE_NOT_FOUND");
    expect(e.message).toContain("nope.yml");
  });

  it("invalid YAML names the file and line", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  web:\n    image: [unclosed\n" });
    const e = await rejection(load(dir));
    expect(e.code).toBe("BERTH_COMPOSE_INVALID");
    expect(e.message).toMatch(/compose\.yaml:\d+:\d+: invalid YAML/);
  });

  it("a duplicate key is invalid YAML", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  web:\n    image: a\n    image: b\n" });
    expect((await rejection(load(dir))).message).toMatch(/invalid YAML/);
  });
});

describe("the project name", () => {
  const file = { "compose.yaml": "services: { a: { image: x } }\n" };

  it("is the directory name, normalised as Compose does", async () => {
    const dir = writeProject(file, "My App.v2");
    expect((await load(dir)).name).toBe("myappv2");
  });

  it("drops leading dashes and underscores of the directory name", async () => {
    const dir = writeProject(file, "_-Site");
    expect((await load(dir)).name).toBe("site");
  });

  it("top-level name: wins over the directory", async () => {
    const dir = writeProject({ "compose.yaml": "name: shop\nservices: { a: { image: x } }\n" });
    expect((await load(dir)).name).toBe("shop");
  });

  it("the top-level name is interpolated", async () => {
    const dir = writeProject({ "compose.yaml": "name: shop-${ENV:-dev}\nservices: { a: { image: x } }\n" });
    expect((await load(dir)).name).toBe("shop-dev");
  });

  it("COMPOSE_PROJECT_NAME wins over name:", async () => {
    const dir = writeProject({ "compose.yaml": "name: shop\nservices: { a: { image: x } }\n" });
    expect((await load(dir, { environment: { COMPOSE_PROJECT_NAME: "fromenv" } })).name).toBe("fromenv");
  });

  it("-p wins over everything", async () => {
    const dir = writeProject({ "compose.yaml": "name: shop\nservices: { a: { image: x } }\n" });
    expect((await load(dir, { projectName: "flag", environment: { COMPOSE_PROJECT_NAME: "env" } })).name).toBe("flag");
  });

  it.each([["Upper"], ["has space"], ["-lead"], [""]])("an explicit name %j that Compose refuses is an error", async (name) => {
    const dir = writeProject(file);
    expect((await rejection(load(dir, { projectName: name }))).code).toBe("BERTH_COMPOSE_INVALID");
  });
});

describe(".env and the environment", () => {
  it("reads .env from the project directory; the process environment wins", async () => {
    const dir = writeProject({
      ".env": "TAG=fromdotenv\nPORT=1234\n",
      "compose.yaml": "services:\n  web:\n    image: nginx:${TAG}\n    ports: ['${PORT}:80']\n",
    });
    const p = await load(dir, { environment: { TAG: "fromprocess" } });
    expect(p.services.web!.image).toBe("nginx:fromprocess");
    expect(p.services.web!.ports[0]!.published).toBe("1234");
  });

  it("--env-file replaces .env", async () => {
    const dir = writeProject({
      ".env": "TAG=dotenv\n",
      "prod.env": "TAG=prod\n",
      "compose.yaml": "services:\n  web:\n    image: nginx:${TAG:-none}\n",
    });
    expect((await load(dir, { envFiles: ["prod.env"] })).services.web!.image).toBe("nginx:prod");
  });

  it("a missing required variable stops loading with its name and path", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  db:\n    image: postgres\n    environment:\n      PW: ${PW:?set a password}\n" });
    const e = await rejection(load(dir));
    expect(e.code).toBe("BERTH_COMPOSE_VARIABLE_REQUIRED");
    expect(e.message).toContain("PW");
    expect(e.message).toContain("set a password");
    expect(e.message).toContain("services.db.environment.PW");
  });

  it("$$ escapes a dollar that the container's shell should see", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  a:\n    image: x\n    command: sh -c 'echo $$HOME'\n" });
    expect((await load(dir)).services.a!.command).toEqual(["sh", "-c", "echo $HOME"]);
  });
});

describe("anchors and merge keys", () => {
  it("expands anchors, aliases and << merge keys, with local keys winning", async () => {
    const dir = writeProject({
      "compose.yaml": [
        "x-common: &common",
        "  restart: always",
        "  environment: &env",
        "    A: '1'",
        "services:",
        "  a:",
        "    <<: *common",
        "    image: x",
        "  b:",
        "    <<: *common",
        "    image: y",
        "    restart: 'no'",
        "    environment:",
        "      <<: *env",
        "      B: '2'",
      ].join("\n"),
    });
    const p = await load(dir);
    expect(p.services.a!.restart).toBe("always");
    expect(p.services.a!.environment).toEqual({ A: "1" });
    expect(p.services.b!.restart).toBe("no");
    expect(p.services.b!.environment).toEqual({ A: "1", B: "2" });
    expect(p.extra["x-common"]).toBeDefined();
  });
});
