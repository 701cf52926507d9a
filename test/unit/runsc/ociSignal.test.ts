// kill's signal argument: a number, a name with or without SIG in any case, or RTMIN+n.
import { describe, expect, it } from "vitest";

import { parseSignal } from "../../../runsc/oci/container.js";
import { ContainerError } from "../../../runsc/oci/state.js";

describe("parseSignal", () => {
  it.each([
    ["9", 9],
    ["1", 1],
    ["64", 64],
    ["KILL", 9],
    ["SIGKILL", 9],
    ["sigterm", 15],
    ["TERM", 15],
    ["Term", 15],
    [" HUP ", 1],
    ["IOT", 6],
    ["SIGCHLD", 17],
    ["WINCH", 28],
    ["SYS", 31],
    ["RTMIN", 34],
    ["SIGRTMIN", 34],
    ["RTMIN+3", 37],
    ["rtmin+30", 64],
  ])("reads %j as %d", (text, n) => {
    expect(parseSignal(text)).toBe(n);
  });

  it.each(["0", "65", "FOO", "", "SIG", "RTMIN+31", "RTMIN-1", "-9", "9x", "1.5"])("refuses %j", (text) => {
    let err: unknown;
    try {
      parseSignal(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).message).toBe(`invalid signal ${JSON.stringify(text)}`);
    expect((err as ContainerError).exitCode).toBe(1);
  });
});
