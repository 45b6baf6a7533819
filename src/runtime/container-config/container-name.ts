import { randomInt } from "node:crypto";
import { BerthError } from "../../common/berth-error.js";

/** Docker's rule for container (and volume) names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. */
export const containerNamePattern = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * Checks a user-given name and returns it without Docker's optional leading `/`. Fails with
 * `BERTH_INVALID_ARGUMENT` and Docker's message otherwise.
 */
export function validateContainerName(name: string): string {
  if (!containerNamePattern.test(name)) {
    throw new BerthError("BERTH_INVALID_ARGUMENT", `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, {
      field: "name",
      container: name,
    });
  }
  return name.startsWith("/") ? name.slice(1) : name;
}

// berth's own lists: qualities one would like in a container, and people whose work
// made computing (and so containers) possible.
const adjectives = [
  "agile", "amber", "ample", "arcane", "bold", "brave", "breezy", "bright", "brisk", "calm",
  "candid", "clever", "cosmic", "crisp", "curious", "daring", "deft", "eager", "earnest", "fearless",
  "fluent", "frank", "gentle", "gleaming", "glad", "hardy", "humble", "jolly", "keen", "kind",
  "lively", "loyal", "lucid", "merry", "mindful", "nimble", "noble", "patient", "plucky", "polite",
  "quiet", "rapid", "serene", "sincere", "steady", "sunny", "swift", "tidy", "vivid", "witty",
] as const;

const people = [
  "allen", "babbage", "backus", "bartik", "berners_lee", "cerf", "conway", "corbato", "dahl", "dijkstra",
  "easley", "engelbart", "feigenbaum", "goldberg", "goldwasser", "hamilton", "hartree", "hollerith", "hopper", "kahan",
  "kahn", "kay", "kernighan", "kildall", "knuth", "lamport", "liskov", "lovelace", "mccarthy", "mcilroy",
  "metcalfe", "minsky", "moore", "naur", "nygaard", "pike", "rabin", "ritchie", "shannon", "shaw",
  "sutherland", "tarjan", "thompson", "torvalds", "turing", "valiant", "vonneumann", "wilkes", "wirth", "zuse",
] as const;

/**
 * A name in Docker's `adjective_surname` style. With `retry` > 0 a digit is appended, as
 * Docker does when its first choice was taken. Not guaranteed unique: the caller checks.
 */
export function generateContainerName(retry = 0, random: (max: number) => number = randomInt): string {
  const name = `${adjectives[random(adjectives.length)]}_${people[random(people.length)]}`;
  return retry > 0 ? `${name}${random(10)}` : name;
}

/** How many distinct names {@link generateContainerName} can give without a suffix. */
export const generatedNameCount = adjectives.length * people.length;
