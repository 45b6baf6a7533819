// Ready-made containers for common services, on GenericContainer.
export { PostgreSqlContainer, StartedPostgreSqlContainer } from "./postgresql.js";
export { RedisContainer, StartedRedisContainer } from "./redis.js";
