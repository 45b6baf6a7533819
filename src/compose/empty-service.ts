import type { ComposeService } from "./types.js";

/**
 * A service with every list and map present and empty, so that the loader and the
 * project rebuilt from labels fill in only what they know and readers never meet `undefined`.
 */
export function emptyService(name: string): ComposeService {
  return {
    name,
    environment: {},
    ports: [],
    expose: [],
    volumes: [],
    networks: {},
    dependsOn: {},
    labels: {},
    capAdd: [],
    capDrop: [],
    extraHosts: {},
    tmpfs: [],
    profiles: [],
    scale: 1,
    extra: {},
  };
}
