// The monitor's requests and answers are typed JSON lines: what is not exactly one of them is
// refused with a message saying what is wrong, never half obeyed.
import { describe, expect, it } from "vitest";

import { encodeMessage, parseAnswer, parseRequest } from "../../../runsc/oci/monitorProtocol.js";

describe("monitor requests", () => {
  it("round-trip through their JSON line", () => {
    for (const r of [
      { op: "init", cli: 10, pid: 11, listener: 5, control: 6, fuse: 7 },
      { op: "init", cli: 10, pid: 11, listener: 5, control: 6 },
      { op: "adopt", cli: 10, pid: 12, listener: 5, control: 6 },
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
    expect(parseRequest('{"op":"init","cli":1,"pid":2,"listener":-1,"control":4}')).toBe("init: listener must be a non-negative integer");
    expect(parseRequest('{"op":"adopt","cli":1,"pid":"2","listener":3,"control":4}')).toBe("adopt: pid must be a non-negative integer");
    expect(parseRequest('{"op":"init","cli":1,"pid":2,"listener":3,"control":4,"fuse":1.5}')).toBe("init: fuse must be a non-negative integer");
    expect(parseRequest('{"op":"start","state":[]}')).toBe("start: state must be the container's OCI state");
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
