import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { load, rejection, writeProject } from "./helpers.js";

describe("include", () => {
  it("adds the included file's services, networks and volumes, with paths relative to it and its own .env", async () => {
    const dir = writeProject({
      "db/compose.yaml": "services:\n  db:\n    image: postgres:${PG_VERSION}\n    volumes: ['data:/var/lib/postgresql/data', './init:/docker-entrypoint-initdb.d']\n    build: ./image\nvolumes:\n  data: {}\n",
      "db/.env": "PG_VERSION=16\n",
      "compose.yaml": "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: web\n    depends_on: [db]\n",
    });
    const p = await load(dir);
    expect(Object.keys(p.services).sort()).toEqual(["db", "web"]);
    expect(p.services.db!.image).toBe("postgres:16");
    expect(p.services.db!.build!.context).toBe(join(dir, "db", "image"));
    expect(p.services.db!.volumes[1]!.source).toBe(join(dir, "db", "init"));
    expect(p.volumes.data!.name).toBe("myapp_data");
  });

  it("the long form takes project_directory and env_file", async () => {
    const dir = writeProject({
      "stack/cache.yml": "services:\n  cache:\n    image: redis:${REDIS_TAG:?}\n    build: ./ctx\n",
      "cache.env": "REDIS_TAG=7\n",
      "compose.yaml": "include:\n  - path: stack/cache.yml\n    project_directory: other\n    env_file: cache.env\nservices: {}\n",
    });
    const p = await load(dir);
    expect(p.services.cache!.image).toBe("redis:7");
    expect(p.services.cache!.build!.context).toBe(join(dir, "other", "ctx"));
  });

  it("a service defined in both the including and the included file is an error", async () => {
    const dir = writeProject({
      "other.yml": "services:\n  web: { image: a }\n",
      "compose.yaml": "include: [other.yml]\nservices:\n  web: { image: b }\n",
    });
    const e = await rejection(load(dir));
    expect(e.code).toBe("BERTH_COMPOSE_INVALID");
    expect(e.message).toMatch(/services\.web: conflicts with imported resource/);
  });

  it("a file including itself is BERTH_COMPOSE_CYCLE", async () => {
    const dir = writeProject({ "a.yml": "include: [compose.yaml]\nservices: {}\n", "compose.yaml": "include: [a.yml]\nservices: {}\n" });
    expect((await rejection(load(dir))).code).toBe("BERTH_COMPOSE_CYCLE");
  });

  it("a missing included file names it", async () => {
    const dir = writeProject({ "compose.yaml": "include: [nope.yml]\nservices: {}\n" });
    const e = await rejection(load(dir));
    expect(e.code).toBe("BERTH_COMPOSE_FILE_NOT_FOUND");
    expect(e.message).toContain("nope.yml");
  });
});
