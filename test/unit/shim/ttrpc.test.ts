// ttrpc as containerd speaks it with its shims: the server and client against each other on
// a real unix socket, and frames built by hand where the wire itself is the point.
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Code, decode, encode, timestamp } from "../../../runsc/shim/proto.js";
import { RpcError, TtrpcClient, TtrpcServer } from "../../../runsc/shim/ttrpc.js";

const dirs: string[] = [];
const servers: TtrpcServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(methods: Map<string, (p: Buffer) => Promise<Uint8Array>>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "ttrpc-"));
  dirs.push(dir);
  const path = join(dir, "s.sock");
  const s = new TtrpcServer(methods);
  servers.push(s);
  await s.listen({ path });
  return path;
}

describe("ttrpc", () => {
  it("answers a unary call on its stream, with the method's response", async () => {
    const path = await serve(
      new Map([
        [
          "containerd.task.v2.Task/State",
          async (p: Buffer) => {
            const r = decode<{ id: string; exec_id: string }>("containerd.task.v2.StateRequest", p);
            return encode("containerd.task.v2.StateResponse", { id: r.id, pid: 42, status: 2, exec_id: r.exec_id, exited_at: timestamp(1500) });
          },
        ],
      ]),
    );
    const c = await TtrpcClient.connect(path);
    const [a, b] = await Promise.all([
      c.call("containerd.task.v2.Task", "State", encode("containerd.task.v2.StateRequest", { id: "one" })),
      c.call("containerd.task.v2.Task", "State", encode("containerd.task.v2.StateRequest", { id: "two", exec_id: "e" })),
    ]);
    expect(decode("containerd.task.v2.StateResponse", a)).toMatchObject({ id: "one", pid: 42, status: 2, exec_id: "", exited_at: { seconds: 1, nanos: 500_000_000 } });
    expect(decode("containerd.task.v2.StateResponse", b)).toMatchObject({ id: "two", exec_id: "e" });
    c.close();
  });

  it("answers a handler's error and an unknown method with their gRPC codes and messages", async () => {
    const path = await serve(
      new Map([
        [
          "containerd.task.v2.Task/Kill",
          async () => {
            throw new RpcError(Code.NOT_FOUND, "container x: not found");
          },
        ],
      ]),
    );
    const c = await TtrpcClient.connect(path);
    await expect(c.call("containerd.task.v2.Task", "Kill", new Uint8Array())).rejects.toMatchObject({ code: Code.NOT_FOUND, message: "container x: not found" });
    await expect(c.call("containerd.task.v2.Task", "Nope", new Uint8Array())).rejects.toMatchObject({ code: Code.UNIMPLEMENTED, message: expect.stringContaining("containerd.task.v2.Task/Nope") });
    c.close();
  });

  it("frames as ttrpc does: a 10-byte big-endian header, the response on the request's stream; a frame over 4 MiB ends the connection", async () => {
    const path = await serve(new Map([["s/m", async () => encode("google.protobuf.Empty", {})]]));
    const s = createConnection(path);
    await new Promise((r) => s.once("connect", r));
    const req = encode("ttrpc.Request", { service: "s", method: "m", payload: new Uint8Array() });
    const head = Buffer.alloc(10);
    head.writeUInt32BE(req.length, 0);
    head.writeUInt32BE(7, 4);
    head.writeUInt8(1, 8);
    // In two writes: the server reassembles the frame.
    s.write(head);
    s.write(Buffer.from(req));
    const got = await new Promise<Buffer>((r) => s.once("data", r));
    expect(got.readUInt32BE(4)).toBe(7);
    expect(got.readUInt8(8)).toBe(2);
    expect(got.readUInt32BE(0)).toBe(got.length - 10);
    expect(decode<{ status: unknown }>("ttrpc.Response", got.subarray(10)).status).toBeNull();
    const big = Buffer.alloc(10);
    big.writeUInt32BE((4 << 20) + 1, 0);
    big.writeUInt32BE(9, 4);
    big.writeUInt8(1, 8);
    s.write(big);
    await new Promise((r) => s.once("close", r));
  });

  it("encodes the task events containerd decodes by their bare type names", () => {
    const exit = encode("containerd.events.TaskExit", { container_id: "c", id: "c", pid: 10, exit_status: 137, exited_at: timestamp(2000) });
    expect(decode("containerd.events.TaskExit", exit)).toMatchObject({ container_id: "c", pid: 10, exit_status: 137, exited_at: { seconds: 2, nanos: 0 } });
    const env = encode("containerd.services.events.ttrpc.v1.ForwardRequest", { envelope: { namespace: "k8s.io", topic: "/tasks/exit", event: { type_url: "containerd.events.TaskExit", value: exit } } });
    const back = decode<{ envelope: { topic: string; event: { type_url: string; value: Buffer } } }>("containerd.services.events.ttrpc.v1.ForwardRequest", env);
    expect(back.envelope.topic).toBe("/tasks/exit");
    expect(back.envelope.event.type_url).toBe("containerd.events.TaskExit");
    expect(Buffer.from(back.envelope.event.value).equals(Buffer.from(exit))).toBe(true);
  });
});

describe("Stats as containerd's cgroup v1 Metrics", () => {
  it("carries runc's statistics: CPU, pids, memory usage and memory.stat under the API's names", async () => {
    const { metricsV1 } = await import("../../../runsc/shim/task.js");
    const bytes = encode(
      "io.containerd.cgroups.v1.Metrics",
      metricsV1({
        cpu: { usage: { total: 5_000_000, user: 3_000_000, kernel: 2_000_000 } },
        memory: { usage: { usage: 8 << 20, max: 9 << 20, limit: 64 << 20, failcnt: 0 }, raw: { cache: 4096, total_inactive_file: 1 << 20, pgfault: 77, swap: 0, no_such_stat: 1 } },
        pids: { current: 3, limit: 32 },
      }),
    );
    const m = decode<Record<string, any>>("io.containerd.cgroups.v1.Metrics", bytes);
    expect(m.cpu.usage).toMatchObject({ total: 5_000_000, user: 3_000_000, kernel: 2_000_000 });
    expect(m.pids).toEqual({ current: 3, limit: 32 });
    expect(m.memory.usage).toEqual({ usage: 8 << 20, max: 9 << 20, limit: 64 << 20, failcnt: 0 });
    expect(m.memory).toMatchObject({ cache: 4096, total_inactive_file: 1 << 20, pg_fault: 77 });
  });
});
