import { expect, it } from "vitest";
import { describeAsRoot } from "../../helpers/require-root.js";
import { useCliWorld, type CliWorld } from "./cli-helper.js";

let world: CliWorld;
const berth = (...args: Parameters<CliWorld["berth"]>) => world.berth(...args);
const inspect = async (ref: string, format: string) => {
  const r = await berth(["inspect", "--format", format, ref]);
  expect(r.stderr).toBe("");
  return r.stdout.trim();
};

describeAsRoot("berth inspect: NetworkSettings and HostConfig as Docker shows them", () => {
  world = useCliWorld("berth-cli-inspect-");

  it("--cpus 1.5 is NanoCpus 1500000000 and --memory 64m is bytes (with Docker's doubled MemorySwap)", async () => {
    const a = (await berth(["create", "--cpus", "1.5", "--memory", "64m", "busybox:test", "true"])).stdout.trim();
    const hc = JSON.parse(await inspect(a, "{{json .HostConfig}}")) as Record<string, unknown>;
    expect(hc).toMatchObject({ NanoCpus: 1_500_000_000, CpuPeriod: 0, CpuQuota: 0, CpuShares: 0, Memory: 64 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024 });
    expect(await inspect(a, "{{.HostConfig.NanoCpus}}")).toBe("1500000000");
    await berth(["rm", a]);
  });

  it("a container on a user network: IPAddress, Gateway, MacAddress, NetworkID, Aliases; Ports as Docker prints them", async () => {
    expect((await berth(["network", "create", "insp-net"])).code).toBe(0);
    const netId = (await berth(["network", "inspect", "--format", "{{.Id}}", "insp-net"])).stdout.trim();
    const run = await berth(["run", "-d", "--name", "insp", "--network", "insp-net", "--network-alias", "web", "-p", "127.0.0.1::8080", "--expose", "9090", "busybox:test", "sleep", "60"]);
    expect(run.code).toBe(0);
    const ns = JSON.parse(await inspect("insp", "{{json .NetworkSettings}}")) as {
      Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
      IPAddress: string;
      Networks: Record<string, { IPAddress: string; Gateway: string; MacAddress: string; NetworkID: string; Aliases: string[]; IPPrefixLen: number }>;
    };
    const ep = ns.Networks["insp-net"]!;
    expect(ep.NetworkID).toBe(netId);
    expect(ep.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(ep.Gateway).toMatch(/^\d+\.\d+\.\d+\.1$/);
    expect(ep.MacAddress).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(ep.IPPrefixLen).toBeGreaterThan(0);
    expect(ep.Aliases).toContain("web");
    // Docker's legacy top-level fields describe the default bridge only.
    expect(ns.IPAddress).toBe("");
    expect(ns.Ports["9090/tcp"]).toBeNull();
    const published = ns.Ports["8080/tcp"]!;
    expect(published).toHaveLength(1);
    expect(published[0]!.HostIp).toBe("127.0.0.1");
    expect(published[0]!.HostPort).toMatch(/^\d+$/);
    // The address is the one the container has.
    const ip = (await berth(["exec", "insp", "ip", "-4", "-o", "addr", "show", "eth0"])).stdout;
    expect(ip).toContain(`${ep.IPAddress}/${ep.IPPrefixLen}`);
    expect(await inspect("insp", '{{(index .NetworkSettings.Networks "insp-net").IPAddress}}')).toBe(ep.IPAddress);
    await berth(["rm", "-f", "insp"]);
    // Stopped or gone, the addresses are gone too.
    expect((await berth(["network", "rm", "insp-net"])).code).toBe(0);
  });

  it("the default bridge fills Docker's top-level IPAddress/Gateway/MacAddress; --network none has none", async () => {
    expect((await berth(["run", "-d", "--name", "onbridge", "busybox:test", "sleep", "60"])).code).toBe(0);
    const ns = JSON.parse(await inspect("onbridge", "{{json .NetworkSettings}}")) as { IPAddress: string; Gateway: string; MacAddress: string; Networks: Record<string, { IPAddress: string; Aliases: unknown }> };
    expect(ns.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(ns.Networks.bridge?.IPAddress).toBe(ns.IPAddress);
    expect(ns.Networks.bridge?.Aliases).toBeNull();
    expect(ns.Gateway).not.toBe("");
    expect(ns.MacAddress).not.toBe("");
    await berth(["stop", "-t", "0", "onbridge"]);
    expect(await inspect("onbridge", "{{.NetworkSettings.IPAddress}}")).toBe("");
    await berth(["rm", "onbridge"]);
    expect((await berth(["run", "-d", "--name", "nonet", "--network", "none", "busybox:test", "sleep", "60"])).code).toBe(0);
    const none = JSON.parse(await inspect("nonet", "{{json .NetworkSettings.Networks}}")) as Record<string, { IPAddress: string }>;
    expect(Object.keys(none)).toEqual(["none"]);
    expect(none.none!.IPAddress).toBe("");
    await berth(["rm", "-f", "nonet"]);
  });
});
