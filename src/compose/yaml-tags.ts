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
  const collection = (kind: "map" | "seq", nodeClass: typeof YAMLMap | typeof YAMLSeq): CollectionTag =>
    ({
      tag,
      collection: kind,
      nodeClass,
      identify: () => false,
      resolve: (node) => new YamlTagged(tag, (node as YAMLMap | YAMLSeq).toJSON()),
    }) as CollectionTag;
  return [scalar, collection("map", YAMLMap), collection("seq", YAMLSeq)];
}

/** The custom tags to hand to `yaml.parse` for Compose files. */
export const composeYamlTags = [...tagged("!reset"), ...tagged("!override")];
