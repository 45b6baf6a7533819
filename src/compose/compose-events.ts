/** What a compose operation reports as it goes, as `docker compose` prints it (` Container app-web-1  Started`). */
export interface ComposeEvent {
  /** `Network`, `Volume`, `Container`, `Image` or `Service`. */
  kind: "Network" | "Volume" | "Container" | "Image" | "Service" | "Warning";
  /** The object's real name (`app_default`, `app-web-1`). */
  name: string;
  /** `Creating`, `Created`, `Starting`, `Started`, `Waiting`, `Healthy`, `Stopping`, `Removed`... or a warning's text. */
  status: string;
}

/** A listener of {@link ComposeEvent}s. */
export type ComposeEventListener = (event: ComposeEvent) => void;

/** One event as `docker compose` prints it on a non-terminal. */
export function formatComposeEvent(event: ComposeEvent): string {
  if (event.kind === "Warning") return `WARN[0000] ${event.status}\n`;
  return ` ${event.kind} ${event.name}  ${event.status}\n`;
}

/** The things a compose operation is about to create, for a reaper that must know them first. */
export interface ComposeResource {
  kind: "container" | "network" | "volume";
  /** The real name. */
  name: string;
}
