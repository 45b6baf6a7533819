import { CompositeWaitStrategy } from "./composite-wait-strategy.js";
import { HealthCheckWaitStrategy } from "./health-check-wait-strategy.js";
import { HttpWaitStrategy, type HttpWaitOptions } from "./http-wait-strategy.js";
import { ListeningPortsWaitStrategy } from "./listening-ports-wait-strategy.js";
import { LogWaitStrategy } from "./log-wait-strategy.js";
import { OneShotStartupWaitStrategy } from "./one-shot-startup-wait-strategy.js";
import { SuccessfulCommandWaitStrategy } from "./successful-command-wait-strategy.js";
import type { WaitStrategy } from "./wait-strategy.js";
import type { ExposedPort } from "./wait-target.js";

/**
 * Every wait strategy, as testcontainers names them.
 *
 * @example
 * ```ts
 * .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2).withStartupTimeout(30_000))
 * ```
 */
export const Wait = {
  /** Every exposed port (or those given) has a listening socket in the container. */
  forListeningPorts: (ports?: readonly (number | ExposedPort)[]) => new ListeningPortsWaitStrategy(ports),
  /** The output has matched `message` `times` times since the start. */
  forLogMessage: (message: string | RegExp, times = 1) => new LogWaitStrategy(message, times),
  /** The container's health check reports healthy. */
  forHealthCheck: () => new HealthCheckWaitStrategy(),
  /** An HTTP request to a published port gets an accepted answer. */
  forHttp: (path: string, port: number, options?: HttpWaitOptions) => new HttpWaitStrategy(path, port, options),
  /** A command run in the container exits 0. */
  forSuccessfulCommand: (command: string | readonly string[]) => new SuccessfulCommandWaitStrategy(command),
  /** The container ran to completion with exit code 0. */
  forOneShotStartup: () => new OneShotStartupWaitStrategy(),
  /** Every strategy is satisfied; bound the whole with `withDeadline`. */
  forAll: (strategies: readonly WaitStrategy[]) => new CompositeWaitStrategy(strategies),
} as const;

/**
 * The strategy used when none is given, as testcontainers chooses it: the health check when
 * the image or the options define one, else listening ports.
 */
export function defaultWaitStrategy(options: { hasHealthCheck: boolean }): WaitStrategy {
  return options.hasHealthCheck ? new HealthCheckWaitStrategy() : new ListeningPortsWaitStrategy();
}
