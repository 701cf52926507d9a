// `runsc-ts install`'s edit of Docker's daemon.json: every other key kept, idempotent, the
// runtime's arguments as given, and errors that say where the file is wrong.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readDaemonJson, withoutRuntime, withRuntime } from "../../../runsc/commands/install.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function file(text: string | undefined): string {
  const d = mkdtempSync(join(tmpdir(), "daemon-json-"));
  dirs.push(d);
  const f = join(d, "daemon.json");
  if (text !== undefined) writeFileSync(f, text);
  return f;
}

describe("daemon.json", () => {
  it("reads a missing or empty file as {}, and refuses what is not an object, saying where", () => {
    expect(readDaemonJson(file(undefined))).toEqual({});
    expect(readDaemonJson(file("  \n"))).toEqual({});
    expect(() => readDaemonJson(file('{\n  "a": 1,\n  bad\n}\n'))).toThrow(/daemon\.json:3:3: not valid JSON/);
    expect(() => readDaemonJson(file("[1]"))).toThrow(/expected a JSON object at the top/);
    expect(() => readDaemonJson(file('{"runtimes": []}'))).toThrow(/"runtimes" must be an object/);
  });

  it("adds the runtime and keeps every other key and runtime; a second install changes nothing", () => {
    const doc = { "log-level": "warn", "default-runtime": "runc", runtimes: { other: { path: "/usr/bin/other" } } };
    const a = withRuntime(doc, "runsc-ts", "/opt/runsc-ts/bin/runsc-ts", []);
    expect(a.changed).toBe(true);
    expect(a.doc).toEqual({ ...doc, runtimes: { other: { path: "/usr/bin/other" }, "runsc-ts": { path: "/opt/runsc-ts/bin/runsc-ts" } } });
    expect(withRuntime(a.doc, "runsc-ts", "/opt/runsc-ts/bin/runsc-ts", []).changed).toBe(false);
    // New arguments are a change.
    const b = withRuntime(a.doc, "runsc-ts", "/opt/runsc-ts/bin/runsc-ts", ["--network", "none"]);
    expect(b.changed).toBe(true);
    expect((b.doc.runtimes as any)["runsc-ts"]).toEqual({ path: "/opt/runsc-ts/bin/runsc-ts", runtimeArgs: ["--network", "none"] });
    // The input is not modified.
    expect(doc.runtimes).toEqual({ other: { path: "/usr/bin/other" } });
  });

  it("removes only the runtime, and the runtimes key once it is empty; removing twice changes nothing", () => {
    const doc = { debug: true, runtimes: { a: { path: "/a" }, "runsc-ts": { path: "/r" } } };
    const one = withoutRuntime(doc, "runsc-ts");
    expect(one).toEqual({ doc: { debug: true, runtimes: { a: { path: "/a" } } }, changed: true });
    expect(withoutRuntime(one.doc, "runsc-ts").changed).toBe(false);
    expect(withoutRuntime(one.doc, "a")).toEqual({ doc: { debug: true }, changed: true });
    expect(withoutRuntime({}, "a").changed).toBe(false);
  });
});
