import { describe, expect, it } from "vitest";
import { hasErrorCode } from "../../../src/common/berth-error.js";
import { familiarName, formatReference, parseReference } from "../../../src/image/reference.js";

const digest = `sha256:${"a".repeat(64)}`;

// Docker's normalisation (distribution/reference ParseNormalizedNamed), case by case.
const normalised: [string, string, string][] = [
  ["redis", "docker.io/library/redis:latest", "redis:latest"],
  ["redis:7", "docker.io/library/redis:7", "redis:7"],
  ["library/redis", "docker.io/library/redis:latest", "redis:latest"],
  ["docker.io/redis", "docker.io/library/redis:latest", "redis:latest"],
  ["docker.io/library/redis:7.2-alpine", "docker.io/library/redis:7.2-alpine", "redis:7.2-alpine"],
  ["index.docker.io/redis", "docker.io/library/redis:latest", "redis:latest"],
  ["bitnami/redis", "docker.io/bitnami/redis:latest", "bitnami/redis:latest"],
  ["org/team/app:v1", "docker.io/org/team/app:v1", "org/team/app:v1"],
  ["localhost/app", "localhost/app:latest", "localhost/app:latest"],
  ["localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest"],
  ["localhost:5000/app:dev", "localhost:5000/app:dev", "localhost:5000/app:dev"],
  ["127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"],
  ["ghcr.io/org/app", "ghcr.io/org/app:latest", "ghcr.io/org/app:latest"],
  ["quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0"],
  ["my-registry:8080/x", "my-registry:8080/x:latest", "my-registry:8080/x:latest"],
  ["Registry/app", "Registry/app:latest", "Registry/app:latest"],
  ["[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"],
  ["a__b/c.d-e", "docker.io/a__b/c.d-e:latest", "a__b/c.d-e:latest"],
  ["foo_bar:TAG_1.0-x", "docker.io/library/foo_bar:TAG_1.0-x", "foo_bar:TAG_1.0-x"],
  // As in Docker: with no slash, `localhost` is a name and `5000` its tag.
  ["localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"],
  [`redis@${digest}`, `docker.io/library/redis@${digest}`, `redis@${digest}`],
  [`redis:7@${digest}`, `docker.io/library/redis:7@${digest}`, `redis:7@${digest}`],
  [`localhost:5000/app@${digest}`, `localhost:5000/app@${digest}`, `localhost:5000/app@${digest}`],
];

const refused = [
  "",
  " redis",
  "Redis",
  "docker.io/Redis",
  "redis:",
  "redis:-bad",
  `redis:${"t".repeat(129)}`,
  "redis@sha256:abc",
  `redis@sha256:${"A".repeat(64)}`,
  "redis@md5",
  "-redis",
  "redis-",
  "re..dis",
  "a//b",
  "/redis",
  "redis/",
  ":latest",
  "a".repeat(64),
  `${"x".repeat(250)}/y`,
  "ho$t.com/app",
];

describe("parseReference", () => {
  it.each(normalised)("normalises %s", (input, full, familiar) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(full);
    expect(familiarName(ref)).toBe(familiar);
  });

  it.each(refused)("refuses %j with BERTH_REFERENCE_INVALID", (input) => {
    let error: unknown;
    try {
      parseReference(input);
    } catch (e) {
      error = e;
    }
    expect(hasErrorCode(error, "BERTH_REFERENCE_INVALID")).toBe(true);
  });

  it("keeps tag and digest apart; the digest is what gets pulled", () => {
    expect(parseReference(`redis:7@${digest}`)).toEqual({
      registry: "docker.io",
      repository: "library/redis",
      tag: "7",
      digest,
    });
  });

  it("gives no tag when only a digest is given", () => {
    expect(parseReference(`redis@${digest}`).tag).toBeUndefined();
  });
});
