// A separate process that builds a context into a state root, for the test of the build cache
// across processes. argv: stateRoot context tag. Prints one JSON line: id, executed, cached.
import { join } from "node:path";
import { DockerfileBuilder } from "../../../src/build/dockerfile-build.js";
import { ContainerEngine } from "../../../src/runtime/engine/index.js";
import { OciRuntime } from "../../../src/runtime/oci-runtime.js";

const [root, context, tag] = process.argv.slice(2);
const engine = new ContainerEngine({ stateRoot: root!, runtime: new OciRuntime({ root: join(root!, "run", "runtime"), timeout: 20_000 }), pull: async () => {} });
try {
  const result = await new DockerfileBuilder(context!, { engine, network: "none", pull: async () => {} }).build(tag);
  console.log(JSON.stringify({ id: result.id, executed: result.executed, cached: result.cached }));
} finally {
  engine.dispose();
}
