import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ComposeContext } from "../../../src/compose/compose-context.js";
import { formatComposeEvent } from "../../../src/compose/compose-events.js";
import { selectServices } from "../../../src/compose/compose-up.js";
import { serviceCreateOptions, serviceEndpoints, serviceImage, servicePorts } from "../../../src/compose/service-options.js";
import { BridgeAttachment } from "../../../src/network/bridge-attachment.js";
import { NetworkManager } from "../../../src/network/network-manager.js";
import { NetworkStore } from "../../../src/network/network-store.js";
import { load, rejection, writeProject } from "./helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "berth-compose-options-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Only the network manager is used to build options; the engine is never called. */
const context = {
  networks: new NetworkManager({ store: new NetworkStore({ stateRoot: scratch, runRoot: scratch }) }),
} as unknown as ComposeContext;

const file = `services:
  web:
    build: ./web
    ports: ["8000-8001:80", "127.0.0.1:9000:9000/udp", "3000"]
    expose: ["7000"]
    environment: { A: "1", UNSET: null }
    volumes:
      - data:/data:ro
      - ./html:/html
      - /anon
      - type: tmpfs
        target: /scratch
        tmpfs: { size: 1048576 }
    tmpfs: [/run]
    networks:
      back: { aliases: [api], priority: 10 }
      front: {}
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
      retries: 4
    restart: unless-stopped
    user: "1000:1000"
    working_dir: /srv
    hostname: webhost
    init: true
    read_only: true
    stop_grace_period: 1500ms
    stop_signal: SIGINT
    labels: { team: core }
    extra_hosts: ["gw:10.0.0.1"]
    deploy:
      resources:
        limits: { cpus: "0.5", memory: 64M, pids: 50 }
    depends_on: [db]
  db:
    image: postgres:16
    healthcheck: { disable: true }
networks:
  back: {}
  front: {}
volumes:
  data: {}
`;

describe("compose service → container options", () => {
  it("maps every modelled key of a service to docker create's options", async () => {
    const project = await load(writeProject({ "compose.yaml": file }, "shop"));
    const web = project.services.web!;
    const options = serviceCreateOptions(context, project, web, { number: 2, name: "shop-web-2", extraLabels: { "org.berth.session-id": "s" } });
    expect(options.image).toBe("shop-web");
    expect(options.name).toBe("shop-web-2");
    expect(options.pull).toBe("never");
    expect(options.env).toEqual({ A: "1" });
    expect(options.mounts).toEqual(["shop_data:/data:ro", `${join(project.workingDir, "html")}:/html`, "/anon"]);
    expect(options.tmpfs).toEqual(["/run", "/scratch:size=1048576"]);
    expect(options.healthcheck).toEqual({ test: ["CMD", "true"], interval: 2e9, retries: 4 });
    expect(options).toMatchObject({ user: "1000:1000", workingDir: "/srv", hostname: "webhost", init: true, readonlyRootfs: true, stopSignal: "SIGINT", stopTimeout: 2 });
    expect(options.resources).toEqual({ cpus: 0.5, memory: 64 * 1024 * 1024, pidsLimit: 50 });
    expect(options.extraHosts).toEqual(["gw:10.0.0.1"]);
    expect(options.exposedPorts).toEqual(["7000", "80/tcp", "9000/udp", "3000/tcp"]);
    expect(options.labels).toMatchObject({
      team: "core",
      "com.docker.compose.project": "shop",
      "com.docker.compose.service": "web",
      "com.docker.compose.container-number": "2",
      "com.docker.compose.oneoff": "False",
      "org.berth.session-id": "s",
    });
    expect(options.labels).not.toHaveProperty("org.berth.compose.restart");
    expect(options.restartPolicy).toEqual({ name: "unless-stopped", maximumRetryCount: 0 });
    expect(options.network).toBeInstanceOf(BridgeAttachment);
  });

  it("spreads replicas over a published range, binds loopback without host_ip, and keeps a given address", async () => {
    const project = await load(writeProject({ "compose.yaml": file }, "shop"));
    const web = project.services.web!;
    expect(servicePorts(web, 1)).toEqual([
      { containerPort: 80, hostPort: 8000, protocol: "tcp" },
      { containerPort: 9000, hostPort: 9000, protocol: "udp", hostIp: "127.0.0.1" },
      { containerPort: 3000, hostPort: 0, protocol: "tcp" },
    ]);
    expect(servicePorts(web, 2)[0]!.hostPort).toBe(8001);
    // Past the range's end the last port is asked for again, and the network layer refuses it as in use.
    expect(servicePorts(web, 3)[0]!.hostPort).toBe(8001);
  });

  it("puts the service on its networks by priority, answering to its name and aliases", async () => {
    const project = await load(writeProject({ "compose.yaml": file }, "shop"));
    expect(serviceEndpoints(project, project.services.web!)).toEqual([
      { network: "shop_back", aliases: ["web", "api"] },
      { network: "shop_front", aliases: ["web"] },
    ]);
    expect(serviceEndpoints(project, project.services.db!)).toEqual([{ network: "shop_default", aliases: ["db"] }]);
  });

  it("disables a healthcheck with disable: true, and uses the image named in the file", async () => {
    const project = await load(writeProject({ "compose.yaml": file }, "shop"));
    const db = project.services.db!;
    expect(serviceImage(project, db)).toBe("postgres:16");
    const options = serviceCreateOptions(context, project, db, { number: 1, name: "shop-db-1" });
    expect(options.healthcheck).toBe(false);
    expect(options.pull).toBe("missing");
  });

  it("labels one-off containers and publishes nothing for them unless asked", async () => {
    const project = await load(writeProject({ "compose.yaml": file }, "shop"));
    const options = serviceCreateOptions(context, project, project.services.web!, { number: 1, name: "shop-web-run-1", oneoff: true, publish: false });
    expect(options.labels!["com.docker.compose.oneoff"]).toBe("True");
    expect((options.network as BridgeAttachment).config).toMatchObject({ options: { ports: [] } });
  });
});

describe("service selection and events", () => {
  it("selects the named services with what they depend on, or only them with noDeps", async () => {
    const project = await load(writeProject({ "compose.yaml": file }, "shop"));
    expect(selectServices(project, ["web"])).toEqual(["web", "db"]);
    expect(selectServices(project, ["web"], true)).toEqual(["web"]);
    expect(selectServices(project, [])).toEqual(["web", "db"]);
    const error = await rejection((async () => selectServices(project, ["nope"]))());
    expect(error).toMatchObject({ code: "BERTH_COMPOSE_SERVICE_NOT_FOUND", message: "no such service: nope" });
  });

  it("prints events as docker compose does on a non-terminal", () => {
    expect(formatComposeEvent({ kind: "Container", name: "app-web-1", status: "Started" })).toBe(" Container app-web-1  Started\n");
    expect(formatComposeEvent({ kind: "Warning", name: "app", status: "Found orphan containers" })).toBe("WARN[0000] Found orphan containers\n");
  });
});
