// An OCI seccomp profile applied with the policy (`do --seccomp`): what the profile refuses is
// refused even where the policy allows it, and the policy's own refusals stay.
import { join } from "node:path";
import { describe, it } from "vitest";
import { describeRun, hostFixtureDir, removeHostDir, ROOT, runCli, runDo, writePolicy } from "../helpers/sandbox.js";

const DOCKER = join(ROOT, "test", "fixtures", "oci", "docker-seccomp.json");

/** fchmodat2(2) (Linux 6.6, number 452), which this Docker profile predates: it refuses it. */
const FCHMODAT2 = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
open("/tmp/f", "w").close()
r = libc.syscall(452, -100, b"/tmp/f", 0o600, 0)
print("ok" if r == 0 else os.strerror(ctypes.get_errno()))
`;

describe("do --seccomp", () => {
  it("lets the policy allow fchmodat2 on its own", async ({ expect }) => {
    const r = await runDo(["--", "python3", "-c", FCHMODAT2]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("ok\n");
  });

  it("refuses it with Docker's profile applied: the stricter decision wins", async ({ expect }) => {
    const r = await runDo(["--seccomp", DOCKER, "--", "python3", "-c", FCHMODAT2]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).not.toBe("ok\n");
    expect(r.stdout).toMatch(/Operation not permitted|Function not implemented/);
  });

  it("keeps the policy's refusals where the profile allows (uname)", async ({ expect }) => {
    const dir = hostFixtureDir("oci-seccomp");
    try {
      const policy = writePolicy(dir, "no-uname", "extends: default\nsyscalls:\n  deny: [uname]\n".replace("default", join(ROOT, "policies", "default.yaml")));
      const r = await runDo(["--policy", policy, "--seccomp", DOCKER, "--", "uname", "-s"]);
      expect(r.code, describeRun(r)).toBe(1);
      expect(r.stderr).toMatch(/Operation not permitted/);
    } finally {
      removeHostDir(dir);
    }
  });

  it("names the file and the field of a bad profile", async ({ expect }) => {
    const r = await runCli(["policy", "compile", "default", "--seccomp", join(ROOT, "package.json")]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/package\.json: defaultAction: /);
  });
});
