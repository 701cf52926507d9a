// The monitor's requests and answers are typed JSON lines: what is not exactly one of them is
// refused with a message saying what is wrong, never half obeyed.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { encodeMessage, FILTER_FILE, fromJson, parseAnswer, parseRequest, readFilter, requestDescriptors, readStart, START_FILE, toJson, writeFilter, writeStart } from "../../../runsc/oci/monitorProtocol.js";

describe("monitor requests", () => {
  it("round-trip through their JSON line", () => {
    for (const r of [
      { op: "init", pid: 11, fuse: true },
      { op: "init", pid: 11, fuse: false },
      { op: "adopt", pid: 12 },
      { op: "start", state: { ociVersion: "1.0.2", id: "c1", status: "created", pid: 11, bundle: "/b" } },
    ] as const) {
      const line = encodeMessage(r);
      expect(line.endsWith("\n")).toBe(true);
      expect(parseRequest(line.trim())).toEqual(r);
    }
  });

  it("refuses what is not a request, naming the field", () => {
    expect(parseRequest("init 1 2 3 4")).toBe("a request is one JSON object");
    expect(parseRequest("null")).toBe("a request is one JSON object");
    expect(parseRequest('{"op":"kill"}')).toBe('unknown request "kill"');
    expect(parseRequest('{"op":"init","pid":0,"fuse":false}')).toBe("init: pid must be a positive integer");
    expect(parseRequest('{"op":"adopt","pid":"2"}')).toBe("adopt: pid must be a positive integer");
    expect(parseRequest('{"op":"init","pid":2,"fuse":1}')).toBe("init: fuse must be true or false");
    expect(parseRequest('{"op":"start","state":[]}')).toBe("start: state must be the container's OCI state");
  });
});

describe("a request's descriptors", () => {
  it("are named in the order they come", () => {
    expect(requestDescriptors({ op: "init", pid: 2, fuse: true })).toEqual(["listener", "control", "start", "mountinfo", "fuse"]);
    expect(requestDescriptors({ op: "init", pid: 2, fuse: false })).toEqual(["listener", "control", "start", "mountinfo"]);
    expect(requestDescriptors({ op: "adopt", pid: 2 })).toEqual(["listener", "control"]);
    expect(requestDescriptors({ op: "start", state: {} })).toEqual([]);
  });
});

describe("monitor answers", () => {
  it("are ok, or an error with its message", () => {
    expect(parseAnswer(encodeMessage({ ok: true }).trim())).toEqual({ ok: true });
    expect(parseAnswer(encodeMessage({ ok: false, error: "init exited" }).trim())).toEqual({ ok: false, error: "init exited" });
    expect(parseAnswer("")).toEqual({ ok: false, error: "the monitor answered nothing" });
    expect(parseAnswer("ok")).toEqual({ ok: false, error: 'the monitor answered "ok"' });
  });
});

describe("the files create leaves for the monitor and exec", () => {
  it("keep bigints and bytes through JSON", () => {
    const v = { a: 1n << 63n, b: new Uint8Array([0, 1, 255]), c: [{ d: 0n }], e: "x" };
    expect(fromJson(toJson(v))).toEqual(v);
  });

  it("are refused, naming the file and the field, when they are not what create writes", () => {
    const dir = mkdtempSync(join(tmpdir(), "runsc-ts-monitorfiles-"));
    try {
      writeStart(dir, { config: { decisions: [undefined, { action: { kind: "allow" } }], execAllow: undefined, network: "none", signals: "self", hostname: "h" } });
      expect(readStart(dir).config.network).toBe("none");
      writeFileSync(join(dir, START_FILE), toJson({ config: { decisions: [], network: "everything", signals: "self", hostname: "h" } }));
      expect(() => readStart(dir)).toThrow(`${join(dir, START_FILE)}: config.network: not what create writes`);
      writeFilter(dir, { op: "filter", program: new Uint8Array(16), flags: 32 });
      expect(readFilter(dir).program).toEqual(new Uint8Array(16));
      writeFileSync(join(dir, FILTER_FILE), toJson({ op: "filter", program: new Uint8Array(7), flags: 0 }));
      expect(() => readFilter(dir)).toThrow(/not a seccomp filter/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
