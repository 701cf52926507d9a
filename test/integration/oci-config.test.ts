// Each config.json field runsc-ts honours, observed from inside the container by the
// program itself: ids and groups, capabilities, rlimits, no_new_privs, umask, cwd, env,
// hostname, mounts and their options, masked and read-only paths, the read-only root,
// sysctls, cgroup limits, the config's seccomp profile, and the terminal.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { BUNDLES_DIR, busyboxRootfs, makeBundle, runcRun, runtime, STATE_ROOT } from "../helpers/bundle.js";
import { devicesDir } from "../../runsc/oci/devices.js";
import { DEVICES_DIR } from "../../runsc/runtimeDir.js";
import type { Bundle } from "../helpers/bundle.js";

busyboxRootfs();
const made: Bundle[] = [];
afterAll(async () => {
  // A test that failed midway may leave its container: delete it as a runtime's caller would.
  for (const b of made) {
    if (b.id !== "") await runtime(["delete", "--force", b.id]);
    b.cleanup();
  }
});

/** Runs args in a container (runtime `run`); resolves with its exit status and /out/<name> files. */
async function inside(script: string, config?: (c: any) => void): Promise<{ code: number | null; stderr: string; out: (name: string) => string }> {
  const out = mkdtempSync(join(BUNDLES_DIR, "out-"));
  // Any user inside may write its findings.
  chmodSync(out, 0o777);
  const b = makeBundle({
    args: ["sh", "-c", script],
    config: (c) => {
      c.mounts.push({ destination: "/out", type: "bind", source: out, options: ["rbind", "rw"] });
      config?.(c);
    },
  });
  made.push({ ...b, cleanup: () => (b.cleanup(), rmSync(out, { recursive: true, force: true })) });
  const r = await runtime(["run", "--bundle", b.dir, b.id]);
  return { code: r.code, stderr: r.stderr, out: (name) => (existsSync(join(out, name)) ? readFileSync(join(out, name), "utf8") : `(no /out/${name})`) };
}

const CAP_BITS: Record<string, number> = { CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21, CAP_MKNOD: 27, CAP_AUDIT_WRITE: 29 };
const mask = (...caps: string[]): string => caps.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c]!)), 0n).toString(16).padStart(16, "0");

describe("config.json observed from inside", () => {
  it("process: user, groups, umask, cwd, env, rlimits, capabilities, no_new_privs", async ({ expect }) => {
    const r = await inside(
      "id > /out/id; umask > /out/umask; pwd > /out/pwd; echo $GREETING > /out/env; ulimit -n > /out/nofile; ulimit -c > /out/core; grep -E '^(Cap|NoNewPrivs)' /proc/self/status > /out/status",
      (c) => {
        c.process.user = { uid: 1000, gid: 1000, additionalGids: [2000], umask: 0o027 };
        c.process.cwd = "/tmp";
        c.process.env.push("GREETING=hello there");
        c.process.rlimits = [
          { type: "RLIMIT_NOFILE", soft: 512, hard: 1024 },
          { type: "RLIMIT_CORE", soft: 0, hard: 0 },
        ];
        c.process.capabilities = {
          bounding: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_MKNOD"],
          effective: ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
          permitted: ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
          inheritable: ["CAP_KILL"],
          ambient: ["CAP_KILL"],
        };
        c.process.noNewPrivileges = true;
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("id")).toBe("uid=1000(app) gid=1000(app) groups=2000(extra)\n");
    expect(r.out("umask")).toBe("0027\n");
    expect(r.out("pwd")).toBe("/tmp\n");
    expect(r.out("env")).toBe("hello there\n");
    expect(r.out("nofile")).toBe("512\n");
    expect(r.out("core")).toBe("0\n");
    const status = Object.fromEntries(r.out("status").trim().split("\n").map((l) => l.split(/:\s+/)));
    // A non-root program keeps its ambient set across exec. The sets are the config's, CAP_MKNOD
    // included: in the container's user namespace the kernel refuses device nodes whatever it holds.
    expect(status.CapBnd).toBe(mask("CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_MKNOD"));
    expect(status.CapAmb).toBe(mask("CAP_KILL"));
    expect(status.CapEff).toBe(mask("CAP_KILL"));
    expect(status.CapPrm).toBe(mask("CAP_KILL"));
    expect(status.CapInh).toBe(mask("CAP_KILL"));
    expect(status.NoNewPrivs).toBe("1");
  });

  it("root's capabilities are the config's; noNewPrivileges false leaves no_new_privs off", async ({ expect }) => {
    const r = await inside("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status > /out/status; mknod /tmp/sda b 8 0 2> /out/mknod; echo $? >> /out/mknod", (c) => {
      c.process.capabilities = { bounding: ["CAP_CHOWN", "CAP_MKNOD"], effective: ["CAP_CHOWN", "CAP_MKNOD"], permitted: ["CAP_CHOWN", "CAP_MKNOD"] };
      c.process.noNewPrivileges = false;
      c.mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["mode=1777"] });
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("status")).toBe(`CapEff:\t${mask("CAP_CHOWN", "CAP_MKNOD")}\nNoNewPrivs:\t0\n`);
    // Device nodes are refused in every container: the kernel's rule in a user namespace.
    expect(r.out("mknod")).toMatch(/Operation not permitted\n1\n$/);
  });

  it("hostname, mounts with their options, masked and read-only paths, read-only root, sysctl", async ({ expect }) => {
    const data = mkdtempSync(join(BUNDLES_DIR, "data-"));
    writeFileSync(join(data, "file"), "host data\n");
    made.push({ dir: data, id: "", cleanup: () => rmSync(data, { recursive: true, force: true }) });
    const r = await inside(
      [
        "hostname > /out/hostname; cat /proc/sys/kernel/domainname >> /out/hostname",
        "grep -E ' /(scratch|data|ro-data|proc/sys|) ' /proc/self/mountinfo | cut -d' ' -f5,6 > /out/mounts",
        "stat -c '%a' /scratch > /out/scratch-mode",
        "df -k /scratch | tail -1 | awk '{print $2}' > /out/scratch-size",
        "cat /ro-data/file > /out/ro-read; { echo x > /ro-data/file; } 2> /out/ro-write; echo $? >> /out/ro-write",
        "echo rw > /data/new; echo $? > /out/rw-write",
        "{ cat /proc/keys; cat /proc/timer_list; } > /out/keys 2>&1",
        "ls /sys/firmware | wc -l > /out/firmware",
        "{ echo 1 > /proc/sys/kernel/domainname; } 2> /out/procsys; echo $? >> /out/procsys",
        "touch /newfile 2> /out/rootfs; echo $? >> /out/rootfs",
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start > /out/sysctl",
      ].join("; "),
      (c) => {
        c.hostname = "conformance";
        c.domainname = "example.org";
        c.mounts.push(
          { destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1770", "size=2m"] },
          { destination: "/data", type: "bind", source: data, options: ["rbind", "rw"] },
          { destination: "/ro-data", type: "bind", source: data, options: ["bind", "ro"] },
        );
        c.linux.sysctl = { "net.ipv4.ip_unprivileged_port_start": "80" };
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("hostname")).toBe("conformance\nexample.org\n");
    expect(r.out("scratch-mode")).toBe("1770\n");
    expect(r.out("scratch-size")).toBe("2048\n");
    const mounts = r.out("mounts");
    expect(mounts).toMatch(/^\/scratch rw,nosuid,nodev/m);
    expect(mounts).toMatch(/^\/ro-data ro,nosuid/m);
    expect(mounts).toMatch(/^\/proc\/sys ro,/m);
    expect(mounts).toMatch(/^\/ ro,/m);
    expect(r.out("ro-read")).toBe("host data\n");
    expect(r.out("ro-write")).toMatch(/Read-only file system\n1\n$/);
    expect(r.out("rw-write")).toBe("0\n");
    expect(readFileSync(join(data, "new"), "utf8")).toBe("rw\n");
    // Masked: the mask file (mode 000, empty) over them; without CAP_DAC_OVERRIDE not even openable.
    expect(r.out("keys")).toBe("cat: can't open '/proc/keys': Permission denied\ncat: can't open '/proc/timer_list': Permission denied\n");
    expect(r.out("firmware")).toBe("0\n");
    expect(r.out("procsys")).toMatch(/Read-only file system\n1\n$/);
    expect(r.out("rootfs")).toMatch(/Read-only file system\n1\n$/);
    expect(existsSync(join(busyboxRootfs(), "newfile"))).toBe(false);
    expect(r.out("sysctl")).toBe("80\n");
  });

  it("cgroup limits: memory, pids and cpu are the container's, and hold", async ({ expect }) => {
    const r = await inside(
      [
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes > /out/memory 2>/dev/null || cat /sys/fs/cgroup/memory.max > /out/memory",
        "cat /sys/fs/cgroup/pids/pids.max > /out/pids 2>/dev/null || cat /sys/fs/cgroup/pids.max > /out/pids",
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us > /out/cpu 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max > /out/cpu",
        // Beyond pids.max: forks fail.
        "(i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done) 2> /out/fork; echo $? >> /out/fork",
      ].join("; "),
      (c) => {
        c.mounts.push({ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] });
        c.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 10 }, cpu: { quota: 50000, period: 100000 } };
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("memory")).toBe(`${64 * 1024 * 1024}\n`);
    expect(r.out("pids")).toBe("10\n");
    expect(r.out("cpu")).toBe("50000\n");
    expect(r.out("fork")).toMatch(/(Resource temporarily unavailable|can't fork)[\s\S]*\n[1-9]\d*\n$/);
  });

  it("the config's seccomp profile is applied with the policy: its denials reach the program", async ({ expect }) => {
    const r = await inside("mkdir /tmp/d 2> /out/mkdir; echo $? >> /out/mkdir; echo ok > /out/after", (c) => {
      c.mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["mode=1777"] });
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
      };
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("mkdir")).toMatch(/Operation not permitted\n1\n$/);
    expect(r.out("after")).toBe("ok\n");
  });

  it("oomScoreAdj, and linux.devices made as runc makes them (type, numbers, mode), the host's or not; host root's inside a user namespace, so a privileged config's devices never become root inside's; nodev nowhere", async ({ expect }) => {
    const devices = [
      { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666 },
      // runc's own test device: the host has no such node, and no such driver (ENODEV on open).
      { path: "/dev/test1", type: "c", major: 10, minor: 666, fileMode: 0o666, uid: 0, gid: 0 },
      // As a privileged config lists the host's disks: root's, and root's group's.
      { path: "/dev/disk0", type: "b", major: 7, minor: 200, fileMode: 0o660, uid: 0, gid: 6 },
    ];
    const list = "ls -ln /dev/fuse /dev/test1 /dev/disk0 | awk '{print $1, $3, $4, $5, $6, $NF}'";
    const probe = `cat /proc/self/oom_score_adj > /out/oom; ${list} > /out/devices; (cat /dev/test1 2>&1; echo $?) > /out/open; (head -c1 /dev/disk0 2>&1; echo $?) > /out/disk`;
    // runc's view of the same, on its stdout.
    const b = makeBundle({ args: ["sh", "-c", list], config: (c) => (c.linux.devices = devices) });
    made.push(b);
    const runc = await runcRun(b);
    // /run is usually nodev: the nodes are made there, and must open all the same.
    mkdirSync(DEVICES_DIR, { recursive: true, mode: 0o700 });
    execFileSync("mount", ["-t", "tmpfs", "-o", "nodev,mode=0700", "tmpfs", DEVICES_DIR]);
    let r: Awaited<ReturnType<typeof inside>>;
    try {
      r = await inside(probe, (c) => {
        c.process.oomScoreAdj = 500;
        c.linux.devices = devices;
      });
    } finally {
      execFileSync("umount", ["-l", DEVICES_DIR]);
    }
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("oom")).toBe("500\n");
    expect(r.out("devices")).toBe("brw-rw---- 65534 65534 7, 200 /dev/disk0\ncrw-rw-rw- 65534 65534 10, 229 /dev/fuse\ncrw-rw-rw- 65534 65534 10, 666 /dev/test1\n");
    // Past nodev and the device cgroup, to the kernel's missing driver.
    expect(r.out("open")).toMatch(/No such device\n1\n$/);
    // Root inside is not the disk's owner, nor in its group.
    expect(r.out("disk")).toMatch(/Permission denied\n1\n$/);
    expect(runc.code, runc.stderr).toBe(0);
    const shape = (out: string): string => out.trim().split("\n").map((l) => l.split(" ").filter((_, i) => i !== 1 && i !== 2).join(" ")).join("\n");
    expect(shape(runc.stdout)).toBe(shape(r.out("devices")));
    const pipe = await inside("true", (c) => (c.linux.devices = [{ path: "/dev/p", type: "p" }]));
    expect(pipe.code).toBe(1);
    expect(pipe.stderr).toContain("linux.devices[0]: FIFOs are not supported as devices");
    // Nothing is left of the containers' nodes.
    expect(readdirSync(DEVICES_DIR).filter((n) => n === devicesDir(STATE_ROOT, b.id).split("/").pop())).toEqual([]);
  });

  it("rootfsPropagation: rslave and rshared receive the host's mounts under a shared rootfs, rprivate does not", async ({ expect }) => {
    const tmp = mkdtempSync(join(BUNDLES_DIR, "shared-"));
    const rootfs = join(tmp, "rootfs");
    execFileSync("cp", ["-a", busyboxRootfs(), rootfs]);
    mkdirSync(join(rootfs, "mnt"), { recursive: true });
    execFileSync("mount", ["--bind", rootfs, rootfs]);
    execFileSync("mount", ["--make-shared", rootfs]);
    try {
      const seen: Record<string, string> = {};
      for (const prop of ["rslave", "rshared", "rprivate"]) {
        const b = makeBundle({
          args: ["sh", "-c", "echo up > /up; i=0; while [ ! -e /mnt/marker ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; [ -e /mnt/marker ] && echo seen || echo unseen; grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ' /proc/self/mountinfo | grep -q ' shared:' && echo shared || echo not-shared"],
          config: (c) => {
            c.root = { path: rootfs, readonly: false };
            c.linux.rootfsPropagation = prop;
          },
        });
        made.push(b);
        const up = join(rootfs, "up");
        rmSync(up, { force: true });
        const r = runtime(["run", "--bundle", b.dir, b.id]);
        // The program runs (its mount namespace exists) once it has written /up.
        for (let i = 0; i < 400 && !existsSync(up); i++) await new Promise((res) => setTimeout(res, 25));
        expect(existsSync(up), "the container's program did not start").toBe(true);
        // A tmpfs mounted on the host under the rootfs, while the container waits.
        execFileSync("mount", ["-t", "tmpfs", "tmpfs", join(rootfs, "mnt")]);
        writeFileSync(join(rootfs, "mnt", "marker"), "");
        const done = await r;
        execFileSync("umount", [join(rootfs, "mnt")]);
        expect(done.code, done.stderr).toBe(0);
        seen[prop] = done.stdout.trim();
      }
      expect(seen).toEqual({ rslave: "seen\nnot-shared", rshared: "seen\nshared", rprivate: "unseen\nnot-shared" });
    } finally {
      execFileSync("umount", ["-l", rootfs]);
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("bind options as runc takes them: ro makes the mount itself read-only (what is mounted beneath stays writable), rro everything beneath; noatime and strictatime binds", async ({ expect }) => {
    const vol = mkdtempSync(join(BUNDLES_DIR, "bind-options-"));
    chmodSync(vol, 0o777);
    mkdirSync(join(vol, "sub"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "mode=1777", "tmpfs", join(vol, "sub")]);
    const probe = "touch /v/x 2>/dev/null && echo top-rw || echo top-ro; touch /v/sub/x 2>/dev/null && echo sub-rw || echo sub-ro; grep -o ' /v [^ ]*' /proc/self/mountinfo | head -1";
    try {
      for (const [options, want, atime] of [
        [["rbind", "ro"], "top-ro sub-rw", "relatime"],
        [["rbind", "rro"], "top-ro sub-ro", "relatime"],
        [["rbind", "rw", "noatime"], "top-rw sub-rw", "noatime"],
        [["rbind", "rw", "strictatime"], "top-rw sub-rw", "strictatime"],
      ] as const) {
        const b = makeBundle({ args: ["sh", "-c", probe], config: (c) => c.mounts.push({ destination: "/v", type: "bind", source: vol, options }) });
        made.push(b);
        // What the probe found, and the mount's access-time mode (mountinfo names relatime and noatime; strict is neither).
        const seen = (out: string): string => {
          const [top, sub, info] = out.trim().split("\n");
          return `${top} ${sub} ${/noatime/.test(info ?? "") ? "noatime" : /relatime/.test(info ?? "") ? "relatime" : "strictatime"}`;
        };
        const runc = await runcRun(b);
        expect(seen(runc.stdout), `runc, ${options.join(",")}: ${runc.stderr}`).toBe(`${want} ${atime}`);
        const r = await runtime(["run", "--bundle", b.dir, b.id]);
        expect(r.code, r.stderr).toBe(0);
        expect(seen(r.stdout), options.join(",")).toBe(`${want} ${atime}`);
        rmSync(join(vol, "x"), { force: true });
        rmSync(join(vol, "sub", "x"), { force: true });
      }
    } finally {
      execFileSync("umount", ["-l", join(vol, "sub")]);
      rmSync(vol, { recursive: true, force: true });
    }
  });

  it("on the host's PID namespace (hostPID), /proc is the host's, and root inside is no one to the host's processes", async ({ expect }) => {
    const hostPid = await inside(
      "cat /proc/1/comm > /out/comm; echo $$ > /out/me; readlink /proc/self/ns/pid > /out/ns; kill -0 1 2> /dev/null; echo $? > /out/kill; echo x > /proc/sys/kernel/domainname 2> /dev/null; echo $? > /out/sysctl; cat /proc/sysrq-trigger 2> /dev/null | wc -c > /out/sysrq",
      (c) => {
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
      },
    );
    expect(hostPid.code, hostPid.stderr).toBe(0);
    expect(hostPid.out("ns").trim()).toBe(readlinkSync("/proc/self/ns/pid"));
    expect(hostPid.out("comm")).toBe(readFileSync("/proc/1/comm", "utf8"));
    // The shell's PID is the host's: it was running when written (not 1, not the namespace's own).
    expect(Number(hostPid.out("me"))).toBeGreaterThan(1);
    // The host's PID 1 is not root inside's to signal; the host's knobs are read-only; what
    // runc masks stays masked.
    expect(hostPid.out("kill").trim()).not.toBe("0");
    expect(hostPid.out("sysctl").trim()).not.toBe("0");
    expect(hostPid.out("sysrq").trim()).toBe("0");
    // The config's own user namespace: its root may not mount the host's proc.
    const own = await inside("true", (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/mounts\[\d+\]: a proc mount on the host's PID namespace needs the user namespace runsc-ts makes for the container/);
  });

  it("on the host's IPC namespace, an mqueue mount is the host's (hostIPC)", async ({ expect }) => {
    const hostIpc = (c: any): void => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "ipc");
    };
    const plain = await inside("readlink /proc/self/ns/ipc > /out/ipc", (c) => {
      hostIpc(c);
      c.mounts = c.mounts.filter((m: { type?: string }) => m.type !== "mqueue");
    });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.out("ipc").trim()).toBe(readlinkSync("/proc/self/ns/ipc"));
    // What containerd gives a hostIPC pod: the host's mqueue, made by the runtime (root
    // inside may not mount it). A queue made inside is the host's.
    const name = `runsc-ts-test-${process.pid}`;
    const host = mkdtempSync("/tmp/runsc-ts-mqueue-");
    execFileSync("mount", ["-t", "mqueue", "mqueue", host]);
    try {
      const mq = await inside(`readlink /proc/self/ns/ipc > /out/ipc; grep " /dev/mqueue " /proc/self/mountinfo > /out/mount; touch /dev/mqueue/${name} && ls /dev/mqueue > /out/ls`, (c) => {
        hostIpc(c);
        c.mounts = c.mounts.filter((m: { type?: string }) => m.type !== "mqueue");
        c.mounts.push({ destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] });
      });
      expect(mq.code, mq.stderr).toBe(0);
      expect(mq.out("ipc").trim()).toBe(readlinkSync("/proc/self/ns/ipc"));
      expect(mq.out("mount")).toMatch(/ - mqueue /);
      expect(mq.out("mount")).toMatch(/nosuid,nodev,noexec/);
      expect(mq.out("ls")).toContain(name);
      expect(readdirSync(host)).toContain(name);
    } finally {
      rmSync(join(host, name), { force: true });
      execFileSync("umount", [host]);
      rmSync(host, { recursive: true, force: true });
    }
    // The config's own user namespace: its root may not mount the host's mqueue, and
    // runsc-ts does not make it for a namespace it did not make.
    const own = await inside("true", (c) => {
      hostIpc(c);
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.mounts = c.mounts.filter((m: { type?: string }) => m.type !== "mqueue");
      c.mounts.push({ destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] });
    });
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/mounts\[\d+\]: an mqueue mount on the host's IPC namespace needs the user namespace runsc-ts makes for the container/);
  });

  it("a user namespace from the config: root inside is the mapped host uid", async ({ expect }) => {
    const r = await inside("id -u > /out/uid; cat /proc/self/uid_map > /out/map; stat -c %u /bin/busybox > /out/owner; sleep 0.3 & echo $! > /out/pid; wait", (c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("uid")).toBe("0\n");
    expect(r.out("map").trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    // The rootfs belongs to host root, which has no mapping inside.
    expect(r.out("owner")).toBe("65534\n");
  });

  it("the program takes its tree's orphans, as a container's PID 1 does under runc", async ({ expect }) => {
    // The backgrounded sleep's parent (a subshell) exits at once: the sleep is an orphan.
    const r = await inside("(sleep 2 &); sleep 0.3; for p in /proc/[0-9]*; do [ \"$(cat $p/comm)\" = sleep ] && [ $p != /proc/$$ ] && grep PPid $p/status; done > /out/ppid; echo $$ > /out/me");
    expect(r.code, r.stderr).toBe(0);
    const me = r.out("me").trim();
    // Its own sleep 0.3 is over; the orphan's parent is the program, not init (PID 1).
    expect(r.out("ppid").trim().split("\n").map((l) => l.split(/\s+/)[1])).toContain(me);
  });

  it("a pod's user namespace joined by path: the container's own mount and PID namespaces belong to it", async ({ expect }) => {
    // The pod: a held container with a user namespace (what CRI's sandbox is with user namespaces).
    const pod = makeBundle({
      args: ["sleep", "1000"],
      config: (c) => {
        c.linux.namespaces.push({ type: "user" });
        c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      },
    });
    made.push(pod);
    const p = await runtime(["run", "--detach", "--bundle", pod.dir, pod.id]);
    expect(p.code, p.stderr).toBe(0);
    const podPid = (JSON.parse((await runtime(["state", pod.id])).stdout) as { pid: number }).pid;
    const r = await inside("id -u > /out/uid; cat /proc/self/uid_map > /out/map; hostname > /out/host; echo $$ > /out/pid", (c) => {
      delete c.hostname;
      c.linux.namespaces = [
        { type: "pid" },
        { type: "mount" },
        { type: "user", path: `/proc/${podPid}/ns/user` },
        { type: "uts", path: `/proc/${podPid}/ns/uts` },
        { type: "ipc", path: `/proc/${podPid}/ns/ipc` },
        { type: "network", path: `/proc/${podPid}/ns/net` },
      ];
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("uid")).toBe("0\n");
    expect(r.out("map").trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    expect(r.out("host")).toBe("bb\n");
    // The program is PID 1, in a PID namespace of the container's own.
    expect(r.out("pid")).toBe("1\n");
    const wrong = await inside("true", (c) => {
      c.linux.namespaces = [{ type: "pid" }, { type: "mount", path: `/proc/${podPid}/ns/mnt` }];
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("linux.namespaces[1].path: joining a mount namespace is not supported");

    // The extra fork that makes those namespaces happens in a child of the multithreaded
    // runtime: it once waited forever on a malloc lock another thread held at the clone.
    // Two threads allocating all along in the runtime make that all but certain.
    const allocating = join(BUNDLES_DIR, `allocating-${process.pid}.mjs`);
    writeFileSync(
      allocating,
      `import { Worker } from "node:worker_threads";
for (let k = 0; k < 2; k++) {
  new Worker("const keep = []; for (;;) for (let i = 0; i < 64; i++) keep[i] = Buffer.allocUnsafeSlow(4096 + i * 1024);", { eval: true }).unref();
}
`,
    );
    const joiner = makeBundle({
      args: ["true"],
      config: (c) => {
        delete c.hostname;
        c.linux.namespaces = [
          { type: "pid" },
          { type: "mount" },
          ...["user", "uts", "ipc", "net"].map((ns) => ({ type: ns === "net" ? "network" : ns, path: `/proc/${podPid}/ns/${ns}` })),
        ];
      },
    });
    made.push({ ...joiner, cleanup: () => (joiner.cleanup(), rmSync(allocating, { force: true })) });
    for (let i = 0; i < 10; i++) {
      const id = `${joiner.id}-${i}`;
      const j = await runtime(["run", "--bundle", joiner.dir, id], { env: { NODE_OPTIONS: `--import ${allocating}` }, timeoutMs: 10_000 });
      if (j.code !== 0) await runtime(["delete", "--force", id]);
      expect(j.code, `run ${i + 1} of 10: ${j.stderr}`).toBe(0);
    }
  });

  it("the dev.runsc-ts.policy annotation selects the container's policy; other dev.runsc-ts.* keys are refused", async ({ expect }) => {
    const dir = mkdtempSync(join(BUNDLES_DIR, "policy-"));
    made.push({ dir, id: "", cleanup: () => rmSync(dir, { recursive: true, force: true }) });
    const policy = join(dir, "hide-passwd.yaml");
    writeFileSync(
      policy,
      [
        "apiVersion: runsc-ts/v1",
        "kind: Policy",
        "name: hide-passwd",
        "extends: container",
        "filesystem:",
        "  rules:",
        "    - { path: /etc/passwd, access: none }",
        "  files:",
        '    - { path: /etc/motd, content: "from the policy\\n" }',
        "",
      ].join("\n"),
    );
    const hidden = await inside("cat /etc/passwd > /out/passwd 2>&1; echo $? >> /out/passwd; cat /etc/motd > /out/motd", (c) => (c.annotations = { "dev.runsc-ts.policy": policy }));
    expect(hidden.code, hidden.stderr).toBe(0);
    expect(hidden.out("passwd")).not.toContain("root:x:0:0");
    expect(hidden.out("motd")).toBe("from the policy\n");
    const plain = await inside("cat /etc/passwd > /out/passwd 2>&1");
    expect(plain.out("passwd")).toContain("root:x:0:0");
    const unknown = await inside("true", (c) => (c.annotations = { "dev.runsc-ts.network": "host" }));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("annotations.dev.runsc-ts.network: unknown; runsc-ts reads dev.runsc-ts.policy");
  });

  it("a policy's overlay root: the container writes anywhere, the bundle's rootfs stays as it was", async ({ expect }) => {
    const dir = mkdtempSync(join(BUNDLES_DIR, "policy-"));
    made.push({ dir, id: "", cleanup: () => rmSync(dir, { recursive: true, force: true }) });
    const policy = join(dir, "overlay.yaml");
    writeFileSync(policy, ["apiVersion: runsc-ts/v1", "kind: Policy", "name: overlay-root", "extends: container", "filesystem:", "  root: overlay", ""].join("\n"));
    const passwd = readFileSync(join(busyboxRootfs(), "etc/passwd"), "utf8");
    const r = await inside("echo new > /etc/added && echo extra:x:9:9::/:/bin/sh >> /etc/passwd && rm /bin/cat.bak 2>/dev/null; mkdir -p /var/lib/x && cat /etc/added /etc/passwd > /out/seen", (c) => {
      c.root.readonly = false;
      c.annotations = { "dev.runsc-ts.policy": policy };
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("seen")).toBe(`new\n${passwd}extra:x:9:9::/:/bin/sh\n`);
    expect(existsSync(join(busyboxRootfs(), "etc/added"))).toBe(false);
    expect(existsSync(join(busyboxRootfs(), "var/lib/x"))).toBe(false);
    expect(readFileSync(join(busyboxRootfs(), "etc/passwd"), "utf8")).toBe(passwd);

    // In a user namespace root inside is not root: what host root owns it changes through
    // the sentry, in the overlay's layer, with CAP_DAC_OVERRIDE (and without it, not at all).
    const userns = (c: any, caps: string[]): void => {
      c.root.readonly = false;
      c.annotations = { "dev.runsc-ts.policy": policy };
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    };
    const mapped = await inside("echo extra >> /etc/passwd && tail -1 /etc/passwd > /out/tail; echo new > /etc/added; stat -c '%u %U' /etc/added >> /out/tail", (c) =>
      userns(c, ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"]),
    );
    expect(mapped.code, mapped.stderr).toBe(0);
    expect(mapped.out("tail")).toBe("extra\n0 root\n");
    const without = await inside("{ echo extra >> /etc/passwd; } 2> /out/err; echo $? >> /out/err", (c) => userns(c, ["CAP_SETUID", "CAP_SETGID"]));
    expect(without.out("err")).toMatch(/Permission denied\n1\n$/);
    expect(readFileSync(join(busyboxRootfs(), "etc/passwd"), "utf8")).toBe(passwd);
    expect(existsSync(join(busyboxRootfs(), "etc/added"))).toBe(false);
  });

  it("a policy's virtual /proc: free and nproc inside show the config's memory and CPU limits", async ({ expect }) => {
    const dir = mkdtempSync(join(BUNDLES_DIR, "policy-"));
    made.push({ dir, id: "", cleanup: () => rmSync(dir, { recursive: true, force: true }) });
    const policy = join(dir, "proc.yaml");
    writeFileSync(policy, ["apiVersion: runsc-ts/v1", "kind: Policy", "name: proc", "extends: container", "filesystem:", "  proc:", "    virtualize: [meminfo, cpuinfo, uptime]", ""].join("\n"));
    const r = await inside("grep MemTotal /proc/meminfo > /out/mem; nproc > /out/nproc; grep -c ^processor /proc/cpuinfo > /out/cpus; cut -d. -f1 /proc/uptime > /out/uptime", (c) => {
      c.annotations = { "dev.runsc-ts.policy": policy };
      c.linux.resources = { memory: { limit: 256 * 1024 * 1024 }, cpu: { quota: 100000, period: 100000 } };
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out("mem")).toMatch(/^MemTotal:\s+262144 kB\n$/);
    expect(r.out("nproc")).toBe("1\n");
    expect(r.out("cpus")).toBe("1\n");
    // Since the container started, not the host.
    expect(Number(r.out("uptime"))).toBeLessThan(30);
  });

  it("a terminal: the console socket receives the pty's master, the program sees a tty of the config's size", async ({ expect }) => {
    const out = mkdtempSync(join(BUNDLES_DIR, "tty-"));
    const sock = join(out, "console.sock");
    // Python receives the master (SCM_RIGHTS) and copies what the program writes.
    const receiver = spawn("python3", [
      "-c",
      `import socket, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 64, 1)
out = b""
while True:
    try:
        b = os.read(fds[0], 4096)
    except OSError:
        break
    if not b:
        break
    out += b
open(sys.argv[2], "wb").write(out)`,
      sock,
      join(out, "tty-output"),
    ]);
    const received = new Promise<void>((resolve) => receiver.once("exit", () => resolve()));
    await new Promise<void>((resolve) => receiver.stdout.once("data", () => resolve()));
    const b = makeBundle({
      args: ["sh", "-c", "tty; stty size; echo done"],
      config: (c) => {
        c.process.terminal = true;
        c.process.consoleSize = { height: 33, width: 101 };
      },
    });
    made.push({ ...b, cleanup: () => (b.cleanup(), rmSync(out, { recursive: true, force: true })) });
    const cr = await runtime(["create", "--bundle", b.dir, "--console-socket", sock, b.id]);
    expect(cr.code, cr.stderr).toBe(0);
    expect((await runtime(["start", b.id])).code).toBe(0);
    await received;
    const text = readFileSync(join(out, "tty-output"), "utf8").replace(/\r/g, "");
    expect(text).toMatch(/^\/dev\/(pts\/\d+|console)\n33 101\ndone\n$/);
    expect((await runtime(["delete", "--force", b.id])).code).toBe(0);

    const noSock = await runtime(["create", "--bundle", b.dir, `${b.id}-x`]);
    expect(noSock.code).toBe(1);
    expect(noSock.stderr).toContain("--console-socket");
  });
});
