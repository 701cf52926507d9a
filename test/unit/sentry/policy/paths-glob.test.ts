// Glob path patterns: what each form matches, the precedence among matching rules, the indexed
// matcher against the linear one, and validation messages.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkPathPattern } from "../../../../sentry/policy/language.js";
import {
  createPathMatcher,
  execAllowed,
  literalPattern,
  matchRule,
  normalizePath,
  parsePathPattern,
  patternMatches,
  patternReaches,
} from "../../../../sentry/policy/paths.js";

describe("patternMatches with globs", () => {
  it.each([
    // * within one component, dotfiles included, never across "/"
    ["/home/*/.ssh/**", "/home/alice/.ssh/id_ed25519", true],
    ["/home/*/.ssh/**", "/home/alice/.ssh", true],
    ["/home/*/.ssh/**", "/home/.hidden/.ssh/x", true],
    ["/home/*/.ssh/**", "/home/a/b/.ssh/x", false],
    ["/home/*/.ssh/**", "/home/.ssh", false],
    ["/home/*/**", "/home/alice/.bashrc", true],
    ["/home/*/**", "/home/.cache", true],
    ["/home/*/**", "/home", false],
    ["/etc/*.conf", "/etc/resolv.conf", true],
    ["/etc/*.conf", "/etc/.conf", true],
    ["/etc/*.conf", "/etc/a/b.conf", false],
    ["/etc/*.conf", "/etc/resolv.conf.d", false],
    ["/a/*", "/a", false],
    ["/a/*", "/a/b", true],
    ["/*", "/", false],
    ["/*", "/etc", true],
    // ?
    ["/tmp/f?o", "/tmp/foo", true],
    ["/tmp/f?o", "/tmp/fo", false],
    ["/tmp/f?o", "/tmp/f/o", false],
    ["/tmp/?", "/tmp/é", true],
    // classes
    ["/dev/sd[ab]", "/dev/sda", true],
    ["/dev/sd[ab]", "/dev/sdc", false],
    ["/dev/tty[0-9]", "/dev/tty7", true],
    ["/dev/tty[0-9]", "/dev/ttyS", false],
    ["/x/[!a]", "/x/b", true],
    ["/x/[!a]", "/x/a", false],
    ["/x/[^a]", "/x/b", true],
    ["/x/[]a]", "/x/]", true],
    ["/x/[a-]", "/x/-", true],
    // ** as a whole component: zero or more components
    ["/srv/**/secrets.yaml", "/srv/secrets.yaml", true],
    ["/srv/**/secrets.yaml", "/srv/a/b/secrets.yaml", true],
    ["/srv/**/secrets.yaml", "/srv/a/b/secrets.yaml.bak", false],
    ["/srv/**/secrets.yaml", "/srvx/secrets.yaml", false],
    ["/**/id_rsa", "/id_rsa", true],
    ["/**/id_rsa", "/root/.ssh/id_rsa", true],
    ["/usr/lib/python3*/**", "/usr/lib/python3.11/os.py", true],
    ["/usr/lib/python3*/**", "/usr/lib/python3", true],
    ["/usr/lib/python3*/**", "/usr/lib/python2.7/os.py", false],
    ["/a/**/b/**", "/a/x/b/y/z", true],
    ["/a/**/b/**", "/a/b", true],
    ["/a/**/b/**", "/a/x", false],
    ["/a/**/**", "/a/q", true],
    // one-character classes are literal characters
    ["/usr/bin/[[]", "/usr/bin/[", true],
    ["/x/a[*]b", "/x/a*b", true],
    ["/x/a[*]b", "/x/azb", false],
    // normalisation applies to the path, as for glob-free patterns
    ["/home/*/.ssh/**", "/tmp/../home/bob/.ssh/k", true],
    ["/etc/*.conf", "/etc/./x.conf", true],
  ])("%s against %s → %s", (pattern, path, want) => {
    expect(patternMatches(pattern, path)).toBe(want);
    expect(createPathMatcher([{ path: pattern }])(path) !== undefined).toBe(want);
    expect(execAllowed({ process: { exec: { allow: [pattern], entrypoint: false } } }, path)).toBe(want);
  });
});

describe("parsePathPattern", () => {
  it.each([
    ["/a/b", { base: "/a/b", subtree: false, glob: false }],
    ["/a/b/**", { base: "/a/b", subtree: true, glob: false }],
    ["/a/**/**", { base: "/a", subtree: true, glob: false }],
    ["/usr/bin/[[]", { base: "/usr/bin/[", subtree: false, glob: false }],
    ["/home/*/.ssh/**", { base: "/home", subtree: true, glob: true }],
    ["/srv/**/x", { base: "/srv", subtree: false, glob: true }],
    ["/**/x", { base: "/", subtree: false, glob: true }],
  ])("%s", (pattern, want) => {
    expect(parsePathPattern(pattern)).toMatchObject(want);
  });

  it("counts literal prefix, literals and ** for precedence", () => {
    expect(parsePathPattern("/a/*/b/**/c/**")).toMatchObject({ literalPrefix: 1, literals: 3, globstars: 1, subtree: true });
  });
});

describe("literalPattern", () => {
  it.each(["/usr/bin/[", "/a*b/c?d", "/x/{y}", "/plain/path"])("matches exactly %s", (p) => {
    const pattern = literalPattern(p);
    expect(checkPathPattern(pattern)).toBeUndefined();
    expect(parsePathPattern(pattern)).toMatchObject({ glob: false, base: p });
    expect(patternMatches(pattern, p)).toBe(true);
    expect(patternMatches(pattern, `${p}x`)).toBe(false);
  });
});

describe("patternReaches", () => {
  it.each([
    ["/usr/**", "/tmp", false],
    ["/tmp/bin/**", "/tmp", true],
    ["/**", "/tmp", true],
    ["/tmp/*/bin/**", "/tmp", true],
    ["/*/bin/*", "/tmp", true],
    ["/usr/lib/python3*/**", "/tmp", false],
    ["/**/bin/x", "/dev/shm", true],
    ["/tmpfoo/**", "/tmp", false],
    ["/t?p", "/tmp", true],
    ["/t?p", "/usr", false],
  ])("%s reaches into %s → %s", (pattern, dir, want) => {
    expect(patternReaches(pattern, dir)).toBe(want);
  });
});

describe("precedence", () => {
  it.each([
    {
      what: "a deeper concrete path wins over a longer literal prefix (mounts stack deeper paths on top)",
      rules: ["/home/alice/**", "/home/*/.ssh/**"],
      path: "/home/alice/.ssh/id",
      want: 1,
    },
    {
      what: "the same, whatever the order",
      rules: ["/home/*/.ssh/**", "/home/alice/**"],
      path: "/home/alice/.ssh/id",
      want: 0,
    },
    {
      what: "outside the glob's reach the literal subtree decides",
      rules: ["/home/alice/**", "/home/*/.ssh/**"],
      path: "/home/alice/.bashrc",
      want: 0,
    },
    {
      what: "at equal depth an exact pattern beats a subtree, even a glob one",
      rules: ["/srv/*", "/srv/www/**"],
      path: "/srv/www",
      want: 0,
    },
    {
      what: "at equal depth and kind, the longer literal prefix wins",
      rules: ["/home/alice/.ssh/**", "/home/*/.ssh/**"],
      path: "/home/alice/.ssh/id",
      want: 0,
    },
    {
      what: "then more literal components",
      rules: ["/a/*/c", "/a/*/*"],
      path: "/a/b/c",
      want: 0,
    },
    {
      what: "more literal components, in the other order",
      rules: ["/a/*/*", "/a/*/c"],
      path: "/a/b/c",
      want: 1,
    },
    {
      what: "then fewer **",
      rules: ["/a/**/c", "/a/*/c"],
      path: "/a/b/c",
      want: 1,
    },
    {
      what: "fewer **, in the other order",
      rules: ["/a/*/c", "/a/**/c"],
      path: "/a/b/c",
      want: 0,
    },
    {
      what: "then the later rule",
      rules: ["/a/?/c", "/a/*/c"],
      path: "/a/b/c",
      want: 1,
    },
    {
      what: "the later rule, in the other order",
      rules: ["/a/*/c", "/a/?/c"],
      path: "/a/b/c",
      want: 1,
    },
    {
      what: "a subtree glob covers through its deepest matching ancestor",
      rules: ["/a/**/x/**", "/a/b/x/y/**"],
      path: "/a/b/x/y/x/z",
      want: 0,
    },
    {
      what: "and loses to a deeper literal subtree when no deeper ancestor matches it",
      rules: ["/a/**/x/**", "/a/b/x/y/**"],
      path: "/a/b/x/y/z",
      want: 1,
    },
    {
      what: "a glob leaves unmatched paths to a broader rule",
      rules: ["/**", "/srv/**/secrets.yaml"],
      path: "/srv/a/other.yaml",
      want: 0,
    },
  ])("$what", ({ rules, path, want }) => {
    const rs = rules.map((p) => ({ path: p }));
    expect(matchRule(rs, path)?.index).toBe(want);
    expect(createPathMatcher(rs)(path)?.index).toBe(want);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties, against oracles written independently of paths.ts.

/** fnmatch of one component, without regular expressions. */
function oracleName(p: string, s: string): boolean {
  if (p === "") return s === "";
  const c = p[0]!;
  if (c === "*") return oracleName(p.slice(1), s) || (s !== "" && oracleName(p, s.slice(1)));
  if (s === "") return false;
  if (c === "?") return oracleName(p.slice(1), s.slice(1));
  if (c === "[") {
    let j = 1;
    const neg = p[j] === "!" || p[j] === "^";
    if (neg) j++;
    let hit = false;
    let first = true;
    while (p[j] !== "]" || first) {
      first = false;
      if (p[j + 1] === "-" && p[j + 2] !== undefined && p[j + 2] !== "]") {
        if (s[0]! >= p[j]! && s[0]! <= p[j + 2]!) hit = true;
        j += 3;
      } else {
        if (s[0] === p[j]) hit = true;
        j++;
      }
    }
    return hit !== neg && oracleName(p.slice(j + 1), s.slice(1));
  }
  return c === s[0] && oracleName(p.slice(1), s.slice(1));
}

/** Whether pattern components match path components; "**" is zero or more components. */
function oracleMatch(pc: readonly string[], sc: readonly string[]): boolean {
  if (pc.length === 0) return sc.length === 0;
  if (pc[0] === "**") return oracleMatch(pc.slice(1), sc) || (sc.length > 0 && oracleMatch(pc, sc.slice(1)));
  return sc.length > 0 && oracleName(pc[0]!, sc[0]!) && oracleMatch(pc.slice(1), sc.slice(1));
}

const comps = (p: string): string[] => p.split("/").filter((c) => c !== "");

const NAMES = ["a", "b", "ab", ".a", "a.b", "c"];
const PIECES = ["a", "b", "ab", ".a", "*", "?", "a*", "*b", "[ab]", "[!a]*", "[a-b]?", "**", ".*"];

const arbPath = fc.array(fc.constantFrom(...NAMES), { maxLength: 5 }).map((cs) => `/${cs.join("/")}`);
const arbPattern = fc.array(fc.constantFrom(...PIECES), { maxLength: 5 }).map((cs) => `/${cs.join("/")}`);
const arbLiteral = fc
  .tuple(fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }), fc.boolean())
  .map(([cs, sub]) => `/${cs.join("/")}${sub ? (cs.length === 0 ? "**" : "/**") : ""}`);

describe("glob properties", () => {
  it("the compiled matcher agrees with a component-by-component oracle", () => {
    fc.assert(
      fc.property(arbPattern, arbPath, (pattern, path) => {
        expect(checkPathPattern(pattern)).toBeUndefined();
        expect(patternMatches(pattern, path)).toBe(oracleMatch(comps(pattern), comps(path)));
      }),
      { numRuns: 3000 },
    );
  });

  it("createPathMatcher agrees with matchRule on mixed literal and glob rules", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(arbPattern, arbLiteral), { maxLength: 8 }), fc.array(arbPath, { minLength: 1, maxLength: 8 }), (patterns, paths) => {
        const rules = patterns.map((path) => ({ path }));
        const m = createPathMatcher(rules);
        for (const p of paths) {
          const want = matchRule(rules, p);
          expect(m(p)?.index).toBe(want?.index);
          if (want !== undefined) expect(patternMatches(want.rule.path, p)).toBe(true);
          else expect(rules.some((r) => patternMatches(r.path, p))).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });

  /** The glob-free precedence before globs: deepest base, exact over subtree, later wins. */
  function olderMatch(patterns: readonly string[], path: string): number | undefined {
    const target = normalizePath(path);
    let best: number | undefined;
    let bestRank = -1;
    patterns.forEach((pattern, i) => {
      const subtree = pattern.endsWith("/**");
      const base = normalizePath(subtree ? pattern.slice(0, -3) || "/" : pattern);
      const covers = subtree ? base === "/" || target === base || target.startsWith(`${base}/`) : target === base;
      if (!covers) return;
      const r = (base === "/" ? 0 : base.split("/").length - 1) * 2 + (subtree ? 0 : 1);
      if (r >= bestRank) {
        best = i;
        bestRank = r;
      }
    });
    return best;
  }

  it("glob-free rules keep their precedence", () => {
    fc.assert(
      fc.property(fc.array(arbLiteral, { maxLength: 8 }), arbPath, (patterns, path) => {
        const rules = patterns.map((p) => ({ path: p }));
        expect(matchRule(rules, path)?.index).toBe(olderMatch(patterns, path));
        expect(createPathMatcher(rules)(path)?.index).toBe(olderMatch(patterns, path));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("checkPathPattern", () => {
  it.each([
    ["/srv/[a-", 'unterminated character class "[a-" in "/srv/[a-": close it with "]" (a literal "[" is written "[[]")'],
    ["/srv/[]", 'unterminated character class "[]" in "/srv/[]": close it with "]" (a literal "[" is written "[[]")'],
    ["/srv/[!]", 'unterminated character class "[!]" in "/srv/[!]": close it with "]" (a literal "[" is written "[[]")'],
    ["/srv/[z-a]", 'character class range "z-a" is out of order in "/srv/[z-a]"'],
    ["/etc/{a,b}.conf", 'brace expansion is not supported: write one rule per alternative instead of "/etc/{a,b}.conf" (a literal "{" is written "[{]")'],
    ["/a**b", '"**" must be a whole path component (as in "/a/**/b"), got "a**b" in "/a**b"'],
    ["/a/**b", '"**" must be a whole path component (as in "/a/**/b"), got "**b" in "/a/**b"'],
    ["/a/***", '"**" must be a whole path component (as in "/a/**/b"), got "***" in "/a/***"'],
    ["/a/*/../b", 'a path must not contain "." or ".." components, got "/a/*/../b"'],
    ["home/*", 'expected an absolute path starting with "/", got "home/*"'],
  ])("%s: %s", (pattern, message) => {
    expect(checkPathPattern(pattern)).toBe(message);
  });

  it.each(["/home/*/.ssh/**", "/srv/**/secrets.yaml", "/usr/lib/python3*/**", "/x/[!a-c]?", "/x/[]]", "/**", "/a/**/b/**", "/x/a}b"])(
    "accepts %s",
    (pattern) => {
      expect(checkPathPattern(pattern)).toBeUndefined();
    },
  );
});
