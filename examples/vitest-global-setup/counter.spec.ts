import { createClient } from "redis";
import { afterAll, beforeAll, expect, inject, it } from "vitest";

const client = createClient({ url: inject("redisUrl") });
beforeAll(() => client.connect());
afterAll(() => client.destroy());

it("counts visits in the Redis the global setup started", async () => {
  const key = `visits:${process.pid}:${Date.now()}`;
  expect(await client.incr(key)).toBe(1);
  expect(await client.incr(key)).toBe(2);
});
