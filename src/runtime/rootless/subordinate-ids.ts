// The subordinate-id lookup lives in src/common/user-namespace.ts, where the image and volume
// layers can use it too; re-exported here for the runtime's rootless modules.
export { findSubordinateRange, rootlessIdMappings } from "../../common/user-namespace.js";
export type { IdMapping, RootlessIdMappings, RootlessIdMappingsOptions } from "../../common/user-namespace.js";
