import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadComposeProject, projectToYaml, startOrder } from "../../../src/compose/index.js";
import { load, writeProject } from "./helpers.js";

describe("config output (docker compose config)", () => {
  it("prints the normalised model: sorted service keys, long-syntax ports and volumes, Go durations", async () => {
    const dir = writeProject(
      {
        "compose.yaml": `services:
  web:
    image: nginx
    ports: ["8080:80", "127.0.0.1:9000:9000/udp"]
    volumes: ["./html:/usr/share/nginx/html:ro", "logs:/var/log/nginx"]
    environment: [B=2, A=1]
    depends_on:
      db: { condition: service_healthy }
    healthcheck:
      test: curl -f localhost
      interval: 90s
      timeout: 500ms
    command: nginx -g 'daemon off;'
    restart: unless-stopped
  db:
    image: postgres:16
    deploy:
      resources:
        limits: { cpus: "0.5", memory: 256M }
volumes:
  logs: {}
`,
      },
      "site",
    );
    const p = await load(dir);
    expect(projectToYaml(p)).toBe(`name: site
services:
  db:
    deploy:
      resources:
        limits:
          cpus: 0.5
          memory: "268435456"
    image: postgres:16
    networks:
      default: null
  web:
    command:
      - nginx
      - -g
      - daemon off;
    depends_on:
      db:
        condition: service_healthy
        required: true
    environment:
      A: "1"
      B: "2"
    healthcheck:
      test:
        - CMD-SHELL
        - curl -f localhost
      timeout: 500ms
      interval: 1m30s
    image: nginx
    networks:
      default: null
    ports:
      - mode: ingress
        target: 80
        published: "8080"
        protocol: tcp
      - mode: ingress
        host_ip: 127.0.0.1
        target: 9000
        published: "9000"
        protocol: udp
    restart: unless-stopped
    volumes:
      - type: bind
        source: ${dir}/html
        target: /usr/share/nginx/html
        read_only: true
        bind:
          create_host_path: true
      - type: volume
        source: logs
        target: /var/log/nginx
        volume: {}
networks:
  default:
    name: site_default
volumes:
  logs:
    name: site_logs
`);
  });

  it("the output loads back to the same project", async () => {
    const dir = writeProject({
      "compose.yaml": "services:\n  a:\n    image: x\n    command: echo 'no'\n    ports: ['3000-3001:3000-3001']\n    stop_grace_period: 1m\n",
    });
    const first = await load(dir);
    const again = writeProject({ "compose.yaml": projectToYaml(first) });
    const second = await load(again);
    expect(second.services.a!.command).toEqual(["echo", "no"]);
    expect(second.services.a!.ports).toEqual(first.services.a!.ports);
    expect(second.services.a!.stopGracePeriod).toBe(60e9);
    expect(parse(projectToYaml(first)).services.a.command).toEqual(["echo", "no"]);
  });
});

describe("the web + Postgres + Redis fixture", () => {
  const fixture = fileURLToPath(new URL("../../fixtures/compose/webapp", import.meta.url));

  it("loads with its .env, health-gated dependencies and build context", async () => {
    const p = await loadComposeProject({ cwd: fixture, environment: {} });
    expect(p.name).toBe("webapp");
    expect(Object.keys(p.services)).toEqual(["web", "db", "cache"]);
    expect(p.services.web!.dependsOn.db!.condition).toBe("service_healthy");
    expect(p.services.web!.dependsOn.cache!.condition).toBe("service_healthy");
    expect(p.services.web!.environment.DATABASE_URL).toBe("postgres://app:test@db:5432/app");
    expect(p.services.web!.build!.context).toBe(`${fixture}/web`);
    expect(p.services.db!.healthcheck!.interval).toBe(1e9);
    expect(startOrder(p)).toEqual([["cache", "db"], ["web"]]);
  });

  it("the host port and password come from the environment when set", async () => {
    const p = await loadComposeProject({ cwd: fixture, environment: { WEB_HOST_PORT: "18080", POSTGRES_PASSWORD: "s3cret" } });
    expect(p.services.web!.ports[0]!.published).toBe("18080");
    expect(p.services.db!.environment.POSTGRES_PASSWORD).toBe("s3cret");
  });
});
