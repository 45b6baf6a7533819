// A separate process that creates volumes in a shared root, for the cross-process race test.
import { VolumeStore } from "../../../src/volume/volume-store.js";

const [root, count, label] = process.argv.slice(2);
const store = new VolumeStore(root!);
const results: { name: string; createdAt: string; labels: Record<string, string> }[] = [];
for (let i = 0; i < Number(count); i++) {
  const info = await store.create({ name: `race-${i}`, labels: { by: label! } });
  results.push({ name: info.Name, createdAt: info.CreatedAt, labels: info.Labels });
}
process.stdout.write(JSON.stringify(results));
