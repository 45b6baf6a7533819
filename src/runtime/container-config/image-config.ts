/**
 * The runtime part of an OCI image config (`config` of the image configuration JSON), with
 * Docker's extensions (`Healthcheck`, `Shell`, `OnBuild`, `ArgsEscaped`). Field names are
 * the JSON's so an image config parses into it unchanged. Durations are nanoseconds.
 *
 * Defined here until the image store exports its own type; the two must stay the same shape.
 */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Shell?: string[] | null;
  Healthcheck?: ImageHealthcheck | null;
  ArgsEscaped?: boolean;
  OnBuild?: string[] | null;
}

/** Docker's `Healthcheck` of an image config; durations in nanoseconds, 0 meaning "inherit". */
export interface ImageHealthcheck {
  /** `["NONE"]`, `["CMD", argv...]` or `["CMD-SHELL", command]`. */
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}
