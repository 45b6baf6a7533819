// A separate process that creates (or finds) volumes for a container and fills them from a
// directory, as a container's create does, for the cross-process race test.
// usage: tsx fill-worker.ts VOLUMES_ROOT COUNT CONTAINER_ID SOURCE_DIR
import { VolumeStore } from "../../../src/volume/volume-store.js";

const [root, count, container, source] = process.argv.slice(2);
const store = new VolumeStore(root!);
for (let i = 0; i < Number(count); i++) {
  await store.create({ name: `shared-${i}`, user: container!, copyFrom: source! });
}
process.stdout.write("ok");
