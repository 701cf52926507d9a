// Address families under each network mode: only those that stay in the sandbox's own network
// namespace exist under none and proxy (AF_VSOCK shares the machine's port space, whatever the
// namespace); under host the kernel decides, as it does natively.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, hostFixtureDir, removeHostDir, runDo, runNative } from "../helpers/sandbox.js";

// Each socket(2) or socketpair(2) as python3 makes it, by raw number where it must be
// (upper register bits set: the kernel reads an int, so must the filter).
const PROBE = `
import ctypes, errno, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(name, nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    if r >= 0:
        import os; os.close(r) if nr == 41 else None
        print(name, "ok")
    else:
        print(name, errno.errorcode[ctypes.get_errno()])
call("inet", 41, 2, 1, 0)
call("inet6", 41, 10, 2, 0)
call("unix", 41, 1, 1, 0)
call("packet", 41, 17, 3, 0)
call("netlink-route", 41, 16, 3, 0)
call("netlink-generic", 41, 16, 3, 16)
call("vsock", 41, 40, 1, 0)
call("vsock-upper-bits", 41, 0x100000028, 1, 0)
call("tipc", 41, 30, 5, 0)
call("rds", 41, 21, 5, 0)
call("bluetooth", 41, 31, 5, 0)
call("key", 41, 15, 3, 2)
call("alg", 41, 38, 5, 0)
call("xdp", 41, 44, 3, 0)
call("netlink-audit", 41, 16, 3, 9)
call("netlink-uevent", 41, 16, 3, 15)
call("netlink-connector", 41, 16, 2, 11)
fds = (ctypes.c_int * 2)()
r = libc.syscall(53, ctypes.c_long(30), ctypes.c_long(5), ctypes.c_long(0), fds)
print("tipc-pair", "ok" if r == 0 else errno.errorcode[ctypes.get_errno()])
`;

let dir: string;
let probe: string;
beforeAll(() => {
  dir = hostFixtureDir("families");
  probe = join(dir, "families.py");
  writeFileSync(probe, PROBE, { mode: 0o644 });
});
afterAll(() => removeHostDir(dir));

const parse = (out: string): Record<string, string> => Object.fromEntries(out.trim().split("\n").map((l) => l.split(" ") as [string, string]));

describe("address families by network mode", () => {
  for (const mode of ["none", "proxy"] as const) {
    it(`${mode}: the families of the sandbox's own namespace only`, async () => {
      const r = await runDo(["--network", mode, "--", "python3", probe]);
      expect(r.code, describeRun(r)).toBe(0);
      const got = parse(r.stdout);
      for (const f of ["inet", "inet6", "unix", "packet", "netlink-route", "netlink-generic"]) expect(got[f], `${f}\n${r.stdout}`).toBe("ok");
      for (const f of ["vsock", "vsock-upper-bits", "tipc", "rds", "bluetooth", "key", "alg", "xdp", "tipc-pair"]) expect(got[f], `${f}\n${r.stdout}`).toBe("EAFNOSUPPORT");
      for (const f of ["netlink-audit", "netlink-uevent", "netlink-connector"]) expect(got[f], `${f}\n${r.stdout}`).toBe("EPROTONOSUPPORT");
    });
  }

  it("host: the kernel decides, as natively (vsock included)", async () => {
    const [inside, native] = await Promise.all([runDo(["--network", "host", "--", "python3", probe]), runNative("python3", [probe])]);
    expect(inside.code, describeRun(inside)).toBe(0);
    const got = parse(inside.stdout);
    const want = parse(native.stdout);
    // What needs a privilege the sandbox's root lacks on the host's namespace may differ.
    for (const f of ["inet", "inet6", "unix", "vsock", "vsock-upper-bits", "tipc", "alg", "tipc-pair"]) expect(got[f], f).toBe(want[f]);
  });
});
