import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";

/** One line per path: type, mode, owner, size, link target or content hash. Order-independent. */
export async function describeTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const abs = join(root, rel);
    const st = await lstat(abs);
    const owner = `${st.uid}:${st.gid}`;
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out.push(`${rel} l ${owner} -> ${await readlink(abs)}`);
    else if (st.isFile()) out.push(`${rel} f ${mode} ${owner} ${createHash("sha256").update(await readFile(abs)).digest("hex").slice(0, 16)}`);
    else if (st.isCharacterDevice() || st.isBlockDevice()) out.push(`${rel} ${st.isCharacterDevice() ? "c" : "b"} ${mode} ${owner} ${st.rdev}`);
    else if (st.isDirectory()) {
      if (rel !== "") out.push(`${rel} d ${mode} ${owner}`);
      for (const name of (await readdir(abs)).sort()) await walk(rel ? `${rel}/${name}` : name);
    } else out.push(`${rel} ? ${mode} ${owner}`);
  };
  await walk("");
  return out;
}
