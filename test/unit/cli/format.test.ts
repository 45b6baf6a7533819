import { describe, expect, it } from "vitest";
import { renderListing, renderTemplate, type ListingFormat } from "../../../src/cli/format.js";
import { tabwrite } from "../../../src/cli/tabwriter.js";
import { hasErrorCode } from "../../../src/common/index.js";

const inspect = {
  Id: "4f66ad9a0b2e",
  Name: "/web",
  State: { Status: "running", Running: true, ExitCode: 0, Health: null },
  Config: { Image: "nginx", Labels: { "com.example.vendor": "ACME", tier: "front" }, Env: ["A=1", "B=2"], Cmd: ["nginx", "-g", "daemon off;"] },
  NetworkSettings: { Ports: { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }] } },
  Mounts: [],
  RestartCount: 2,
};

const t = (format: string, data: unknown = inspect) => renderTemplate(format, data);

describe("--format templates (Go text/template as Docker uses it)", () => {
  it.each([
    ["{{.Id}}", "4f66ad9a0b2e\n"],
    ["{{.State.Status}}", "running\n"],
    ["{{ .State.Running }}", "true\n"],
    ["{{.RestartCount}}", "2\n"],
    ["{{json .Config.Labels}}", '{"com.example.vendor":"ACME","tier":"front"}\n'],
    ["{{json .State}}", '{"Status":"running","Running":true,"ExitCode":0,"Health":null}\n'],
    ["{{index .Config.Labels \"com.example.vendor\"}}", "ACME\n"],
    ['{{join .Config.Env ","}}', "A=1,B=2\n"],
    ["{{upper .State.Status}}", "RUNNING\n"],
    ["{{.State.Status | upper}}", "RUNNING\n"],
    ["{{lower \"ABC\"}}", "abc\n"],
    ["{{title .State.Status}}", "Running\n"],
    ['{{printf "%s is %d" .Name .RestartCount}}', "/web is 2\n"],
    ['{{printf "%-8s|" .State.Status}}', "running |\n"],
    ['{{printf "%q" .Name}}', '"/web"\n'],
    ["{{println .Id}}", "4f66ad9a0b2e\n\n"],
    ["{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]\n"],
    ["{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}", "0=A=1 1=B=2 \n"],
    ["{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}", "com.example.vendor:ACME;tier:front;\n"],
    ["{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}", "80/tcp -> 8080\n"],
    ["{{range .Mounts}}x{{else}}none{{end}}", "none\n"],
    ["{{if .State.Running}}up{{else}}down{{end}}", "up\n"],
    ['{{if eq .State.Status "exited"}}gone{{else if eq .State.Status "running"}}alive{{else}}?{{end}}', "alive\n"],
    ["{{if not .State.Health}}no health{{end}}", "no health\n"],
    ["{{if and .State.Running (gt .RestartCount 1)}}flappy{{end}}", "flappy\n"],
    ["{{with .Config}}{{.Image}}{{end}}", "nginx\n"],
    ["{{.Config.Missing}}", "<no value>\n"],
    ["{{.State.Health}}", "<nil>\n"],
    ["{{.Config.Env}}", "[A=1 B=2]\n"],
    ["{{.Config.Labels}}", "map[com.example.vendor:ACME tier:front]\n"],
    ["{{len .Config.Env}}", "2\n"],
    ["{{split \"a:b\" \":\"}}", "[a b]\n"],
    ["{{truncate .Id 4}}", "4f66\n"],
    ["{{pad .Name 1 2}}|", " /web  |\n"],
    ["{{- .Name -}}  ", "/web\n"],
    ["a {{- \" b \" -}} c", "a b c\n"],
    ["{{/* a comment */}}x", "x\n"],
    ['{{`raw "q"`}}', 'raw "q"\n'],
    ["json", `${JSON.stringify(inspect)}\n`],
  ])("%s", (format, expected) => {
    expect(t(format)).toBe(expected);
  });

  it.each([
    ["{{.Id", "template parsing error: template: :1: unclosed action"],
    ["{{nope .Id}}", 'template parsing error: template: :1: function "nope" not defined'],
    ["{{if .Id}}x", "template parsing error: template: :1: unexpected EOF"],
    ["{{end}}", "template parsing error: template: :1: unexpected {{end}}"],
    ["{{.Id | }}", "template parsing error: template: :1: missing command"],
    ["{{)}}", 'template parsing error: template: :1: unexpected ")" in operand'],
  ])("bad template %s → %s", (format, message) => {
    let caught: unknown;
    try {
      t(format);
    } catch (e) {
      caught = e;
    }
    expect(hasErrorCode(caught, "BERTH_CLI_FORMAT")).toBe(true);
    expect((caught as Error).message).toBe(message);
  });

  it("a field on a nil value fails at execution, naming where", () => {
    expect(() => t("{{.State.Health.Status}}")).toThrow('template parsing error: template: :1:2: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status');
  });

  it("an unknown variable fails at execution", () => {
    expect(() => t("{{$nope}}")).toThrow(/undefined variable: \$nope/);
  });
});

class Row {
  constructor(private readonly n: { id: string; name: string; labels: Record<string, string> }) {}
  get ID() {
    return this.n.id;
  }
  get Names() {
    return this.n.name;
  }
  Label(k: string) {
    return this.n.labels[k] ?? "";
  }
}

const kind: ListingFormat = { defaultTable: "{{.ID}}\t{{.Names}}", headers: { ID: "CONTAINER ID", Names: "NAMES" }, quietField: "ID" };
const rows = [new Row({ id: "4f66ad9a0b2e", name: "web", labels: { tier: "front" } }), new Row({ id: "a1b2c3d4e5f6", name: "a-much-longer-name", labels: {} })];

describe("listings: table, custom templates, json, quiet", () => {
  it("table with Docker's headers and tabwriter padding", () => {
    expect(renderListing(rows, kind, { format: "table {{.ID}}\\t{{.Names}}" })).toBe(
      "CONTAINER ID   NAMES\n4f66ad9a0b2e   web\na1b2c3d4e5f6   a-much-longer-name\n",
    );
  });

  it("'table' alone is the default table", () => {
    expect(renderListing(rows, kind, { format: "table" })).toBe(renderListing(rows, kind));
  });

  it("a narrow column is at least 10 wide (minwidth 10 including padding)", () => {
    expect(renderListing(rows, kind, { format: "table {{.Names}}\t{{.ID}}" }).split("\n")[0]).toBe("NAMES                CONTAINER ID");
    const short = [new Row({ id: "x", name: "a", labels: {} })];
    expect(renderListing(short, kind, { format: "table {{.Names}}\t{{.ID}}" })).toBe("NAMES     CONTAINER ID\na         x\n");
  });

  it("method calls with arguments: .Label \"key\", headed LABEL", () => {
    expect(renderListing(rows, kind, { format: 'table {{.Names}}\t{{.Label "tier"}}' })).toBe(
      "NAMES                LABEL\nweb                  front\na-much-longer-name   \n",
    );
  });

  it("string functions head with the column name", () => {
    expect(renderListing(rows, kind, { format: "table {{upper .Names}}" }).split("\n")[0]).toBe("NAMES");
  });

  it("a template without table prints one line per item, no header", () => {
    expect(renderListing(rows, kind, { format: "{{.ID}}: {{.Names}}" })).toBe("4f66ad9a0b2e: web\na1b2c3d4e5f6: a-much-longer-name\n");
  });

  it("-q prints only the quiet field", () => {
    expect(renderListing(rows, kind, { quiet: true })).toBe("4f66ad9a0b2e\na1b2c3d4e5f6\n");
  });

  it("an empty listing still prints the header", () => {
    expect(renderListing([], kind)).toBe("CONTAINER ID   NAMES\n");
  });

  it("a field the row does not have is an execution error naming the type", () => {
    expect(() => renderListing(rows, kind, { format: "{{.Nope}}" })).toThrow('template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.Row');
  });
});

describe("tabwriter (Go text/tabwriter, minwidth 10, padding 3)", () => {
  it("aligns column blocks; text after the last tab is not padded", () => {
    expect(tabwrite("a\tbb\tccc\nxxxx\ty\tz\n")).toBe("a         bb        ccc\nxxxx      y         z\n");
  });

  it("a line without tabs ends the column block", () => {
    expect(tabwrite("aaaaaaaaaaaaaaa\tb\nplain\nc\td\n")).toBe("aaaaaaaaaaaaaaa   b\nplain\nc         d\n");
  });

  it("counts display columns, not bytes (… and é are one wide, CJK two)", () => {
    expect(tabwrite("é…\tx\nab\ty\n", { minWidth: 0, padding: 1 })).toBe("é… x\nab y\n");
    expect(tabwrite("日本\tx\nabcd\ty\n", { minWidth: 0, padding: 1 })).toBe("日本 x\nabcd y\n");
  });

  it("lines with fewer cells do not widen later columns", () => {
    expect(tabwrite("a\tb\tc\nlonglonglonglong\n", { minWidth: 0, padding: 1 })).toBe("a b c\nlonglonglonglong\n");
  });
});
