import { createClient } from "redis";
import { expect, inject, it } from "vitest";

it("another test file sees the same server", async () => {
  const client = createClient({ url: inject("redisUrl") });
  await client.connect();
  try {
    await client.set("greeting", "hello from berth");
    expect(await client.get("greeting")).toBe("hello from berth");
  } finally {
    client.destroy();
  }
});
