import { describe, expect, it } from "vitest";
import {
  containerStatus,
  displayablePorts,
  ellipsis,
  renderComposePs,
  renderImages,
  renderNetworks,
  renderPs,
  renderVolumes,
  truncateId,
  type ContainerSummary,
} from "../../../src/cli/tables.js";
import { goFormatG, humanDuration, humanSize } from "../../../src/cli/units.js";

const now = new Date("2026-11-22T12:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms);
const S = 1000;
const M = 60 * S;
const H = 60 * M;

function container(over: Partial<ContainerSummary>): ContainerSummary {
  return {
    id: "4c01db0b339c7d3a4c1a5e6b1f0d2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
    names: ["/web"],
    image: "nginx",
    command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
    created: ago(2 * M),
    state: "running",
    startedAt: ago(2 * M),
    ports: [],
    labels: {},
    ...over,
  };
}

describe("go-units", () => {
  it.each([
    [0, "Less than a second"],
    [999, "Less than a second"],
    [1 * S, "1 second"],
    [3 * S, "3 seconds"],
    [59 * S, "59 seconds"],
    [60 * S, "About a minute"],
    [119 * S, "About a minute"],
    [2 * M, "2 minutes"],
    [59 * M, "59 minutes"],
    [60 * M, "About an hour"],
    [89 * M, "About an hour"],
    [90 * M, "2 hours"],
    [47 * H, "47 hours"],
    [48 * H, "2 days"],
    [13 * 24 * H, "13 days"],
    [14 * 24 * H, "2 weeks"],
    [60 * 24 * H, "2 months"],
    [800 * 24 * H, "2 years"],
  ])("HumanDuration(%d ms) = %s", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it.each([
    [0, 3, "0B"],
    [999, 3, "999B"],
    [1000, 3, "1kB"],
    [7_800_000, 3, "7.8MB"],
    [1_234_567, 3, "1.23MB"],
    [123_456_789, 3, "123MB"],
    [77_812_345, 3, "77.8MB"],
    [1_000_000_000, 3, "1GB"],
    [999_999, 3, "1e+03kB"],
    [1_234_567, 4, "1.235MB"],
  ])("HumanSizeWithPrecision(%d, %d) = %s", (bytes, p, text) => {
    expect(humanSize(bytes, p)).toBe(text);
  });

  it("%g switches to exponent form as Go does", () => {
    expect(goFormatG(0.00001234, 3)).toBe("1.23e-05");
    expect(goFormatG(12.5, 3)).toBe("12.5");
  });
});

describe("ps columns", () => {
  it.each<[Partial<ContainerSummary>, string]>([
    [{ state: "running", startedAt: ago(3 * S) }, "Up 3 seconds"],
    [{ state: "running", startedAt: ago(2 * H), health: "healthy" }, "Up 2 hours (healthy)"],
    [{ state: "running", startedAt: ago(10 * S), health: "unhealthy" }, "Up 10 seconds (unhealthy)"],
    [{ state: "running", startedAt: ago(1 * S), health: "starting" }, "Up 1 second (health: starting)"],
    [{ state: "paused", startedAt: ago(2 * M) }, "Up 2 minutes (Paused)"],
    [{ state: "exited", exitCode: 0, finishedAt: ago(5 * S) }, "Exited (0) 5 seconds ago"],
    [{ state: "exited", exitCode: 137, finishedAt: ago(3 * H) }, "Exited (137) 3 hours ago"],
    [{ state: "restarting", exitCode: 1, finishedAt: ago(2 * S) }, "Restarting (1) 2 seconds ago"],
    [{ state: "created" }, "Created"],
    [{ state: "dead" }, "Dead"],
    [{ state: "removing" }, "Removal In Progress"],
  ])("status %j → %s", (over, text) => {
    expect(containerStatus(container(over), now)).toBe(text);
  });

  it.each([
    [[{ ip: "0.0.0.0", privatePort: 80, publicPort: 8080, type: "tcp" }], "0.0.0.0:8080->80/tcp"],
    [[{ privatePort: 80, type: "tcp" }], "80/tcp"],
    [
      [
        { ip: "0.0.0.0", privatePort: 80, publicPort: 8080, type: "tcp" },
        { ip: "::", privatePort: 80, publicPort: 8080, type: "tcp" },
      ],
      "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp",
    ],
    [
      [
        { ip: "0.0.0.0", privatePort: 8000, publicPort: 8000, type: "tcp" },
        { ip: "0.0.0.0", privatePort: 8001, publicPort: 8001, type: "tcp" },
        { ip: "0.0.0.0", privatePort: 8002, publicPort: 8002, type: "tcp" },
      ],
      "0.0.0.0:8000-8002->8000-8002/tcp",
    ],
    [
      [
        { privatePort: 3001, type: "tcp" },
        { privatePort: 3000, type: "tcp" },
        { privatePort: 3002, type: "tcp" },
        { privatePort: 53, type: "udp" },
      ],
      "53/udp, 3000-3002/tcp",
    ],
    [
      [
        { privatePort: 80, type: "tcp" },
        { privatePort: 82, type: "tcp" },
      ],
      "80/tcp, 82/tcp",
    ],
    [[{ ip: "127.0.0.1", privatePort: 5432, publicPort: 15432, type: "tcp" }, { privatePort: 6379, type: "tcp" }], "6379/tcp, 127.0.0.1:15432->5432/tcp"],
  ])("ports %j → %s", (ports, text) => {
    expect(displayablePorts(ports)).toBe(text);
  });

  it("ellipsis and short ids", () => {
    expect(ellipsis("/docker-entrypoint.sh nginx", 20)).toBe("/docker-entrypoint.…");
    expect(ellipsis("short", 20)).toBe("short");
    expect(truncateId("sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d")).toBe("9c7a54a9a43c");
  });
});

describe("ps table", () => {
  const rows = [
    container({ ports: [{ ip: "0.0.0.0", privatePort: 80, publicPort: 8080, type: "tcp" }] }),
    container({
      id: "e3c4b5a6978879aa5b4c3d2e1f0a9b8c7d64c01db0b339c7d3a4c1a5e6b1f0d2",
      names: ["/db"],
      image: "postgres:16",
      command: "docker-entrypoint.sh postgres",
      created: ago(3 * H),
      state: "exited",
      exitCode: 0,
      finishedAt: ago(5 * S),
      ports: [],
    }),
  ];

  it("default columns as docker ps prints them", () => {
    expect(renderPs(rows, { now })).toBe(
      [
        'CONTAINER ID   IMAGE         COMMAND                  CREATED         STATUS                     PORTS                  NAMES',
        '4c01db0b339c   nginx         "/docker-entrypoint.…"   2 minutes ago   Up 2 minutes               0.0.0.0:8080->80/tcp   web',
        'e3c4b5a69788   postgres:16   "docker-entrypoint.s…"   3 hours ago     Exited (0) 5 seconds ago                          db',
        "",
      ].join("\n"),
    );
  });

  it("--no-trunc shows whole ids and commands", () => {
    const out = renderPs(rows.slice(0, 1), { now, noTrunc: true });
    expect(out).toContain(rows[0]!.id);
    expect(out).toContain(`"/docker-entrypoint.sh nginx -g 'daemon off;'"`);
  });

  it("-q prints short ids only; with --no-trunc whole ones", () => {
    expect(renderPs(rows, { now, quiet: true })).toBe("4c01db0b339c\ne3c4b5a69788\n");
    expect(renderPs(rows, { now, quiet: true, noTrunc: true })).toBe(`${rows[0]!.id}\n${rows[1]!.id}\n`);
  });

  it("--format with .Names, .Status, .Label and json", () => {
    const labelled = [container({ labels: { "com.docker.compose.project": "shop" } })];
    expect(renderPs(labelled, { now, format: '{{.Names}} {{.Status}} {{.Label "com.docker.compose.project"}}' })).toBe("web Up 2 minutes shop\n");
    const json = JSON.parse(renderPs(labelled, { now, format: "{{json .}}" }));
    expect(json).toMatchObject({ ID: "4c01db0b339c", Names: "web", State: "running", Status: "Up 2 minutes", Labels: "com.docker.compose.project=shop", RunningFor: "2 minutes ago" });
    expect(renderPs(labelled, { now, format: "json" })).toBe(renderPs(labelled, { now, format: "{{json .}}" }));
  });

  it("no containers: just the header", () => {
    expect(renderPs([], { now })).toBe("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n");
  });
});

describe("other listings", () => {
  it("images: REPOSITORY TAG IMAGE ID CREATED SIZE with SI sizes", () => {
    const images = [
      { id: "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d", repository: "busybox", tag: "latest", created: ago(14 * 24 * H), size: 4_261_550 },
      { id: "sha256:a6bd71f48f6839d9faae1f29d3babef831e76bc213107682c5cc80f0cbb30866", repository: "postgres", tag: "16", created: ago(3 * 24 * H), size: 431_000_000 },
      { id: "sha256:a6bd71f48f6839d9faae1f29d3babef831e76bc213107682c5cc80f0cbb30866", repository: "<none>", tag: "<none>", created: ago(3 * 24 * H), size: 431_000_000 },
    ];
    expect(renderImages(images, { now })).toBe(
      [
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE",
        "busybox      latest    9c7a54a9a43c   2 weeks ago   4.26MB",
        "postgres     16        a6bd71f48f68   3 days ago    431MB",
        "<none>       <none>    a6bd71f48f68   3 days ago    431MB",
        "",
      ].join("\n"),
    );
    expect(renderImages(images, { now, quiet: true })).toBe("9c7a54a9a43c\na6bd71f48f68\n");
  });

  it("network ls", () => {
    const nets = [
      { id: "7fca4eb8c647e57e9d46c32714271e0c3f8bf8d17d346629e2820547b2d90039", name: "bridge", driver: "bridge" },
      { id: "9f904ee27bf5a7a0a3ddb1d40a4c5b0b8b37dfb6b0c7b7b1e1d6d1b8f1f7a8e2", name: "host", driver: "host" },
      { id: "cf03ee007fb4b6a5a6f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a", name: "shop_default", driver: "bridge" },
    ];
    expect(renderNetworks(nets)).toBe(
      [
        "NETWORK ID     NAME           DRIVER    SCOPE",
        "7fca4eb8c647   bridge         bridge    local",
        "9f904ee27bf5   host           host      local",
        "cf03ee007fb4   shop_default   bridge    local",
        "",
      ].join("\n"),
    );
  });

  it("volume ls", () => {
    expect(renderVolumes([{ name: "shop_db-data" }, { name: "f1e2d3c4b5a6" }])).toBe("DRIVER    VOLUME NAME\nlocal     shop_db-data\nlocal     f1e2d3c4b5a6\n");
    expect(renderVolumes([{ name: "a" }], { quiet: true })).toBe("a\n");
  });

  it("compose ps: NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS", () => {
    const out = renderComposePs(
      [
        {
          ...container({ names: ["/shop-web-1"], ports: [{ ip: "0.0.0.0", privatePort: 80, publicPort: 8080, type: "tcp" }], health: "healthy" }),
          service: "web",
          project: "shop",
        },
      ],
      { now },
    );
    expect(out).toBe(
      [
        "NAME         IMAGE     COMMAND                  SERVICE   CREATED         STATUS                   PORTS",
        'shop-web-1   nginx     "/docker-entrypoint.…"   web       2 minutes ago   Up 2 minutes (healthy)   0.0.0.0:8080->80/tcp',
        "",
      ].join("\n"),
    );
  });
});
