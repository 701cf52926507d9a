// The workload as the attacker: every way a process could try to reach a hidden file or
// write a read-only one (symlinks, "..", /proc magic links, O_PATH reopen, dirfds, hard
// links, renames, file handles, a chroot escape, mounts, new namespaces), under a read-only root and under
// an overlay root. None may read the hidden file's content or change the read-only file.
// (The path-buffer race is test/integration/race.test.ts.)
import { chmodSync, chownSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, removeHostDir, runDo, runNative, writeHostFile, writePolicy } from "../helpers/sandbox.js";
import { HOST_ID_BASE } from "../../runsc/sandbox/ids.js";

const probes = useProbes();
const MARKER = `HIDDEN-${process.pid}-${Date.now()}`;
let F: string;
let secret: string, ro: string, rw: string;
const policies: Record<string, string> = {};

beforeAll(() => {
  F = hostFixtureDir("vfs-security");
  secret = writeHostFile(join(F, "secret"), `${MARKER}\n`);
  mkdirSync(join(F, "ro"));
  chmodSync(join(F, "ro"), 0o777);
  // Writable by the sandbox's root on the host: only the read-only mount stands in the way.
  ro = writeHostFile(join(F, "ro", "file"), "read-only content\n", 0o666);
  chownSync(ro, HOST_ID_BASE, HOST_ID_BASE);
  rw = join(F, "rw");
  mkdirSync(rw);
  chmodSync(rw, 0o777);
  const rules = `  rules:\n    - { path: ${secret}, access: none }\n    - { path: ${F}/ro/**, access: read }\n    - { path: ${rw}/**, access: read-write }\n`;
  policies.readonly = writePolicy(F, "readonly", `extends: default\nfilesystem:\n  root: readonly\n${rules}`);
  policies.overlay = writePolicy(F, "overlay", `extends: default\nfilesystem:\n  root: overlay\n${rules}`);
});
afterAll(() => removeHostDir(F));

/** Attacks, each one fsop call, with what it must end in; W: a writable directory of the run's own. */
function attacks(W: string): [string, RegExp][] {
  const up = "../".repeat(12);
  return [
    [`read ${secret}`, /^ENOENT$/],
    [`symlink ${secret} ${W}/abs`, /^ok$/],
    [`read ${W}/abs`, /^ENOENT$/],
    [`symlink ../../secret ${W}/rel`, /^ok$/],
    [`read ${W}/rel`, /^ENOENT$/],
    [`read ${W}/../../secret`, /^ENOENT$/],
    [`read /proc/self/root${secret}`, /^ENOENT$/],
    [`read /proc/1/root${secret}`, /^ENOENT$/],
    [`read /proc/self/cwd/${up}${secret.slice(1)}`, /^ENOENT$/],
    [`at ${W} ../../secret r`, /^ENOENT$/],
    [`at ${W} ${up}${secret.slice(1)} r`, /^ENOENT$/],
    [`link ${secret} ${W}/hard`, /^ENOENT$/],
    [`link ${W}/abs ${W}/hard2 follow`, /^ENOENT$/],
    [`handle ${secret}`, /^(ENOENT|EPERM)$/],
    [`handle ${ro}`, /^EPERM$/],
    [`read ${ro}`, /^ok read:read-only content$/],
    [`write ${ro}`, /^EROFS$/],
    [`reopen-opath ${ro} w`, /^EROFS$/],
    [`at ${F}/ro file w`, /^EROFS$/],
    [`symlink ${ro} ${W}/to-ro`, /^ok$/],
    [`write ${W}/to-ro`, /^EROFS$/],
    [`open ${W}/mine wc`, /^ok$/],
    [`rename ${W}/mine ${ro}`, /^(EXDEV|EROFS|EBUSY)$/],
    [`rename ${W}/mine ${ro} exchange`, /^(EXDEV|EROFS|EBUSY)$/],
    [`unlink ${ro}`, /^EROFS$/],
    [`chmod ${ro} 777`, /^EROFS$/],
    [`truncate ${ro} 0`, /^EROFS$/],
    [`link ${ro} ${W}/ro-link`, /^(EXDEV|EROFS)$/],
    [`chroot-escape ${W} ${secret}`, /^EPERM$/], // chroot is refused (the built-in table)
    [`mount ${W}`, /^EPERM$/],
    [`unshare user`, /^EPERM$/],
  ];
}

describe("the probe", () => {
  it("reads the hidden file natively, by path, by magic link, by handle and out of a chroot (what the sandbox must prevent)", async ({ expect }) => {
    const fsop = probes.path("fsop");
    for (const op of [`read ${secret}`, `read /proc/self/root${secret}`, `handle ${secret}`, `chroot-escape ${F} ${secret}`]) {
      const r = await runNative(fsop, op.split(" "));
      expect(r.stdout, describeRun(r)).toBe(`ok read:${MARKER}\n`);
    }
  });
});

describe.each(["readonly", "overlay"])("the workload as the attacker, root: %s", (root) => {
  it("reaches no hidden file and writes no read-only one", async ({ expect }) => {
    const fsop = probes.path("fsop");
    const W = join(rw, root);
    mkdirSync(W);
    chmodSync(W, 0o777);
    const list = attacks(W);
    const r = await runDo(["--policy", policies[root]!, "--", "/bin/sh", "-c", list.map(([op]) => `${fsop} ${op}`).join("\n")]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).not.toContain(MARKER);
    const got = r.stdout.split("\n").slice(0, list.length);
    const wrong = list.map(([op, want], i) => ({ op, want, got: got[i] })).filter((x) => x.got === undefined || !x.want.test(x.got));
    expect(wrong, describeRun(r)).toEqual([]);
    // The host's files are untouched.
    expect(readFileSync(secret, "utf8")).toBe(`${MARKER}\n`);
    expect(readFileSync(ro, "utf8")).toBe("read-only content\n");
  });
});
