// The public API of berth: re-exports only.
export { BerthError, isBerthError, hasErrorCode, errorCodes } from "./common/index.js";
export type { BerthErrorCode, BerthErrorContext, BerthErrorOptions } from "./common/index.js";
