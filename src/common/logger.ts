import createDebug from "debug";

/**
 * A debug logger under the `berth:` namespace. Enable with `DEBUG=berth:*` (all) or a
 * layer (`DEBUG=berth:runtime`).
 */
export function logger(namespace: string): createDebug.Debugger {
  return createDebug(`berth:${namespace}`);
}
