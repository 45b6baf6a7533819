import type { CliSpec, FlagSpec, FlagType, VerbSpec } from "./parse-args.js";

function f(name: string, type: FlagType, description: string, extra: Partial<FlagSpec> = {}): FlagSpec {
  return { name, type, description, ...extra };
}

const format = (what: string) =>
  f("format", "string", `Format ${what} output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template`);
const quiet = (what: string) => f("quiet", "bool", `Only display ${what}`, { short: "q" });
const noTrunc = f("no-trunc", "bool", "Don't truncate output");
const filter = f("filter", "list", "Filter output based on conditions provided", { short: "f" });
// The prune verbs use -f for --force, so their --filter has no shorthand, as in Docker.
const pruneFilter = f("filter", "list", 'Provide filter values (e.g. "until=<timestamp>")');
const force = (what: string) => f("force", "bool", what, { short: "f" });
const platform = f("platform", "string", "Set platform if server is multi-platform capable");

/** The flags `run` and `create` share. */
const containerFlags: FlagSpec[] = [
  f("add-host", "list", "Add a custom host-to-IP mapping (host:ip)"),
  f("attach", "list", "Attach to STDIN, STDOUT or STDERR", { short: "a" }),
  f("cap-add", "list", "Add Linux capabilities"),
  f("cap-drop", "list", "Drop Linux capabilities"),
  f("cpus", "decimal", "Number of CPUs"),
  f("entrypoint", "string", "Overwrite the default ENTRYPOINT of the image"),
  f("env", "map", "Set environment variables", { short: "e" }),
  f("env-file", "list", "Read in a file of environment variables"),
  f("expose", "list", "Expose a port or a range of ports"),
  f("health-cmd", "string", "Command to run to check health"),
  f("health-interval", "duration", "Time between running the check (ms|s|m|h) (default 0s)"),
  f("health-retries", "int", "Consecutive failures needed to report unhealthy"),
  f("health-start-period", "duration", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)"),
  f("health-start-interval", "duration", "Time between running the check during the start period (ms|s|m|h) (default 0s)"),
  f("health-timeout", "duration", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
  f("hostname", "string", "Container host name", { short: "h" }),
  f("init", "bool", "Run an init inside the container that forwards signals and reaps processes"),
  f("interactive", "bool", "Keep STDIN open even if not attached", { short: "i" }),
  f("label", "map", "Set meta data on a container", { short: "l" }),
  f("memory", "bytes", "Memory limit", { short: "m" }),
  f("mount", "list", "Attach a filesystem mount to the container"),
  f("name", "string", "Assign a name to the container"),
  f("network", "string", "Connect a container to a network", { default: "" }),
  f("network-alias", "list", "Add network-scoped alias for the container"),
  f("no-healthcheck", "bool", "Disable any container-specified HEALTHCHECK"),
  f("pids-limit", "int", "Tune container pids limit (set -1 for unlimited)"),
  platform,
  f("privileged", "bool", "Give extended privileges to this container"),
  f("publish", "list", "Publish a container's port(s) to the host", { short: "p" }),
  f("publish-all", "bool", "Publish all exposed ports to random ports", { short: "P" }),
  f("pull", "string", 'Pull image before running ("always", "missing", "never")', { default: "missing" }),
  f("quiet", "bool", "Suppress the pull output", { short: "q" }),
  f("read-only", "bool", "Mount the container's root filesystem as read only"),
  f("restart", "string", "Restart policy to apply when a container exits", { default: "no" }),
  f("rm", "bool", "Automatically remove the container and its associated anonymous volumes when it exits"),
  f("stop-signal", "string", "Signal to stop the container"),
  f("stop-timeout", "int", "Timeout (in seconds) to stop a container"),
  f("tmpfs", "list", "Mount a tmpfs directory"),
  f("tty", "bool", "Allocate a pseudo-TTY", { short: "t" }),
  f("user", "string", "Username or UID (format: <name|uid>[:<group|gid>])", { short: "u" }),
  f("volume", "list", "Bind mount a volume", { short: "v" }),
  f("workdir", "string", "Working directory inside the container", { short: "w" }),
];

/** Flags between `compose` and its sub-verb. */
const composeFlags: FlagSpec[] = [
  f("file", "list", "Compose configuration files", { short: "f" }),
  f("project-name", "string", "Project name", { short: "p" }),
  f("project-directory", "string", "Specify an alternate working directory (default: the path of the, first specified, Compose file)"),
  f("profile", "list", "Specify a profile to enable"),
  f("env-file", "list", "Specify an alternate environment file"),
  f("ansi", "string", 'Control when to print ANSI control characters ("never"|"always"|"auto")', { default: "auto" }),
  f("progress", "string", "Set type of progress output (auto, tty, plain, json, quiet)"),
];

const v = (path: string, usage: string, description: string, flags: FlagSpec[] = [], extra: Partial<VerbSpec> = {}): VerbSpec => ({
  path: path.split(" "),
  usage,
  description,
  flags,
  ...extra,
});

/** Every verb of `berth`, with Docker's flags, usage lines and argument counts. */
export const berthCli: CliSpec = {
  program: "berth",
  globalFlags: [
    f("config", "string", "Location of client config files", { default: "~/.docker" }),
    f("debug", "bool", "Enable debug mode", { short: "D" }),
    f("log-level", "string", 'Set the logging level ("debug", "info", "warn", "error", "fatal")', { short: "l", default: "info" }),
    f("version", "bool", "Print version information and quit", { short: "v" }),
  ],
  verbs: [
    v("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image", [...containerFlags, f("detach", "bool", "Run container in background and print container ID", { short: "d" }), f("detach-keys", "string", "Override the key sequence for detaching a container")], { stopAtFirstPositional: true, minArgs: 1 }),
    v("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", containerFlags, { stopAtFirstPositional: true, minArgs: 1 }),
    v("start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", [f("attach", "bool", "Attach STDOUT/STDERR and forward signals", { short: "a" }), f("interactive", "bool", "Attach container's STDIN", { short: "i" }), f("detach-keys", "string", "Override the key sequence for detaching a container")], { minArgs: 1 }),
    v("stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers", [f("signal", "string", "Signal to send to the container", { short: "s" }), f("timeout", "int", "Seconds to wait before killing the container", { short: "t" })], { minArgs: 1 }),
    v("restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", [f("signal", "string", "Signal to send to the container", { short: "s" }), f("timeout", "int", "Seconds to wait before killing the container", { short: "t" })], { minArgs: 1 }),
    v("kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", [f("signal", "string", "Signal to send to the container", { short: "s" })], { minArgs: 1 }),
    v("rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", [force("Force the removal of a running container (uses SIGKILL)"), f("volumes", "bool", "Remove anonymous volumes associated with the container", { short: "v" }), f("link", "bool", "Remove the specified link", { short: "l" })], { minArgs: 1 }),
    v("ps", "[OPTIONS]", "List containers", [f("all", "bool", "Show all containers (default shows just running)", { short: "a" }), filter, format("containers"), f("last", "int", "Show n last created containers (includes all states)", { short: "n", default: -1 }), f("latest", "bool", "Show the latest created container (includes all states)", { short: "l" }), noTrunc, quiet("container IDs"), f("size", "bool", "Display total file sizes", { short: "s" })], { maxArgs: 0 }),
    v("logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container", [f("details", "bool", "Show extra details provided to logs"), f("follow", "bool", "Follow log output", { short: "f" }), f("since", "string", 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'), f("tail", "string", 'Number of lines to show from the end of the logs', { short: "n", default: "all" }), f("timestamps", "bool", "Show timestamps", { short: "t" }), f("until", "string", "Show logs before a timestamp or relative")], { minArgs: 1, maxArgs: 1 }),
    v("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container", [f("detach", "bool", "Detached mode: run command in the background", { short: "d" }), f("detach-keys", "string", "Override the key sequence for detaching a container"), f("env", "map", "Set environment variables", { short: "e" }), f("env-file", "list", "Read in a file of environment variables"), f("interactive", "bool", "Keep STDIN open even if not attached", { short: "i" }), f("privileged", "bool", "Give extended privileges to the command"), f("tty", "bool", "Allocate a pseudo-TTY", { short: "t" }), f("user", "string", "Username or UID (format: \"<name|uid>[:<group|gid>]\")", { short: "u" }), f("workdir", "string", "Working directory inside the container", { short: "w" })], { stopAtFirstPositional: true, minArgs: 2 }),
    v("cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-", "Copy files/folders between a container and the local filesystem", [f("archive", "bool", "Archive mode (copy all uid/gid information)", { short: "a" }), f("follow-link", "bool", "Always follow symbol link in SRC_PATH", { short: "L" }), f("quiet", "bool", "Suppress progress output during copy", { short: "q" })], { minArgs: 2, maxArgs: 2 }),
    v("inspect", "[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on Docker objects", [format("inspect"), f("size", "bool", "Display total file sizes if the type is container", { short: "s" }), f("type", "string", "Only inspect objects of the given type")], { minArgs: 1 }),
    v("attach", "[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container", [f("detach-keys", "string", "Override the key sequence for detaching a container"), f("no-stdin", "bool", "Do not attach STDIN"), f("sig-proxy", "bool", "Proxy all received signals to the process", { default: true })], { minArgs: 1, maxArgs: 1 }),
    v("wait", "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes", [], { minArgs: 1 }),
    v("pause", "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", [], { minArgs: 1 }),
    v("unpause", "CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", [], { minArgs: 1 }),
    v("port", "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container", [], { minArgs: 1, maxArgs: 2 }),
    v("top", "CONTAINER [ps OPTIONS]", "Display the running processes of a container", [], { minArgs: 1, stopAtFirstPositional: true }),
    v("stats", "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics", [f("all", "bool", "Show all containers (default shows just running)", { short: "a" }), format("stats"), f("no-stream", "bool", "Disable streaming stats and only pull the first result"), noTrunc]),
    v("commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes", [f("author", "string", 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")', { short: "a" }), f("change", "list", "Apply Dockerfile instruction to the created image", { short: "c" }), f("message", "string", "Commit message", { short: "m" }), f("pause", "bool", "Pause container during commit", { short: "p", default: true })], { minArgs: 1, maxArgs: 2 }),
    v("build", "[OPTIONS] PATH | URL | -", "Build an image from a Dockerfile", [f("build-arg", "list", "Set build-time variables"), f("cache-from", "list", "External cache sources (e.g., \"myname/myapp\")"), f("file", "string", "Name of the Dockerfile (default: \"PATH/Dockerfile\")", { short: "f" }), f("label", "list", "Set metadata for an image"), f("network", "string", "Set the networking mode for the RUN instructions during build", { default: "default" }), f("no-cache", "bool", "Do not use cache when building the image"), platform, f("progress", "string", 'Set type of progress output ("auto", "quiet", "plain", "tty", "rawjson"). Use plain to show container output', { default: "auto" }), f("pull", "bool", "Always attempt to pull all referenced images"), f("quiet", "bool", "Suppress the build output and print image ID on success", { short: "q" }), f("secret", "list", 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")'), f("tag", "list", 'Name and optionally a tag (format: "name:tag")', { short: "t" }), f("target", "string", "Set the target build stage to build")], { minArgs: 1, maxArgs: 1 }),
    v("images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images", [f("all", "bool", "Show all images (default hides intermediate images)", { short: "a" }), f("digests", "bool", "Show digests"), filter, format("images"), noTrunc, quiet("image IDs")], { maxArgs: 1 }),
    v("pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", [f("all-tags", "bool", "Download all tagged images in the repository", { short: "a" }), platform, f("quiet", "bool", "Suppress verbose output", { short: "q" })], { minArgs: 1, maxArgs: 1 }),
    v("push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", [f("all-tags", "bool", "Push all tags of an image to the repository", { short: "a" }), f("quiet", "bool", "Suppress verbose output", { short: "q" })], { minArgs: 1, maxArgs: 1 }),
    v("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", [], { minArgs: 2, maxArgs: 2 }),
    v("rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", [force("Force removal of the image"), f("no-prune", "bool", "Do not delete untagged parents")], { minArgs: 1 }),
    v("save", "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)", [f("output", "string", "Write to a file, instead of STDOUT", { short: "o" })], { minArgs: 1 }),
    v("load", "[OPTIONS]", "Load an image from a tar archive or STDIN", [f("input", "string", "Read from tar archive file, instead of STDIN", { short: "i" }), f("quiet", "bool", "Suppress the load output", { short: "q" })], { maxArgs: 0 }),
    v("import", "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image", [f("change", "list", "Apply Dockerfile instruction to the created image", { short: "c" }), f("message", "string", "Set commit message for imported image", { short: "m" }), platform], { minArgs: 1, maxArgs: 2 }),
    v("history", "[OPTIONS] IMAGE", "Show the history of an image", [format("history"), f("human", "bool", "Print sizes and dates in human readable format", { short: "H", default: true }), noTrunc, quiet("image IDs")], { minArgs: 1, maxArgs: 1 }),
    v("login", "[OPTIONS] [SERVER]", "Authenticate to a registry", [f("password", "string", "Password or Personal Access Token (PAT)", { short: "p" }), f("password-stdin", "bool", "Take the Password or Personal Access Token (PAT) from stdin"), f("username", "string", "Username", { short: "u" })], { maxArgs: 1 }),
    v("logout", "[SERVER]", "Log out from a registry", [], { maxArgs: 1 }),
    v("network", "COMMAND", "Manage networks", [], { group: true }),
    v("network create", "[OPTIONS] NETWORK", "Create a network", [f("attachable", "bool", "Enable manual container attachment"), f("driver", "string", "Driver to manage the Network", { short: "d", default: "bridge" }), f("gateway", "list", "IPv4 or IPv6 Gateway for the master subnet"), f("internal", "bool", "Restrict external access to the network"), f("ip-range", "list", "Allocate container ip from a sub-range"), f("ipv6", "bool", "Enable or disable IPv6 networking"), f("label", "list", "Set metadata on a network"), f("opt", "map", "Set driver specific options", { short: "o" }), f("subnet", "list", "Subnet in CIDR format that represents a network segment")], { minArgs: 1, maxArgs: 1 }),
    v("network ls", "[OPTIONS]", "List networks", [filter, format("networks"), noTrunc, quiet("network IDs")], { maxArgs: 0, aliases: [["network", "list"]] }),
    v("network inspect", "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks", [format("inspect"), f("verbose", "bool", "Verbose output for diagnostics", { short: "v" })], { minArgs: 1 }),
    v("network rm", "NETWORK [NETWORK...]", "Remove one or more networks", [force("Do not error if the network does not exist")], { minArgs: 1, aliases: [["network", "remove"]] }),
    v("network connect", "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network", [f("alias", "list", "Add network-scoped alias for the container"), f("ip", "string", "IPv4 address (e.g., \"172.30.100.104\")")], { minArgs: 2, maxArgs: 2 }),
    v("network disconnect", "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network", [force("Force the container to disconnect from a network")], { minArgs: 2, maxArgs: 2 }),
    v("network prune", "[OPTIONS]", "Remove all unused networks", [pruneFilter, force("Do not prompt for confirmation")], { maxArgs: 0 }),
    v("volume", "COMMAND", "Manage volumes", [], { group: true }),
    v("volume create", "[OPTIONS] [VOLUME]", "Create a volume", [f("driver", "string", "Specify volume driver name", { short: "d", default: "local" }), f("label", "list", "Set metadata for a volume"), f("opt", "map", "Set driver specific options", { short: "o" })], { maxArgs: 1 }),
    v("volume ls", "[OPTIONS]", "List volumes", [filter, format("volumes"), quiet("volume names")], { maxArgs: 0, aliases: [["volume", "list"]] }),
    v("volume inspect", "[OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes", [format("inspect")], { minArgs: 1 }),
    v("volume rm", "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes", [force("Force the removal of one or more volumes")], { minArgs: 1, aliases: [["volume", "remove"]] }),
    v("volume prune", "[OPTIONS]", "Remove unused local volumes", [f("all", "bool", "Remove all unused volumes, not just anonymous ones", { short: "a" }), pruneFilter, force("Do not prompt for confirmation")], { maxArgs: 0 }),
    v("system", "COMMAND", "Manage Docker", [], { group: true }),
    v("system df", "[OPTIONS]", "Show docker disk usage", [format("disk usage"), f("verbose", "bool", "Show detailed information on space usage", { short: "v" })], { maxArgs: 0 }),
    v("system prune", "[OPTIONS]", "Remove unused data", [f("all", "bool", "Remove all unused images not just dangling ones", { short: "a" }), pruneFilter, force("Do not prompt for confirmation"), f("volumes", "bool", "Prune anonymous volumes")], { maxArgs: 0 }),
    v("container", "COMMAND", "Manage containers", [], { group: true }),
    v("container prune", "[OPTIONS]", "Remove all stopped containers", [pruneFilter, force("Do not prompt for confirmation")], { maxArgs: 0 }),
    v("image", "COMMAND", "Manage images", [], { group: true }),
    v("image prune", "[OPTIONS]", "Remove unused images", [f("all", "bool", "Remove all unused images, not just dangling ones", { short: "a" }), pruneFilter, force("Do not prompt for confirmation")], { maxArgs: 0 }),
    v("help", "[COMMAND]", "Help about any command", [], { stopAtFirstPositional: true }),
    v("version", "[OPTIONS]", "Show the berth version information", [format("version")], { maxArgs: 0 }),
    v("info", "[OPTIONS]", "Display system-wide information", [format("info")], { maxArgs: 0 }),
    v("compose", "[OPTIONS] COMMAND", "Define and run multi-container applications with berth", [], { group: true, groupFlags: composeFlags }),
    v("compose up", "[OPTIONS] [SERVICE...]", "Create and start containers", [f("build", "bool", "Build images before starting containers"), f("detach", "bool", "Detached mode: Run containers in the background", { short: "d" }), f("no-build", "bool", "Don't build an image, even if it's policy"), f("no-deps", "bool", "Don't start linked services"), f("remove-orphans", "bool", "Remove containers for services not defined in the Compose file"), f("scale", "list", "Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present."), f("timeout", "int", "Use this timeout in seconds for container shutdown when attached or when containers are already running", { short: "t" }), f("wait", "bool", "Wait for services to be running|healthy. Implies detached mode."), f("wait-timeout", "int", "Maximum duration in seconds to wait for the project to be running|healthy")]),
    v("compose down", "[OPTIONS] [SERVICES]", "Stop and remove containers, networks", [f("remove-orphans", "bool", "Remove containers for services not defined in the Compose file"), f("rmi", "string", 'Remove images used by services. "local" remove only images that don\'t have a custom tag ("local"|"all")'), f("timeout", "int", "Specify a shutdown timeout in seconds", { short: "t" }), f("volumes", "bool", "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers", { short: "v" })]),
    v("compose ps", "[OPTIONS] [SERVICE...]", "List containers", [f("all", "bool", "Show all stopped containers (including those created by the run command)", { short: "a" }), filter, format("containers"), noTrunc, quiet("IDs"), f("services", "bool", "Display services"), f("status", "list", "Filter services by status")]),
    v("compose logs", "[OPTIONS] [SERVICE...]", "View output from containers", [f("follow", "bool", "Follow log output", { short: "f" }), f("no-color", "bool", "Produce monochrome output"), f("no-log-prefix", "bool", "Don't print prefix in logs"), f("since", "string", "Show logs since timestamp or relative"), f("tail", "string", "Number of lines to show from the end of the logs for each container", { short: "n", default: "all" }), f("timestamps", "bool", "Show timestamps", { short: "t" })]),
    v("compose build", "[OPTIONS] [SERVICE...]", "Build or rebuild services", [f("build-arg", "list", "Set build-time variables for services"), f("no-cache", "bool", "Do not use cache when building the image"), f("pull", "bool", "Always attempt to pull a newer version of the image"), f("quiet", "bool", "Don't print anything to STDOUT", { short: "q" })]),
    v("compose pull", "[OPTIONS] [SERVICE...]", "Pull service images", [f("ignore-pull-failures", "bool", "Pull what it can and ignores images with pull failures"), f("quiet", "bool", "Pull without printing progress information", { short: "q" })]),
    v("compose exec", "[OPTIONS] SERVICE COMMAND [ARGS...]", "Execute a command in a running container", [f("detach", "bool", "Detached mode: Run command in the background", { short: "d" }), f("env", "map", "Set environment variables", { short: "e" }), f("index", "int", "Index of the container if service has multiple replicas", { default: 0 }), f("no-TTY", "bool", "Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.", { short: "T" }), f("privileged", "bool", "Give extended privileges to the process"), f("user", "string", "Run the command as this user", { short: "u" }), f("workdir", "string", "Path to workdir directory for this command", { short: "w" })], { stopAtFirstPositional: true, minArgs: 2 }),
    v("compose run", "[OPTIONS] SERVICE [COMMAND] [ARGS...]", "Run a one-off command on a service", [f("detach", "bool", "Run container in background and print container ID", { short: "d" }), f("entrypoint", "string", "Override the entrypoint of the image"), f("env", "map", "Set environment variables", { short: "e" }), f("interactive", "bool", "Keep STDIN open even if not attached", { short: "i", default: true }), f("label", "map", "Add or override a label", { short: "l" }), f("name", "string", "Assign a name to the container"), f("no-TTY", "bool", "Disable pseudo-TTY allocation (default: auto-detected)", { short: "T" }), f("no-deps", "bool", "Don't start linked services"), f("publish", "list", "Publish a container's port(s) to the host", { short: "p" }), f("rm", "bool", "Automatically remove the container when it exits"), f("service-ports", "bool", "Run command with all service's ports enabled and mapped to the host"), f("user", "string", "Run as specified username or uid", { short: "u" }), f("volume", "list", "Bind mount a volume", { short: "v" }), f("workdir", "string", "Working directory inside the container", { short: "w" })], { stopAtFirstPositional: true, minArgs: 1 }),
    v("compose config", "[OPTIONS] [SERVICE...]", "Parse, resolve and render compose file in canonical format", [f("format", "string", 'Format the output. Values: [yaml | json]', { default: "yaml" }), f("output", "string", "Save to file (default to stdout)", { short: "o" }), f("profiles", "bool", "Print the profile names, one per line"), f("quiet", "bool", "Only validate the configuration, don't print anything", { short: "q" }), f("services", "bool", "Print the service names, one per line"), f("volumes", "bool", "Print the volume names, one per line"), f("images", "bool", "Print the image names, one per line"), f("hash", "string", 'Print the service config hash, one per line. Set "service1,service2" for a list of specified services or use the wildcard symbol to display all services')]),
    v("compose restart", "[OPTIONS] [SERVICE...]", "Restart service containers", [f("no-deps", "bool", "Don't restart dependent services"), f("timeout", "int", "Specify a shutdown timeout in seconds", { short: "t" })]),
    v("compose stop", "[OPTIONS] [SERVICE...]", "Stop services", [f("timeout", "int", "Specify a shutdown timeout in seconds", { short: "t" })]),
    v("compose start", "[SERVICE...]", "Start services", []),
  ],
};
