import type { ScalarTag, CollectionTag } from "yaml";
import { YAMLMap, YAMLSeq } from "yaml";

/**
 * A value carrying Compose's merge tags: `!reset` drops what earlier files set, `!override`
 * replaces it whole instead of merging. Kept as a wrapper until the files are merged.
 */
export class YamlTagged {
  constructor(
    readonly tag: "!reset" | "!override",
    readonly value: unknown,
  ) {}
}

function tagged(tag: "!reset" | "!override"): Array<ScalarTag | CollectionTag> {
  const scalar: ScalarTag = {
    tag,
    identify: () => false,
    resolve: (str: string) => new YamlTagged(tag, str === "" ? null : str),
  };
  const map: CollectionTag = {
    tag,
    collection: "map",
    nodeClass: YAMLMap,
    identify: () => false,
    resolve: (node) => new YamlTagged(tag, (node as YAMLMap).toJSON()),
  } as CollectionTag;
  const seq: CollectionTag = {
    tag,
    collection: "seq",
    nodeClass: YAMLSeq,
    identify: () => false,
    resolve: (node) => new YamlTagged(tag, (node as YAMLSeq).toJSON()),
  } as CollectionTag;
  return [scalar, map, seq];
}

/** The custom tags to hand to `yaml.parse` for Compose files. */
export const composeYamlTags = [...tagged("!reset"), ...tagged("!override")];
