// The policy library in policies/ and policies/examples/: every shipped policy validates and
// starts with the yaml-language-server modeline, and each example runs a real program under
// it (a Python web app, a Node service, a make + gcc build) and is refused what it does not
// allow. no-network refuses even the sandbox's own loopback while unix socket pairs work.
import { chmodSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { networkInterfaces } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { describeRun, hostFixtureDir, removeHostDir, ROOT, runCli, runDo, writeHostFile } from "../helpers/sandbox.js";

const POLICIES = join(ROOT, "policies");
const EXAMPLES = join(POLICIES, "examples");
const policy = (rel: string): string => join(POLICIES, rel);

/** Every shipped policy file, relative to the repository root. */
function shippedPolicies(): string[] {
  const yamls = (dir: string): string[] =>
    readdirSync(dir)
      .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
      .sort()
      .map((f) => relative(ROOT, join(dir, f)));
  return [...yamls(POLICIES), ...yamls(EXAMPLES)];
}

let fixtures: string;

beforeAll(() => {
  fixtures = hostFixtureDir("library");
});
afterAll(() => removeHostDir(fixtures));

/** A world-readable directory in the fixtures (the sandbox's root is host uid 100000). */
function fixtureSubdir(name: string, mode = 0o755): string {
  const dir = join(fixtures, name);
  mkdirSync(dir);
  chmodSync(dir, mode);
  return dir;
}

describe("the shipped policies", () => {
  it("include the library the README describes", ({ expect }) => {
    const files = shippedPolicies();
    for (const f of [
      "policies/default.yaml",
      "policies/no-network.yaml",
      "policies/examples/python-web.yaml",
      "policies/examples/node-service.yaml",
      "policies/examples/build-job.yaml",
      "policies/examples/api-client.yaml",
    ]) {
      expect(files, `${f} is missing`).toContain(f);
    }
  });

  it("all validate with `policy validate`", async ({ expect }) => {
    const files = shippedPolicies();
    const r = await runCli(["policy", "validate", ...files]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe(files.map((f) => `${f}: valid\n`).join(""));
  });

  it("all start with the yaml-language-server modeline pointing at policies/schema.json", ({ expect }) => {
    for (const f of shippedPolicies()) {
      const first = readFileSync(join(ROOT, f), "utf8").split("\n")[0];
      const schema = f.startsWith("policies/examples/") ? "../schema.json" : "./schema.json";
      expect(first, f).toBe(`# yaml-language-server: $schema=${schema}`);
    }
  });
});

describe("examples/python-web.yaml", () => {
  const PY = policy("examples/python-web.yaml");
  const APP = `
import errno, http.client, http.server, os, subprocess, threading

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from python-web at " + self.path + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

def attempt(label, fn):
    try:
        fn()
        print(label, "ok")
    except OSError as e:
        print(label, errno.errorcode.get(e.errno, e.errno))

server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
threading.Thread(target=server.serve_forever, daemon=True).start()
conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
conn.request("GET", "/index")
resp = conn.getresponse()
print("GET", resp.status, resp.read().decode().strip())
server.shutdown()

attempt("tmp-write", lambda: open("/tmp/session", "w").write("x"))
attempt("app-write", lambda: open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pwned"), "w"))
attempt("exec-sh", lambda: subprocess.run(["/bin/sh", "-c", "true"]))
`;
  let app: string;
  beforeAll(() => {
    app = fixtureSubdir("python-app");
    writeHostFile(join(app, "app.py"), APP);
  });

  it("serves on the sandbox's loopback and fetches a page from itself; /tmp is writable, the app dir and other programs are not", async ({ expect }) => {
    // /usr/bin/python3 is a symlink: the policy lists the file it resolves to.
    const r = await runDo(["--policy", PY, "--", "/usr/bin/python3", join(app, "app.py")]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout, describeRun(r)).toBe(
      "GET 200 hello from python-web at /index\ntmp-write ok\napp-write EROFS\nexec-sh EACCES\n",
    );
  });

  it("runsc-ts do of a program other than python3 exits 126", async ({ expect }) => {
    const r = await runDo(["--policy", PY, "--", "/bin/sh", "-c", "echo ran"]);
    expect(r.code, describeRun(r)).toBe(126);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Permission denied");
  });
});

describe("examples/node-service.yaml", () => {
  const NODE = policy("examples/node-service.yaml");
  const SERVICE = `
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

function attempt(label, fn) {
  try {
    fn();
    console.log(label, "ok");
  } catch (e) {
    console.log(label, e.code);
  }
}

const server = http.createServer((req, res) => res.end("hello from node-service at " + req.url + "\\n"));
server.listen(0, "127.0.0.1", () => {
  http.get({ host: "127.0.0.1", port: server.address().port, path: "/health" }, (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (d) => (body += d));
    res.on("end", () => {
      console.log("GET", res.statusCode, body.trim());
      server.close();
      attempt("tmp-write", () => fs.writeFileSync("/tmp/state", "x"));
      attempt("app-write", () => fs.writeFileSync(path.join(__dirname, "pwned"), "x"));
      const sh = spawnSync("/bin/sh", ["-c", "true"]);
      console.log("exec-sh", sh.error ? sh.error.code : "ok");
    });
  }).on("error", (e) => {
    console.log("GET failed", e.code);
    process.exit(3);
  });
});
`;
  let app: string;
  beforeAll(() => {
    app = fixtureSubdir("node-app");
    writeHostFile(join(app, "server.js"), SERVICE);
  });

  it("listens on the sandbox's loopback and calls itself; /tmp is writable, the app dir and other programs are not", async ({ expect }) => {
    const r = await runDo(["--policy", NODE, "--", "/usr/bin/node", join(app, "server.js")]);
    // node must be readable by host uid 100000 (root inside); under /root it would be hidden.
    expect(r.stderr, `node could not start inside the sandbox:\n${describeRun(r)}`).not.toContain("Permission denied");
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout, describeRun(r)).toBe(
      "GET 200 hello from node-service at /health\ntmp-write ok\napp-write EROFS\nexec-sh EACCES\n",
    );
  });

  it("runsc-ts do of a program other than node exits 126", async ({ expect }) => {
    const r = await runDo(["--policy", NODE, "--", "/usr/bin/python3", "-c", "print('ran')"]);
    expect(r.code, describeRun(r)).toBe(126);
    expect(r.stdout).toBe("");
  });
});

describe("examples/build-job.yaml", () => {
  const BUILD = policy("examples/build-job.yaml");
  const HELLO = '#include <stdio.h>\nint main(void) { puts("hello from build-job"); return 0; }\n';
  // Objects go to $(O): the sources' directory is only read.
  const MAKEFILE = [
    "O ?= /tmp/build",
    "CC = cc",
    "",
    "$(O)/hello: hello.c",
    "\tmkdir -p $(O)",
    "\t$(CC) -O2 -Wall -o $@ hello.c",
    "",
    ".PHONY: run",
    "run: $(O)/hello",
    "\t$(O)/hello",
    "",
  ].join("\n");
  let src: string;
  let out: string;
  let keepResults: string;
  beforeAll(() => {
    src = fixtureSubdir("src");
    writeHostFile(join(src, "hello.c"), HELLO);
    writeHostFile(join(src, "Makefile"), MAKEFILE);
    // A results directory the sandbox's root (host uid 100000) may write, and the policy
    // examples/README.md describes for it: build-job plus one read-write rule.
    out = fixtureSubdir("out", 0o777);
    keepResults = writeHostFile(
      join(fixtures, "build-out.yaml"),
      `apiVersion: runsc-ts/v1\nkind: Policy\nname: build-out\nextends: ${BUILD}\nfilesystem:\n  rules: [{ path: ${out}/**, access: read-write }]\n`,
    );
  });

  it("make + gcc (cc1, as, collect2, ld) build in /tmp, and what they built cannot run there", async ({ expect }) => {
    const r = await runDo(["--policy", BUILD, "--", "make", "-C", src, "run"]);
    // The compile step succeeded (make stops at the first failing recipe) ...
    expect(r.stdout, describeRun(r)).toContain("cc -O2 -Wall -o /tmp/build/hello hello.c\n/tmp/build/hello\n");
    // ... and running the result is refused: /tmp is noexec and not in process.exec.allow.
    expect(r.stdout).not.toContain("hello from build-job");
    expect(r.stderr, describeRun(r)).toMatch(/\/tmp\/build\/hello: Permission denied/);
    expect(r.code, describeRun(r)).toBe(2);
  });

  it("with a results directory made writable, the program it builds runs in a separate sandbox", async ({ expect }) => {
    const build = await runDo(["--policy", keepResults, "--", "make", "-C", src, `O=${out}`]);
    expect(build.code, describeRun(build)).toBe(0);
    // Still not runnable inside the build's own sandbox: the rule adds a write, not an exec.
    const inBuild = await runDo(["--policy", keepResults, "--", join(out, "hello")]);
    expect(inBuild.code, describeRun(inBuild)).toBe(126);
    // A later step, under a policy without an exec allowlist, runs it.
    const run = await runDo(["--policy", "default", "--", join(out, "hello")]);
    expect(run, describeRun(run)).toMatchObject({ code: 0, stdout: "hello from build-job\n" });
  });

  it("a build that writes outside /tmp (into its sources) fails with a read-only file system", async ({ expect }) => {
    const r = await runDo(["--policy", BUILD, "--", "make", "-C", src, `O=${src}`]);
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr, describeRun(r)).toMatch(/cannot open output file .*hello: Read-only file system/);
  });

  it("a program outside the toolchain (python3) exits 126", async ({ expect }) => {
    const r = await runDo(["--policy", BUILD, "--", "/usr/bin/python3", "-c", "print('ran')"]);
    expect(r.code, describeRun(r)).toBe(126);
    expect(r.stdout).toBe("");
  });
});

describe("no-network.yaml", () => {
  const PROBE = `
import errno, socket, threading

def attempt(label, fn):
    try:
        print(label, fn())
    except OSError as e:
        print(label, errno.errorcode.get(e.errno, e.errno))

def loopback_tcp():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname(), timeout=5)
    conn, _ = srv.accept()
    cli.sendall(b"ping")
    return conn.recv(4).decode()

def udp6():
    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    return "ok"

def unix_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.sendall(b"pong")
    return b.recv(4).decode()

attempt("tcp-loopback", loopback_tcp)
attempt("udp6", udp6)
attempt("unix-pair", unix_pair)
`;

  it("refuses a loopback TCP socket (EAFNOSUPPORT) and any other non-unix family, allows a unix socket pair", async ({ expect }) => {
    const r = await runDo(["--policy", policy("no-network.yaml"), "--", "/usr/bin/python3", "-c", PROBE]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout, describeRun(r)).toBe("tcp-loopback EAFNOSUPPORT\nudp6 EAFNOSUPPORT\nunix-pair pong\n");
  });

  it("where the default policy, also network none, lets the same program use its own loopback", async ({ expect }) => {
    const r = await runDo(["--policy", policy("default.yaml"), "--", "/usr/bin/python3", "-c", PROBE]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout, describeRun(r)).toBe("tcp-loopback ping\nudp6 ok\nunix-pair pong\n");
  });
});

describe("examples/api-client.yaml", () => {
  const CLIENT = `
import errno, os, signal, socket, sys, time

def attempt(label, fn):
    try:
        fn()
        print(label, "ok")
    except OSError as e:
        print(label, errno.errorcode.get(e.errno, e.errno))

def call(port):
    s = socket.create_connection((sys.argv[1], port), timeout=10)
    s.sendall(b"GET\\n")
    print("api", s.recv(100).decode().strip())

attempt("api", lambda: call(int(sys.argv[2])))
attempt("elsewhere", lambda: call(int(sys.argv[3])))
child = os.fork()
if child == 0:
    time.sleep(5)
    os._exit(0)
attempt("kill-child", lambda: os.kill(child, signal.SIGTERM))
attempt("signal-self", lambda: os.kill(os.getpid(), 0))
`;
  let server: Server;
  let other: Server;
  let address: string;
  let client: string;

  const listen = (s: Server): Promise<number> =>
    new Promise((resolve, reject) => {
      s.once("error", reject);
      s.listen({ port: 0, host: address }, () => resolve((s.address() as AddressInfo).port));
    });

  beforeAll(() => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === "IPv4" && !a.internal);
    if (external === undefined) throw new Error("this machine has no non-internal IPv4 address: the example's test needs one to connect to");
    address = external.address;
    const serve = (sock: import("node:net").Socket): void => {
      sock.on("error", () => {});
      sock.once("data", () => sock.end("200 ok\n"));
    };
    server = createServer(serve);
    other = createServer(serve);
    const dir = fixtureSubdir("api-client");
    client = writeHostFile(join(dir, "client.py"), CLIENT);
  });
  afterAll(() => {
    server.close();
    other.close();
  });

  it("reaches the API its egress names, is refused elsewhere, and signals only itself", async ({ expect }) => {
    const [port, otherPort] = [await listen(server), await listen(other)];
    // The example names a documentation network: a policy built on it names this machine's
    // address instead (a child's egress list replaces its parent's).
    const local = writeHostFile(
      join(fixtures, "api-client-here.yaml"),
      `apiVersion: runsc-ts/v1\nkind: Policy\nname: api-client-here\nextends: ${policy("examples/api-client.yaml")}\nnetwork:\n  mode: proxy\n  egress:\n    - { to: ${address}/32, ports: ${port} }\n`,
    );
    const r = await runDo(["--policy", local, "--", "python3", client, address, String(port), String(otherPort)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("api 200 ok\napi ok\nelsewhere EACCES\nkill-child EPERM\nsignal-self ok\n");
  });
});
