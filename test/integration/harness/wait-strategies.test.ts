import { writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import getPort from "get-port";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { Wait } from "../../../src/harness/wait/wait.js";
import type { WaitTarget } from "../../../src/harness/wait/wait-target.js";
import { failure } from "../../helpers/failure.js";
import { makeTestCertificates, type TestCertificates } from "../../helpers/registry-certs.js";
import { describeAsRoot } from "../../helpers/require-root.js";
import { makeTempDir, removeTempDir } from "../../helpers/temp-dir.js";
import { ProcessWaitTarget, type ProcessTargetOptions } from "./process-wait-target.js";

const server = fileURLToPath(new URL("./fixtures/server.mjs", import.meta.url));
const targets: ProcessWaitTarget[] = [];
let dir: string;

beforeAll(async () => {
  dir = await makeTempDir("berth-wait-test-");
});
afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.stop()));
});
afterAll(async () => {
  await removeTempDir(dir);
});

async function start(args: string[], options: Omit<ProcessTargetOptions, "argv"> = {}): Promise<ProcessWaitTarget> {
  const target = await ProcessWaitTarget.start({ argv: [process.execPath, server, ...args], ...options });
  targets.push(target);
  return target;
}

describeAsRoot("Wait.forListeningPorts inside the target's network namespace", () => {
  it("waits for TCP, TCP over IPv6 and UDP sockets of a slow starter, with no tool in the target", async () => {
    const target = await start(["delay=200", "tcp=9000", "udp=9001"], { netns: true, exposedPorts: [{ port: 9000 }, { port: 9001, protocol: "udp" }] });
    await Wait.forListeningPorts().withStartupTimeout(20_000).waitUntilReady(target);
    const v6 = await start(["delay=100", "ipv6=1", "tcp=9000"], { netns: true, exposedPorts: [{ port: 9000 }] });
    await Wait.forListeningPorts().withStartupTimeout(20_000).waitUntilReady(v6);
  });

  it("reads a namespace known only by its path (nsenter on the host)", async () => {
    const inner = await start(["delay=100", "tcp=9000"], { netns: true, exposedPorts: [{ port: 9000 }] });
    const byPath: WaitTarget = Object.assign(Object.create(inner) as WaitTarget, { netnsPid: () => undefined, netnsPath: () => inner.netnsPath() });
    await Wait.forListeningPorts([9000]).withStartupTimeout(20_000).waitUntilReady(byPath);
  });

  it("also connects to the mapped host port", async () => {
    const port = await getPort();
    const target = await start([`tcp=${port}`], { exposedPorts: [{ port: 80 }], mappedPorts: { 80: port } });
    await Wait.forListeningPorts([port]).withStartupTimeout(20_000).waitUntilReady({ ...bind(target), mappedPort: () => port });
  });

  it("times out with BERTH_WAIT_TIMEOUT naming the ports and carrying the last log lines", async () => {
    const target = await start(["tcp=9000", "log=listening on 9000 only"], { netns: true });
    // The line must be out before the short wait begins, or a slow start leaves it out of
    // lastLines; the timeout itself is certain, since nothing ever listens on 9002.
    await Wait.forLogMessage("listening on 9000 only").withStartupTimeout(60_000).waitUntilReady(target);
    const error = await failure(Wait.forListeningPorts([9000, 9002]).withStartupTimeout(500).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
    expect(error.message).toContain("listening ports 9000/tcp, 9002/tcp");
    expect(error.lastLines).toContain("listening on 9000 only");
  });

  it("fails fast with BERTH_WAIT_CONTAINER_EXITED and the exit code when the target exits", async () => {
    const target = await start(["log=fatal: bad config", "exit=3"], { netns: true });
    const error = await failure(Wait.forListeningPorts([9000]).withStartupTimeout(60_000).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_CONTAINER_EXITED")).toBe(true);
    expect(error.exitCode).toBe(3);
    expect(error.lastLines).toContain("fatal: bad config");
  });

  it("returns at once when nothing is exposed", async () => {
    const target = await start(["delay=60000"], { netns: true });
    await Wait.forListeningPorts().waitUntilReady(target);
  });
});

/** A plain object copy of a target whose methods still reach the instance. */
function bind(target: ProcessWaitTarget): WaitTarget {
  return {
    id: target.id,
    name: target.name,
    host: target.host,
    exposedPorts: target.exposedPorts,
    logs: (o) => target.logs(o),
    exec: (a, o) => target.exec(a, o),
    health: () => target.health(),
    isRunning: () => target.isRunning(),
    exitCode: () => target.exitCode(),
    mappedPort: (p) => target.mappedPort(p),
    netnsPid: () => target.netnsPid(),
    netnsPath: () => target.netnsPath(),
  };
}

describe("Wait.forLogMessage", () => {
  it("counts matching lines from the start, also those printed before the wait", async () => {
    const target = await start(["log=ready to accept connections", "log=noise", "log=ready to accept connections", "delay=0", "tcp=0"]);
    await new Promise((r) => setTimeout(r, 300));
    await Wait.forLogMessage(/ready to accept connections/g, 2).withStartupTimeout(20_000).waitUntilReady(target);
    await Wait.forLogMessage("noise").withStartupTimeout(20_000).waitUntilReady(target);
  });

  it("fails when the target exits before the message came often enough", async () => {
    const target = await start(["log=ready", "exit=0"]);
    const error = await failure(Wait.forLogMessage("ready", 2).withStartupTimeout(20_000).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_CONTAINER_EXITED")).toBe(true);
  });

  it("a target whose output ends before the message fails with its exit code, the strategy and its last lines, whichever notices first", async () => {
    // Regression: the end of the output used to be reported without the last lines, so the
    // reason (an entrypoint's "fatal: ...") was lost when it won the race with the exit watcher.
    for (let i = 0; i < 3; i++) {
      const target = await start(["log=fatal: no password set", "exit=1"]);
      const error = await failure(Wait.forLogMessage("ready").withStartupTimeout(20_000).waitUntilReady(target));
      expect(hasErrorCode(error, "BERTH_WAIT_CONTAINER_EXITED")).toBe(true);
      expect(error.message).toContain('log message "ready"');
      expect(error.lastLines).toContain("fatal: no password set");
    }
  });

  it("times out with the message it waited for", async () => {
    const target = await start(["log=starting up", "tcp=0"]);
    const error = await failure(Wait.forLogMessage(/never/).withStartupTimeout(300).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
    expect(error.message).toContain("log message /never/");
  });

  it("rejects with BERTH_WAIT_ABORTED when the caller aborts", async () => {
    const target = await start(["tcp=0"]);
    const controller = new AbortController();
    const waiting = Wait.forLogMessage("never").waitUntilReady(target, controller.signal);
    setTimeout(() => controller.abort(), 50);
    expect(hasErrorCode(await failure(waiting), "BERTH_WAIT_ABORTED")).toBe(true);
  });
});

describeAsRoot("Wait.forHealthCheck and Wait.forSuccessfulCommand", () => {
  it("waits for healthy, and fails at once on unhealthy", async () => {
    const flag = join(dir, "healthy");
    const target = await start(["tcp=9000"], { netns: true, healthCheck: ["test", "-f", flag] });
    setTimeout(() => void writeFile(flag, ""), 100);
    await Wait.forHealthCheck().withStartupTimeout(20_000).waitUntilReady(target);
    await rm(flag);
    await expect.poll(() => target.health(), { timeout: 10_000 }).toBe("unhealthy");
    const error = await failure(Wait.forHealthCheck().withStartupTimeout(20_000).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_UNHEALTHY")).toBe(true);
  });

  it("refuses to wait for a health check the target does not have", async () => {
    const target = await start(["tcp=0"]);
    expect(hasErrorCode(await failure(Wait.forHealthCheck().waitUntilReady(target)), "BERTH_INVALID_ARGUMENT")).toBe(true);
  });

  it("runs a command in the target's namespace until it succeeds", async () => {
    const target = await start(["delay=150", "tcp=9000"], { netns: true });
    // /proc/net/tcp as the command sees it is the target's namespace: 2328 is port 9000.
    await Wait.forSuccessfulCommand("grep -q ':2328 00000000:0000 0A' /proc/net/tcp").withStartupTimeout(20_000).waitUntilReady(target);
    const error = await failure(Wait.forSuccessfulCommand(["false"]).withStartupTimeout(300).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
    expect(error.message).toContain('successful command ["false"]');
  });
});

describe("Wait.forHttp", () => {
  let port: number;
  let tlsPort: number;
  let certs: TestCertificates;
  let target: ProcessWaitTarget;

  afterAll(async () => {
    await target?.stop();
  });

  beforeAll(async () => {
    certs = await makeTestCertificates(dir, ["127.0.0.1"]);
    port = await getPort();
    tlsPort = await getPort();
    target = await ProcessWaitTarget.start({
      argv: [process.execPath, server, `http=${port}`, `https=${tlsPort}`, `cert=${certs.serverCertPath}`, `key=${certs.serverKeyPath}`, "flaky=3"],
      mappedPorts: { 80: port, 443: tlsPort },
    });
  });

  it("retries until the status is 200 and the body predicate holds", async () => {
    await Wait.forHttp("/flaky", 80).forResponsePredicate((body) => body.includes("ready")).withStartupTimeout(20_000).waitUntilReady(target);
  });

  it("accepts chosen status codes, a status predicate, a method, headers and basic credentials", async () => {
    await Wait.forHttp("/teapot", 80).forStatusCode(418).withStartupTimeout(20_000).waitUntilReady(target);
    await Wait.forHttp("teapot", 80).forStatusCodeMatching((s) => s >= 400 && s < 500).withStartupTimeout(20_000).waitUntilReady(target);
    await Wait.forHttp("/post", 80).withMethod("post").withStartupTimeout(20_000).waitUntilReady(target);
    await Wait.forHttp("/header", 80).withHeaders({ "X-Probe": "yes" }).withStartupTimeout(20_000).waitUntilReady(target);
    await Wait.forHttp("/auth", 80).withBasicCredentials("user", "pass").withStartupTimeout(20_000).waitUntilReady(target);
  });

  it("times out on a wrong answer, naming the request", async () => {
    const error = await failure(Wait.forHttp("/auth", 80).withBasicCredentials("user", "wrong").withStartupTimeout(300).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
    expect(error.message).toContain("HTTP GET http://…:80/auth status 200");
  });

  it("gives up on an attempt after the read timeout and tries again", async () => {
    const error = await failure(Wait.forHttp("/slow", 80).withReadTimeout(50).withStartupTimeout(400).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
  });

  it("speaks TLS, refusing an untrusted certificate unless allowInsecure()", async () => {
    await Wait.forHttp("/ok", 443).usingTls().allowInsecure().withStartupTimeout(20_000).waitUntilReady(target);
    const error = await failure(Wait.forHttp("/ok", 443).usingTls().withStartupTimeout(400).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
  });

  it("refuses a port that is not published", async () => {
    expect(hasErrorCode(await failure(Wait.forHttp("/", 8080).waitUntilReady(target)), "BERTH_INVALID_ARGUMENT")).toBe(true);
  });
});

describe("Wait.forOneShotStartup and Wait.forAll", () => {
  it("waits for a one-shot target to exit 0, and fails on another code with its output", async () => {
    await Wait.forOneShotStartup().withStartupTimeout(20_000).waitUntilReady(await start(["delay=100", "log=migrated", "exit=0"]));
    const error = await failure(Wait.forOneShotStartup().withStartupTimeout(20_000).waitUntilReady(await start(["log=migration failed", "exit=2"])));
    expect(hasErrorCode(error, "BERTH_WAIT_CONTAINER_EXITED")).toBe(true);
    expect(error.exitCode).toBe(2);
    expect(error.lastLines).toContain("migration failed");
  });

  it("waits for every strategy, and bounds them all with a deadline", async () => {
    const port = await getPort();
    const target = await start([`http=${port}`, "log=ready"], { mappedPorts: { 80: port } });
    await Wait.forAll([Wait.forLogMessage("ready"), Wait.forHttp("/ok", 80)]).withStartupTimeout(20_000).waitUntilReady(target);
    const error = await failure(Wait.forAll([Wait.forLogMessage("ready"), Wait.forLogMessage("never").withStartupTimeout(60_000)]).withDeadline(300).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_WAIT_TIMEOUT")).toBe(true);
    expect(error.message).toContain('all of [log message "ready"; log message "never"]');
  });

  it("fails as soon as one strategy fails", async () => {
    const target = await start(["log=ready", "tcp=0"]);
    const error = await failure(Wait.forAll([Wait.forLogMessage("ready"), Wait.forHealthCheck()]).withStartupTimeout(20_000).waitUntilReady(target));
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
  });
});
