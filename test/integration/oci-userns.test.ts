// Root inside a container is never host root: a container whose config asks for no user
// namespace gets one of its own from runsc-ts, mapped to a host id range of its own, with
// its rootfs and volumes idmapped into it — so the image and the volumes behave as under
// runc (root's files are root's inside, what root inside writes to a volume is host root's on
// the disk). Each case runs under runsc-ts and under runc with the same bundle where runc's
// answer is the contract.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { BUNDLES_DIR, busyboxRootfs, makeBundle, runcRun, runtime, STATE_ROOT } from "../helpers/bundle.js";

const IDS = "/run/runsc-ts/.ids";
/** The first host id of the containers' ranges (runsc/oci/idRanges.ts). */
const FIRST = 0x40000000;
const made: (() => void)[] = [];
afterAll(() => {
  for (const f of made.reverse()) f();
});

function bundle(script: string, config?: (c: any) => void): Bundle {
  const b = makeBundle({ args: ["/bin/sh", "-c", script], name: "userns", config });
  made.push(() => b.cleanup());
  return b;
}

/** A private, writable copy of the busybox rootfs. */
function rootfsCopy(): string {
  const dir = mkdtempSync(join(BUNDLES_DIR, "userns-root-"));
  execFileSync("cp", ["-a", busyboxRootfs(), join(dir, "rootfs")]);
  made.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "rootfs");
}

function hostDir(): string {
  const dir = mkdtempSync(join("/var/tmp", "runsc-ts-userns-"));
  chmodSync(dir, 0o755);
  made.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


/** Host ids of a process (real, effective, saved, fs) from /proc/PID/status. */
function hostUids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("Uid:"))!;
  return line.split(/\s+/).slice(1).map(Number);
}

function heldRanges(): string[] {
  try {
    return readdirSync(IDS).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
}

describe("a user namespace for every container", () => {
  it("root inside is a host id of the container's own range; two containers get disjoint ranges; delete gives them back", async () => {
    const before = heldRanges().length;
    const a = bundle("id -u; cat /proc/self/uid_map; sleep 30");
    const b = bundle("id -u; cat /proc/self/uid_map; sleep 30");
    for (const x of [a, b]) {
      const c = await runtime(["create", "--bundle", x.dir, x.id]);
      expect(c.code, c.stderr).toBe(0);
    }
    try {
      const pids = [a, b].map((x) => (JSON.parse(readFileSync(join(STATE_ROOT, x.id, "state.json"), "utf8")) as { pid: number }).pid);
      const uids = pids.map((p) => hostUids(p));
      for (const u of uids) {
        expect(u[0]).toBeGreaterThanOrEqual(FIRST);
        expect(new Set(u).size, "real, effective, saved and fs uid alike").toBe(1);
      }
      expect(Math.abs(uids[0]![0]! - uids[1]![0]!), "disjoint ranges").toBeGreaterThanOrEqual(65536);
      expect(heldRanges().length).toBe(before + 2);
    } finally {
      for (const x of [a, b]) await runtime(["delete", "--force", x.id]);
    }
    expect(heldRanges().length).toBe(before);
  });

  it("inside: uid 0, mapped to the range", async () => {
    const b = bundle("id -u; cat /proc/self/uid_map");
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    const [id, map] = r.stdout.trim().split("\n");
    expect(id).toBe("0");
    const [inside, outside, count] = map!.trim().split(/\s+/).map(Number);
    expect([inside, count]).toEqual([0, 65536]);
    expect(outside).toBeGreaterThanOrEqual(FIRST);
  });

  it("the image's files show their owners, and root inside changes them as under runc: chown, mkdir under /usr, a user added", async () => {
    const script = [
      "ls -ln /bin/busybox | awk '{print $3, $4}'",
      "mkdir /usr/local-x && touch /usr/local-x/f && chown 1000:1000 /usr/local-x/f && ls -ln /usr/local-x | awk 'NR>1{print $3, $4}'",
      // What adduser does (this busybox has none): root's files under /etc and /home changed.
      "echo bob:x:1234:1234::/home/bob:/bin/sh >> /etc/passwd && mkdir -p /home/bob && grep ^bob: /etc/passwd | cut -d: -f1,3",
      "chown -R 1234:1234 /home/bob && ls -lnd /home/bob | awk '{print $3, $4}'",
    ].join("; ");
    const outputs: Record<string, string> = {};
    for (const runner of ["runsc-ts", "runc"] as const) {
      const rootfs = rootfsCopy();
      const b = bundle(script, (c) => (c.root = { path: rootfs, readonly: false }));
      const r = runner === "runsc-ts" ? await runtime(["run", "--bundle", b.dir, b.id]) : await runcRun(b);
      expect(r.code, `${runner}: ${r.stderr}`).toBe(0);
      outputs[runner] = r.stdout;
      // On the disk, as root inside meant them.
      expect(statSync(join(rootfs, "usr/local-x/f")).uid, runner).toBe(1000);
      expect(statSync(join(rootfs, "usr/local-x")).uid, runner).toBe(0);
      expect(statSync(join(rootfs, "home/bob")).uid, runner).toBe(1234);
    }
    expect(outputs["runsc-ts"]).toBe("0 0\n1000 1000\nbob:1234\n1234 1234\n");
    expect(outputs["runsc-ts"]).toBe(outputs.runc);
  });

  it("a volume gets the ids its writers meant: root inside writes host root's files, uid 1000 inside 1000's", async () => {
    const vol = hostDir();
    writeFileSync(join(vol, "from-host"), "h");
    chownSync(join(vol, "from-host"), 1000, 1000);
    const b = bundle("ls -ln /data/from-host | awk '{print $3}'; echo r > /data/by-root; mkdir /data/d && chown 1000:1000 /data/d", (c) => {
      c.mounts.push({ destination: "/data", type: "bind", source: vol, options: ["rbind", "rw"] });
    });
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("1000\n");
    expect(statSync(join(vol, "by-root")).uid).toBe(0);
    expect(statSync(join(vol, "d")).uid).toBe(1000);
    const u = bundle("echo u > /data/d/by-1000", (c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      c.mounts.push({ destination: "/data", type: "bind", source: vol, options: ["rbind", "rw"] });
    });
    const ru = await runtime(["run", "--bundle", u.dir, u.id]);
    expect(ru.code, ru.stderr).toBe(0);
    expect(statSync(join(vol, "d", "by-1000")).uid).toBe(1000);
  });

  it("on the host's network too: root inside binds a port below 1024 as under runc (through the sentry), and /sys is the host's, read-only", async () => {
    const script = "id -u; (nc -l -p 81 -w 2 > /dev/null &); sleep 0.3; echo x | nc -w 1 127.0.0.1 81 && echo bound-81; ls /sys/class/net | grep -c . >/dev/null && echo sys; touch /sys/x 2>/dev/null || echo sys-read-only";
    const hostNet = (c: any): void => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
    };
    const b = bundle(script, hostNet);
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("0\nbound-81\nsys\nsys-read-only\n");
    const pid = bundle("cat /proc/self/uid_map", hostNet);
    const m = await runtime(["run", "--bundle", pid.dir, pid.id]);
    expect(Number(m.stdout.trim().split(/\s+/)[1])).toBeGreaterThanOrEqual(FIRST);
    const rc = await runcRun(bundle(script, hostNet));
    expect(rc.stdout, rc.stderr).toContain("bound-81");
  });

  it("a policy with process.hostRoot keeps root inside host root, as under runc, and says so in --log", async () => {
    const dir = hostDir();
    const policy = join(dir, "host-root.yaml");
    writeFileSync(policy, "apiVersion: runsc-ts/v1\nkind: Policy\nname: host-root\nextends: container\nprocess:\n  hostRoot: true\n");
    const log = join(dir, "log.json");
    const b = bundle("cat /proc/self/uid_map", (c) => (c.annotations = { "dev.runsc-ts.policy": policy }));
    const r = await runtime(["--log", log, "--log-format", "json", "run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split(/\s+/).map(Number)).toEqual([0, 0, 4294967295]);
    const said = `container ${b.id}: root inside is host root (policy ${policy}: process.hostRoot)`;
    expect(r.stderr).toContain(`runsc-ts: warning: ${said}`);
    const line = JSON.parse(readFileSync(log, "utf8").trim().split("\n")[0]!) as { level: string; msg: string };
    expect(line).toMatchObject({ level: "warning", msg: said });
  });

  it("a policy's overlay root in memory is made over the idmapped rootfs: a range of its own, root's files root's, the rootfs unchanged", async () => {
    const dir = hostDir();
    const policy = join(dir, "overlay.yaml");
    writeFileSync(policy, "apiVersion: runsc-ts/v1\nkind: Policy\nname: overlay-root\nextends: container\nfilesystem:\n  root: overlay\n");
    const root = rootfsCopy();
    const before = readFileSync(join(root, "etc/passwd"), "utf8");
    const b = bundle("cat /proc/self/uid_map; stat -c %u /etc/passwd; echo extra:x:9:9::/:/bin/sh >> /etc/passwd && tail -1 /etc/passwd; mkdir -p /usr/local/y && stat -c %u /usr/local/y", (c) => {
      c.root = { path: root, readonly: false };
      c.annotations = { "dev.runsc-ts.policy": policy };
    });
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    const [map, owner, added, made] = r.stdout.trim().split("\n");
    expect(Number(map!.trim().split(/\s+/)[1])).toBeGreaterThanOrEqual(FIRST);
    expect(owner, "root's files are root's inside").toBe("0");
    expect(added).toBe("extra:x:9:9::/:/bin/sh");
    expect(made).toBe("0");
    expect(readFileSync(join(root, "etc/passwd"), "utf8"), "the rootfs is unchanged").toBe(before);
  });

  it("a policy's overlay directory: root inside's writes are host root's there, and the next container starts from them (whatever its range)", async () => {
    const dir = hostDir();
    const upperDir = join(dir, "layer");
    const policy = join(dir, "overlay-dir.yaml");
    writeFileSync(policy, `apiVersion: runsc-ts/v1\nkind: Policy\nname: overlay-dir\nextends: container\nfilesystem:\n  root: overlay\n  overlay:\n    dir: ${upperDir}\n`);
    const root = rootfsCopy();
    const withPolicy = (c: any): void => {
      c.root = { path: root, readonly: false };
      c.annotations = { "dev.runsc-ts.policy": policy };
    };
    const first = bundle("echo one > /etc/added && stat -c %u /etc/added", withPolicy);
    const r1 = await runtime(["run", "--bundle", first.dir, first.id]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toBe("0\n");
    expect(statSync(join(upperDir, "upper", "etc", "added")).uid, "host root's on the disk").toBe(0);
    const second = bundle("cat /etc/added && echo two >> /etc/added && cat /etc/added", withPolicy);
    const r2 = await runtime(["run", "--bundle", second.dir, second.id]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toBe("one\none\ntwo\n");
    expect(existsSync(join(root, "etc", "added")), "the rootfs is unchanged").toBe(false);
  });

  it("a rootfs with a procfs mounted beneath it (a host tree's shape): a range of its own, what can be idmapped is, the rest left out", async () => {
    const root = rootfsCopy();
    // Beneath the rootfs: a tmpfs (idmappable) with a file, and a procfs (not).
    mkdirSync(join(root, "mnt", "t"), { recursive: true });
    mkdirSync(join(root, "hostproc"), { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", join(root, "mnt", "t")]);
    made.push(() => execFileSync("umount", ["-l", join(root, "mnt", "t")]));
    writeFileSync(join(root, "mnt", "t", "file"), "on the tmpfs\n");
    execFileSync("mount", ["-t", "proc", "proc", join(root, "hostproc")]);
    made.push(() => execFileSync("umount", ["-l", join(root, "hostproc")]));
    const b = bundle("cat /proc/self/uid_map; stat -c %u /etc/passwd; cat /mnt/t/file; stat -c %u /mnt/t/file; ls /hostproc | wc -l", (c) => {
      c.root = { path: root, readonly: true };
    });
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    const [map, owner, text, fileOwner, hostproc] = r.stdout.trim().split("\n");
    expect(Number(map!.trim().split(/\s+/)[1])).toBeGreaterThanOrEqual(FIRST);
    expect(owner, "root's files are root's").toBe("0");
    expect(text, "the tmpfs beneath, idmapped on its own").toBe("on the tmpfs");
    expect(fileOwner).toBe("0");
    expect(hostproc!.trim(), "the procfs beneath is left out").toBe("0");
  });

  it("a config that has a user namespace keeps its own maps", async () => {
    const b = bundle("cat /proc/self/uid_map", (c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      c.root.readonly = true;
    });
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split(/\s+/).map(Number)).toEqual([0, 200000, 65536]);
  });
});

describe("setuid programs of the image", () => {
  /** A rootfs copy holding /bin/euid: a static program that prints its effective uid, setuid root. */
  function rootfsWithSetuid(): string {
    const rootfs = rootfsCopy();
    const src = join(hostDir(), "euid.c");
    writeFileSync(src, '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("euid %d\\n", (int)geteuid()); return 0; }\n');
    execFileSync("gcc", ["-static", "-O2", "-o", join(rootfs, "bin", "euid"), src]);
    chmodSync(join(rootfs, "bin", "euid"), 0o4755);
    return rootfs;
  }

  /** The same tree as an overlay's only lower layer, mounted as containerd and Docker mount a rootfs. */
  function overlayOver(lower: string): string {
    const dir = hostDir();
    for (const d of ["upper", "work", "merged"]) mkdirSync(join(dir, d));
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${join(dir, "upper")},workdir=${join(dir, "work")}`, join(dir, "merged")]);
    made.push(() => void execFileSync("umount", ["-l", join(dir, "merged")]));
    return join(dir, "merged");
  }

  it.for([false, true])("noNewPrivileges %s: uid 1000 running a setuid-root program gets effective uid 0 only when it is false, on an overlay rootfs and on a directory, as under runc", async (nnp) => {
    const tree = rootfsWithSetuid();
    for (const [kind, rootfs] of [
      ["overlay", overlayOver(tree)],
      ["directory", tree],
    ] as const) {
      const b = bundle("exec /bin/euid", (c) => {
        c.root.path = rootfs;
        c.process.user = { uid: 1000, gid: 1000 };
        c.process.noNewPrivileges = nnp;
      });
      const want = `euid ${nnp ? 1000 : 0}\n`;
      const runc = await runcRun(b);
      expect(runc, `runc, ${kind}`).toMatchObject({ code: 0, stdout: want });
      const r = await runtime(["run", "--bundle", b.dir, b.id]);
      expect(r, `runsc-ts, ${kind}`).toMatchObject({ code: 0, stdout: want });
    }
  });
});
