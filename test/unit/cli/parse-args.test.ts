import { describe, expect, it } from "vitest";
import { formatVerbHelp, parseArgs } from "../../../src/cli/parse-args.js";
import { berthCli } from "../../../src/cli/verbs.js";
import { hasErrorCode } from "../../../src/common/index.js";

const parse = (line: string[]) => parseArgs(line, berthCli);

function usage(line: string[]): string {
  try {
    parse(line);
  } catch (e) {
    expect(hasErrorCode(e, "BERTH_CLI_USAGE")).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected a usage error");
}

describe("parseArgs: Docker's command lines", () => {
  it("run -it --rm -e A=1 -p 8080:80 busybox sh -c \"x\"", () => {
    const c = parse(["run", "-it", "--rm", "-e", "A=1", "-p", "8080:80", "busybox", "sh", "-c", "x"]);
    expect(c.path).toEqual(["run"]);
    expect(c.flags.interactive).toBe(true);
    expect(c.flags.tty).toBe(true);
    expect(c.flags.rm).toBe(true);
    expect(c.flags.env).toEqual({ A: "1" });
    expect(c.flags.publish).toEqual(["8080:80"]);
    expect(c.args).toEqual(["busybox", "sh", "-c", "x"]);
  });

  it("flags after the image belong to the command, not to run", () => {
    const c = parse(["run", "--name", "x", "busybox", "ls", "-la", "--rm", "-it"]);
    expect(c.flags.rm).toBe(false);
    expect(c.flags.name).toBe("x");
    expect(c.args).toEqual(["busybox", "ls", "-la", "--rm", "-it"]);
  });

  it("-itd bundles three booleans", () => {
    const c = parse(["run", "-itd", "img"]);
    expect([c.flags.interactive, c.flags.tty, c.flags.detach]).toEqual([true, true, true]);
  });

  it("a value glued to a short flag, in a bundle or alone", () => {
    const c = parse(["run", "-eA=1", "-p8080:80", "-itp", "9000:9000", "-e=B=2", "img"]);
    expect(c.flags.env).toEqual({ A: "1", B: "2" });
    expect(c.flags.publish).toEqual(["8080:80", "9000:9000"]);
  });

  it("repeated flags accumulate; -e KEY alone is kept for the host's value", () => {
    const c = parse(["run", "-e", "A=1", "-e", "B=x=y", "-e", "HOME", "--label", "a=b", "-v", "/a:/a", "-v", "/b:/b", "img"]);
    expect(c.flags.env).toEqual({ A: "1", B: "x=y", HOME: null });
    expect(c.flags.label).toEqual({ a: "b" });
    expect(c.flags.volume).toEqual(["/a:/a", "/b:/b"]);
  });

  it("--flag=value and --flag value; --bool=false", () => {
    const c = parse(["run", "--name=web", "--network", "front", "--rm=false", "--init=true", "img"]);
    expect([c.flags.name, c.flags.network, c.flags.rm, c.flags.init]).toEqual(["web", "front", false, true]);
  });

  it("typed values: bytes, decimal, int, duration", () => {
    const c = parse(["run", "--memory", "512m", "--cpus", "1.5", "--pids-limit", "100", "--health-interval", "1m30s", "img"]);
    expect(c.flags.memory).toBe(512 * 1024 ** 2);
    expect(c.flags.cpus).toBe(1.5);
    expect(c.flags["pids-limit"]).toBe(100);
    expect(c.flags["health-interval"]).toBe(90_000);
  });

  it("defaults are filled in", () => {
    const c = parse(["run", "img"]);
    expect(c.flags.pull).toBe("missing");
    expect(c.flags.detach).toBe(false);
    expect(c.flags.publish).toEqual([]);
    expect(c.flags.env).toEqual({});
  });

  it("-- ends the flags", () => {
    const c = parse(["run", "--rm", "--", "img", "--not-a-flag"]);
    expect(c.args).toEqual(["img", "--not-a-flag"]);
    const rm = parse(["rm", "--", "-weird-name"]);
    expect(rm.args).toEqual(["-weird-name"]);
  });

  it("exec -it container cmd args", () => {
    const c = parse(["exec", "-it", "-u", "root", "-w", "/tmp", "web", "sh", "-c", "ls -l"]);
    expect([c.flags.interactive, c.flags.tty, c.flags.user, c.flags.workdir]).toEqual([true, true, "root", "/tmp"]);
    expect(c.args).toEqual(["web", "sh", "-c", "ls -l"]);
  });

  it("verbs without a command take flags anywhere among the arguments", () => {
    const c = parse(["rm", "c1", "-f", "c2", "-v"]);
    expect(c.args).toEqual(["c1", "c2"]);
    expect([c.flags.force, c.flags.volumes]).toEqual([true, true]);
  });

  it("global flags before the verb", () => {
    const c = parse(["-D", "--log-level=debug", "ps", "-a"]);
    expect(c.globals.debug).toBe(true);
    expect(c.globals["log-level"]).toBe("debug");
    expect(c.flags.all).toBe(true);
  });

  it("group verbs: network ls, the list alias, compose with its own flags", () => {
    expect(parse(["network", "ls", "-q"]).path).toEqual(["network", "ls"]);
    expect(parse(["network", "list"]).path).toEqual(["network", "ls"]);
    const c = parse(["compose", "-f", "a.yml", "-f", "b.yml", "-p", "shop", "--profile", "debug", "up", "-d", "--scale", "web=3", "web"]);
    expect(c.path).toEqual(["compose", "up"]);
    expect(c.groupFlags.file).toEqual(["a.yml", "b.yml"]);
    expect(c.groupFlags["project-name"]).toBe("shop");
    expect(c.groupFlags.profile).toEqual(["debug"]);
    expect(c.flags.detach).toBe(true);
    expect(c.flags.scale).toEqual(["web=3"]);
    expect(c.args).toEqual(["web"]);
  });

  it("--help is noticed anywhere before the command", () => {
    expect(parse(["run", "--help"]).help).toBe(true);
    expect(parse(["network", "--help"]).help).toBe(true);
    expect(parse(["--help"]).help).toBe(true);
    expect(parse(["run", "img", "--help"]).help).toBe(false);
  });
});

describe("parseArgs: usage errors in Docker's words", () => {
  it("unknown long flag", () => {
    expect(usage(["run", "--foo", "img"])).toBe("unknown flag: --foo\nSee 'berth run --help'.");
  });

  it("unknown shorthand flag, inside a bundle", () => {
    expect(usage(["run", "-itz", "img"])).toBe("unknown shorthand flag: 'z' in -itz\nSee 'berth run --help'.");
  });

  it("a flag missing its value", () => {
    expect(usage(["run", "--name"])).toBe("flag needs an argument: --name\nSee 'berth run --help'.");
    expect(usage(["ps", "-f"])).toBe("flag needs an argument: 'f' in -f\nSee 'berth ps --help'.");
  });

  it("a bad bool, int, duration or size", () => {
    expect(usage(["run", "--rm=maybe", "img"])).toBe(`invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax\nSee 'berth run --help'.`);
    expect(usage(["stop", "-t", "soon", "c"])).toMatch(/^invalid argument "soon" for "-t, --timeout" flag: strconv.ParseInt/);
    expect(usage(["run", "--health-interval", "5", "img"])).toMatch(/time: invalid duration "5"/);
    expect(usage(["run", "-m", "lots", "img"])).toMatch(/invalid argument "lots" for "-m, --memory" flag/);
  });

  it("too few or too many arguments", () => {
    expect(usage(["run"])).toBe(`"berth run" requires at least 1 argument.\nSee 'berth run --help'.\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nCreate and run a new container from an image`);
    expect(usage(["ps", "extra"])).toMatch(/^"berth ps" accepts no arguments\./);
    expect(usage(["logs", "a", "b"])).toMatch(/^"berth logs" requires exactly 1 argument\./);
    expect(usage(["exec", "c"])).toMatch(/^"berth exec" requires at least 2 arguments\./);
  });

  it("unknown verbs and sub-verbs", () => {
    expect(usage(["frobnicate"])).toMatch(/^unknown command: berth frobnicate/);
    expect(usage(["network", "explode"])).toMatch(/^unknown command: berth network explode/);
  });
});

describe("help text", () => {
  it("has Docker's shape: Usage, description, sorted Options aligned like pflag", () => {
    const verb = berthCli.verbs.find((v) => v.path.join(" ") === "stop")!;
    expect(formatVerbHelp(berthCli, verb)).toBe(`
Usage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]

Stop one or more running containers

Options:
  -s, --signal string   Signal to send to the container
  -t, --timeout int     Seconds to wait before killing the container
`);
  });

  it("shows defaults and aliases", () => {
    const help = formatVerbHelp(berthCli, berthCli.verbs.find((v) => v.path.join(" ") === "network ls")!);
    expect(help).toContain("Aliases:\n  berth network ls, berth network list\n");
    const create = formatVerbHelp(berthCli, berthCli.verbs.find((v) => v.path.join(" ") === "network create")!);
    expect(create).toContain('  -d, --driver string   Driver to manage the Network (default "bridge")');
  });

  it("a group lists its commands", () => {
    const help = formatVerbHelp(berthCli, berthCli.verbs.find((v) => v.path.join(" ") === "volume")!);
    expect(help).toContain("Commands:\n  create    Create a volume\n");
    expect(help).toContain("Run 'berth volume COMMAND --help' for more information on a command.");
  });
});

describe("-h", () => {
  it("is the hostname for run, help elsewhere", () => {
    const c = parseArgs(["run", "-h", "box", "img"], berthCli);
    expect(c.help).toBe(false);
    expect(c.flags.hostname).toBe("box");
    expect(parseArgs(["ps", "-h"], berthCli).help).toBe(true);
  });
});
