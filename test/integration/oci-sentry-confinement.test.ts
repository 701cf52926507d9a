// A container's sentry is confined (runsc/oci/confinement.ts, sentryFilter.ts): its monitor
// runs as a host id that owns nothing, with capabilities over its own user namespace and
// the container's alone, no_new_privs, its seccomp allowlist, and a root that holds only
// what Node needs. The same confinement on a probe shows what a steered sentry could not
// do: exec, reach a host process, read a host file, write /proc/sys, reach the host's network.
import { execFileSync, spawn } from "node:child_process";
import { connect } from "node:net";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAIN_JS, makeBundle, runtime, STATE_ROOT } from "../helpers/bundle.js";
import { ROOT } from "../helpers/sandbox.js";
import { allocateIdRange, releaseIdRange } from "../../runsc/oci/idRanges.js";
import { SENTRY_CAPS_MASK, SENTRY_ID_BASE } from "../../runsc/oci/confinement.js";
import { CONTAINER_ID_BASE } from "../../runsc/oci/idRanges.js";

const made: (() => void)[] = [];
afterAll(() => {
  for (const f of made.reverse()) f();
});

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** Host directories a confined root may not hold (beyond the path to the runtime's own directory). */
const HOST_ONLY = ["etc", "home", "root", "var", "run", "tmp", "srv", "opt", "boot", "mnt"];

/**
 * What of the host's top level a confined root (listed from rootDir) shows: nothing of
 * HOST_ONLY, but the directories on the way to the runtime's own (ROOT), each holding only
 * the next one.
 */
function hostOnlyIn(rootDir: string, entries: readonly string[]): string[] {
  const path = ROOT.split("/").filter((p) => p !== "");
  const found = entries.filter((d) => HOST_ONLY.includes(d) && d !== path[0]);
  for (let i = 0; i + 1 < path.length; i++) {
    const dir = join(rootDir, ...path.slice(0, i + 1));
    let inside: string[];
    try {
      inside = readdirSync(dir);
    } catch {
      break;
    }
    for (const x of inside) if (x !== path[i + 1]) found.push(join("/", ...path.slice(0, i + 1), x));
  }
  return found;
}

describe("the container's sentry, confined", () => {
  it("runs as a host id of its own, under no_new_privs and its filter, with only its capabilities, in a root of its own", async () => {
    const b = makeBundle({ args: ["/bin/sh", "-c", "sleep 30"], name: "confined" });
    made.push(() => b.cleanup());
    const c = await runtime(["create", "--bundle", b.dir, b.id]);
    expect(c.code, c.stderr).toBe(0);
    try {
      const st = JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8")) as { monitorPid: number; pid: number };
      const s = status(st.monitorPid);
      const uids = s.Uid!.split(/\s+/).map(Number);
      expect(new Set(uids).size, "real, effective, saved and fs uid alike").toBe(1);
      expect(uids[0]).toBeGreaterThanOrEqual(SENTRY_ID_BASE);
      expect(uids[0]).toBeLessThan(CONTAINER_ID_BASE);
      expect(s.NoNewPrivs).toBe("1");
      expect(s.Seccomp).toBe("2");
      expect(BigInt("0x" + s.CapEff!) & ~SENTRY_CAPS_MASK, "no capability beyond the sentry's list").toBe(0n);
      expect(BigInt("0x" + s.CapBnd!) & ~SENTRY_CAPS_MASK).toBe(0n);
      // Its user namespace is neither the host's nor the container's; the container's is inside it.
      const ns = (pid: number | "self"): string => readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/).join(" ");
      expect(ns(st.monitorPid)).not.toBe(ns("self"));
      expect(ns(st.monitorPid)).toContain(`0 ${uids[0]} 1`);
      const root = readdirSync(`/proc/${st.monitorPid}/root/`);
      expect(hostOnlyIn(`/proc/${st.monitorPid}/root`, root), "the sentry's root holds none of the host's directories").toEqual([]);
      // And it still serves: start, exec, state.
      expect((await runtime(["start", b.id])).code).toBe(0);
      const e = await runtime(["exec", b.id, "/bin/sh", "-c", "id -u; echo hi > /tmp/x; cat /tmp/x"]);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout).toBe("0\nhi\n");
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
  });

  it("the same confinement on a probe: exec, a host process, a host file and /proc/sys all fail", () => {
    const range = allocateIdRange(STATE_ROOT, "confinement-probe");
    try {
      const out = execFileSync(process.execPath, [join(ROOT, "test", "helpers", "confinedProbe.mjs"), "launch", String(range.slot), String(range.base)], { encoding: "utf8", timeout: 30_000 });
      const r = JSON.parse(out) as { pid: number; probe: Record<string, unknown> & { root: string[]; status: Record<string, string> }; host: Record<string, string> };
      expect(r.host.Uid!.split(/\s+/).map(Number)[0]).toBe(SENTRY_ID_BASE + range.slot);
      expect(r.host.NoNewPrivs).toBe("1");
      expect(r.host.Seccomp).toBe("2");
      expect(hostOnlyIn(`/proc/${r.pid}/root`, r.probe.root).filter((x) => !x.includes("/")), "its root holds none of the host's directories").toEqual([]);
      expect(r.probe.exec, "exec: killed by its filter").toContain("SIGSYS");
      expect(r.probe.hostPasswd, "a host file is not in its view").toBe("ENOENT");
      expect(r.probe.hostShadowThroughProc, "nor through a host process's root").toBe("EACCES");
      expect(r.probe.hostRootListing).toBe("EACCES");
      expect(r.probe.hostMemory, "a host process's memory").toBe("refused");
      expect(r.probe.hostFd, "a host process's descriptors").toBe("refused");
      expect(r.probe.hostSignal, "a signal to a host process").toBe("EPERM");
      expect(["ENETUNREACH", "ECONNREFUSED"], "the host's network: a listener on its loopback").toContain(r.probe.hostNetwork);
      expect(["EROFS", "EACCES", "EPERM"]).toContain(r.probe.procSys);
      expect(["EROFS", "EACCES", "EPERM"]).toContain(r.probe.procSysOpen);
      // Modules and kexec need CAP_SYS_MODULE / CAP_SYS_BOOT over the host: absent (and its filter kills the calls).
      expect(BigInt("0x" + r.host.CapEff!) & ((1n << 16n) | (1n << 22n))).toBe(0n);
    } finally {
      releaseIdRange(STATE_ROOT, "confinement-probe");
    }
  });

  it("refuses a request whose descriptors did not come with it, naming them", async () => {
    const b = makeBundle({ args: ["/bin/sh", "-c", "sleep 30"], name: "confined-req" });
    made.push(() => b.cleanup());
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const c = connect(join(STATE_ROOT, b.id, "monitor.sock"));
        let buf = "";
        c.on("connect", () => c.write(JSON.stringify({ op: "adopt", pid: 1 }) + "\n"));
        c.on("data", (d) => (buf += d.toString()));
        c.on("end", () => resolve(buf));
        c.on("error", reject);
      });
      expect(JSON.parse(answer)).toEqual({ ok: false, error: "adopt: 2 descriptors (listener, control) must come with it, not 0" });
      // The container is still served.
      expect((await runtime(["start", b.id])).code).toBe(0);
      const e = await runtime(["exec", b.id, "/bin/true"]);
      expect(e.code, e.stderr).toBe(0);
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
  });

  it("run in the foreground: the confined monitor is tied to it, and the container ends when it is killed", async () => {
    const b = makeBundle({ args: ["/bin/sh", "-c", "sleep 60"], name: "confined-run" });
    made.push(() => b.cleanup());
    const run = spawn(process.execPath, [MAIN_JS, "--root", STATE_ROOT, "run", "--bundle", b.dir, b.id], { stdio: "ignore" });
    try {
      let st: { pid: number; monitorPid: number; status: string } | undefined;
      for (let i = 0; i < 100 && st?.status !== "running"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        try {
          st = JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8"));
        } catch {
          // not yet
        }
      }
      expect(st?.status).toBe("running");
      expect(st!.monitorPid, "a monitor of its own, not the run process").not.toBe(run.pid);
      expect(status(st!.monitorPid).Seccomp).toBe("2");
      run.kill("SIGKILL");
      const gone = (pid: number): boolean => {
        try {
          return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
        } catch {
          return true;
        }
      };
      let ended = false;
      for (let i = 0; i < 50 && !ended; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ended = gone(st!.pid) && gone(st!.monitorPid);
      }
      expect({ init: gone(st!.pid), monitor: gone(st!.monitorPid) }, "init and its monitor end with run").toEqual({ init: true, monitor: true });
    } finally {
      run.kill("SIGKILL");
      await runtime(["delete", "--force", b.id]);
    }
  });

  it("on the host's network, root inside's binds below 1024 go through a binder that holds that one capability, and end with the container", async () => {
    const b = makeBundle({
      args: ["/bin/sh", "-c", "sleep 30"],
      name: "confined-binder",
      config: (c: any) => (c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network")),
    });
    made.push(() => b.cleanup());
    expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
    let binder: number | undefined;
    try {
      const st = JSON.parse(readFileSync(join(STATE_ROOT, b.id, "state.json"), "utf8")) as { monitorPid: number };
      const sentryUid = status(st.monitorPid).Uid!.split(/\s+/)[0];
      const binders = readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .map(Number)
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "runsc-ts-binder" && status(p).Uid!.split(/\s+/)[0] === sentryUid;
          } catch {
            return false;
          }
        });
      expect(binders.length, "one binder, running as the container's sentry's host id").toBe(1);
      binder = binders[0];
      const s = status(binder!);
      expect(new Set(s.Uid!.split(/\s+/)).size).toBe(1);
      expect(BigInt("0x" + s.CapEff!), "CAP_NET_BIND_SERVICE alone").toBe(1n << 10n);
      expect(BigInt("0x" + s.CapBnd!)).toBe(1n << 10n);
      expect(s.NoNewPrivs).toBe("1");
      expect(s.Seccomp).toBe("2");
      expect((await runtime(["start", b.id])).code).toBe(0);
      const e = await runtime(["exec", b.id, "/bin/sh", "-c", "(nc -l -p 82 -w 2 > /dev/null &); sleep 0.3; echo x | nc -w 1 127.0.0.1 82 && echo bound-82"]);
      expect(e.stdout, e.stderr).toBe("bound-82\n");
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
    let gone = false;
    for (let i = 0; i < 30 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        gone = readFileSync(`/proc/${binder}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
      } catch {
        gone = true;
      }
    }
    expect(gone, "the binder ends with its container").toBe(true);
  });
});
