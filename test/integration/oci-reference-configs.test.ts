// The config.json files Docker, containerd (ctr), the CRI plugin and podman wrote on this
// kind of machine (test/fixtures/oci/) run a busybox rootfs under runsc-ts. Only what points
// at the writer's own host is replaced: the rootfs, bind sources under /var/lib/docker
// and the like, Docker's libnetwork hook binary, namespace paths (a "pause" container of
// our own stands in for the pod), and the cgroup parent. Everything else — mounts and their
// options, seccomp profiles, capabilities, devices, resources, sysctls, masked paths — is
// the client's own.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { BUNDLES_DIR, busyboxRootfs, makeBundle, runtime } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { pollFor, ROOT } from "../helpers/sandbox.js";

busyboxRootfs();
const made: Bundle[] = [];
afterAll(async () => {
  for (const b of made) {
    await runtime(["delete", "--force", b.id]);
    b.cleanup();
  }
});

/** The pod's stand-in: a container whose namespaces the CRI and podman configs join. */
async function pause(): Promise<{ id: string; pid: number }> {
  const b = makeBundle({ args: ["sleep", "1000"], config: (c) => (c.hostname = "pod") });
  made.push(b);
  const r = await runtime(["create", "--bundle", b.dir, b.id]);
  if (r.code !== 0) throw new Error(`pause: ${r.stderr}`);
  if ((await runtime(["start", b.id])).code !== 0) throw new Error("pause: start");
  const st = JSON.parse((await runtime(["state", b.id])).stdout) as { pid: number };
  return { id: b.id, pid: st.pid };
}

/** Adapts a client's config to this machine, runs `script` in it, returns its exit status and /out. */
async function runReference(file: string, script: string, pod: { pid: number } | undefined): Promise<{ code: number | null; stderr: string; out: (n: string) => string }> {
  const original = JSON.parse(readFileSync(join(ROOT, "test/fixtures/oci", file), "utf8"));
  const out = mkdtempSync(join(BUNDLES_DIR, "out-"));
  chmodSync(out, 0o777);
  const host = mkdtempSync(join(BUNDLES_DIR, "host-"));
  const b = makeBundle({
    args: ["sh", "-c", script],
    config: (c) => {
      for (const k of Object.keys(c)) delete c[k];
      Object.assign(c, original);
      c.root = { path: busyboxRootfs(), readonly: true };
      c.process.args = ["sh", "-c", script];
      c.process.terminal = false;
      // Bind sources on the writer's host: files and directories of our own.
      for (const m of c.mounts) {
        if (m.type !== "bind" && !(m.options ?? []).some((o: string) => o === "bind" || o === "rbind")) continue;
        if (existsSync(m.source)) continue;
        const src = join(host, m.source.replace(/\//g, "_"));
        if (m.destination === "/dev/shm") mkdirSync(src, { recursive: true });
        else writeFileSync(src, `${m.destination} of the client\n`);
        m.source = src;
      }
      c.mounts.push({ destination: "/out", type: "bind", source: out, options: ["rbind", "rw"] });
      // Docker's hook is its own binary (/proc/<dockerd>/exe libnetwork-setkey).
      delete c.hooks;
      for (const ns of c.linux.namespaces) {
        if (ns.path === undefined) continue;
        if (pod === undefined) throw new Error(`${file}: joins ${ns.type} but no pod was given`);
        ns.path = `/proc/${pod.pid}/ns/${ns.type === "network" ? "net" : ns.type}`;
      }
      c.linux.cgroupsPath = `/runsc-ts-test/${file.replace(/\.json$/, "")}-${Date.now()}`;
    },
  });
  made.push({ ...b, cleanup: () => (b.cleanup(), rmSync(out, { recursive: true, force: true }), rmSync(host, { recursive: true, force: true })) });
  mkdirSync(dirname(b.dir), { recursive: true });
  const r = await runtime(["run", "--bundle", b.dir, b.id]);
  return { code: r.code, stderr: r.stderr, out: (n) => (existsSync(join(out, n)) ? readFileSync(join(out, n), "utf8") : `(no /out/${n})`) };
}

const PROBE = "id > /out/id; hostname > /out/hostname; cat /etc/resolv.conf > /out/resolv 2>&1; grep CapEff /proc/self/status > /out/caps; echo ok > /out/ok";

describe("the configs real clients write run under runsc-ts", () => {
  for (const file of ["docker-config.json", "docker-config-resources-user-readonly.json", "ctr-config.json", "podman-config.json"]) {
    it(file, async ({ expect }) => {
      const pod = file.startsWith("podman") ? await pause() : undefined;
      const r = await runReference(file, PROBE, pod);
      expect(r.code, r.stderr).toBe(0);
      expect(r.out("ok")).toBe("ok\n");
      if (file.includes("user")) expect(r.out("id")).toMatch(/^uid=1000\(app\) gid=1000\(app\)/);
      else expect(r.out("id")).toMatch(/^uid=0\(root\) gid=0\(root\)/);
      if (file.startsWith("docker") || file.startsWith("podman")) expect(r.out("resolv")).toBe("/etc/resolv.conf of the client\n");
    });
  }

  it("cri-sandbox-config.json and cri-container-config.json: a pod's container joins its sandbox's namespaces", async ({ expect }) => {
    const pod = await pause();
    const sandbox = await runReference("cri-sandbox-config.json", PROBE, pod);
    expect(sandbox.code, sandbox.stderr).toBe(0);
    expect(sandbox.out("ok")).toBe("ok\n");
    // The container shares the pod's PID namespace: it sees the pod's sleep; and its UTS one.
    const c = await runReference("cri-container-config.json", `${PROBE}; ps -o comm | grep -c sleep > /out/sleeps; sleep 100 & echo left > /out/left`, pod);
    expect(c.code, c.stderr).toBe(0);
    expect(c.out("hostname")).toBe("pod\n");
    expect(Number(c.out("sleeps"))).toBeGreaterThanOrEqual(1);
    expect(c.out("left")).toBe("left\n");
    // What it left behind ended with it; the pod goes on.
    const podNs = readlinkSync(`/proc/${pod.pid}/ns/pid`);
    const leftovers = (): number[] =>
      readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return readlinkSync(`/proc/${d}/ns/pid`) === podNs && readFileSync(`/proc/${d}/cmdline`, "utf8") === "sleep\0" + "100\0";
          } catch {
            return false;
          }
        })
        .map(Number);
    expect(await pollFor(() => (leftovers().length === 0 ? true : undefined), 5000), `left: ${leftovers().join(",")}`).toBe(true);
    expect(existsSync(`/proc/${pod.pid}/ns/pid`)).toBe(true);
  });
});
