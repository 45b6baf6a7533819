import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { parseListeningPorts } from "../../../src/harness/wait/proc-net.js";
import { defaultWaitStrategy, Wait } from "../../../src/harness/wait/wait.js";
import { HealthCheckWaitStrategy } from "../../../src/harness/wait/health-check-wait-strategy.js";
import { ListeningPortsWaitStrategy } from "../../../src/harness/wait/listening-ports-wait-strategy.js";

// Lines as Linux 6.1 prints them: header, then sl, local, remote, state, ...
const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 100 0 0 10 0
   2: 0100007F:A2B4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 12347 1 0000000000000000 20 4 30 10 -1
`;
const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
`;
const udp = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0
  101: 0100007F:0036 0200007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0
`;

describe("parseListeningPorts", () => {
  it("finds TCP sockets in LISTEN only, on any address, IPv4 and IPv6", () => {
    expect([...parseListeningPorts(tcp, "tcp")].sort()).toEqual([6379, 8080]);
    expect([...parseListeningPorts(tcp6, "tcp")]).toEqual([5432]);
  });

  it("finds unconnected UDP sockets", () => {
    expect([...parseListeningPorts(udp, "udp")]).toEqual([53]);
  });

  it("ignores an empty or malformed table", () => {
    expect(parseListeningPorts("", "tcp").size).toBe(0);
    expect(parseListeningPorts("header\ngarbage\n", "tcp").size).toBe(0);
  });
});

describe("Wait", () => {
  it("chooses the health check when there is one, else listening ports, as testcontainers does", () => {
    expect(defaultWaitStrategy({ hasHealthCheck: true })).toBeInstanceOf(HealthCheckWaitStrategy);
    expect(defaultWaitStrategy({ hasHealthCheck: false })).toBeInstanceOf(ListeningPortsWaitStrategy);
  });

  it("defaults to a 60 s startup timeout and keeps one that is set", () => {
    expect(Wait.forLogMessage("x").startupTimeout).toBe(60_000);
    expect(Wait.forLogMessage("x").withStartupTimeout(5_000).startupTimeout).toBe(5_000);
  });

  it("passes a composite's timeout to the strategies that have none", () => {
    const own = Wait.forLogMessage("a").withStartupTimeout(1_000);
    const inherits = Wait.forLogMessage("b");
    Wait.forAll([own, inherits]).withStartupTimeout(7_000);
    expect(own.startupTimeout).toBe(1_000);
    expect(inherits.startupTimeout).toBe(7_000);
  });

  it("rejects invalid arguments with BERTH_INVALID_ARGUMENT when built, not at the deadline", () => {
    const invalid = [
      () => Wait.forLogMessage("x", 0),
      () => Wait.forHttp("/", 70_000),
      () => Wait.forSuccessfulCommand([]),
      () => Wait.forAll([]),
      () => Wait.forLogMessage("x").withStartupTimeout(-1),
    ];
    for (const make of invalid) {
      expect(make).toThrow();
      try {
        make();
      } catch (error) {
        expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
      }
    }
  });
});
