// Glob filesystem rules in a real sandbox: a glob is expanded when the sandbox starts and each
// match is hidden by a mount, while a sibling that does not match stays readable.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { describeRun, hostFixtureDir, removeHostDir, runDo, writeHostFile, writePolicy } from "../helpers/sandbox.js";

let fixtures: string;

beforeAll(() => {
  fixtures = hostFixtureDir("globs");
  // World-readable: root inside the sandbox is host uid 100000.
  for (const user of ["alice", "bob", ".carol"]) {
    const d = join(fixtures, user);
    mkdirSync(d);
    chmodSync(d, 0o755);
    writeHostFile(join(d, "secret.txt"), `${user} secret\n`);
    writeHostFile(join(d, "notes.txt"), `${user} notes\n`);
  }
  writeHostFile(join(fixtures, "bob", "secret-key"), "bob key\n");
});
afterAll(() => removeHostDir(fixtures));

describe("glob filesystem rules", () => {
  it("hide every existing match of <dir>/*/secret* and nothing else", async ({ expect }) => {
    const policy = writePolicy(fixtures, "globs", `filesystem:\n  rules:\n    - { path: "${fixtures}/*/secret*", access: none }\n`);
    const script = [
      `for f in alice/secret.txt bob/secret.txt bob/secret-key .carol/secret.txt; do`,
      `  if cat "${fixtures}/$f" >/dev/null 2>&1; then echo "read $f"; else echo "denied $f"; fi`,
      `done`,
      `cat "${fixtures}/alice/notes.txt" "${fixtures}/.carol/notes.txt"`,
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", script]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout, describeRun(r)).toBe(
      [
        "denied alice/secret.txt",
        "denied bob/secret.txt",
        "denied bob/secret-key",
        "denied .carol/secret.txt",
        "alice notes",
        ".carol notes",
        "",
      ].join("\n"),
    );
  });

  it("the same files are readable without the rule (the denial is the rule's doing)", async ({ expect }) => {
    const r = await runDo(["--", "/bin/cat", join(fixtures, "alice", "secret.txt"), join(fixtures, "bob", "secret-key")]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("alice secret\nbob key\n");
  });
});
