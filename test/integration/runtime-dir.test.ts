// The runtime's directory on a machine that never ran runsc-ts, and one an older version left
// behind: each case runs in a mount namespace of its own with an empty tmpfs over /run, so
// /run/runsc-ts is absent (or made there as the case says), and runs `do` and an OCI
// create/start/delete in both orders. Each command must work whatever ran first, and leave
// every directory with its own mode.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { makeBundle, MAIN_JS } from "../helpers/bundle.js";

let bundle: Bundle;

beforeAll(() => {
  bundle = makeBundle({ args: ["/bin/echo", "hello from the container"], name: "runtime-dir" });
});

afterAll(() => bundle?.cleanup());

const RT = `${process.execPath} ${MAIN_JS}`;

/** The shell lines of each command, run under /bin/sh -e in the fresh namespace. */
const DO = `${RT} do -- /bin/sh -c 'echo hello from the sandbox'`;
const OCI = (id: string): string =>
  [
    `${RT} create --bundle ${bundle.dir} ${id} </dev/null >/tmp/oci.out 2>&1`,
    `${RT} start ${id}`,
    // the program ends at once; delete waits for nothing but its stop
    `i=0; while [ "$(${RT} state ${id} | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$')" != 'stopped"' ]; do i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.05; done`,
    `${RT} delete ${id}`,
    `cat /tmp/oci.out`,
  ].join("\n");
const MODES = `stat -c '%n %a %U' /run/runsc-ts /run/runsc-ts/.masked /run/runsc-ts/.policies /run/runsc-ts/.staging; ls -A /run/runsc-ts`;

/** Runs script in a new mount namespace whose /run is an empty tmpfs. */
function inFreshRun(script: string): { code: number | null; out: string } {
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "/bin/sh", "-ec", `mount -t tmpfs -o mode=755 tmpfs /run\n${script}`], {
    encoding: "utf8",
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const EXPECTED_MODES = ["/run/runsc-ts 711 root", "/run/runsc-ts/.masked 0 root", "/run/runsc-ts/.policies 700 root", "/run/runsc-ts/.staging 700 root"];

describe("the runtime's directory", () => {
  const starts: { name: string; setup: string }[] = [
    { name: "absent", setup: "" },
    // an older version: the directory root-only, its files under other names
    { name: "left 0700 by an older version", setup: "mkdir -m 0700 /run/runsc-ts && : > /run/runsc-ts/masked && chmod 0 /run/runsc-ts/masked && mkdir -m 0700 /run/runsc-ts/policies" },
    // made by hand with the wrong modes throughout
    { name: "with wrong modes", setup: "mkdir -m 0700 /run/runsc-ts && mkdir -m 0777 /run/runsc-ts/.policies && : > /run/runsc-ts/.masked && chmod 0644 /run/runsc-ts/.masked" },
  ];
  for (const start of starts) {
    for (const first of ["do", "create"] as const) {
      it(`${start.name}: ${first} first, then the other`, () => {
        const id = `${bundle.id}-${first}`;
        const steps = first === "do" ? [DO, OCI(id)] : [OCI(id), DO];
        const r = inFreshRun([start.setup, ...steps, MODES].filter((l) => l !== "").join("\n"));
        expect(r.code, r.out).toBe(0);
        expect(r.out).toContain("hello from the sandbox");
        expect(r.out).toContain("hello from the container");
        for (const line of EXPECTED_MODES) expect(r.out, r.out).toContain(line);
        // the container's state went with delete
        expect(r.out).not.toContain(id);
      });
    }
  }

  it("refuses a runtime directory that is a symlink, naming it", () => {
    const r = inFreshRun(`mkdir -m 0700 /run/elsewhere && ln -s elsewhere /run/runsc-ts\n${DO} || echo "exit $?"`);
    expect(r.out).toMatch(/\/run\/runsc-ts: not a directory/);
    expect(r.out).toContain("exit 125");
  });
});
