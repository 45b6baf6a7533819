import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isGitSource, isRemoteSource } from "../../../src/build/copy-flags.js";
import { canExecute } from "../../../src/build/platform-support.js";
import { parseGitSource, urlFileName } from "../../../src/build/remote-source.js";
import { hostPlatform } from "../../../src/image/oci.js";

describe("ADD remote sources", () => {
  it("names a downloaded URL after its path's last component, or __unnamed__", () => {
    expect(urlFileName("https://example.invalid/dir/tool.tar.gz?x=1#frag")).toBe("tool.tar.gz");
    expect(urlFileName("https://example.invalid/a%20b.txt")).toBe("a b.txt");
    expect(urlFileName("https://example.invalid/")).toBe("__unnamed__");
    expect(urlFileName("https://example.invalid")).toBe("__unnamed__");
    expect(urlFileName("https://example.invalid/dir/")).toBe("dir");
  });

  it("tells git addresses from URLs and local paths as BuildKit does", () => {
    expect(isGitSource("git@github.com:moby/buildkit.git")).toBe(true);
    expect(isGitSource("git://127.0.0.1/repo.git")).toBe(true);
    expect(isGitSource("ssh://git@host/repo")).toBe(true);
    expect(isGitSource("https://example.invalid/r.git#v1:sub")).toBe(true);
    expect(isGitSource("https://example.invalid/r.git")).toBe(true);
    expect(isGitSource("https://example.invalid/r.tar.gz")).toBe(false);
    expect(isGitSource("local/repo.git")).toBe(false);
    expect(isRemoteSource("local/repo.git")).toBe(false);
    expect(isRemoteSource("http://example.invalid/file")).toBe(true);
  });

  it("splits a git fragment into ref and subdirectory, refusing one that climbs out", () => {
    expect(parseGitSource("https://h/r.git")).toEqual({ remote: "https://h/r.git", ref: undefined, subdir: "" });
    expect(parseGitSource("https://h/r.git#v1")).toEqual({ remote: "https://h/r.git", ref: "v1", subdir: "" });
    expect(parseGitSource("git@h:r.git#main:docs/")).toEqual({ remote: "git@h:r.git", ref: "main", subdir: "docs" });
    expect(parseGitSource("https://h/r.git#:sub/dir")).toEqual({ remote: "https://h/r.git", ref: undefined, subdir: "sub/dir" });
    expect(() => parseGitSource("https://h/r.git#main:../x")).toThrow(expect.objectContaining({ code: "BERTH_BUILD_SOURCE_OUTSIDE_CONTEXT" }));
  });
});

describe("canExecute", () => {
  it("runs the host's architecture, and another only with an enabled binfmt emulator", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-binfmt-"));
    try {
      const foreign = hostPlatform().architecture === "arm64" ? "s390x" : "arm64";
      const name = foreign === "arm64" ? "qemu-aarch64" : "qemu-s390x";
      expect(await canExecute({ os: "linux", architecture: hostPlatform().architecture }, dir)).toBe(true);
      expect(await canExecute({ os: "windows", architecture: hostPlatform().architecture }, dir)).toBe(false);
      expect(await canExecute({ os: "linux", architecture: foreign }, dir)).toBe(false);
      await writeFile(join(dir, name), "disabled\ninterpreter /usr/bin/qemu\n");
      expect(await canExecute({ os: "linux", architecture: foreign }, dir)).toBe(false);
      await writeFile(join(dir, name), "enabled\ninterpreter /usr/bin/qemu\n");
      expect(await canExecute({ os: "linux", architecture: foreign }, dir)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
