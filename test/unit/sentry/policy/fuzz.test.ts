// Fuzzed policy text: whatever the bytes, parsePolicy returns a policy or throws a PolicyError
// whose every issue is positioned in the file (FILE:LINE:COL, one line per issue), never any
// other error, and never takes long (alias bombs, deep nesting).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { compilePolicy, PolicyCompileError } from "../../../../sentry/filter/compile.js";
import { defaultPoliciesDir, parsePolicy, PolicyError } from "../../../../sentry/policy/load.js";
import type { Policy } from "../../../../sentry/policy/schema.js";

const SEED = 20240612;
const FILE = "fuzz/policy.yaml";
/** Longest a single parse may take. */
const SLOW_MS = 1000;

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const DEFAULT_PATH = join(defaultPoliciesDir(), "default.yaml");

/** Every policy file the repository ships: policies/ and its examples. */
const SHIPPED: readonly string[] = readdirSync(defaultPoliciesDir(), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => join(defaultPoliciesDir(), f));
const HEAD = "apiVersion: runsc-ts/v1\nkind: Policy\nname: t\n";

/** The lines of `text` as the YAML parser counts them: LF ends a line (a CR before it stays in the line). */
function sourceLines(text: string): string[] {
  return text.split("\n");
}

/** The YAML parser's message for a token it cannot place, with the token's source as JSON. */
const STREAM_TOKEN = /^invalid YAML: Unexpected [\w-]+ token in YAML stream: (".*")$/;

const show = (text: string): string => JSON.stringify(text.length > 400 ? `${text.slice(0, 400)}...` : text);

/**
 * Loads `text` and checks the loader's contract; returns what happened. A policy that loads
 * must also compile or be refused with PolicyCompileError.
 */
function checkLoad(text: string, file = FILE): "loaded" | "refused" {
  const start = performance.now();
  let result: { policy: Policy } | { error: unknown };
  try {
    result = { policy: parsePolicy(text, file) };
  } catch (error) {
    result = { error };
  }
  const ms = performance.now() - start;
  if (ms > SLOW_MS) throw new Error(`parsePolicy took ${ms.toFixed(0)} ms for ${show(text)}`);

  if ("error" in result) {
    const err = result.error;
    if (!(err instanceof PolicyError)) {
      throw new Error(`parsePolicy threw ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\nfor ${show(text)}`);
    }
    checkPolicyError(err, text, file);
    return "refused";
  }
  expect(result.policy.apiVersion, show(text)).toBe("runsc-ts/v1");
  expect(result.policy.kind, show(text)).toBe("Policy");
  try {
    compilePolicy(result.policy);
  } catch (err) {
    if (!(err instanceof PolicyCompileError)) throw new Error(`compilePolicy threw ${String(err)} for ${show(text)}`);
  }
  return "loaded";
}

function checkPolicyError(err: PolicyError, text: string, file: string): void {
  const shown = err.message.split("\n");
  const where = `for ${show(text)}:\n${shown.slice(0, 12).join("\n")}${shown.length > 12 ? `\n... ${shown.length - 12} more` : ""}`;
  expect(err.issues.length, where).toBeGreaterThanOrEqual(1);
  const lines = sourceLines(text);
  for (const issue of err.issues) {
    expect(issue.file, where).toBe(file);
    expect(issue.message.length, where).toBeGreaterThan(0);
    if (issue.line === undefined) {
      // Only an issue with the file as a whole may go without a position.
      expect(issue.col, where).toBeUndefined();
      expect(issue.path, where).toBe("");
      continue;
    }
    const { line, col } = issue;
    expect(Number.isInteger(line) && line >= 1 && line <= lines.length, `line ${line} of ${lines.length} ${where}`).toBe(true);
    const width = (lines[line - 1] ?? "").length;
    expect(col !== undefined && Number.isInteger(col) && col >= 1 && col <= width + 1, `col ${col} of ${width} ${where}`).toBe(true);
    // A token the YAML parser could not place is quoted in the message: it is where the issue says.
    const token = STREAM_TOKEN.exec(issue.message);
    if (token !== null) {
      const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + (col ?? 1) - 1;
      const source = JSON.parse(token[1]!) as string;
      expect(text.slice(offset, offset + source.length), `the token of ${line}:${col} ${where}`).toBe(source);
    }
  }
  // One formatted line per issue, each naming the file.
  const formatted = err.message.split("\n");
  expect(formatted.length, where).toBe(err.issues.length);
  for (const l of formatted) expect(l.startsWith(`${file}:`), where).toBe(true);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** YAML syntax, the policy's own keys and values, and text that has upset YAML loaders. */
const TOKENS = [
  "apiVersion:",
  "apiVersion: runsc-ts/v1",
  "kind: Policy",
  "kind:",
  "name: t",
  "name:",
  "description:",
  "extends: default",
  "extends: missing-policy",
  "extends:",
  "syscalls:",
  "default:",
  "allow:",
  "deny:",
  "rules:",
  "names:",
  "args:",
  "index:",
  "op:",
  "value:",
  "mask:",
  "action:",
  "filesystem:",
  "root:",
  "tmp:",
  "path:",
  "access:",
  "network:",
  "mode:",
  "process:",
  "exec:",
  "hostname:",
  "audit:",
  "- ",
  "-",
  "{",
  "}",
  "[",
  "]",
  ":",
  ": ",
  ",",
  "?",
  "? ",
  "\n",
  "\n  ",
  "\n    ",
  "\n      ",
  "\t",
  " ",
  "  ",
  "&a ",
  "*a",
  "&b ",
  "*b",
  "<<: *a",
  "!!str ",
  "!!int ",
  "!!float ",
  "!!bool ",
  "!!null ",
  "!!map ",
  "!!seq ",
  "!!binary ",
  "!!set ",
  "!!omap ",
  "!!timestamp ",
  "!local ",
  "!<tag:yaml.org,2002:str> ",
  "---",
  "--- ",
  "...",
  "%YAML 1.2\n",
  "%YAML 1.1\n",
  "%TAG ! tag:example.com,2000:\n",
  "\0",
  "\ufeff",
  "\u2028",
  "\u0085",
  "\r\n",
  "\r",
  "#",
  " # comment",
  "|",
  "|-",
  ">",
  ">-",
  "'",
  "''",
  '"',
  '"a\\nb"',
  '"\\u0000"',
  '"\\x41"',
  "0",
  "-1",
  "5",
  "6",
  "0x10",
  "0o17",
  '"0xffffffffffffffff"',
  '"0x1ffffffffffffffff"',
  "18446744073709551615",
  "9007199254740993",
  "1e309",
  "1.5",
  ".inf",
  "-.inf",
  ".nan",
  "~",
  "null",
  "true",
  "yes",
  "eq",
  "masked-eq",
  "ge",
  "allow",
  "kill",
  "trap",
  "log",
  "errno(EPERM)",
  "errno(EPRM)",
  "errno()",
  "read",
  "openat",
  "opneat",
  "/etc/**",
  "/**",
  "/a/*/b",
  "/../x",
  "none",
  "read-write",
  "readonly",
  "overlay",
  "host",
  "proxy",
  "é",
  "😀",
  "\ud800",
  "x".repeat(70),
];

const word = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);

const tokenSoup: fc.Arbitrary<string> = fc
  .array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: word }), { maxLength: 80 })
  .map((ts) => ts.join(""));

const YAMLISH_CHARS = [..."abcxyz09:-[]{}&*!|>'\"#%@`,?~. \t\n\r\\\0", "\n  ", "\n- "];

const yamlishChars: fc.Arbitrary<string> = fc.string({ unit: fc.constantFrom(...YAMLISH_CHARS), maxLength: 200 });

/** Any UTF-16 code unit, lone surrogates included. */
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 120 });

const KEYS = [
  "apiVersion",
  "kind",
  "name",
  "syscalls",
  "default",
  "allow",
  "deny",
  "rules",
  "names",
  "args",
  "index",
  "op",
  "value",
  "mask",
  "action",
  "filesystem",
  "root",
  "tmp",
  "path",
  "access",
  "network",
  "mode",
  "process",
  "exec",
  "hostname",
  "audit",
  "alow",
  "<<",
  "",
];

const VALUES = TOKENS.filter((t) => !t.includes("\n"));

/** A policy head, then lines of random keys and values at random depths: deep in the schema. */
const structured: fc.Arbitrary<string> = fc
  .tuple(
    fc.boolean(),
    fc.array(
      fc.record({
        indent: fc.integer({ min: 0, max: 8 }),
        dash: fc.boolean(),
        key: fc.oneof(fc.constantFrom(...KEYS), word),
        value: fc.oneof(fc.constant(""), fc.constantFrom(...VALUES), word, fc.array(fc.constantFrom(...VALUES), { maxLength: 4 }).map((v) => `[${v.join(", ")}]`)),
      }),
      { maxLength: 25 },
    ),
  )
  .map(([head, lines]) => (head ? HEAD : "") + lines.map((l) => `${" ".repeat(l.indent)}${l.dash ? "- " : ""}${l.key}: ${l.value}`).join("\n"));

/** An edit of a text: positions and lengths are taken modulo what the text has. */
type Edit =
  | { kind: "delete-char" | "duplicate-span" | "delete-line" | "duplicate-line" | "swap-lines"; at: number; to: number }
  | { kind: "insert" | "insert-line" | "reindent"; at: number; text: string };

const insertion = fc.oneof(fc.constantFrom(...TOKENS), fc.constantFrom(...YAMLISH_CHARS), fc.string({ unit: "binary", maxLength: 3 }));

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constantFrom("delete-char", "delete-line", "duplicate-line", "swap-lines", "duplicate-span"), at: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constantFrom("insert", "insert-line"), at: fc.nat(), text: insertion }),
  fc.record({ kind: fc.constant("reindent"), at: fc.nat(), text: fc.constantFrom("", " ", "  ", "   ", "    ", "\t", " \t") }),
) as fc.Arbitrary<Edit>;

function applyEdit(text: string, e: Edit): string {
  const lines = text.split("\n");
  const i = e.at % (text.length + 1);
  const j = e.at % lines.length;
  switch (e.kind) {
    case "delete-char":
      return text.slice(0, i) + text.slice(i + 1);
    case "duplicate-span": {
      const end = Math.min(text.length, i + 1 + (e.to % 40));
      return text.slice(0, end) + text.slice(i, end) + text.slice(end);
    }
    case "insert":
      return text.slice(0, i) + e.text + text.slice(i);
    case "delete-line":
      lines.splice(j, 1);
      return lines.join("\n");
    case "duplicate-line":
      lines.splice(j, 0, lines[j] ?? "");
      return lines.join("\n");
    case "swap-lines": {
      const k = e.to % lines.length;
      [lines[j], lines[k]] = [lines[k] ?? "", lines[j] ?? ""];
      return lines.join("\n");
    }
    case "insert-line":
      lines.splice(j, 0, e.text);
      return lines.join("\n");
    case "reindent":
      lines[j] = e.text + (lines[j] ?? "").trimStart();
      return lines.join("\n");
  }
}

const mutated = (text: string): fc.Arbitrary<string> =>
  fc.array(edit, { minLength: 1, maxLength: 5 }).map((edits) => edits.reduce(applyEdit, text));

// ---------------------------------------------------------------------------------------------

// The YAML library reports some inputs (collections as keys) through process.emitWarning;
// keep them out of the test output.
beforeAll(() => {
  vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
});
afterAll(() => {
  vi.restoreAllMocks();
});

describe("parsePolicy on fuzzed text", () => {
  it.each<[string, fc.Arbitrary<string>, number]>([
    ["any code points", fc.string({ unit: "binary", maxLength: 200 }), 1000],
    ["any UTF-16 code units, lone surrogates included", utf16, 1000],
    ["YAML punctuation and whitespace", yamlishChars, 2000],
    ["YAML-ish token soup", tokenSoup, 3000],
    ["a policy head and random keys at random depths", structured, 2000],
  ])("%s: loads or says where (FILE:LINE:COL), nothing else", (_, text, numRuns) => {
    const seen = { loaded: 0, refused: 0 };
    fc.assert(
      fc.property(text, (t) => {
        seen[checkLoad(t)]++;
      }),
      { seed: SEED, numRuns },
    );
    expect(seen.loaded + seen.refused).toBe(numRuns);
  });

  it.each(SHIPPED.map((path) => [relative(REPO, path), path] as const))(
    "mutations of %s: load or say where, and some still load",
    (_, path) => {
      const original = readFileSync(path, "utf8");
      const numRuns = path === DEFAULT_PATH ? 1200 : 300;
      const seen = { loaded: 0, refused: 0 };
      fc.assert(
        fc.property(mutated(original), (t) => {
          seen[checkLoad(t, path)]++;
        }),
        { seed: SEED, numRuns },
      );
      // Both outcomes occur, so both branches of the contract were exercised.
      expect(seen.loaded).toBeGreaterThan(numRuns / 50);
      expect(seen.refused).toBeGreaterThan(numRuns / 50);
    },
  );

  it.each(SHIPPED.map((path) => [relative(REPO, path), path] as const))("%s unmutated loads", (_, path) => {
    expect(checkLoad(readFileSync(path, "utf8"), path)).toBe("loaded");
  });
});

describe("parsePolicy on inputs fuzzing turned up", () => {
  it.each<[string, string]>([
    ["an empty file", ""],
    ["a NUL byte", "\0"],
    ["a byte-order mark alone", "\ufeff"],
    ["an unknown alias", `${HEAD}syscalls: *nope\n`],
    ["an alias as a key", `${HEAD}*a : 1\n`],
    ["a second document", `${HEAD}---\nkind: Policy\n`],
    // The position of every issue after a multi-line scalar must still be its own.
    ["a stray space before the first key, then a folded description", ` ${HEAD}description: >-\n  one\n  two\nsyscalls:\n  deny: [ptrace]\n`],
    ["a quoted key with an escaped newline", `${HEAD}"a\\nb": 1\n`],
    ["a duplicate quoted key with an escaped newline", `${HEAD}syscalls: {}\n"sys\\ncalls": 1\n"sys\\ncalls": 2\n`],
    ["a key with a carriage return", `${HEAD}"x\\ry": 1\n`],
    [
      "an alias bomb",
      [
        "a: &a [x, x, x, x, x, x, x, x, x]",
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
        "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
      ].join("\n"),
    ],
  ])("%s: loads or says where, one line per issue", (_, text) => {
    checkLoad(text);
  });

  // YAML 1.1 types (!!omap, !!set, !!timestamp, !!binary) load as Map, Set, Date and
  // Uint8Array; where a mapping is expected they must be refused as what they are, at the
  // field, not taken for an empty mapping (which silently applies every default) nor have
  // their indices listed as unknown keys.
  it.each<[string, string, string]>([
    ["!!omap", "syscalls: !!omap\n  - default: kill\n", "syscalls"],
    ["!!set", "syscalls: !!set { read }\n", "syscalls"],
    ["!!timestamp", "filesystem: !!timestamp 2001-12-14\n", "filesystem"],
    ["!!binary", "network: !!binary aGVsbG8=\n", "network"],
  ])("a section written as %s is refused at the section's line", (_, section, field) => {
    let err: unknown;
    try {
      parsePolicy(HEAD + section, FILE);
    } catch (e) {
      err = e;
    }
    expect(err, `${section} loaded`).toBeInstanceOf(PolicyError);
    const issues = (err as PolicyError).issues;
    expect(issues.map((i) => [i.line, i.path])).toEqual([[4, field]]);
  });
});

/** Nested text: `open` n times, then `inner`, then `close` n times; or n keys, each indented one more. */
type Nesting =
  | { readonly name: string; readonly kind: "wrap"; readonly n: number; readonly open: string; readonly close: string }
  | { readonly name: string; readonly kind: "indent"; readonly n: number };

/**
 * Runs parsePolicy on nested texts in a separate Node process (a fatal V8 error there ends
 * only that process), each text twice; returns the process's end and one result per parse.
 */
function parseInChild(cases: readonly Nesting[]): { status: number | null; signal: string | null; stderr: string; results: unknown[] } {
  const script = `
    import { runnerImport } from "vite";
    const { module } = await runnerImport(${JSON.stringify(join(REPO, "sentry/policy/load.ts"))}, { configFile: false, logLevel: "silent" });
    const build = (c) => c.kind === "wrap"
      ? c.open.repeat(c.n) + "x" + c.close.repeat(c.n)
      : Array.from({ length: c.n }, (_, i) => " ".repeat(i) + "k:").join("\\n") + " x";
    for (const c of ${JSON.stringify(cases)}) {
      const text = build(c);
      for (let round = 0; round < 2; round++) {
        const start = performance.now();
        let r;
        try {
          module.parsePolicy(text, "deep.yaml");
          r = { loaded: true };
        } catch (e) {
          r = e instanceof module.PolicyError ? { issues: e.issues, lines: e.message.split("\\n").length } : { thrown: String(e) };
        }
        console.log(JSON.stringify({ name: c.name, round, ms: Math.round(performance.now() - start), ...r }));
      }
    }
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
  const results = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as unknown);
  return { status: r.status, signal: r.signal, stderr: r.stderr, results };
}

interface ChildResult {
  readonly name: string;
  readonly ms: number;
  readonly loaded?: boolean;
  readonly thrown?: string;
  readonly issues?: readonly { readonly file: string; readonly line?: number; readonly col?: number }[];
  readonly lines?: number;
}

describe("parsePolicy on deeply nested text (well under the 1 MiB a policy file may have)", () => {
  const cases: Nesting[] = [
    { name: "1000 nested flow sequences", kind: "wrap", n: 1000, open: "[", close: "]" },
    { name: "1000 nested flow mappings", kind: "wrap", n: 1000, open: "{a: ", close: "}" },
    { name: "20000 nested flow sequences", kind: "wrap", n: 20000, open: "[", close: "]" },
    { name: "1000 nested block sequences", kind: "wrap", n: 1000, open: "- ", close: "" },
    { name: "1000 nested block mappings", kind: "indent", n: 1000 },
  ];

  it("each loads or is refused with positioned issues, twice in one process, and the process survives", () => {
    const run = parseInChild(cases);
    const last = JSON.stringify(run.results.at(-1) ?? "nothing").slice(0, 200);
    const fatal = /FATAL ERROR[^\n]*/.exec(run.stderr)?.[0];
    expect(fatal, `the loader's process died after ${last}`).toBeUndefined();
    expect({ status: run.status, signal: run.signal }).toEqual({ status: 0, signal: null });
    expect(run.results).toHaveLength(cases.length * 2);
    for (const r of run.results as ChildResult[]) {
      expect(r.thrown, r.name).toBeUndefined();
      expect(r.ms, r.name).toBeLessThan(SLOW_MS);
      if (r.loaded) continue;
      expect(r.issues?.length, r.name).toBeGreaterThanOrEqual(1);
      expect(r.lines, r.name).toBe(r.issues?.length);
      for (const i of r.issues ?? []) {
        expect(i.file, r.name).toBe("deep.yaml");
        expect(i.line, r.name).toBeGreaterThanOrEqual(1);
        expect(i.col, r.name).toBeGreaterThanOrEqual(1);
      }
    }
  });
});
