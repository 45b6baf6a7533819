import { describe, expect, it } from "vitest";
import { restartPolicyOf } from "../../../src/compose/service-options.js";
import { load, writeProject } from "./helpers.js";

async function policyOf(service: string): Promise<ReturnType<typeof restartPolicyOf>> {
  const project = await load(writeProject({ "compose.yaml": `services:\n  app:\n    image: busybox\n${service}` }));
  return restartPolicyOf(project.services.app!);
}

describe("compose restart policies", () => {
  it("maps restart: to the engine's policy", async () => {
    expect(await policyOf("")).toEqual({});
    expect(await policyOf("    restart: \"no\"\n")).toEqual({});
    expect(await policyOf("    restart: always\n")).toEqual({ restartPolicy: { name: "always", maximumRetryCount: 0 } });
    expect(await policyOf("    restart: on-failure:3\n")).toEqual({ restartPolicy: { name: "on-failure", maximumRetryCount: 3 } });
  });

  it("lets deploy.restart_policy override restart:, any by default", async () => {
    expect(await policyOf("    restart: always\n    deploy:\n      restart_policy:\n        condition: on-failure\n        max_attempts: 2\n")).toEqual({
      restartPolicy: { name: "on-failure", maximumRetryCount: 2 },
    });
    expect(await policyOf("    deploy:\n      restart_policy: {}\n")).toEqual({ restartPolicy: { name: "always", maximumRetryCount: 0 } });
    expect(await policyOf("    restart: always\n    deploy:\n      restart_policy:\n        condition: none\n")).toEqual({});
  });

  it("refuses what Docker refuses", async () => {
    await expect(policyOf("    deploy:\n      restart_policy:\n        condition: sometimes\n")).rejects.toMatchObject({ code: "BERTH_COMPOSE_INVALID" });
    await expect(policyOf("    deploy:\n      restart_policy:\n        condition: any\n        max_attempts: 3\n")).rejects.toThrow(/only be used with 'on-failure'/);
  });
});
