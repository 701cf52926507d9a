// The layers import downwards only: runsc/ -> sentry/ -> platform/ -> native/, and within the
// sentry, sentry/policy (the language: what a policy says) is below everything that acts on
// it — the syscall table and handlers (sentry/syscalls) and the compiler that joins the two
// (sentry/filter). A module that imports upwards fails here, naming the file and the import.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ORDER = ["native", "platform", "sentry", "runsc"] as const;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Each relative import of a file, as a path from the repository's root; valueOnly: not `import type`. */
function imports(file: string, valueOnly = false): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(import type [^;]*?from\s+|export type [^;]*?from\s+|from\s+|import\(\s*)"(\.{1,2}\/[^"]+)"/g)) {
    if (valueOnly && m[1]!.includes(" type ")) continue;
    out.push(normalize(join(dirname(file), m[2]!)).replace(/\.js$/, ".ts"));
  }
  return out;
}

/** A cycle of value imports (what loads at run time; valueOnly false: of any import), as the files in it, or undefined. */
function findCycle(files: readonly string[], valueOnly = true): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === "done") return undefined;
    if (state.get(f) === "open") return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, "open");
    stack.push(f);
    for (const i of imports(f, valueOnly)) {
      if (!files.includes(i)) continue;
      const c = visit(i);
      if (c !== undefined) return c;
    }
    stack.pop();
    state.set(f, "done");
    return undefined;
  };
  for (const f of files) {
    const c = visit(f);
    if (c !== undefined) return c;
  }
  return undefined;
}

describe("layering", () => {
  for (const layer of ORDER) {
    it(`${layer}/ imports nothing from a layer above it`, () => {
      const above = ORDER.slice(ORDER.indexOf(layer) + 1);
      const wrong = sources(layer).flatMap((f) => imports(f).filter((i) => above.some((a) => i.startsWith(`${a}/`))).map((i) => `${f} imports ${i}`));
      expect(wrong).toEqual([]);
    });
  }

  it("sentry/policy imports nothing of the sentry beyond itself (not sentry/syscalls, sentry/filter, the kernel)", () => {
    const wrong = sources("sentry/policy").flatMap((f) =>
      imports(f)
        .filter((i) => i.startsWith("sentry/") && !i.startsWith("sentry/policy/"))
        .map((i) => `${f} imports ${i}`),
    );
    expect(wrong).toEqual([]);
  });

  it("sentry/syscalls does not import the compiler above it (sentry/filter)", () => {
    const wrong = sources("sentry/syscalls").flatMap((f) => imports(f).filter((i) => i.startsWith("sentry/filter/")).map((i) => `${f} imports ${i}`));
    expect(wrong).toEqual([]);
  });

  it("handlers close descriptors only through their Task (kernel/task.ts), which closes the rest when the call ends", () => {
    const wrong = [...sources("sentry/syscalls"), ...sources("sentry/net")].flatMap((f) =>
      readFileSync(join(ROOT, f), "utf8")
        .split("\n")
        .flatMap((line, i) => (/\b(?:native|n)\.close\(/.test(line) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(wrong).toEqual([]);
  });

  it("only sentry/kernel/identity.ts changes the sentry thread's credentials (scoped, restored before the sentry's own work)", () => {
    const wrong = ORDER.filter((l) => l !== "native")
      .flatMap((l) => sources(l))
      .filter((f) => f !== "sentry/kernel/identity.ts" && /\bsetCreds\(/.test(readFileSync(join(ROOT, f), "utf8")));
    expect(wrong).toEqual([]);
  });

  it("a Linux constant platform/abi/ declares is declared nowhere else", () => {
    const abi = new Set(sources("platform/abi").flatMap((f) => [...readFileSync(join(ROOT, f), "utf8").matchAll(/^export const ([A-Z][A-Z0-9_]*) = /gm)].map((m) => m[1]!)));
    const again = ORDER.flatMap((l) => sources(l))
      .filter((f) => !f.startsWith("platform/abi/"))
      .flatMap((f) => [...readFileSync(join(ROOT, f), "utf8").matchAll(/^\s*(?:export )?const ([A-Z][A-Z0-9_]*) = /gm)].filter((m) => abi.has(m[1]!)).map((m) => `${f} declares ${m[1]}`));
    expect(abi.size).toBeGreaterThan(100);
    expect(again).toEqual([]);
  });

  it("no module loads itself through its own imports (no import circle)", () => {
    expect(findCycle(ORDER.flatMap((l) => sources(l)))).toBeUndefined();
  });

  it("no circle even of type imports (a type's module is below its users)", () => {
    expect(findCycle(ORDER.flatMap((l) => sources(l)), false)).toBeUndefined();
  });

  it("the check reads the imports it judges (unotify.ts imports platform/abi/)", () => {
    expect(imports("platform/seccomp/unotify.ts").some((i) => i.startsWith("platform/abi/"))).toBe(true);
    expect(imports("sentry/filter/compile.ts").some((i) => i.startsWith("sentry/syscalls/"))).toBe(true);
    expect(imports("sentry/filter/compile.ts").some((i) => i.startsWith("sentry/policy/"))).toBe(true);
    expect(findCycle(["runsc/sandbox/sandbox.ts", "runsc/sandbox/egressHosts.ts"])).toBeUndefined();
  });
});
