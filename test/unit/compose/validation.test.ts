import { describe, expect, it } from "vitest";
import { load, rejection, writeProject } from "./helpers.js";

async function invalid(yaml: string) {
  const dir = writeProject({ "compose.yaml": yaml });
  const e = await rejection(load(dir));
  return e;
}

describe("validation errors name the file, the path and what was expected", () => {
  it.each([
    ["services:\n  web:\n    image: x\n    ports: ['80:80:80:80']\n", "services.web.ports[0]", /expected \[HOST_IP:\]\[HOST_PORT:\]CONTAINER_PORT/],
    ["services:\n  web:\n    image: x\n    ports: [{ published: 80 }]\n", "services.web.ports[0].target", /target is required/],
    ["services:\n  web:\n    image: x\n    ports: [{ target: 80, protocol: icmp }]\n", "services.web.ports[0].protocol", /expected tcp, udp or sctp/],
    ["services:\n  web:\n    image: x\n    ports: [{ target: 80, mode: bridge }]\n", "services.web.ports[0].mode", /expected ingress or host/],
    ["services:\n  web:\n    image: x\n    ports: [[80]]\n", "services.web.ports[0]", /expected a port string or a mapping/],
    ["services:\n  web:\n    image: 42\n", "services.web.image", /expected a string, got number 42/],
    ["services:\n  web:\n    image: x\n    restart: sometimes\n", "services.web.restart", /expected "no", "always"/],
    ["services:\n  web:\n    image: x\n    imgae: y\n", "services.web", /additional property imgae is not allowed/],
    ["services:\n  web:\n    image: x\n    init: maybe\n", "services.web.init", /expected a boolean/],
    ["services:\n  web:\n    image: x\n    healthcheck: { interval: soon }\n", "services.web.healthcheck.interval", /expected a duration/],
    ["services:\n  web:\n    image: x\n    healthcheck: { test: [RUN, x] }\n", "services.web.healthcheck.test[0]", /expected "CMD", "CMD-SHELL" or "NONE"/],
    ["services:\n  web:\n    image: x\n    volumes: ['data:relative']\n", "services.web.volumes[0]", /absolute path/],
    ["services:\n  web:\n    image: x\n    volumes: ['./a:/b:bogus']\n", "services.web.volumes[0]", /unknown volume option "bogus"/],
    ["services:\n  web:\n    image: x\n    volumes: [{ type: nfs, target: /x }]\n", "services.web.volumes[0].type", /expected volume, bind, tmpfs/],
    ["services:\n  web:\n    image: x\n    volumes: [{ type: bind, target: /x }]\n", "services.web.volumes[0].source", /bind mount needs a source/],
    ["services:\n  web:\n    image: x\n    volumes: ['undeclared:/data']\n", "services.web.volumes[0]", /refers to undefined volume undeclared/],
    ["services:\n  web:\n    image: x\n    networks: [nowhere]\n", "services.web.networks", /refers to undefined network nowhere/],
    ["services:\n  web:\n    image: x\n    depends_on: [ghost]\n", "services.web.depends_on", /depends on undefined service "ghost"/],
    ["services:\n  web:\n    image: x\n    depends_on: { db: { condition: service_ready } }\n  db: { image: y }\n", "services.web.depends_on.db.condition", /expected service_started, service_healthy or service_completed_successfully/],
    ["services:\n  web:\n    build: { context: ., dockerfil: x }\n", "services.web.build", /additional property dockerfil/],
    ["services:\n  web: {}\n", "services.web", /neither an image nor a build context/],
    ["services:\n  web:\n    image: x\n    deploy: { resources: { limits: { memory: lots } } }\n", "services.web.deploy.resources.limits.memory", /expected a byte size/],
    ["services:\n  web:\n    image: x\n    deploy: { resources: { limits: { cpus: half } } }\n", "services.web.deploy.resources.limits.cpus", /expected a number of CPUs/],
    ["services:\n  web:\n    image: x\n    environment: [1, 2]\n", "services.web.environment", /expected a mapping or a list of KEY=VALUE/],
    ["services:\n  web:\n    image: x\n    networks: { n: { ipv4_address: nope } }\nnetworks: { n: {} }\n", "services.web.networks.n.ipv4_address", /expected an IPv4 address/],
    ["services:\n  web:\n    image: x\n    container_name: fixed\n    deploy: { replicas: 2 }\n", "services.web", /container_name and cannot be scaled/],
    ["services: [web]\n", "services", /expected a mapping of services/],
    ["services: {}\nnetwork: {}\n", "", /additional property network is not allowed/],
    ["services: {}\nnetworks:\n  n:\n    ipam: { config: [{ subnet: 10.0.0.0 }] }\n", "networks.n.ipam.config[0].subnet", /expected a CIDR subnet/],
    ["services: {}\nnetworks:\n  n: { external: true, driver: bridge }\n", "networks.n", /conflicting parameters "external"/],
    ["services: {}\nvolumes:\n  v: { external: true, driver: local }\n", "volumes.v", /conflicting parameters "external"/],
    ["services:\n  'bad name!': { image: x }\n", "services.bad name!", /service name may contain only/],
    ["services:\n  web:\n    image: x\n    ports: '80:80'\n", "services.web.ports", /expected a list, got string/],
    ["services:\n  web:\n    image: x\n    env_file: 42\n", "services.web.env_file", /expected a string or a list/],
  ])("%#: %s", async (yaml, path, expected) => {
    const e = await invalid(yaml);
    expect(e.code).toBe("BERTH_COMPOSE_INVALID");
    expect(e.message).toMatch(expected);
    expect(e.message).toContain("compose.yaml: ");
    if (path) expect(e.message).toContain(`${path}:`);
    expect(e.context?.field).toBe(path);
  });

  it("an error in an override file's service names that file", async () => {
    const dir = writeProject({ "compose.yaml": "services: { web: { image: x } }\n", "compose.override.yaml": "services: { web: { restart: never } }\n" });
    const e = await rejection(load(dir));
    expect(e.message).toContain("compose.override.yaml: services.web.restart");
  });

  it("an unquoted '$' is an interpolation error with the path", async () => {
    const e = await invalid("services:\n  web:\n    image: x\n    command: echo $ 1\n");
    expect(e.message).toMatch(/invalid interpolation format for services\.web\.command/);
  });
});

