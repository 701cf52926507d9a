// config.json as Docker, containerd (ctr and CRI) and podman write it validates; what does not
// match the OCI runtime spec is an error naming the file and the field path, every problem at once.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OciConfigError, parseOciConfig } from "../../../runsc/oci/config.js";

const FIXTURES = join(__dirname, "../../fixtures/oci");
const CONFIGS = readdirSync(FIXTURES).filter((f) => f.includes("config") && f.endsWith(".json"));

/** The smallest valid config, with `patch` applied on top. */
function config(patch: Record<string, unknown> = {}): string {
  return JSON.stringify({
    ociVersion: "1.0.2",
    root: { path: "rootfs" },
    process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/" },
    ...patch,
  });
}

function problems(text: string): string[] {
  try {
    parseOciConfig(text, "config.json");
  } catch (err) {
    expect(err).toBeInstanceOf(OciConfigError);
    return (err as OciConfigError).message.split("\n");
  }
  throw new Error("expected an OciConfigError");
}

describe("parseOciConfig", () => {
  it("has the configs of every client to check", () => {
    expect(CONFIGS.length).toBeGreaterThanOrEqual(7);
  });

  it.each(CONFIGS)("accepts %s, reading what runsc-ts needs", (file) => {
    const c = parseOciConfig(readFileSync(join(FIXTURES, file), "utf8"), file);
    expect(c.root.path).not.toBe("");
    expect(c.mounts?.some((m) => m.destination === "/proc" && m.type === "proc")).toBe(true);
    expect(c.linux?.namespaces?.map((n) => n.type)).toEqual(expect.arrayContaining(["pid", "mount", "ipc", "uts", "network"]));
  });

  it("ignores properties the spec does not define (runtimes must)", () => {
    expect(parseOciConfig(config({ vendorThing: { x: 1 }, process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", newField: true } }), "c").hostname).toBeUndefined();
  });

  it.each([
    ["a relative mount destination", config({ mounts: [{ destination: "/proc", type: "proc" }, { destination: "sys", type: "sysfs" }] }), ['config.json: mounts[1].destination: expected an absolute path, got "sys"']],
    ["no root", JSON.stringify({ ociVersion: "1.0.2" }), ["config.json: root: missing"]],
    ["a negative uid", config({ process: { user: { uid: -1, gid: 0 }, args: ["sh"], cwd: "/" } }), ["config.json: process.user.uid: Too small: expected number to be >=0"]],
    ["no program", config({ process: { user: { uid: 0, gid: 0 }, args: [], cwd: "/" } }), ["config.json: process.args: expected at least the program to run"]],
    ["an env entry without =", config({ process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", env: ["PATH=/bin", "OOPS"] } }), ['config.json: process.env[1]: expected KEY=VALUE, got "OOPS"']],
    ["an unknown namespace", config({ linux: { namespaces: [{ type: "pid" }, { type: "process" }] } }), ['config.json: linux.namespaces[1].type: Invalid option: expected one of "pid"|"network"|"mount"|"ipc"|"uts"|"user"|"cgroup"|"time"']],
    ["a capability misspelled", config({ process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", capabilities: { bounding: ["CAP_CHOWN", "chown"] } } }), ['config.json: process.capabilities.bounding[1]: expected a capability like CAP_CHOWN, got "chown"']],
    ["an old version", config({ ociVersion: "0.9" }), ['config.json: ociVersion: expected a 1.x.y version, got "0.9"']],
  ])("names the field: %s", (_what, text, want) => {
    expect(problems(text)).toEqual(want);
  });

  it("lists every problem, and says when the text is not JSON", () => {
    expect(problems(config({ hostname: 7, mounts: [{ destination: "x" }] }))).toHaveLength(2);
    expect(problems("{ not json")[0]).toMatch(/^config.json: not JSON: /);
  });
});
