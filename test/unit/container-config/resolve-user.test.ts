import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/index.js";
import { resolveInRoot } from "../../../src/runtime/container-config/in-root-path.js";
import { resolveUser, withHome } from "../../../src/runtime/container-config/resolve-user.js";

const passwd = [
  "root:x:0:0:root:/root:/bin/bash",
  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
  "postgres:x:999:999::/var/lib/postgresql:/bin/bash",
  "# a comment",
  "app:x:1000:1000::/home/app:/bin/sh",
].join("\n");
const group = ["root:x:0:", "daemon:x:1:", "tty:x:5:app", "postgres:x:999:", "ssl-cert:x:101:postgres", "app:x:1000:", "video:x:44:app,postgres"].join("\n");
const db = { passwd, group };

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

// Docker docs, `docker run --user`: name|uid[:group|gid]; runc's GetExecUser semantics.
describe("resolveUser", () => {
  it("empty is root with root's home", async () => {
    expect(await resolveUser("", db)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: "/root", name: "root" });
  });
  it("a name gives its uid, primary gid, home and supplementary groups", async () => {
    expect(await resolveUser("postgres", db)).toEqual({ uid: 999, gid: 999, additionalGids: [101, 44], home: "/var/lib/postgresql", name: "postgres" });
  });
  it("a uid found in passwd is that user", async () => {
    expect(await resolveUser("1000", db)).toMatchObject({ uid: 1000, gid: 1000, home: "/home/app", additionalGids: [5, 44] });
  });
  it("a uid not in passwd needs no entry: gid 0, home /", async () => {
    expect(await resolveUser("4242", db)).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: "/" });
  });
  it("numeric ids need no files at all", async () => {
    expect(await resolveUser("1234:5678", {})).toEqual({ uid: 1234, gid: 5678, additionalGids: [], home: "/" });
  });
  it("user:group sets the group and drops the supplementary groups", async () => {
    expect(await resolveUser("postgres:video", db)).toMatchObject({ uid: 999, gid: 44, additionalGids: [] });
    expect(await resolveUser("app:4000", db)).toMatchObject({ uid: 1000, gid: 4000, additionalGids: [] });
    expect(await resolveUser("4000:tty", db)).toMatchObject({ uid: 4000, gid: 5 });
  });
  it("an unknown name fails with Docker's message", async () => {
    const error = await failure(resolveUser("nobody", db));
    expect(hasErrorCode(error, "BERTH_INVALID_ARGUMENT")).toBe(true);
    expect((error as Error).message).toBe("unable to find user nobody: no matching entries in passwd file");
  });
  it("an unknown group fails with Docker's message", async () => {
    const error = await failure(resolveUser("app:wheel", db));
    expect((error as Error).message).toBe("unable to find group wheel: no matching entries in group file");
  });
  it("a name without a passwd file fails", async () => {
    expect((await failure(resolveUser("app", {})) as Error).message).toMatch(/unable to find user app/);
  });
  it("ids out of range fail", async () => {
    expect((await failure(resolveUser("4294967296", db)) as Error).message).toMatch(/range 0-2147483647/);
  });
  it("--group-add adds names and gids after the user's own groups, once each", async () => {
    expect((await resolveUser("app", db, { groupAdd: ["postgres", 2000, "44"] })).additionalGids).toEqual([5, 44, 999, 2000]);
    expect((await failure(resolveUser("app", db, { groupAdd: ["nogroup"] })) as Error).message).toMatch(/unable to find group nogroup/);
  });
  it("withHome adds HOME only when the environment has none", async () => {
    const user = await resolveUser("app", db);
    expect(withHome(["A=1"], user)).toEqual(["A=1", "HOME=/home/app"]);
    expect(withHome(["HOME=/x"], user)).toEqual(["HOME=/x"]);
  });
});

describe("resolveUser from a rootfs", () => {
  let root: string;
  let outside: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "berth-user-"));
    outside = await mkdtemp(join(tmpdir(), "berth-outside-"));
    await mkdir(join(root, "etc"));
    await mkdir(join(root, "usr/share/base"), { recursive: true });
    await writeFile(join(root, "usr/share/base/passwd"), passwd);
    // An absolute symlink must resolve inside the rootfs, never on the host.
    await symlink("/usr/share/base/passwd", join(root, "etc/passwd"));
    await writeFile(join(outside, "group"), "evil:x:0:app\n");
    await symlink(join("../../../../../../..", outside, "group"), join(root, "etc/group"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  it("reads /etc/passwd through an absolute symlink inside the root", async () => {
    expect(await resolveUser("postgres", { rootfs: root })).toMatchObject({ uid: 999, home: "/var/lib/postgresql" });
  });
  it("never follows a symlink out of the root (a ../ escape reads nothing)", async () => {
    const user = await resolveUser("app", { rootfs: root });
    expect(user.additionalGids).toEqual([]);
  });
  it("a rootfs without /etc/passwd resolves only numeric users", async () => {
    const empty = await mkdtemp(join(tmpdir(), "berth-empty-"));
    expect(await resolveUser("5:6", { rootfs: empty })).toMatchObject({ uid: 5, gid: 6 });
    expect((await failure(resolveUser("app", { rootfs: empty })) as Error).message).toMatch(/no matching entries in passwd file/);
    await rm(empty, { recursive: true });
  });
});

describe("resolveInRoot", () => {
  it("fails with BERTH_PATH_ESCAPE on a symlink loop instead of spinning", async () => {
    const root = await mkdtemp(join(tmpdir(), "berth-loop-"));
    await symlink("/b", join(root, "a"));
    await symlink("/a", join(root, "b"));
    const error = await failure(resolveInRoot(root, "/a/x"));
    expect(hasErrorCode(error, "BERTH_PATH_ESCAPE")).toBe(true);
    expect(await resolveInRoot(root, "/../../etc/passwd")).toBe(join(root, "etc/passwd"));
    await rm(root, { recursive: true });
  });
});
