import { BerthError } from "../common/index.js";
import type { ComposeProject } from "./types.js";

/**
 * Orders the project's services for `up`: each group's services depend only on services of
 * earlier groups, so a group can start concurrently. Names sort within a group so the order
 * is stable. A cycle is a `BERTH_COMPOSE_CYCLE` naming it (`web -> db -> web`).
 */
export function startOrder(project: Pick<ComposeProject, "services" | "configFiles">): string[][] {
  const names = Object.keys(project.services);
  const deps = new Map(names.map((n) => [n, Object.keys(project.services[n]!.dependsOn).filter((d) => project.services[d])]));
  const cycle = findCycle(names, deps);
  if (cycle) {
    throw new BerthError("BERTH_COMPOSE_CYCLE", `dependency cycle detected: ${cycle.join(" -> ")}`, {
      path: project.configFiles[0],
      cycle,
    });
  }
  const groups: string[][] = [];
  const placed = new Set<string>();
  while (placed.size < names.length) {
    const ready = names.filter((n) => !placed.has(n) && deps.get(n)!.every((d) => placed.has(d))).sort();
    for (const n of ready) placed.add(n);
    groups.push(ready);
  }
  return groups;
}

/** The reverse of {@link startOrder}: dependents stop before what they depend on. */
export function stopOrder(project: Pick<ComposeProject, "services" | "configFiles">): string[][] {
  return startOrder(project).reverse();
}

function findCycle(names: string[], deps: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === "done") return undefined;
    if (state.get(n) === "visiting") return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, "visiting");
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(n, "done");
    return undefined;
  };
  for (const n of names) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}
