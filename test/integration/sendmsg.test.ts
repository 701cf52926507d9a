// sendmsg and sendmmsg carry their destination inside the message, where the filter cannot
// read it: on a contained network every message goes through the sentry, which decides the
// address as sendto's. A host unix datagram socket (a journal's, a syslog's) is network: a
// message to it is refused unless network.unix names it, for do and for a container, with
// sendmsg, sendmmsg and sendto alike, and natively it arrives. A message without an address
// (a connected socket) and descriptors passed over a socketpair still work.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import type { ChildProcess } from "node:child_process";
import { chmodSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { makeBundle, runtime } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { PROBE_SOURCES, useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, removeHostDir, runDo, runNative, writePolicy } from "../helpers/sandbox.js";

const probes = useProbes();
const EACCES = 13;

let dir: string;
let sock: string;
let receiver: ChildProcess;
let received = "";
const bundles: Bundle[] = [];

beforeAll(async () => {
  dir = hostFixtureDir("sendmsg");
  sock = join(dir, "dgram.sock");
  // A host datagram socket anyone may write to, as /dev/log is: each datagram on a line.
  receiver = spawn("python3", ["-u", "-c", `import socket,os\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sock)})\nos.chmod(${JSON.stringify(sock)},0o777)\nprint("bound")\nwhile True: print(s.recv(100).decode())`], { stdio: ["ignore", "pipe", "inherit"] });
  receiver.stdout!.setEncoding("utf8").on("data", (d: string) => (received += d));
  for (let i = 0; i < 500 && !received.includes("bound"); i++) await new Promise((r) => setTimeout(r, 10));
  if (!existsSync(sock)) throw new Error("the host datagram socket was not made");
  chmodSync(dir, 0o755);
  // Static, for the busybox container.
  await promisify(execFile)("gcc", ["-static", "-O2", "-o", join(dir, "net"), join(PROBE_SOURCES, "net.c")]);
}, 60_000);

afterAll(() => {
  receiver.kill("SIGKILL");
  for (const b of bundles) b.cleanup();
  removeHostDir(dir);
});

/** The datagrams the host socket received since the mark. */
async function arrivedSince(mark: number, wait = 300): Promise<string[]> {
  await new Promise((r) => setTimeout(r, wait));
  return received.slice(mark).split("\n").filter((l) => l !== "" && l !== "bound");
}

describe("a host unix datagram socket", () => {
  it("natively, sendmsg and sendmmsg reach it", async ({ expect }) => {
    const mark = received.length;
    expect((await runNative(probes.path("net"), ["unixmsg", sock])).stdout).toBe("unixmsg sent\n");
    expect((await runNative(probes.path("net"), ["unixmmsg", sock])).stdout).toBe("unixmmsg sent=2\n");
    expect(await arrivedSince(mark)).toEqual(["unix-probe", "unix-probe", "unix-probe"]);
  });

  it("do: sendmsg, sendmmsg and sendto to it are refused (EACCES) and nothing arrives", async ({ expect }) => {
    const mark = received.length;
    for (const [mode, out] of [
      ["unixmsg", `unixmsg errno=${EACCES}\n`],
      ["unixmmsg", `unixmmsg errno=${EACCES}\n`],
    ] as const) {
      const r = await runDo(["--", probes.path("net"), mode, sock]);
      expect(r.stdout, describeRun(r)).toBe(out);
    }
    const py = await runDo(["--", "python3", "-c", `import socket\ntry:\n  socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM).sendto(b"x",${JSON.stringify(sock)})\nexcept OSError as e: print(e.errno)`]);
    expect(py.stdout.trim(), describeRun(py)).toBe(String(EACCES));
    expect(await arrivedSince(mark)).toEqual([]);
  });

  it("do: network.unix naming it lets sendmsg and sendmmsg through", async ({ expect }) => {
    const policy = writePolicy(dir, "unix-allowed", `network:\n  unix: [${sock}]\n`);
    const mark = received.length;
    expect((await runDo(["--policy", policy, "--", probes.path("net"), "unixmsg", sock])).stdout).toBe("unixmsg sent\n");
    expect((await runDo(["--policy", policy, "--", probes.path("net"), "unixmmsg", sock])).stdout).toBe("unixmmsg sent=2\n");
    expect(await arrivedSince(mark)).toEqual(["unix-probe", "unix-probe", "unix-probe"]);
  });

  it("do: a connected socket's messages and descriptors over a socketpair still go (the sentry sends them)", async ({ expect }) => {
    const script = [
      "import socket, os",
      "a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)",
      "r, w = os.pipe()",
      "a.sendmsg([b'hello'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, w.to_bytes(4, 'little'))])",
      "msg, anc, _, _ = b.recvmsg(100, socket.CMSG_SPACE(4))",
      "fd = int.from_bytes(anc[0][2][:4], 'little')",
      "os.write(fd, b'through the passed descriptor')",
      "print(msg.decode(), os.read(r, 100).decode())",
    ].join("\n");
    const r = await runDo(["--", "python3", "-c", script]);
    expect(r.stdout, describeRun(r)).toBe("hello through the passed descriptor\n");
  });

  it("do: credentials are the task's, claimed or not (SO_PASSCRED), as natively; a claim the task may not make fails with EPERM", { timeout: 30_000 }, async ({ expect }) => {
    const script = [
      "import socket, os, struct, array",
      "a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)",
      "b.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)",
      "def got():",
      "    msg, anc, _, _ = b.recvmsg(10, socket.CMSG_SPACE(4) + socket.CMSG_SPACE(12))",
      "    return [struct.unpack('3i', d[:12]) for l, t, d in anc if t == socket.SCM_CREDENTIALS]",
      "def claim(pid, uid, gid):",
      "    try:",
      "        a.sendmsg([b'm'], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack('3i', pid, uid, gid))])",
      "    except OSError as e:",
      "        return 'errno=%d' % e.errno",
      "    return got()",
      "me = (os.getpid(), os.getuid(), os.getgid())",
      "a.sendmsg([b'm'])",
      "print('implicit', got() == [me])",
      "r, w = os.pipe()",
      "a.sendmsg([b'm'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [w]).tobytes())])",
      "print('with a descriptor', got() == [me])",
      "print('claimed', claim(*me) == [me])",
      "os.setgid(1000); os.setuid(1000)",
      "print('as 1000', claim(os.getpid(), 1000, 1000) == [(os.getpid(), 1000, 1000)])",
      "print('as 1000 claiming root', claim(os.getpid(), 0, 0))",
    ].join("\n");
    const expected = "implicit True\nwith a descriptor True\nclaimed True\nas 1000 True\nas 1000 claiming root errno=1\n";
    const native = await runNative("python3", ["-c", script]);
    expect(native.stdout, describeRun(native)).toBe(expected);
    const r = await runDo(["--", "python3", "-c", script]);
    expect(r.stdout, describeRun(r)).toBe(expected);
  });

  it("a container: sendmsg and sendmmsg to a host socket its volume exposes are refused", { timeout: 60_000 }, async ({ expect }) => {
    const mark = received.length;
    const b = makeBundle({
      args: ["sh", "-c", `/h/net unixmsg /h/dgram.sock; /h/net unixmmsg /h/dgram.sock`],
      name: "sendmsg",
      config: (c) => c.mounts.push({ destination: "/h", type: "bind", source: dir, options: ["rbind"] }),
    });
    bundles.push(b);
    try {
      const r = await runtime(["run", "--bundle", b.dir, b.id]);
      expect(r.stdout, r.stderr).toBe(`unixmsg errno=${EACCES}\nunixmmsg errno=${EACCES}\n`);
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
    expect(await arrivedSince(mark)).toEqual([]);
  });
});
