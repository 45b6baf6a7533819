/**
 * Every stable error code berth uses. Codes are never renamed or reused; new ones are
 * added in the section of the layer that throws them.
 */
export const errorCodes = [
  // common
  "BERTH_INVALID_ARGUMENT",
  "BERTH_TIMEOUT",
  "BERTH_LOCK_TIMEOUT",
  "BERTH_IO",
  "BERTH_NOT_ROOT",
  "BERTH_UNSUPPORTED",
  "BERTH_INTERNAL",
  // paths and archives
  "BERTH_PATH_ESCAPE",
  "BERTH_ARCHIVE_INVALID",
  // runtime (the OCI runtime driver and the native helper)
  "BERTH_RUNTIME_NOT_FOUND",
  "BERTH_RUNTIME_FAILED",
  "BERTH_RUNTIME_SPEC_INVALID",
  "BERTH_CONTAINER_NOT_FOUND",
  "BERTH_CONTAINER_EXISTS",
  "BERTH_CONTAINER_NOT_RUNNING",
  "BERTH_CONTAINER_STATE",
  "BERTH_EXEC_FAILED",
  // image store
  "BERTH_REFERENCE_INVALID",
  "BERTH_IMAGE_NOT_FOUND",
  "BERTH_DIGEST_MISMATCH",
  "BERTH_MEDIA_TYPE_UNSUPPORTED",
  "BERTH_LAYER_INVALID",
  "BERTH_PLATFORM_NOT_FOUND",
  "BERTH_IMAGE_IN_USE",
  // registry
  "BERTH_REGISTRY_UNAUTHORIZED",
  "BERTH_REGISTRY_NOT_FOUND",
  "BERTH_REGISTRY_UNAVAILABLE",
  "BERTH_REGISTRY_PROTOCOL",
  "BERTH_DOWNLOAD_TRUNCATED",
] as const;

/** A stable error code; see {@link errorCodes}. */
export type BerthErrorCode = (typeof errorCodes)[number];
