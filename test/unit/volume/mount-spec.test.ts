import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "../../../src/volume/mount-spec.js";

function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
}

// Docker docs, "Volumes" / "Bind mounts": "Choose the -v or --mount flag", "Differences
// between -v and --mount behavior".
describe("parseVolumeFlag (-v short syntax)", () => {
  it("a lone path is an anonymous volume", () => {
    expect(parseVolumeFlag("/data")).toEqual({ type: "volume", target: "/data", readonly: false, noCopy: false });
  });
  it("name:/path[:ro] is a named volume", () => {
    expect(parseVolumeFlag("pgdata:/var/lib/postgresql/data:ro")).toEqual({
      type: "volume",
      source: "pgdata",
      target: "/var/lib/postgresql/data",
      readonly: true,
      noCopy: false,
    });
    expect(parseVolumeFlag("cache:/cache:nocopy").type === "volume" && parseVolumeFlag("cache:/cache:nocopy")).toMatchObject({ noCopy: true });
  });
  it("/host:/ctr:rw,z is a bind whose missing source will be created", () => {
    expect(parseVolumeFlag("/srv/www:/usr/share/nginx/html:rw,z")).toEqual({
      type: "bind",
      source: "/srv/www",
      target: "/usr/share/nginx/html",
      readonly: false,
      createSource: true,
      recursive: true,
      selinux: "z",
    });
    expect(parseVolumeFlag("/a:/b:ro,rshared")).toMatchObject({ readonly: true, propagation: "rshared" });
  });
  it("a relative host path is resolved against cwd", () => {
    expect(parseVolumeFlag("./site:/site", { cwd: "/home/me" })).toMatchObject({ type: "bind", source: "/home/me/site" });
  });
  it.each([
    ["/data:ro", /invalid volume specification/],
    ["a:b:c:d", /invalid volume specification/],
    ["vol:relative", /mount path must be absolute/],
    ["vol:/", /destination can't be '\/'/],
    ["/a:/b:rw,ro", /invalid mode/],
    ["/a:/b:bogus", /invalid mode/],
    ["my vol:/x", /includes invalid characters for a local volume name/],
    ["v:/x:shared", /propagation is only valid for bind mounts/],
    ["/a:/b:nocopy", /nocopy is only valid for volumes/],
  ])("refuses %s", (spec, message) => {
    const error = errorOf(() => parseVolumeFlag(spec));
    expect(hasErrorCode(error, "BERTH_MOUNT_INVALID")).toBe(true);
    expect(error.message).toMatch(message);
  });
});

describe("parseMountFlag (--mount long syntax)", () => {
  it("type defaults to volume; volume options are collected", () => {
    expect(parseMountFlag("src=data,dst=/data,readonly,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m")).toEqual({
      type: "volume",
      source: "data",
      target: "/data",
      readonly: true,
      noCopy: true,
      labels: { a: "b" },
      driverOptions: { type: "tmpfs", device: "tmpfs", o: "size=1m" },
    });
  });
  it("a volume without source is anonymous", () => {
    expect(parseMountFlag("type=volume,target=/cache")).toEqual({ type: "volume", target: "/cache", readonly: false, noCopy: false });
  });
  it("a bind with propagation; a missing source is an error at mount time (createSource false)", () => {
    expect(parseMountFlag("type=bind,source=/srv,target=/srv,bind-propagation=rslave,ro=true")).toEqual({
      type: "bind",
      source: "/srv",
      target: "/srv",
      readonly: true,
      propagation: "rslave",
      createSource: false,
      recursive: true,
    });
    expect(parseMountFlag("type=bind,src=/a,dst=/b,bind-recursive=disabled")).toMatchObject({ recursive: false });
  });
  it("tmpfs with size and mode", () => {
    expect(parseMountFlag("type=tmpfs,destination=/run,tmpfs-size=64m,tmpfs-mode=1770")).toEqual({
      type: "tmpfs",
      target: "/run",
      readonly: false,
      size: 64 * 1024 * 1024,
      mode: 0o1770,
    });
  });
  it("quoted values may hold commas", () => {
    expect(parseMountFlag('type=volume,dst=/x,"volume-opt=o=size=1m,uid=1000",volume-opt=type=tmpfs,volume-opt=device=tmpfs')).toMatchObject({
      driverOptions: { o: "size=1m,uid=1000" },
    });
  });
  it.each([
    ["type=bind,target=/x", /field Source must not be empty/],
    ["type=bind,src=rel,target=/x", /mount path must be absolute/],
    ["type=volume,src=v", /target is required/],
    ["type=tmpfs,src=x,dst=/x", /Source must not be specified/],
    ["type=bind,src=/a,dst=/b,volume-nocopy", /cannot mix 'volume-\*' options with mount type 'bind'/],
    ["type=volume,dst=/b,bind-propagation=shared", /cannot mix 'bind-\*' options with mount type 'volume'/],
    ["type=volume,dst=/b,tmpfs-size=1m", /cannot mix 'tmpfs-\*' options/],
    ["type=nfs,dst=/b", /mount type unknown/],
    ["dst=/b,color=red", /unexpected key 'color'/],
    ["dst=/b,readonly=maybe", /invalid value for readonly/],
    ["type=bind,src=/a,dst=/b,bind-propagation=wide", /invalid value for bind-propagation/],
    ["type=tmpfs,dst=/b,tmpfs-mode=999", /invalid value for tmpfs-mode/],
    ["dst=/b,volume-subpath=../up", /subpath must be a relative path/],
    ["dst", /must be a key=value pair/],
  ])("refuses %s", (spec, message) => {
    const error = errorOf(() => parseMountFlag(spec));
    expect(hasErrorCode(error, "BERTH_MOUNT_INVALID")).toBe(true);
    expect(error.message).toMatch(message);
  });
  it("an unknown volume driver is unsupported", () => {
    expect(hasErrorCode(errorOf(() => parseMountFlag("dst=/x,volume-driver=nfs")), "BERTH_UNSUPPORTED")).toBe(true);
  });
});

describe("parseTmpfsFlag (--tmpfs)", () => {
  it("parses size, mode and passes other options through", () => {
    expect(parseTmpfsFlag("/run:rw,noexec,size=64m,mode=1777,uid=1000")).toEqual({
      type: "tmpfs",
      target: "/run",
      readonly: false,
      size: 67108864,
      mode: 0o1777,
      options: ["noexec", "uid=1000"],
    });
    expect(parseTmpfsFlag("/tmp")).toEqual({ type: "tmpfs", target: "/tmp", readonly: false });
  });
});
