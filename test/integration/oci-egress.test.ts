// network.mode proxy for a container: it keeps the network its runtime gave it (here a veth
// pair into a network namespace of its own, as Docker's bridge and CNI plugins make), and
// every destination it sends to is decided by network.egress — connect, sendto, sendmsg and
// sendmmsg, TCP and UDP — with the calls performed by the sentry. Raw and packet sockets,
// which would go around the rules, are refused. Its own loopback stays its own.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { makeBundle, runtime } from "../helpers/bundle.js";
import { PROBE_SOURCES } from "../helpers/probes.js";
import { hostFixtureDir, removeHostDir } from "../helpers/sandbox.js";

const EACCES = 13;
const EOPNOTSUPP = 95;
const EBADF = 9;
const tag = randomBytes(2).toString("hex");
const netns = `runsc-ts-egress-${tag}`;
const subnet = 200 + (parseInt(tag, 16) % 50);
const HOST = `10.${subnet}.77.1`;
const INSIDE = `10.${subnet}.77.2`;
let dir: string;
const servers: Server[] = [];
const udp: UdpSocket[] = [];
const received = new Map<number, number>();
const bundles: Bundle[] = [];
let tcpAllowed = 0;
let tcpDenied = 0;
let udpAllowed = 0;
let udpDenied = 0;

const sh = (args: string[]): void => void execFileSync(args[0]!, args.slice(1));

beforeAll(async () => {
  dir = hostFixtureDir("egress");
  await promisify(execFile)("gcc", ["-static", "-O2", "-pthread", "-o", join(dir, "net"), join(PROBE_SOURCES, "net.c")]);
  chmodSync(join(dir, "net"), 0o755);
  // The container's network, as a bridge plugin makes it: a veth pair, one end in its namespace.
  sh(["ip", "netns", "add", netns]);
  sh(["ip", "link", "add", `vh${tag}`, "type", "veth", "peer", "name", `vc${tag}`]);
  sh(["ip", "link", "set", `vc${tag}`, "netns", netns]);
  sh(["ip", "addr", "add", `${HOST}/24`, "dev", `vh${tag}`]);
  sh(["ip", "link", "set", `vh${tag}`, "up"]);
  sh(["ip", "netns", "exec", netns, "ip", "addr", "add", `${INSIDE}/24`, "dev", `vc${tag}`]);
  sh(["ip", "netns", "exec", netns, "ip", "link", "set", `vc${tag}`, "up"]);
  sh(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"]);
  const listen = async (): Promise<number> => {
    const s = createServer((c) => c.end("hello from the host\n"));
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
    return (s.address() as { port: number }).port;
  };
  tcpAllowed = await listen();
  tcpDenied = await listen();
  const bindUdp = async (): Promise<number> => {
    const s = createSocket("udp4");
    udp.push(s);
    await new Promise<void>((resolve) => s.bind(0, HOST, resolve));
    const port = s.address().port;
    s.on("message", () => received.set(port, (received.get(port) ?? 0) + 1));
    return port;
  };
  udpAllowed = await bindUdp();
  udpDenied = await bindUdp();
}, 120_000);

afterAll(async () => {
  for (const b of bundles) b.cleanup();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  for (const s of udp) s.close();
  try {
    sh(["ip", "link", "delete", `vh${tag}`]);
  } catch {
    // gone with the namespace
  }
  sh(["ip", "netns", "delete", netns]);
  removeHostDir(dir);
});

function proxied(script: string): Bundle {
  const policy = join(dir, "egress.yaml");
  writeFileSync(
    policy,
    [
      "apiVersion: runsc-ts/v1",
      "kind: Policy",
      "name: egress-test",
      "extends: container",
      "network:",
      "  mode: proxy",
      "  egress:",
      `    - { to: "${HOST}", ports: [${tcpAllowed}] }`,
      `    - { to: "10.${subnet}.77.0/24", ports: [${udpAllowed}], protocol: udp }`,
      "",
    ].join("\n"),
  );
  const b = makeBundle({
    args: ["/bin/sh", "-c", script],
    name: "egress",
    config: (c: any) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
      c.linux.namespaces.push({ type: "network", path: `/var/run/netns/${netns}` });
      c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "ro"] });
      c.annotations = { "dev.runsc-ts.policy": policy };
    },
  });
  bundles.push(b);
  return b;
}

describe("network proxy for a container: every destination decided by network.egress", () => {
  it("TCP and UDP (sendto, sendmsg, sendmmsg) reach exactly what the rules allow; raw and packet sockets are refused; loopback is its own", async () => {
    const script = [
      `/x/net connect ${HOST} ${tcpAllowed}`,
      `/x/net connect ${HOST} ${tcpDenied}`,
      `/x/net udp ${HOST} ${udpAllowed}`,
      `/x/net udp ${HOST} ${udpDenied}`,
      `/x/net udpmsg ${HOST} ${udpAllowed}`,
      `/x/net udpmsg ${HOST} ${udpDenied}`,
      `/x/net udpmmsg ${HOST} ${udpAllowed}`,
      `/x/net udpmmsg ${HOST} ${udpDenied}`,
      `/x/net cmsg ${HOST} ${udpAllowed}`,
      `/x/net cmsg ${HOST} ${udpDenied}`,
      "/x/net raw",
      "/x/net loopback",
    ].join("; ");
    const b = proxied(script);
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      "connect ok hello from the host",
      `connect errno=${EACCES}`,
      "udp sent",
      `udp errno=${EACCES}`,
      "udpmsg sent",
      `udpmsg errno=${EACCES}`,
      "udpmmsg sent=2 len=9,9",
      `udpmmsg errno=${EACCES}`,
      // Control messages go with the message: descriptors passed, IP options carried, the
      // destination decided as ever; a sender's credentials cannot be the sentry's to send.
      "fdpass ok",
      "udpttl sent",
      `creds errno=${EOPNOTSUPP}`,
      `badfd errno=${EBADF}`,
      `mark errno=${EOPNOTSUPP}`,
      "fdpass ok",
      `udpttl errno=${EACCES}`,
      `creds errno=${EOPNOTSUPP}`,
      `badfd errno=${EBADF}`,
      `mark errno=${EOPNOTSUPP}`,
      `raw errno=${EACCES} packet errno=${EACCES}`,
      "loopback ok",
    ]);
    // The user is told which destination was refused, and how to ask why.
    expect(r.stderr).toContain(`refused tcp to ${HOST}:${tcpDenied}: no network.egress rule allows it`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received.get(udpAllowed), "five datagrams reached the allowed port").toBe(5);
    expect(received.get(udpDenied) ?? 0, "none the other").toBe(0);
  });

  it("on the host's network, proxy is refused with a message that says why", async () => {
    const b = makeBundle({
      args: ["/bin/true"],
      name: "egress-host",
      config: (c: any) => {
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
        c.annotations = { "dev.runsc-ts.policy": join(dir, "egress.yaml") };
      },
    });
    bundles.push(b);
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("network.mode: proxy needs the container's own network namespace");
  });
});
