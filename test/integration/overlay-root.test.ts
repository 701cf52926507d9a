// filesystem.root: overlay in a real sandbox: root inside writes anywhere, every write lands
// in the overlay's in-memory layer and the host's files stay byte-identical; what is created
// belongs to its creator; root inside gains no read access it did not have; hidden paths
// stay absent.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, EXIT_RUNTIME_ERROR, hostFixtureDir, removeHostDir, runDo, runNative, writeHostFile, writePolicy } from "../helpers/sandbox.js";

const probes = useProbes();
let F: string;
let policy: string;

/** Every entry under dir (and the given files): type, mode, owner, size, mtime and content hash. */
function snapshot(dir: string, files: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (p: string): void => {
    const st = lstatSync(p);
    const hash = st.isFile() ? createHash("sha256").update(readFileSync(p)).digest("hex") : "";
    out[p] = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${hash}`;
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
  };
  visit(dir);
  for (const f of files) visit(f);
  return out;
}

beforeAll(() => {
  F = hostFixtureDir("overlay");
  writeHostFile(join(F, "data"), "data\n");
  writeHostFile(join(F, "secret"), "top secret\n", 0o600);
  mkdirSync(join(F, "sub"));
  chmodSync(join(F, "sub"), 0o755);
  writeHostFile(join(F, "sub", "a.txt"), "a\n");
  mkdirSync(join(F, "locked"));
  writeHostFile(join(F, "locked", "pub"), "pub\n");
  chmodSync(join(F, "locked"), 0o700);
  policy = writePolicy(F, "overlay", "extends: default\nfilesystem:\n  root: overlay\n  overlay: { size: 64m }\n");
});
afterAll(() => removeHostDir(F));

describe("filesystem.root: overlay", () => {
  it("root inside changes host-owned files and directories; the host's stay byte-identical", async ({ expect }) => {
    const before = snapshot(F, ["/etc/hosts"]);
    const script = [
      `awk '$5 == "/" { for (i = 7; i < NF; i++) if ($i == "-") { print $(i + 1), $(i + 2); exit } }' /proc/self/mountinfo`,
      `echo "10.9.8.7 overlay-test" >> /etc/hosts && tail -n 1 /etc/hosts`,
      `sed -i s/data/DATA/ ${F}/data && cat ${F}/data`,
      `mkdir -p ${F}/new/deep && echo deep > ${F}/new/deep/f && cat ${F}/new/deep/f`,
      `rm ${F}/sub/a.txt && ls -A ${F}/sub | wc -l`,
      `mv ${F}/data ${F}/data2 && ln -s data2 ${F}/link && cat ${F}/link`,
      `ln ${F}/data2 ${F}/hard && stat -c %h ${F}/data2`,
      `chmod 640 ${F}/data2 && stat -c %a ${F}/data2`,
      `touch -d @86400 ${F}/sub && stat -c %Y ${F}/sub`,
      `truncate -s 2 ${F}/data2 && wc -c < ${F}/data2`,
      `mkfifo ${F}/fifo && stat -c %F ${F}/fifo`,
      `rmdir ${F}/sub && echo gone`,
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-ec", script]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout.split("\n"), describeRun(r)).toEqual([
      "overlay runsc-ts-overlay",
      "10.9.8.7 overlay-test",
      "DATA",
      "deep",
      "0",
      "DATA",
      "2",
      "640",
      "86400",
      "2",
      "fifo",
      "gone",
      "",
    ]);
    expect(snapshot(F, ["/etc/hosts"])).toEqual(before);
  });

  it("what root inside creates is root's inside; a user's is the user's, who is refused the host's files as on Linux", async ({ expect }) => {
    const fsop = probes.path("fsop");
    const script = [
      `${fsop} open ${F}/byroot wc; ${fsop} stat ${F}/byroot`,
      `mkdir -m 750 ${F}/home && ${fsop} stat ${F}/home`,
      `chown 1000:1000 ${F}/home && ${fsop} stat ${F}/home`,
      `setpriv --reuid 1000 --regid 1000 --clear-groups /bin/sh -c '` +
        [`${fsop} open ${F}/home/mine wc`, `${fsop} stat ${F}/home/mine`, `${fsop} open ${F}/data w`, `${fsop} mkdir ${F}/nope 755`, `${fsop} unlink ${F}/sub/a.txt`, `${fsop} chmod ${F}/data 666`].join("; ") +
        `'`,
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-ec", script]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout.split("\n"), describeRun(r)).toEqual([
      "ok",
      "0 0 644",
      "0 0 750",
      "1000 1000 750",
      "ok",
      "1000 1000 644",
      "EACCES",
      "EACCES",
      "EACCES",
      "EPERM",
      "",
    ]);
    expect(readdirSync(F).sort()).toEqual(["data", "locked", "overlay.yaml", "secret", "sub"]);
  });

  it("root inside gains no read access: a file it cannot read, a directory it cannot search, stay so", async ({ expect }) => {
    const fsop = probes.path("fsop");
    const ops = [
      `open ${F}/secret r`,
      `open ${F}/secret rw`,
      `open ${F}/secret w`,
      `reopen ${F}/secret`,
      `chmod ${F}/secret 644`,
      `chown ${F}/secret 0 0`,
      `rename ${F}/locked/pub ${F}/pub`,
      `link ${F}/locked/pub ${F}/pub`,
      `unlink ${F}/locked/pub`,
      `open ${F}/locked/new wc`,
      `symlink ${F}/locked/pub ${F}/l`,
      `link ${F}/l ${F}/pub follow`,
      `open ${F}/l rw`,
      `chmod ${F}/locked 755`,
      `chown ${F}/locked 0 0`,
      `open ${F}/secret wt`,
      `open ${F}/secret r`,
      `rename ${F}/secret ${F}/mine`,
      `stat ${F}/mine`,
      `chmod ${F}/mine 644`,
      `open ${F}/data rw`,
    ];
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", ops.map((o) => `${fsop} ${o}`).join("\n")]);
    expect(r.code, describeRun(r)).toBe(0);
    const got = r.stdout.split("\n").slice(0, ops.length);
    expect(Object.fromEntries(ops.map((o, i) => [o.replaceAll(F, "F"), got[i]])), describeRun(r)).toEqual({
      "open F/secret r": "EACCES",
      "open F/secret rw": "EACCES",
      // Writing does not read: the write lands in the overlay.
      "open F/secret w": "ok",
      "reopen F/secret": "EACCES",
      "chmod F/secret 644": "EPERM",
      "chown F/secret 0 0": "EPERM",
      "rename F/locked/pub F/pub": "EACCES",
      "link F/locked/pub F/pub": "EACCES",
      "unlink F/locked/pub": "EACCES",
      "open F/locked/new wc": "EACCES",
      "symlink F/locked/pub F/l": "ok",
      "link F/l F/pub follow": "EACCES",
      "open F/l rw": "EACCES",
      "chmod F/locked 755": "EPERM",
      "chown F/locked 0 0": "EPERM",
      "open F/secret wt": "ok",
      "open F/secret r": "EACCES",
      // Renaming moves nothing into reach: its owner and mode go with it.
      "rename F/secret F/mine": "ok",
      "stat F/mine": "65534 65534 600",
      "chmod F/mine 644": "EPERM",
      "open F/data rw": "ok read:data",
    });
    expect(readFileSync(join(F, "secret"), "utf8")).toBe("top secret\n");
  });

  it("root inside sets and removes user.* attributes of host-owned files in its copy; trusted.* stays refused", async ({ expect }) => {
    const fsop = probes.path("fsop");
    const ops = [
      `setxattr ${F}/data user.tag one`,
      `getxattr ${F}/data user.tag`,
      `setxattr ${F}/sub user.dir two`,
      `getxattr ${F}/sub user.dir`,
      `removexattr ${F}/sub user.dir`,
      `getxattr ${F}/sub user.dir`,
      `setxattr ${F}/data trusted.x three`,
      `setxattr ${F}/secret user.tag four`,
    ];
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", ops.map((o) => `${fsop} ${o}`).join("\n")]);
    expect(r.stdout.split("\n").slice(0, ops.length), describeRun(r)).toEqual(["ok", "ok one", "ok", "ok two", "ok", "ENODATA", "EPERM", "ok"]);
    // The host's files have no such attribute.
    const host = await runNative(fsop, ["getxattr", join(F, "data"), "user.tag"]);
    expect(host.stdout).toBe("ENODATA\n");
  });

  it("hidden paths stay absent (whiteouts in the overlay's layer) and their directories stay writable", async ({ expect }) => {
    const script = [
      `ls /etc/shadow 2>/dev/null || echo "no shadow"`,
      `ls /etc | grep -c shadow || true`,
      `ls -d /root 2>/dev/null || echo "no /root"`,
      `echo mine > /etc/overlay-new && cat /etc/overlay-new`,
      `echo fresh > /etc/shadow && cat /etc/shadow`,
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-ec", script]);
    expect(r.code, describeRun(r)).toBe(0);
    // A new /etc/shadow is the workload's own file: the host's stays out of reach.
    expect(r.stdout, describeRun(r)).toBe("no shadow\n0\nno /root\nmine\nfresh\n");
  });

  it("overlay.dir keeps the writes in a host directory: the next sandbox starts from them, neither sees the directory, the base is unchanged", async ({ expect }) => {
    const layer = join(F, "layer");
    const withDir = writePolicy(F, "overlay-dir", `extends: default\nfilesystem:\n  root: overlay\n  overlay: { dir: ${layer} }\n`);
    const before = snapshot(join(F, "sub"), ["/etc/hosts"]);
    const first = await runDo(["--policy", withDir, "--", "/bin/sh", "-ec", `echo kept > ${F}/sub/new; echo "10.1.1.1 kept" >> /etc/hosts; ls ${F}`]);
    expect(first.code, describeRun(first)).toBe(0);
    expect(first.stdout.split("\n"), describeRun(first)).not.toContain("layer");
    expect(readFileSync(join(layer, "upper", F.slice(1), "sub", "new"), "utf8")).toBe("kept\n");
    const second = await runDo(["--policy", withDir, "--", "/bin/sh", "-ec", `cat ${F}/sub/new; tail -n 1 /etc/hosts`]);
    expect(second.stdout, describeRun(second)).toBe("kept\n10.1.1.1 kept\n");
    expect(snapshot(join(F, "sub"), ["/etc/hosts"])).toEqual(before);
  });

  it("what root inside writes never carries set-id bits to the host's layer, and the layer's directory is root's alone", async ({ expect }) => {
    const layer = join(F, "layer-setid");
    // An existing directory of another mode is made root-only.
    mkdirSync(layer, { mode: 0o755 });
    chmodSync(layer, 0o755);
    const withDir = writePolicy(F, "overlay-setid", `extends: default\nfilesystem:\n  root: overlay\n  overlay: { dir: ${layer} }\n`);
    const script = [
      // The workload's own bytes over a host-root-owned binary, then set-user-ID root.
      "cp /bin/sleep /usr/bin/env && chmod 4755 /usr/bin/env",
      "cp /bin/true /usr/local/bin/made && chmod 6755 /usr/local/bin/made",
      // Created with the bits asked for directly: open(O_CREAT) and mknod.
      "python3 -c \"import os; os.close(os.open('/usr/local/bin/opened', os.O_CREAT | os.O_WRONLY, 0o6755)); os.mknod('/usr/local/bin/noded', 0o104755)\"",
      "mkdir /usr/local/shared && chmod 2775 /usr/local/shared",
      "stat -c '%n %a' /usr/bin/env /usr/local/bin/made /usr/local/bin/opened /usr/local/bin/noded /usr/local/shared",
    ].join("\n");
    const r = await runDo(["--policy", withDir, "--", "/bin/sh", "-ec", script]);
    expect(r.code, describeRun(r)).toBe(0);
    // A directory's set-group-ID (group inheritance) stays; no file gets a set-id bit.
    expect(r.stdout, describeRun(r)).toBe("/usr/bin/env 755\n/usr/local/bin/made 755\n/usr/local/bin/opened 755\n/usr/local/bin/noded 755\n/usr/local/shared 2775\n");
    // The host side: the directory is root's alone, and nothing in it is set-id.
    expect(statSync(layer).mode & 0o7777).toBe(0o700);
    const setid = execFileSync("find", [layer, "-type", "f", "-perm", "/6000"], { encoding: "utf8" });
    expect(setid).toBe("");
    expect(statSync(join(layer, "upper/usr/bin/env")).mode & 0o7777).toBe(0o755);
  });

  it("opening a FIFO for writing with O_CREAT does not stall the sandbox's other tasks until a reader comes", async ({ expect }) => {
    // The writer's open blocks until a reader opens; the reader comes only after another
    // task's mkdir, which the sentry serves too. A sentry that blocked in the open would
    // never serve the mkdir.
    const script = [
      "mkfifo /var/runsc-ts-fifo",
      "(echo through > /var/runsc-ts-fifo) &",
      "sleep 0.3",
      "mkdir /var/runsc-ts-dir && echo mkdir-done",
      "cat /var/runsc-ts-fifo",
      "wait",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-ec", script], { timeoutMs: 15_000 });
    expect(r.timedOut, describeRun(r)).toBe(false);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("mkdir-done\nthrough\n");
  });

  it("truncate of a FIFO fails with EINVAL, and a lease on a file stalls only the opener, never the other tasks", async ({ expect }) => {
    // The sentry's elevated truncate opened the FIFO for writing (waiting for a reader), and
    // its elevated open of a leased file waited for the lease to break (45 s, renewable):
    // every other task's trapped call waited with it.
    const script = [
      "import fcntl, os, signal, subprocess, time",
      "os.mkfifo('/var/runsc-ts-tfifo')",
      "try:",
      "    os.truncate('/var/runsc-ts-tfifo', 0)",
      "except OSError as e:",
      "    print('truncate', e.errno)",
      "with open('/var/runsc-ts-leased', 'w') as f: f.write('x')",
      "os.chmod('/var/runsc-ts-leased', 0o444)",
      "holder = os.fork()",
      "if holder == 0:",
      "    signal.signal(signal.SIGIO, signal.SIG_IGN)",
      "    fd = os.open('/var/runsc-ts-leased', os.O_RDONLY)",
      "    fcntl.fcntl(fd, 1024, fcntl.F_RDLCK)  # F_SETLEASE",
      "    time.sleep(30)",
      "    os._exit(0)",
      "time.sleep(0.5)",
      "opener = subprocess.Popen(['python3', '-c', \"import os; os.open('/var/runsc-ts-leased', os.O_WRONLY)\"], stderr=subprocess.DEVNULL)",
      "time.sleep(0.3)",
      "t = time.monotonic()",
      "os.mkdir('/var/runsc-ts-other')",
      "print('mkdir', round(time.monotonic() - t) )",
      "opener.wait()",
      "os.kill(holder, 9)",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script], { timeoutMs: 20_000 });
    expect(r.timedOut, describeRun(r)).toBe(false);
    expect(r.stdout, describeRun(r)).toBe("truncate 22\nmkdir 0\n");
  });

  it("root inside that drops its file capabilities and execs has no more of them in the overlay", async ({ expect }) => {
    // The credentials cached before the exec still held CAP_DAC_OVERRIDE: the sentry
    // elevated a write to /etc/passwd for the new program, which had lost it.
    const script = [
      "import ctypes, os",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "for cap in (0, 1, 2, 3, 4): libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP",
      "os.mkdir('/var/runsc-ts-warm')  # a trapped call: the sentry reads the task's credentials",
      "os.execv('/bin/sh', ['sh', '-c', 'echo x >> /etc/passwd && echo wrote || echo refused'])",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script]);
    expect(r.stdout, describeRun(r)).toBe("refused\n");
  });

  it("a synthetic file the host lacks gets its mount point in the overlay's layer; it is read-only there, and the host still lacks it", async ({ expect }) => {
    const path = `${F}/sub/synthetic.conf`;
    const withFile = writePolicy(F, "overlay-file", `extends: default\nfilesystem:\n  root: overlay\n  files:\n    - { path: ${path}, content: "from the policy\\n" }\n`);
    const r = await runDo(["--policy", withFile, "--", "/bin/sh", "-c", `cat ${path}; echo more >> ${path} 2>/dev/null || echo read-only`]);
    expect(r.stdout, describeRun(r)).toBe("from the policy\nread-only\n");
    expect(existsSync(path)).toBe(false);
    // Without an overlay root a missing path stays a setup error.
    const readonly = writePolicy(F, "readonly-file", `extends: default\nfilesystem:\n  files:\n    - { path: ${path}, content: "x" }\n`);
    const bad = await runDo(["--policy", readonly, "--", "/bin/true"]);
    expect(bad.code, describeRun(bad)).toBe(EXIT_RUNTIME_ERROR);
  });

  it("cannot hide the root itself: an error naming the rule before anything runs", async ({ expect }) => {
    const bad = writePolicy(F, "overlay-allowlist", "filesystem:\n  root: overlay\n  rules:\n    - { path: /**, access: none }\n    - { path: /usr/**, access: read }\n");
    const r = await runDo(["--policy", bad, "--", "/bin/true"]);
    expect(r.code, describeRun(r)).toBe(EXIT_RUNTIME_ERROR);
    expect(r.stderr, describeRun(r)).toMatch(/filesystem\.root: overlay.*\/\*\*/);
  });
});
