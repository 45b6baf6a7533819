import { lookup as dnsLookup } from "node:dns";
import type { LookupFunction } from "node:net";

/**
 * A `lookup` that resolves `name` to 127.0.0.1 and every other name as the system does, so
 * a test can give a local registry a real-looking host name without touching /etc/hosts.
 */
export function loopbackLookup(name: string): LookupFunction {
  return (hostname, options, callback) => {
    if (hostname === name) {
      if (options.all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: "127.0.0.1", family: 4 }]);
      else callback(null, "127.0.0.1", 4);
      return;
    }
    dnsLookup(hostname, options, callback);
  };
}
