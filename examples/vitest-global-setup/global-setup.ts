// In a project of your own: import { defineBerthSetup } from "berth/vitest" and
// { RedisContainer } from "berth".
import { RedisContainer } from "../../src/index.js";
import { defineBerthSetup } from "../../src/vitest/index.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default defineBerthSetup(async (ctx) => {
  // Stopped at the end of the run by the teardown, and by the session reaper if the run is killed.
  const redis = ctx.use(await new RedisContainer(process.env.REDIS_IMAGE ?? "redis:7").start());
  return { redisUrl: redis.getConnectionUrl() };
});
