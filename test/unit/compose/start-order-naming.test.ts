import { describe, expect, it } from "vitest";
import { composeLabels, configHash, containerLabels, containerName, networkLabels, oneOffContainerName, startOrder, stopOrder, volumeLabels } from "../../../src/compose/index.js";
import { load, rejection, writeProject } from "./helpers.js";

describe("start order", () => {
  it("groups services that can start together, dependencies first", async () => {
    const p = await load(
      writeProject({
        "compose.yaml": `services:
  web: { image: x, depends_on: [api, static] }
  api: { image: x, depends_on: { db: { condition: service_healthy }, cache: { condition: service_started } } }
  static: { image: x }
  db: { image: x }
  cache: { image: x }
  worker: { image: x, depends_on: [db] }
`,
      }),
    );
    expect(startOrder(p)).toEqual([["cache", "db", "static"], ["api", "worker"], ["web"]]);
    expect(stopOrder(p)).toEqual([["web"], ["api", "worker"], ["cache", "db", "static"]]);
  });

  it("a cycle is BERTH_COMPOSE_CYCLE naming it", async () => {
    const p = await load(writeProject({ "compose.yaml": "services:\n  web: { image: x, depends_on: [db] }\n  db: { image: x, depends_on: [web] }\n" }));
    let caught: unknown;
    try {
      startOrder(p);
    } catch (e) {
      caught = e;
    }
    expect((caught as { code: string }).code).toBe("BERTH_COMPOSE_CYCLE");
    expect((caught as Error).message).toBe("dependency cycle detected: web -> db -> web");
  });

  it("a longer cycle and a self-dependency are named too", async () => {
    const long = await load(writeProject({ "compose.yaml": "services:\n  a: { image: x, depends_on: [b] }\n  b: { image: x, depends_on: [c] }\n  c: { image: x, depends_on: [a] }\n" }));
    expect(() => startOrder(long)).toThrow("a -> b -> c -> a");
    const self = await load(writeProject({ "compose.yaml": "services:\n  a: { image: x, depends_on: [a] }\n" }));
    expect(() => startOrder(self)).toThrow("a -> a");
  });

  it("an optional dependency that is not defined is ignored", async () => {
    const p = await load(writeProject({ "compose.yaml": "services:\n  a: { image: x, depends_on: { gone: { condition: service_started, required: false } } }\n" }));
    expect(startOrder(p)).toEqual([["a"]]);
  });

  it("a missing required variable stops before any start order is computed", async () => {
    const e = await rejection(load(writeProject({ "compose.yaml": "services:\n  a: { image: '${IMG:?which image?}' }\n" })));
    expect(e.code).toBe("BERTH_COMPOSE_VARIABLE_REQUIRED");
  });
});

describe("names and labels", () => {
  it("names containers <project>-<service>-<n>, or container_name", async () => {
    const p = await load(writeProject({ "compose.yaml": "services:\n  web: { image: x }\n  db: { image: x, container_name: the-db }\n" }, "shop"));
    expect(containerName(p.name, p.services.web!, 1)).toBe("shop-web-1");
    expect(containerName(p.name, p.services.web!, 3)).toBe("shop-web-3");
    expect(containerName(p.name, p.services.db!, 1)).toBe("the-db");
    expect(oneOffContainerName(p.name, "web", () => "0123456789ab")).toBe("shop-web-run-0123456789ab");
    expect(oneOffContainerName(p.name, "web")).toMatch(/^shop-web-run-[0-9a-f]{12}$/);
  });

  it("labels containers, networks and volumes as Compose does", async () => {
    const dir = writeProject({ "compose.yaml": "services:\n  web: { image: x, labels: { mine: '1' }, depends_on: { db: { condition: service_healthy } }, volumes: ['d:/d'] }\n  db: { image: x }\nvolumes: { d: {} }\n" }, "shop");
    const p = await load(dir);
    const labels = containerLabels(p, p.services.web!, 2);
    expect(labels).toMatchObject({
      mine: "1",
      "com.docker.compose.project": "shop",
      "com.docker.compose.service": "web",
      "com.docker.compose.container-number": "2",
      "com.docker.compose.oneoff": "False",
      "com.docker.compose.project.working_dir": dir,
      "com.docker.compose.project.config_files": `${dir}/compose.yaml`,
      "com.docker.compose.depends_on": "db:service_healthy:false",
    });
    expect(labels[composeLabels.configHash]).toMatch(/^[0-9a-f]{64}$/);
    expect(containerLabels(p, p.services.web!, 1, true)[composeLabels.oneoff]).toBe("True");
    expect(networkLabels(p, "default")).toEqual({ "com.docker.compose.network": "default", "com.docker.compose.project": "shop" });
    expect(volumeLabels(p, "d")).toEqual({ "com.docker.compose.volume": "d", "com.docker.compose.project": "shop" });
    expect(p.networks.default!.name).toBe("shop_default");
    expect(p.volumes.d!.name).toBe("shop_d");
  });

  it("the config hash changes with the container's config, not with scale or dependencies", async () => {
    const hash = async (yaml: string) => {
      const p = await load(writeProject({ "compose.yaml": `services:\n  db: { image: pg }\n  web:\n${yaml}` }));
      return configHash(p.services.web!);
    };
    const a = await hash("    image: x\n    environment: { A: '1' }\n");
    expect(await hash("    environment: { A: '1' }\n    image: x\n")).toBe(a);
    expect(await hash("    image: x\n    environment: { A: '1' }\n    deploy: { replicas: 3 }\n")).toBe(a);
    expect(await hash("    image: x\n    environment: { A: '1' }\n    depends_on: [db]\n")).toBe(a);
    expect(await hash("    image: x\n    environment: { A: '2' }\n")).not.toBe(a);
    expect(await hash("    image: y\n    environment: { A: '1' }\n")).not.toBe(a);
  });
});

describe("--scale", () => {
  it("reads SERVICE=NUM pairs and refuses anything else", async () => {
    const { parseScaleFlags } = await import("../../../src/compose/index.js");
    expect(parseScaleFlags(["web=3", "worker=0"])).toEqual({ web: 3, worker: 0 });
    expect(() => parseScaleFlags(["web"])).toThrow(/expected SERVICE=NUM/);
    expect(() => parseScaleFlags(["web=-1"])).toThrow(/expected SERVICE=NUM/);
  });

  it("scaling a service that does not exist is BERTH_COMPOSE_SERVICE_NOT_FOUND", async () => {
    const e = await rejection(load(writeProject({ "compose.yaml": "services: { a: { image: x } }\n" }), { scale: { b: 2 } }));
    expect(e.code).toBe("BERTH_COMPOSE_SERVICE_NOT_FOUND");
  });
});
