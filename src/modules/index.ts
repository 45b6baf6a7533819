// Ready-made containers for common services, on GenericContainer.
export { PostgreSqlContainer, StartedPostgreSqlContainer, defaultPostgresImage } from "./postgresql.js";
export { RedisContainer, StartedRedisContainer, defaultRedisImage } from "./redis.js";
