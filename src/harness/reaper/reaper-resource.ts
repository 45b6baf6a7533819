/**
 * The kinds of things the reaper can remove, in the order it removes them: processes and
 * containers first, since they hold networks, volumes and images in use.
 */
export const reaperKinds = ["process", "container", "network", "netns", "volume", "image", "directory"] as const;

/** A kind of resource the reaper removes; see {@link reaperKinds}. */
export type ReaperKind = (typeof reaperKinds)[number];

/**
 * A resource registered for removal at the end of the session. `data` carries what the
 * removal needs beyond the id and the environment (a store's root, a process start time).
 */
export interface ReaperResource {
  kind: ReaperKind;
  id: string;
  data?: Record<string, string | number | boolean>;
}

/** One line of the pipe between a session and its watchdog. */
export type ReaperMessage = { op: "register"; resource: ReaperResource } | { op: "unregister"; resource: Pick<ReaperResource, "kind" | "id"> };

/** The key a resource is known by in a watchdog's table. */
export function resourceKey(resource: Pick<ReaperResource, "kind" | "id">): string {
  return `${resource.kind}\0${resource.id}`;
}

/** A session file: what one watchdog would remove, so another process can finish the job. */
export interface SessionFile {
  sessionId: string;
  /** The watchdog's pid and start time; the file is stale when that process is gone. */
  watchdog: { pid: number; startTime: number };
  /** The session process's pid. */
  owner: number;
  resources: ReaperResource[];
}
