// network.egress and network.bind, enforced: under proxy a TCP connection the egress rules
// allow leaves the sandbox (carried by the sentry from the host's network), one they do not
// fails with EACCES and never reaches the server; a carried socket never listens; host
// names resolve inside through the sandbox's /etc/hosts. Under host with bind rules a port
// the rules allow is bound, another fails with EACCES, and unix binds work as before.
import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { CLI, describeRun, hostFixtureDir, removeHostDir, runDo, runNative, writeHostFile, writePolicy } from "../helpers/sandbox.js";
import type { RunResult } from "../helpers/sandbox.js";

/** The machine's first non-internal IPv4 address: what "the host's network" means here. */
function externalIpv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  throw new Error("this machine has no non-internal IPv4 address: the proxy tests need one to connect to (os.networkInterfaces())");
}

let fixtures: string;
let address: string;
let server: Server;
let port: number;
let connections = 0;
/** A port on `address` that nothing listens on (found free, then closed). */
let closedPort: number;

const CLIENT = [
  "import socket, sys",
  "host, port = sys.argv[1], int(sys.argv[2])",
  "s = socket.socket()",
  "try:",
  "    s.connect((host, port))",
  "    s.sendall(b'ping\\n')",
  "    print('connected', s.recv(100).decode().strip())",
  "except OSError as e:",
  "    print('errno', e.errno)",
].join("\n");

beforeAll(async () => {
  fixtures = hostFixtureDir("netrules");
  address = externalIpv4();
  server = createServer((sock) => {
    connections++;
    sock.on("error", () => {});
    sock.once("data", (d) => sock.end(`pong ${d.toString().trim()}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: address }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen({ port: 0, host: address }, () => resolve()));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  removeHostDir(fixtures);
});

function proxyPolicy(name: string, egress: string): string {
  return writePolicy(fixtures, name, `network:\n  mode: proxy\n  egress:\n${egress}`);
}

describe("network proxy: egress rules", () => {
  it("a carried socket answers the interface ioctls as the sandbox's own namespace: loopback alone, no host interface or MAC", async ({ expect }) => {
    // SIOCGIFCONF (0x8912) lists interfaces and addresses, SIOCGIFHWADDR (0x8927) a MAC,
    // SIOCGIFADDR (0x8915) an address: asked on the socket the sentry connected.
    const probe = [
      "import fcntl, socket, struct, sys, array",
      "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))",
      "buf = array.array('B', b'\\0' * 400)",
      "addr, _ = buf.buffer_info()",
      "n = struct.unpack('i4xP', fcntl.ioctl(s, 0x8912, struct.pack('i4xP', 400, addr)))[0]",
      "for i in range(0, n, 40):",
      "    e = bytes(buf[i:i + 40])",
      "    print('conf', e[:16].rstrip(b'\\0').decode(), socket.inet_ntoa(e[20:24]))",
      "for name in [n for _, n in socket.if_nameindex() if n != 'lo'][:1] + ['eth0']:",
      "    for req in (0x8927, 0x8915):",
      "        try:",
      "            r = fcntl.ioctl(s, req, struct.pack('16s24x', name.encode()))",
      "            print('got', hex(req), name, r[16:24].hex())",
      "        except OSError as e:",
      "            print('err', hex(req), name, e.errno)",
    ].join("\n");
    const native = await runNative("python3", ["-c", probe, address, String(port)]);
    // Natively the host's interfaces are there (the test's address among them).
    expect(native.stdout, describeRun(native)).toContain(`conf `);
    expect(native.stdout).toContain(address);
    const policy = proxyPolicy("egress-ioctl", `    - { to: "${address}", ports: [${port}] }\n`);
    const r = await runDo(["--policy", policy, "--", "python3", "-c", probe, address, String(port)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("conf lo 127.0.0.1\nerr 0x8927 eth0 19\nerr 0x8915 eth0 19\n");
  });

  it("a connection to an allowed address and port leaves the sandbox and exchanges data", async ({ expect }) => {
    const native = await runNative("python3", ["-c", CLIENT, address, String(port)]);
    expect(native.stdout, describeRun(native)).toBe("connected pong ping\n");
    const policy = proxyPolicy("egress-allowed", `    - { to: "${address}", ports: [${port}] }\n`);
    const before = connections;
    const r = await runDo(["--policy", policy, "--", "python3", "-c", CLIENT, address, String(port)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("connected pong ping\n");
    expect(connections).toBe(before + 1);
  });

  it("a udp rule is refused when a do sandbox starts, naming it: its proxy carries TCP only", async ({ expect }) => {
    const policy = proxyPolicy("egress-udp", `    - { to: "${address}", ports: [53], protocol: udp }\n`);
    const r = await runDo(["--policy", policy, "--", "true"]);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(r.stderr).toContain("network.egress[0].protocol: udp egress is not carried for a sandbox of `do` yet");
  });

  it("a CIDR rule allows the address too, over an IPv6 socket with a v4-mapped address", async ({ expect }) => {
    const policy = proxyPolicy("egress-cidr", `    - { to: "${address.split(".").slice(0, 3).join(".")}.0/24", ports: "${port}-${port}" }\n`);
    const script = CLIENT.replace("s = socket.socket()", "s = socket.socket(socket.AF_INET6)").replace("(host, port)", "('::ffff:' + host, port)");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script, address, String(port)]);
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "connected pong ping\n" });
  });

  it("a port no rule allows fails with EACCES and never reaches the server", async ({ expect }) => {
    const policy = proxyPolicy("egress-other-port", `    - { to: "${address}", ports: [${port === 65535 ? port - 1 : port + 1}] }\n`);
    const before = connections;
    const r = await runDo(["--policy", policy, "--", "python3", "-c", CLIENT, address, String(port)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("errno 13\n");
    expect(connections).toBe(before);
  });

  it("loopback stays the sandbox's own: its own listener works under proxy", async ({ expect }) => {
    const policy = proxyPolicy("egress-loopback", `    - { to: "*" }\n`);
    const script = [
      "import socket",
      "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()",
      "c = socket.socket(); c.connect(l.getsockname()); print('own loopback ok')",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script]);
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "own loopback ok\n" });
  });

  it("a carried socket never listens or binds on the host; TCP Fast Open is refused", async ({ expect }) => {
    // A non-blocking connect to an allowed but closed port: the sentry installs its host
    // socket (EINPROGRESS), the connect then fails, leaving an unbound socket of the host's
    // network namespace in the task.
    const policy = proxyPolicy("egress-listen", `    - { to: "${address}" }\n`);
    const script = [
      "import socket, select, sys",
      "host, port = sys.argv[1], int(sys.argv[2])",
      "s = socket.socket(); s.setblocking(False)",
      "print('connect', s.connect_ex((host, port)))",
      "select.select([], [s], [], 5)",
      "print('so_error', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))",
      "for what, call in [('listen', lambda: s.listen()), ('bind', lambda: s.bind(('0.0.0.0', 0))), ('loopback', lambda: s.connect(('127.0.0.1', 1)))]:",
      "    try:",
      "        call(); print(what, 'ok')",
      "    except OSError as e:",
      "        print(what, e.errno)",
      "t = socket.socket()",
      "try:",
      "    t.setsockopt(socket.IPPROTO_TCP, 30, 1); print('fastopen_connect ok')",
      "except OSError as e:",
      "    print('fastopen_connect', e.errno)",
      "try:",
      "    t.sendto(b'x', socket.MSG_FASTOPEN, (host, port)); print('msg_fastopen ok')",
      "except OSError as e:",
      "    print('msg_fastopen', e.errno)",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script, address, String(closedPort)]);
    expect(r.code, describeRun(r)).toBe(0);
    // 115 EINPROGRESS, 111 ECONNREFUSED, 13 EACCES, 92 ENOPROTOOPT, 95 EOPNOTSUPP
    expect(r.stdout).toBe(
      ["connect 115", "so_error 111", "listen 13", "bind 13", "loopback 13", "fastopen_connect 92", "msg_fastopen 95", ""].join("\n"),
    );
  });

  it("UDP is not carried: a datagram to an allowed address stays in the sandbox", async ({ expect }) => {
    const policy = proxyPolicy("egress-udp", `    - { to: "${address}", protocol: any }\n`);
    const script = [
      "import socket, sys",
      "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
      "try:",
      "    u.sendto(b'x', (sys.argv[1], 9)); print('sent')",
      "except OSError as e:",
      "    print('errno', e.errno)",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script, address]);
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "errno 101\n" }); // ENETUNREACH
  });
});

describe("network proxy: host names", () => {
  /**
   * Runs `runsc-ts do` in a mount namespace of its own whose /etc/hosts maps `name` to the
   * test server's address: the runtime resolves it there, as it would any name.
   */
  function doWithHosts(hostsFile: string, args: string[]): Promise<RunResult> {
    const cmd = `mount --bind "$0" /etc/hosts && exec "$@"`;
    return runNative("unshare", ["--mount", "--propagation", "private", "sh", "-c", cmd, hostsFile, CLI, "do", ...args]);
  }

  it("a host name rule allows the name's addresses, which resolve inside through /etc/hosts", async ({ expect }) => {
    const name = "egress-test.runsc-ts.internal";
    const hosts = writeHostFile(join(fixtures, "hosts"), `127.0.0.1 localhost\n${address} ${name}\n`);
    const policy = proxyPolicy("egress-name", `    - { to: ${name}, ports: ${port} }\n`);
    const script = CLIENT.replace("s.connect((host, port))", "s.connect((socket.gethostbyname(host), port))");
    const before = connections;
    const r = await doWithHosts(hosts, ["--policy", policy, "--", "python3", "-c", script, name, String(port)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("connected pong ping\n");
    expect(connections).toBe(before + 1);
    const inside = await doWithHosts(hosts, ["--policy", policy, "--", "cat", "/etc/hosts"]);
    expect(inside.stdout).toContain(`${address}\t${name}\n`);
    expect(inside.stdout.startsWith("127.0.0.1 localhost\n")).toBe(true);
  });

  it("an unresolvable name is a start-up error naming the rule; nothing runs", async ({ expect }) => {
    const policy = proxyPolicy("egress-unresolvable", `    - { to: "*", ports: 1 }\n    - { to: no-such-host.invalid }\n`);
    const r = await runDo(["--policy", policy, "--", "sh", "-c", "echo ran"]);
    expect(r.code, describeRun(r)).toBe(125);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('network.egress[1].to: cannot resolve host name "no-such-host.invalid"');
  });
});

describe("network host: bind rules", () => {
  it("an allowed port binds, another fails with EACCES, port 0 and listen's autobind work", async ({ expect }) => {
    const policy = writePolicy(fixtures, "bind-host", `network:\n  mode: host\n  bind:\n    - { ports: "${closedPort}", protocol: tcp }\n`);
    const script = [
      "import socket, sys",
      "def bind(port, kind=socket.SOCK_STREAM):",
      "    s = socket.socket(socket.AF_INET, kind)",
      "    try:",
      "        s.bind(('127.0.0.1', port)); return 'ok'",
      "    except OSError as e:",
      "        return str(e.errno)",
      "p = int(sys.argv[1])",
      "print('allowed', bind(p))",
      "print('other', bind(p - 1 if p > 1024 else p + 1))",
      "print('udp-same-port', bind(p, socket.SOCK_DGRAM))",
      "print('ephemeral', bind(0))",
      "l = socket.socket(); l.listen(); print('autobind', l.getsockname()[1] > 0)",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script, String(closedPort)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("allowed ok\nother 13\nudp-same-port 13\nephemeral ok\nautobind True\n");
  });

  it("unix binds are made as the task: relative to its cwd, with its uid and umask", async ({ expect }) => {
    const policy = writePolicy(fixtures, "bind-unix", `network:\n  mode: host\n  bind:\n    - { ports: 1 }\n`);
    const script = [
      "import os, socket",
      "os.chdir('/tmp'); os.umask(0o077)",
      "a = socket.socket(socket.AF_UNIX); a.bind('rel.sock'); a.listen()",
      "st = os.stat('/tmp/rel.sock'); print('relative', oct(st.st_mode & 0o777), st.st_uid)",
      "c = socket.socket(socket.AF_UNIX); c.connect('/tmp/rel.sock'); print('connect ok')",
      "os.setgid(1000); os.setuid(1000)",
      "b = socket.socket(socket.AF_UNIX); b.bind('/tmp/mine.sock'); print('uid', os.stat('/tmp/mine.sock').st_uid)",
      "try:",
      "    socket.socket(socket.AF_UNIX).bind('/etc/x.sock')",
      "except OSError as e:",
      "    print('read-only', e.errno)",
      "socket.socket(socket.AF_UNIX).bind('\\0abstract-' + str(os.getpid())); print('abstract ok')",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "python3", "-c", script]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("relative 0o700 0\nconnect ok\nuid 1000\nread-only 30\nabstract ok\n");
  });

  it("a bind rule grants no privilege: a low port and a privileged netlink group stay refused, as without rules", async ({ expect }) => {
    // The sentry bound with its own capabilities: host port 80 for root inside, and the
    // host's conntrack and audit multicast groups (every connection the host makes).
    const script = [
      "import socket",
      "def attempt(what, make, addr):",
      "    try:",
      "        make().bind(addr); print(what, 'ok')",
      "    except OSError as e:",
      "        print(what, e.errno)",
      "attempt('port-80', socket.socket, ('127.0.0.1', 80))",
      "attempt('conntrack', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12), (0, 7))",
      "attempt('audit', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9), (0, 1))",
    ].join("\n");
    const withRules = writePolicy(fixtures, "bind-low", `network:\n  mode: host\n  bind:\n    - { ports: "1-8080" }\n`);
    const without = writePolicy(fixtures, "bind-none", `network:\n  mode: host\n`);
    const [a, b] = await Promise.all([runDo(["--policy", withRules, "--", "python3", "-c", script]), runDo(["--policy", without, "--", "python3", "-c", script])]);
    expect(b.stdout, describeRun(b)).toBe("port-80 13\nconntrack 1\naudit 1\n");
    expect(a.stdout, describeRun(a)).toBe(b.stdout);
  });
});
