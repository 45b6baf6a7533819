import { mkdir, stat } from "node:fs/promises";
import { BerthError } from "../common/berth-error.js";
import type { BindMountSpec } from "./mount-spec.js";

/**
 * Makes sure a bind mount's host source exists, with Docker's two rules: a `-v` source that
 * is missing is created as a directory (mode 0755, parents too), a `--mount` source that is
 * missing is an error, `BERTH_BIND_SOURCE_NOT_FOUND`.
 */
export async function prepareBindSource(spec: Pick<BindMountSpec, "source" | "createSource">): Promise<void> {
  try {
    await stat(spec.source);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") {
      throw new BerthError("BERTH_IO", `cannot stat bind source ${spec.source}`, { path: spec.source, cause: error });
    }
    if (!spec.createSource) {
      throw new BerthError("BERTH_BIND_SOURCE_NOT_FOUND", `invalid mount config for type "bind": bind source path does not exist: ${spec.source}`, {
        path: spec.source,
        cause: error,
      });
    }
  }
  try {
    await mkdir(spec.source, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new BerthError("BERTH_IO", `cannot create bind source ${spec.source}`, { path: spec.source, cause: error });
  }
}
