// The runtime-to-init protocol is one list (native/helper/protocol.json): the TypeScript side
// reads it directly, and the build generates init's C header from it. Here: the list is
// consistent (no tag or byte used twice), the TypeScript names are its names, and the header
// the build made says what the list says.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import type { ControlName, RecordName } from "../../../native/protocol.js";
import { controlByte, PROTOCOL_NAMES, recordTag } from "../../../native/protocol.js";

const ROOT = join(__dirname, "../../..");
const LIST = JSON.parse(readFileSync(join(ROOT, "native/helper/protocol.json"), "utf8")) as {
  records: { name: string; tag: number; doc: string }[];
  control: { name: string; byte: string; from: string; doc: string }[];
};
const upperSnake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();

// Every name the TypeScript types admit (a name missing from the list fails recordTag).
const RECORDS: readonly RecordName[] = [
  "arg", "env", "cwd", "hostname", "filter", "mount", "setattr", "mkdir", "mkfile", "symlink", "pivot", "hide", "filterFlags", "chdirFallback", "maskSource",
  "loopbackUp", "rlimit", "writefile", "whiteout", "attach", "hold", "user", "caps", "umask", "keepPrivs", "sysctl", "domainname", "preserve", "hook", "execInPlace", "root",
];
const CONTROL: readonly ControlName[] = ["childFailed", "initPid", "mapsWritten", "filterReady", "listenerTaken", "pausedForHooks", "createHooks", "start", "started", "failed"];

describe("the protocol list", () => {
  it("uses each tag, each byte and each name once", () => {
    for (const key of ["name", "tag"] as const) expect(new Set(LIST.records.map((r) => r[key])).size).toBe(LIST.records.length);
    for (const key of ["name", "byte"] as const) expect(new Set(LIST.control.map((c) => c[key])).size).toBe(LIST.control.length);
    expect(LIST.control.every((c) => c.byte.length === 1)).toBe(true);
    expect(LIST.records.every((r) => Number.isInteger(r.tag) && r.tag > 0 && r.doc !== "")).toBe(true);
  });

  it("holds exactly the names the TypeScript side uses", () => {
    expect([...PROTOCOL_NAMES.records].sort()).toEqual([...RECORDS].sort());
    expect([...PROTOCOL_NAMES.control].sort()).toEqual([...CONTROL].sort());
    expect(recordTag("root")).toBe(LIST.records.find((r) => r.name === "root")!.tag);
    expect(controlByte("started")).toBe("G".charCodeAt(0));
  });

  it("is what the C header the build generated says", () => {
    const header = join(ROOT, "build/native/generated/protocol.h");
    expect(existsSync(header), `${header} is missing: run npm run build:native`).toBe(true);
    const text = readFileSync(header, "utf8");
    for (const r of LIST.records) expect(text).toContain(`  TAG_${upperSnake(r.name)} = ${r.tag},`);
    for (const c of LIST.control) expect(text).toContain(`#define CTL_${upperSnake(c.name)} '${c.byte}'`);
    expect(text.match(/TAG_[A-Z_]+ = /g)).toHaveLength(LIST.records.length);
  });
});
