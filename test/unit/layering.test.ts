// The layers import downwards only: runsc/ -> sentry/ -> platform/ -> native/. A module that
// imports upwards fails here, naming the file and the import.
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

/** Each relative import of a file, as a path from the repository's root. */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\(\s*)"(\.{1,2}\/[^"]+)"/g)) out.push(normalize(join(dirname(file), m[1]!)));
  return out;
}

describe("layering", () => {
  for (const layer of ORDER) {
    it(`${layer}/ imports nothing from a layer above it`, () => {
      const above = ORDER.slice(ORDER.indexOf(layer) + 1);
      const wrong = sources(layer).flatMap((f) => imports(f).filter((i) => above.some((a) => i.startsWith(`${a}/`))).map((i) => `${f} imports ${i}`));
      expect(wrong).toEqual([]);
    });
  }

  it("the check reads the imports it judges (unotify.ts imports platform/abi/)", () => {
    expect(imports("platform/seccomp/unotify.ts").some((i) => i.startsWith("platform/abi/"))).toBe(true);
  });
});
