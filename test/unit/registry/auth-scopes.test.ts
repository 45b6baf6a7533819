import { describe, expect, it } from "vitest";
import { basicHeader, normaliseScopes } from "../../../src/registry/auth.js";

describe("token scopes", () => {
  it("merges actions per repository and sorts, so equal needs share one cache key", () => {
    expect(normaliseScopes(["repository:b/x:push", "repository:a/y:pull", "repository:b/x:pull"])).toEqual([
      "repository:a/y:pull",
      "repository:b/x:pull,push",
    ]);
  });

  it("keeps registry-wide scopes and repositories with ports in their path", () => {
    expect(normaliseScopes(["registry:catalog:*", "repository:host:5000/x:pull"])).toEqual([
      "registry:catalog:*",
      "repository:host:5000/x:pull",
    ]);
  });

  it("builds a basic header over UTF-8", () => {
    expect(basicHeader("ü", "p:w")).toBe(`Basic ${Buffer.from("ü:p:w").toString("base64")}`);
  });
});
