/** One challenge of a `WWW-Authenticate` header: its scheme and its parameters. */
export interface AuthChallenge {
  /** The scheme, lower-cased: `bearer`, `basic`. */
  scheme: string;
  /** The parameters with lower-cased names: `realm`, `service`, `scope`, `error`. */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 7235) into its challenges. Registries send one
 * challenge, but a header may hold several (`Basic realm="x", Bearer realm="y"`) and a
 * parameter value may be quoted and contain commas (`scope="repository:a:pull,push"`), so
 * a split on commas would be wrong. Malformed input yields the challenges that parsed
 * before it, never an exception: the header comes from the network.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseWwwAuthenticate(h));
  const challenges: AuthChallenge[] = [];
  const s = header;
  let i = 0;
  const skipSpace = (): void => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z/]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipSpace();
    while (s[i] === ",") {
      i++;
      skipSpace();
    }
    const scheme = readToken();
    if (!scheme) break;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    // Parameters follow until the next token that is not followed by `=` (a new scheme).
    for (;;) {
      skipSpace();
      const save = i;
      const name = readToken();
      skipSpace();
      if (!name || s[i] !== "=") {
        // token68 (`Basic abc==`) or the start of the next challenge.
        if (name && Object.keys(challenge.params).length === 0 && s[i] !== ",") {
          i = save;
          // A token68 value: skip it entirely, registries never send one.
          while (i < s.length && s[i] !== ",") i++;
        } else {
          i = save;
        }
        break;
      }
      i++; // '='
      skipSpace();
      let value = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < s.length && s[i] !== "," && s[i] !== " " && s[i] !== "\t") i++;
        value = s.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
      skipSpace();
      if (s[i] === ",") {
        i++;
        continue;
      }
      if (i >= s.length) break;
    }
  }
  return challenges;
}
