// The sandbox behaves like Linux for what its policy allows: the same programs run natively
// (in a fresh host directory) and sandboxed (in the private /tmp, and under an overlay root
// in a directory the host's root owns, where root inside acts through the sentry) and must
// print the same: coreutils and tar (cp -a, tar c/x, find, mv across directories, ln -s,
// chmod, mkdir -p, rm -rf), a C probe calling each path syscall family, and Python's os and
// shutil.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, removeHostDir, runDo, runNative, writeHostFile, writePolicy } from "../helpers/sandbox.js";

const probes = useProbes();
let F: string;
let overlayPolicy: string;
let toolsScript: string, pythonScript: string;
let run = 0;

/** Coreutils and tar in $1; prints what they made, normalised (no times but those set, no dir sizes). */
const TOOLS = `set -eu
cd "$1"
mkdir -p src/a/b/c dst
printf 'one\\n' > src/a/one
printf 'two\\n' > src/a/b/two
ln -s ../one src/a/b/link-one
chmod 600 src/a/b/two
chmod 750 src/a/b
touch -d @1000000 src/a/one
cp -a src copy
tar cf archive.tar -C src .
mkdir untar
tar xf archive.tar -C untar
mv copy/a/b dst/moved
ln -s ../src dst/src-link
mkdir -p deep/x/y/z
rm -rf deep/x
echo "files:"; find . -type f ! -name archive.tar -printf '%m %n %s %u:%g %P\\n' | LC_ALL=C sort
echo "dirs:"; find . -mindepth 1 -type d -printf '%m %u:%g %P\\n' | LC_ALL=C sort
echo "links:"; find . -type l -printf '%l %P\\n' | LC_ALL=C sort
echo "times:"; stat -c '%Y %n' src/a/one copy/a/one untar/a/one
echo "content:"; find . -type f ! -name archive.tar -exec sha256sum {} + | LC_ALL=C sort -k2
echo "tar:"; tar tvf archive.tar | awk '{ print $1, $2, $3, $6 }' | LC_ALL=C sort -k4
`;

/** os and shutil in argv[1]; prints what they made. */
const PYTHON = `import os, shutil, stat, sys
os.chdir(sys.argv[1])
os.makedirs("p/q/r", exist_ok=True)
with open("p/f.txt", "w") as f:
    f.write("x" * 100)
os.symlink("f.txt", "p/l")
os.chmod("p/f.txt", 0o640)
shutil.copytree("p", "p2", symlinks=True)
shutil.move("p2/q", "moved")
os.rename("p/f.txt", "p/g.txt")
os.link("p/g.txt", "p/h.txt")
os.truncate("p/h.txt", 10)
os.utime("p/g.txt", (5, 6))
shutil.copy2("p/g.txt", "copy2.txt")
os.mkfifo("fifo")
shutil.rmtree("p2")
os.replace("copy2.txt", "replaced.txt")
for root, dirs, files in sorted(os.walk(".")):
    for name in sorted(dirs + files):
        p = os.path.join(root, name)
        st = os.lstat(p)
        kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "p" if stat.S_ISFIFO(st.st_mode) else "f"
        extra = os.readlink(p) if kind == "l" else st.st_size if kind == "f" else ""
        print(kind, oct(stat.S_IMODE(st.st_mode)), st.st_nlink if kind == "f" else "", extra, p)
print("mtime", os.stat("replaced.txt").st_mtime, "exists p2", os.path.exists("p2"))
print("scandir", sorted(e.name for e in os.scandir("p")))
print("samefile", os.path.samefile("p/g.txt", "p/h.txt"))
`;

beforeAll(() => {
  F = hostFixtureDir("vfs-correctness");
  overlayPolicy = writePolicy(F, "overlay", "extends: default\nfilesystem:\n  root: overlay\n");
  toolsScript = writeHostFile(join(F, "tools.sh"), TOOLS);
  pythonScript = writeHostFile(join(F, "fs.py"), PYTHON);
});
afterAll(() => removeHostDir(F));

/** A fresh, empty directory on the host (root-owned, 0755). */
function hostDir(): string {
  const d = join(F, `dir${run++}`);
  mkdirSync(d, { mode: 0o755 });
  return d;
}

/**
 * The program's output natively, sandboxed in /tmp, and sandboxed under an overlay root in a
 * host-owned directory; cmd gets the directory as its last argument.
 */
async function threeWays(cmd: string[]): Promise<{ native: string; tmp: string; overlay: string }> {
  const native = await runNative(cmd[0]!, [...cmd.slice(1), hostDir()]);
  if (native.code !== 0) throw new Error(`natively: ${describeRun(native)}`);
  const quoted = cmd.map((a) => `'${a}'`).join(" ");
  const tmp = await runDo(["--", "/bin/sh", "-c", `mkdir /tmp/work && ${quoted} /tmp/work`]);
  if (tmp.code !== 0) throw new Error(`sandboxed in /tmp: ${describeRun(tmp)}`);
  const overlay = await runDo(["--policy", overlayPolicy, "--", ...cmd, hostDir()]);
  if (overlay.code !== 0) throw new Error(`sandboxed under an overlay root: ${describeRun(overlay)}`);
  return { native: native.stdout, tmp: tmp.stdout, overlay: overlay.stdout };
}

describe("the same programs natively and sandboxed", () => {
  it("cp -a, tar c/x, find, mv across directories, ln -s, chmod, mkdir -p, rm -rf", async ({ expect }) => {
    const out = await threeWays(["/bin/sh", toolsScript]);
    expect(out.native).toMatch(/^files:\n.*600 1 4 root:root src\/a\/b\/two$/ms);
    expect(out.tmp).toBe(out.native);
    expect(out.overlay).toBe(out.native);
  });

  it("a C probe calling each path syscall family (open*, stat*, access, readlink, getdents, mkdir, mknod, unlink, rename*, link, symlink, chmod, chown, truncate, utimensat, xattr, chdir, statfs)", async ({ expect }) => {
    const out = await threeWays([probes.path("fsfamily")]);
    expect(out.native).toContain("chown(f, 1000, 1000) = 0");
    expect(out.native).toContain("renameat2(d, p, EXCHANGE) = 0");
    expect(out.tmp).toBe(out.native);
    expect(out.overlay).toBe(out.native);
  });

  it("Python's os and shutil", async ({ expect }) => {
    const python = "/usr/bin/python3";
    expect(existsSync(python), "python3 from Debian (apt-get install python3)").toBe(true);
    const out = await threeWays([python, pythonScript]);
    expect(out.native).toContain("samefile True");
    expect(out.tmp).toBe(out.native);
    expect(out.overlay).toBe(out.native);
  });

  it("a device node is refused inside, as the kernel refuses it in a user namespace", async ({ expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", "mknod /tmp/null c 1 3; echo $?"]);
    expect(r.stdout.trim(), describeRun(r)).toBe("1");
    expect(r.stderr).toMatch(/Operation not permitted/);
  });
});
