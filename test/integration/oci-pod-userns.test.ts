// A Kubernetes pod under runsc-ts: its sandbox container joins the network namespace a CNI
// plugin made (the host user namespace's) and gets a user namespace and range of its own;
// the pod's other containers join its ipc, uts and network namespaces by path, as containerd
// gives them, and with them its user namespace and range: root inside is the pod's root,
// never host root. The pod's sysctls are written in its network namespace, its low ports
// bound through the sentry, and its sentries share the pod's confinement.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeBundle, runtime, STATE_ROOT } from "../helpers/bundle.js";

const IDS = "/run/runsc-ts/.ids";
const FIRST = 0x40000000;
const made: (() => void)[] = [];
afterAll(() => {
  for (const f of made.reverse()) f();
});

function heldRanges(): number {
  try {
    return readdirSync(IDS).filter((n) => /^\d+$/.test(n)).length;
  } catch {
    return 0;
  }
}

function stateOf(id: string): { pid: number; monitorPid: number } {
  return JSON.parse(readFileSync(join(STATE_ROOT, id, "state.json"), "utf8")) as { pid: number; monitorPid: number };
}

describe("a pod's containers share its user namespace", () => {
  it("the sandbox gets a range of its own in the CNI network namespace; the pod's containers join it; sysctls and low ports work", async () => {
    const netns = `runsc-ts-pod-${randomBytes(3).toString("hex")}`;
    execFileSync("ip", ["netns", "add", netns]);
    made.push(() => execFileSync("ip", ["netns", "delete", netns]));
    // As CNI's loopback plugin leaves it.
    execFileSync("ip", ["netns", "exec", netns, "ip", "link", "set", "lo", "up"]);
    const before = heldRanges();
    const sandbox = makeBundle({
      args: ["/bin/sh", "-c", "sleep 60"],
      name: "pod-sandbox",
      config: (c: any) => {
        c.linux.namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network", path: `/var/run/netns/${netns}` }];
        c.linux.sysctl = { "net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.tcp_keepalive_time": "1234" };
      },
    });
    made.push(() => sandbox.cleanup());
    const c = await runtime(["create", "--bundle", sandbox.dir, sandbox.id]);
    expect(c.code, c.stderr).toBe(0);
    try {
      expect((await runtime(["start", sandbox.id])).code).toBe(0);
      expect(heldRanges(), "the sandbox holds one range").toBe(before + 1);
      const s = stateOf(sandbox.id);
      const podMap = readFileSync(`/proc/${s.pid}/uid_map`, "utf8").trim().split(/\s+/).map(Number);
      expect(podMap[1]).toBeGreaterThanOrEqual(FIRST);
      // Written in the pod's network namespace, by the runtime: root in the pod has no say over it.
      expect(execFileSync("ip", ["netns", "exec", netns, "cat", "/proc/sys/net/ipv4/tcp_keepalive_time"], { encoding: "utf8" }).trim()).toBe("1234");

      const app = makeBundle({
        args: ["/bin/sh", "-c", "id -u; cat /proc/self/uid_map; hostname; (nc -l -p 84 -w 2 > /dev/null &); sleep 0.3; echo x | nc -w 1 127.0.0.1 84 && echo bound-84"],
        name: "pod-app",
        config: (cfg: any) => {
          cfg.linux.namespaces = [
            { type: "pid" },
            { type: "mount" },
            { type: "ipc", path: `/proc/${s.pid}/ns/ipc` },
            { type: "uts", path: `/proc/${s.pid}/ns/uts` },
            { type: "network", path: `/proc/${s.pid}/ns/net` },
          ];
          delete cfg.hostname;
        },
      });
      made.push(() => app.cleanup());
      const ac = await runtime(["create", "--bundle", app.dir, app.id]);
      expect(ac.code, ac.stderr).toBe(0);
      try {
        const a = stateOf(app.id);
        expect(heldRanges(), "the pod's containers take no range of their own").toBe(before + 1);
        expect(readlinkSync(`/proc/${a.pid}/ns/user`), "the pod's user namespace").toBe(readlinkSync(`/proc/${s.pid}/ns/user`));
        expect(readlinkSync(`/proc/${a.pid}/ns/net`)).toBe(readlinkSync(`/proc/${s.pid}/ns/net`));
        expect(readlinkSync(`/proc/${a.pid}/ns/mnt`), "a mount namespace of its own").not.toBe(readlinkSync(`/proc/${s.pid}/ns/mnt`));
        // The pod's sentries share its confinement.
        expect(readlinkSync(`/proc/${a.monitorPid}/ns/user`)).toBe(readlinkSync(`/proc/${s.monitorPid}/ns/user`));
        expect(readFileSync(`/proc/${a.monitorPid}/status`, "utf8")).toMatch(/\nSeccomp:\s+2\n/);
        const hostUid = Number(readFileSync(`/proc/${a.pid}/status`, "utf8").match(/\nUid:\s+(\d+)/)![1]);
        expect(hostUid, "root inside is the pod's root").toBe(podMap[1]);
      } finally {
        await runtime(["delete", "--force", app.id]);
      }
      // The same, run in the foreground: its output.
      const r = await runtime(["run", "--bundle", app.dir, `${app.id}-run`]);
      expect(r.code, r.stderr).toBe(0);
      const [uid, map, , bound] = r.stdout.trim().split("\n");
      expect(uid).toBe("0");
      expect(map!.trim().split(/\s+/).map(Number)).toEqual(podMap);
      expect(bound, "root inside binds a low port in the pod's network namespace (through the sentry)").toBe("bound-84");
    } finally {
      await runtime(["delete", "--force", sandbox.id]);
    }
    expect(heldRanges(), "delete gives the pod's range back").toBe(before);
  });
});
