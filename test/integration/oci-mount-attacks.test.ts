// A malicious image or volume against the OCI mount plan: every path of the plan is resolved
// inside the container's root as it is when init reaches it, so the image's symlinks cannot
// move what readonlyPaths and maskedPaths protect, and a volume's symlink cannot send a mount
// point onto the host. Each bundle runs under runsc-ts and under runc (the contract), and the
// host side is checked after each.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { BUNDLES_DIR, busyboxRootfs, makeBundle, runtime, TEST_DIR } from "../helpers/bundle.js";

const RUNC_ROOT = "/run/runsc-ts-test-runc";
const made: (() => void)[] = [];
afterAll(() => {
  for (const f of made.reverse()) f();
});

/** A private, writable copy of the busybox rootfs, with what the attack plants in it. */
function rootfsCopy(plant: (rootfs: string) => void): string {
  const dir = mkdtempSync(join(BUNDLES_DIR, "attack-"));
  const rootfs = join(dir, "rootfs");
  execFileSync("cp", ["-a", busyboxRootfs(), rootfs]);
  plant(rootfs);
  made.push(() => rmSync(dir, { recursive: true, force: true }));
  return rootfs;
}

function bundleOn(rootfs: string, script: string, config?: (c: any) => void): Bundle {
  const b = makeBundle({
    args: ["sh", "-c", script],
    name: "attack",
    config: (c) => {
      c.root = { path: rootfs, readonly: false };
      config?.(c);
    },
  });
  made.push(() => b.cleanup());
  return b;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The bundle under runsc-ts and under runc. */
async function both(b: Bundle): Promise<{ runscTs: Ran; runc: Ran }> {
  const runscTs = await runtime(["run", "--bundle", b.dir, b.id]);
  mkdirSync(RUNC_ROOT, { recursive: true, mode: 0o700 });
  const r = spawnSync("runc", ["--root", RUNC_ROOT, "run", "--bundle", b.dir, `${b.id}-runc`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
  spawnSync("runc", ["--root", RUNC_ROOT, "delete", "--force", `${b.id}-runc`], { stdio: "ignore" });
  return { runscTs, runc: { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" } };
}

const PROBE = [
  // Opened for writing and closed unwritten: nothing changes even where it is allowed.
  "( exec 3>>/proc/sys/kernel/core_pattern ) 2>/dev/null && echo core_pattern:writable || echo core_pattern:refused",
  "( echo attacker > /proc/sys/kernel/domainname ) 2>/dev/null && echo domainname:written || echo domainname:refused",
  "[ -n \"$(cat /proc/keys 2>/dev/null)\" ] && echo keys:read || echo keys:unreadable",
  "( : > /proc/sysrq-trigger ) 2>/dev/null && echo sysrq:writable || echo sysrq:refused",
].join("\n");

describe("a sloppy config: no maskedPaths, no readonlyPaths, a read-write sysfs", () => {
  /** Docker's 14 default capabilities. */
  const DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"];
  const SLOPPY = [
    PROBE,
    "( exec 3>>/sys/kernel/mm/transparent_hugepage/enabled ) 2>/dev/null && echo thp:writable || echo thp:refused",
    "[ -n \"$(head -c 16 /proc/kcore 2>/dev/null)\" ] && echo kcore:read || echo kcore:unreadable",
    "( exec 3>>/proc/sys/net/ipv4/ip_forward ) 2>/dev/null && echo own_net:writable || echo own_net:refused",
  ].join("\n");
  const sloppy = (c: any): void => {
    c.process.capabilities = { bounding: DOCKER_CAPS, effective: DOCKER_CAPS, permitted: DOCKER_CAPS };
    c.process.noNewPrivileges = false;
    delete c.linux.maskedPaths;
    delete c.linux.readonlyPaths;
    c.mounts = c.mounts.map((m: { type: string }) => (m.type === "sysfs" ? { ...m, options: ["nosuid", "noexec", "nodev", "rw"] } : m));
  };

  it("the host-global knobs are refused all the same, where runc lets container root (host root) write them", async () => {
    const b = bundleOn(busyboxRootfs(), SLOPPY, sloppy);
    const { runscTs, runc } = await both(b);
    // runc: the config is the contract, and container root is host root.
    for (const open of ["core_pattern:writable", "domainname:written", "keys:read", "thp:writable"]) expect(runc.stdout, runc.stderr).toContain(open);
    expect(runscTs.code, runscTs.stderr).toBe(0);
    // Its own network's settings too: root inside is not host root (sysctls answer host
    // root, or CAP_NET_ADMIN over the network's user namespace, which Docker's set lacks).
    expect(runscTs.stdout).toBe(
      "core_pattern:refused\ndomainname:refused\nkeys:unreadable\nsysrq:refused\nthp:refused\nkcore:unreadable\nown_net:refused\n",
    );
  });

  it("a bind of the host's /proc/sys with rw stays read-only", async () => {
    const b = bundleOn(busyboxRootfs(), "( exec 3>>/host-sys/kernel/core_pattern ) 2>/dev/null && echo writable || echo refused", (c) => {
      sloppy(c);
      c.mounts.push({ destination: "/host-sys", type: "bind", source: "/proc/sys", options: ["rbind", "rw"] });
    });
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("refused\n");
  });
});

describe("an image's symlinks do not move the protected /proc paths", () => {
  it("proc/sys -> /decoy/sys and proc/keys -> /decoy/keys in the image: /proc/sys stays read-only and /proc/keys masked", async () => {
    const rootfs = rootfsCopy((r) => {
      mkdirSync(join(r, "decoy/sys/kernel"), { recursive: true });
      writeFileSync(join(r, "decoy/keys"), "");
      writeFileSync(join(r, "decoy/sysrq-trigger"), "");
      symlinkSync("/decoy/sys", join(r, "proc/sys"));
      symlinkSync("/decoy/keys", join(r, "proc/keys"));
      symlinkSync("../decoy/sysrq-trigger", join(r, "proc/sysrq-trigger"));
    });
    // runc's default config: container root is host root (no user namespace).
    const b = bundleOn(rootfs, PROBE);
    const { runscTs, runc } = await both(b);
    const want = "core_pattern:refused\ndomainname:refused\nkeys:unreadable\nsysrq:refused\n";
    expect(runc.stdout, runc.stderr).toBe(want);
    expect(runscTs.code, runscTs.stderr).toBe(0);
    expect(runscTs.stdout).toBe(want);
  });

  it("a /proc that is itself a symlink in the image: refused, as runc refuses it", async () => {
    const rootfs = rootfsCopy((r) => {
      rmSync(join(r, "proc"), { recursive: true });
      mkdirSync(join(r, "elsewhere"));
      symlinkSync("/elsewhere", join(r, "proc"));
    });
    const b = bundleOn(rootfs, PROBE);
    const { runscTs, runc } = await both(b);
    expect(runc.code).not.toBe(0);
    expect(runc.stderr).toContain('filesystem \\"proc\\" must be mounted on ordinary directory');
    expect(runscTs.code).toBe(1);
    expect(runscTs.stdout).toBe("");
    expect(runscTs.stderr).toMatch(/mount proc on \/\S+\/proc: must be mounted on an ordinary directory, and the image has a symlink there/);
  });
});

describe("a volume's symlink does not send a mount point onto the host", () => {
  it("a mount beneath a volume whose entry is a symlink to a host directory: the mount point is made inside the root", async () => {
    // The host directory the volume's symlink names, outside the bundle and the rootfs.
    const target = mkdtempSync(join(TEST_DIR, "escape-target-"));
    made.push(() => rmSync(target, { recursive: true, force: true }));
    const volume = mkdtempSync(join(BUNDLES_DIR, "volume-"));
    made.push(() => rmSync(volume, { recursive: true, force: true }));
    symlinkSync(target, join(volume, "escape"));
    writeFileSync(join(volume, "source-file"), "bound\n");
    const rootfs = rootfsCopy(() => {});
    const b = bundleOn(rootfs, "cat /vol/escape/file; ls -d /vol/escape/dir", (c) => {
      c.mounts.push(
        { destination: "/vol", type: "bind", source: volume, options: ["rbind", "rw"] },
        // Destinations through the volume's symlink, made after the volume is mounted.
        { destination: "/vol/escape/dir", type: "tmpfs", source: "tmpfs", options: ["nosuid"] },
        { destination: "/vol/escape/file", type: "bind", source: join(volume, "source-file"), options: ["bind", "ro"] },
      );
    });
    const { runscTs, runc } = await both(b);
    // Nothing on the host: runc makes the mount points inside the rootfs.
    expect(readdirSync(target), "runc").toEqual([]);
    expect(runc.code, runc.stderr).toBe(0);
    expect(runscTs.code, runscTs.stderr).toBe(0);
    expect(runscTs.stdout).toBe(runc.stdout);
    expect(readdirSync(target), "runsc-ts").toEqual([]);
    // Where they went: the symlink's target, taken inside the rootfs.
    expect(existsSync(join(rootfs, target, "dir"))).toBe(true);
    expect(existsSync(join(rootfs, target, "file"))).toBe(true);
  });

  it("a volume whose symlink climbs with ..: the mount point stays inside the root", async () => {
    const volume = mkdtempSync(join(BUNDLES_DIR, "volume-"));
    made.push(() => rmSync(volume, { recursive: true, force: true }));
    const outside = mkdtempSync(join(TEST_DIR, "climb-"));
    made.push(() => rmSync(outside, { recursive: true, force: true }));
    // From /vol inside, as many .. as it takes to reach the host's root, then down to outside.
    symlinkSync(`../../../../../../../../..${outside}`, join(volume, "up"));
    const rootfs = rootfsCopy(() => {});
    const b = bundleOn(rootfs, "ls -d /vol/up/made", (c) => {
      c.mounts.push(
        { destination: "/vol", type: "bind", source: volume, options: ["rbind", "rw"] },
        { destination: "/vol/up/made", type: "tmpfs", source: "tmpfs", options: [] },
      );
    });
    const { runscTs, runc } = await both(b);
    expect(runc.code, runc.stderr).toBe(0);
    expect(runscTs.code, runscTs.stderr).toBe(0);
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(rootfs, outside, "made"))).toBe(true);
  });
});

describe("linux.sysctl never reaches the host", () => {
  it("a sysctl of no namespace of the container's own is refused, as runc refuses it, and the host's value stays", async () => {
    // Init writes sysctls as host root before the workload starts: kernel.printk_ratelimit
    // (no namespace) and net.* with the host's network namespace would change the host.
    const file = "/proc/sys/kernel/printk_ratelimit";
    const netFile = "/proc/sys/net/ipv4/conf/lo/accept_local";
    const hostValue = readFileSync(file, "utf8");
    const hostNet = readFileSync(netFile, "utf8");
    const rootfs = rootfsCopy(() => {});
    const global = bundleOn(rootfs, "true", (c) => {
      c.linux.sysctl = { "kernel.printk_ratelimit": String(Number(hostValue) + 2) };
    });
    const hostNetns = bundleOn(rootfs, "true", (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
      c.linux.sysctl = { "net.ipv4.conf.lo.accept_local": hostNet.trim() === "1" ? "0" : "1" };
    });
    for (const [b, key] of [[global, "kernel.printk_ratelimit"], [hostNetns, "net.ipv4.conf.lo.accept_local"]] as const) {
      const { runscTs, runc } = await both(b);
      expect(runc.code, `runc: ${runc.stderr}`).not.toBe(0);
      expect(runscTs.code, runscTs.stdout).not.toBe(0);
      expect(runscTs.stderr).toContain(`linux.sysctl.${key}`);
      expect(runscTs.stderr).toContain(join(b.dir, "config.json"));
    }
    expect(readFileSync(file, "utf8")).toBe(hostValue);
    expect(readFileSync(netFile, "utf8")).toBe(hostNet);
    // A namespaced one still works: the container's own network namespace.
    const own = bundleOn(rootfs, "cat /proc/sys/net/ipv4/conf/lo/accept_local", (c) => {
      c.linux.sysctl = { "net.ipv4.conf.lo.accept_local": "1" };
    });
    const { runscTs, runc } = await both(own);
    expect(runc.stdout, runc.stderr).toBe("1\n");
    expect(runscTs, runscTs.stderr).toMatchObject({ code: 0, stdout: "1\n" });
  });
});

describe("an image's device nodes open nothing", () => {
  it("nodes the image ships (fuse, loop-control) are refused as under runc, with no device rules in config.json; /dev/null works", async () => {
    const rootfs = rootfsCopy((r) => {
      execFileSync("mknod", ["-m", "666", join(r, "fuse"), "c", "10", "229"]);
      execFileSync("mknod", ["-m", "666", join(r, "loopctl"), "c", "10", "237"]);
    });
    const script = ["for f in /fuse /loopctl /dev/null; do ( exec 5<>$f ) 2>/dev/null && echo $f:opened || echo $f:refused; done", "echo x > /dev/null && echo null:written"].join("\n");
    // runc's default spec has a deny-all rule; this one has no linux.resources at all.
    const b = bundleOn(rootfs, script, (c) => {
      delete c.linux.resources;
    });
    const { runscTs, runc } = await both(b);
    const want = "/fuse:refused\n/loopctl:refused\n/dev/null:opened\nnull:written\n";
    expect(runc.stdout, runc.stderr).toBe(want);
    expect(runscTs, runscTs.stderr).toMatchObject({ code: 0, stdout: want });
  });

  it("with Docker's device rules (deny all, then its list), the standard devices still work", async () => {
    const rootfs = rootfsCopy(() => {});
    const b = bundleOn(rootfs, "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c", (c) => {
      c.linux.resources = { devices: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 136, access: "rwm" }] };
    });
    const { runscTs, runc } = await both(b);
    expect(runc.stdout, runc.stderr).toBe("4\n4\n");
    expect(runscTs, runscTs.stderr).toMatchObject({ code: 0, stdout: "4\n4\n" });
  });
});

describe("nothing but proc mounts on /proc", () => {
  it("an image whose /dev is a symlink to /proc: the /dev tmpfs is refused, as runc refuses it, not laid over the procfs", async () => {
    const rootfs = rootfsCopy((r) => {
      rmSync(join(r, "dev"), { recursive: true, force: true });
      symlinkSync("/proc", join(r, "dev"));
    });
    const b = bundleOn(rootfs, "cat /proc/self/mountinfo > /dev/null && echo proc-there");
    const { runscTs, runc } = await both(b);
    expect(runc.code, runc.stdout).not.toBe(0);
    expect(runscTs.code, runscTs.stdout).not.toBe(0);
    expect(runscTs.stderr).toMatch(/mounts\[\d+\]\.destination: \/dev is \/proc inside the container's root \(through the image's symlinks\)/);
  });
});

describe("runc's own default spec", () => {
  it("ambient capabilities that are not inheritable stay down, as under runc, and the container runs", async () => {
    const rootfs = rootfsCopy(() => {});
    const b = bundleOn(rootfs, "grep -E '^Cap(Inh|Amb)' /proc/self/status", (c) => {
      const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps, ambient: caps };
    });
    const { runscTs, runc } = await both(b);
    expect(runc.code, runc.stderr).toBe(0);
    expect(runscTs, runscTs.stderr).toMatchObject({ code: 0, stdout: runc.stdout });
  });
});
