// Path rules as pure functions: lexical normalisation, glob patterns, most-specific-rule lookup, the exec allow list.
//
// A pattern is an absolute path whose components may be globs:
//   *        any run of characters within one component (including a leading ".": dotfiles match)
//   ?        one character within a component
//   [abc]    one character of a class; [a-z] a range; [!a] or [^a] any character but these;
//            "]" first in a class is literal; a class never matches "/"
//   **       as a whole component: zero or more components
// A trailing "/**" keeps its meaning: "/a/**" matches "/a" and everything beneath it. There is
// no brace expansion and no backslash escape: a metacharacter is written as a one-character
// class ("[*]", "[?]", "[[]", "[{]"), and a component made of literals and one-character classes
// is a literal component. Paths are compared lexically after normalisation; symlinks are the
// resolver's business, not this module's.
//
// When several rules match, the most specific wins, compared in this order:
//   1. the depth of the concrete path the rule covers the target through (for "P/**": the
//      deepest ancestor-or-self of the target that P matches; otherwise the target itself) —
//      the mount plan mounts deeper paths on top, so explain and enforcement agree;
//   2. an exact pattern over a subtree ("P/**");
//   3. more literal leading components (the longest glob-free prefix);
//   4. more literal components in all;
//   5. fewer "**" components;
//   6. the later rule.
// For glob-free patterns 3-5 never differ at equal depth, so this is the older rule: the deepest
// path wins, at the same depth an exact path beats a subtree, for the same pattern the later rule.


/** Collapses repeated slashes, resolves "." and ".." lexically ("/.." is "/"), drops a trailing slash. */
export function normalizePath(absPath: string): string {
  if (!absPath.startsWith("/")) throw new TypeError(`expected an absolute path, got ${JSON.stringify(absPath)}`);
  const parts: string[] = [];
  for (const c of absPath.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  return `/${parts.join("/")}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** One component of a pattern: a literal name, a glob within one name, or "**". */
export type Segment =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "glob"; readonly text: string; readonly source: string; readonly re: RegExp }
  | { readonly kind: "globstar" };

/** A pattern, parsed and normalised. */
export interface ParsedPattern {
  /** The pattern's longest glob-free leading path; for a glob-free pattern, its whole path. */
  readonly base: string;
  /** Whether the pattern ends in "/**" (the path and everything beneath it). */
  readonly subtree: boolean;
  /** Whether any component (other than a trailing "**") is a glob. */
  readonly glob: boolean;
  /** The components, without the trailing "**" of a subtree. */
  readonly segments: readonly Segment[];
  /** Leading literal components (the depth of `base`). */
  readonly literalPrefix: number;
  /** Literal components in all. */
  readonly literals: number;
  /** "**" components, the trailing one of a subtree not counted. */
  readonly globstars: number;
}

/** Characters with a meaning in a pattern component. */
const META = /[*?[{]/;

const codePoint = (c: string): string => `\\u{${c.codePointAt(0)!.toString(16)}}`;

/** Escapes a literal character for a RegExp in "u" mode. */
function escapeChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

type ComponentParse =
  | { ok: true; segment: Segment }
  | { ok: false; message: string };

/** Parses one component (no "/" in it). */
function parseComponent(c: string, pattern: string): ComponentParse {
  if (c === "**") return { ok: true, segment: { kind: "globstar" } };
  const chars = Array.from(c);
  let source = "";
  let literal = "";
  let isGlob = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        return { ok: false, message: `"**" must be a whole path component (as in "/a/**/b"), got ${JSON.stringify(c)} in ${JSON.stringify(pattern)}` };
      }
      isGlob = true;
      source += "[^/]*";
    } else if (ch === "?") {
      isGlob = true;
      source += "[^/]";
    } else if (ch === "{") {
      return {
        ok: false,
        message: `brace expansion is not supported: write one rule per alternative instead of ${JSON.stringify(pattern)} (a literal "{" is written "[{]")`,
      };
    } else if (ch === "[") {
      // A class: [!...] or [^...] negates; "]" first is literal; "a-z" is a range.
      let j = i + 1;
      let negate = false;
      if (chars[j] === "!" || chars[j] === "^") {
        negate = true;
        j++;
      }
      const members: string[] = [];
      const items: string[] = [];
      let first = true;
      for (;;) {
        const m = chars[j];
        if (m === undefined) {
          return {
            ok: false,
            message: `unterminated character class "${chars.slice(i).join("")}" in ${JSON.stringify(pattern)}: close it with "]" (a literal "[" is written "[[]")`,
          };
        }
        if (m === "]" && !first) break;
        first = false;
        const dash = chars[j + 1];
        const hi = chars[j + 2];
        if (dash === "-" && hi !== undefined && hi !== "]") {
          if (m.codePointAt(0)! > hi.codePointAt(0)!) {
            return { ok: false, message: `character class range "${m}-${hi}" is out of order in ${JSON.stringify(pattern)}` };
          }
          items.push(`${codePoint(m)}-${codePoint(hi)}`);
          members.push(m, hi);
          j += 3;
        } else {
          items.push(codePoint(m));
          members.push(m);
          j++;
        }
      }
      if (!negate && members.length === 1 && !items[0]!.includes("-")) {
        // A one-character class is that character: the way to write a metacharacter literally.
        literal += members[0]!;
        source += escapeChar(members[0]!);
      } else {
        isGlob = true;
        source += negate ? `[^/${items.join("")}]` : `[${items.join("")}]`;
      }
      i = j;
    } else {
      literal += ch;
      source += escapeChar(ch);
    }
  }
  if (!isGlob) return { ok: true, segment: { kind: "literal", text: literal } };
  return { ok: true, segment: { kind: "glob", text: c, source, re: new RegExp(`^${source}$`, "u") } };
}

/** Parses a pattern, or says why it is not one (the path-syntax part of language.ts checkPathPattern). */
export function tryParsePathPattern(pattern: string): { ok: true; parsed: ParsedPattern } | { ok: false; message: string } {
  if (!pattern.startsWith("/")) return { ok: false, message: `expected an absolute path, got ${JSON.stringify(pattern)}` };
  const segments: Segment[] = [];
  for (const c of pattern.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      segments.pop();
      continue;
    }
    const r = parseComponent(c, pattern);
    if (!r.ok) return r;
    // "**/**" is "**".
    if (r.segment.kind === "globstar" && segments.at(-1)?.kind === "globstar") continue;
    segments.push(r.segment);
  }
  const subtree = segments.at(-1)?.kind === "globstar";
  if (subtree) segments.pop();
  let literalPrefix = 0;
  while (segments[literalPrefix]?.kind === "literal") literalPrefix++;
  const literalTexts = segments.slice(0, literalPrefix).map((s) => (s.kind === "literal" ? s.text : ""));
  return {
    ok: true,
    parsed: {
      base: `/${literalTexts.join("/")}`,
      subtree,
      glob: literalPrefix < segments.length,
      segments,
      literalPrefix,
      literals: segments.filter((s) => s.kind === "literal").length,
      globstars: segments.filter((s) => s.kind === "globstar").length,
    },
  };
}

/** Parsed patterns, kept: matching asks about the same rules again and again. */
const parsedCache = new Map<string, ParsedPattern>();
const PARSED_CACHE_MAX = 1 << 16;

/** Parses a pattern; throws on one that validation (checkPathPattern) refuses. */
export function parsePathPattern(pattern: string): ParsedPattern {
  const hit = parsedCache.get(pattern);
  if (hit !== undefined) return hit;
  const r = tryParsePathPattern(pattern);
  if (!r.ok) throw new Error(r.message);
  if (parsedCache.size >= PARSED_CACHE_MAX) parsedCache.clear();
  parsedCache.set(pattern, r.parsed);
  return r.parsed;
}

/**
 * The pattern that matches exactly this path: glob metacharacters written as one-character
 * classes ("/usr/bin/[" → "/usr/bin/[[]"). For concrete paths that join a list of patterns.
 */
export function literalPattern(absPath: string): string {
  return absPath.replace(/[*?[{]/g, (c) => `[${c}]`);
}

/** Whether the text has a glob metacharacter ("*", "?", "[", "{"). */
export function hasGlobSyntax(text: string): boolean {
  return META.test(text);
}

// ---------------------------------------------------------------------------------------------
// Matching

function depth(path: string): number {
  return path === "/" ? 0 : path.split("/").length - 1;
}

/** A parsed pattern ready to match: for a glob, one RegExp over the whole path, compiled once. */
interface Compiled {
  readonly p: ParsedPattern;
  /** Glob only: matches the path ("" for "/") the segments describe. */
  readonly re: RegExp | undefined;
}

const compiledCache = new Map<string, Compiled>();

function compile(pattern: string): Compiled {
  const hit = compiledCache.get(pattern);
  if (hit !== undefined) return hit;
  const c = compileUncached(pattern);
  if (compiledCache.size >= PARSED_CACHE_MAX) compiledCache.clear();
  compiledCache.set(pattern, c);
  return c;
}

function compileUncached(pattern: string): Compiled {
  const p = parsePathPattern(pattern);
  if (!p.glob) return { p, re: undefined };
  const source = p.segments
    .map((s) => (s.kind === "globstar" ? "(?:/[^/]+)*" : s.kind === "glob" ? `/${s.source}` : `/${Array.from(s.text, escapeChar).join("")}`))
    .join("");
  return { p, re: new RegExp(`^${source}$`, "u") };
}

/**
 * The depth of the concrete path through which the pattern covers `target` (normalised), or -1
 * when it does not match. For "P/**" that is the deepest ancestor-or-self of target P matches.
 */
function coverDepth(c: Compiled, target: string): number {
  const { p } = c;
  if (p.base !== "/" && target !== p.base && !target.startsWith(`${p.base}/`)) return -1;
  if (c.re === undefined) {
    if (!p.subtree) return target === p.base ? depth(target) : -1;
    return depth(p.base);
  }
  if (!p.subtree) return c.re.test(target === "/" ? "" : target) ? depth(target) : -1;
  let dir = target;
  for (;;) {
    if (c.re.test(dir === "/" ? "" : dir)) return depth(dir);
    if (dir === "/" || dir === p.base) return -1;
    const slash = dir.lastIndexOf("/");
    dir = slash === 0 ? "/" : dir.slice(0, slash);
  }
}

/** The precedence of a match; compared element by element, greater wins (see the file header). */
type Rank = readonly [number, number, number, number, number, number];

function rank(p: ParsedPattern, cover: number, index: number): Rank {
  return [cover, p.subtree ? 0 : 1, p.literalPrefix, p.literals, -p.globstars, index];
}

function greater(a: Rank, b: Rank | undefined): boolean {
  if (b === undefined) return true;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

/** Whether `pattern` matches the absolute path. */
export function patternMatches(pattern: string, absPath: string): boolean {
  return coverDepth(compile(pattern), normalizePath(absPath)) >= 0;
}

/**
 * Whether `pattern` could match `dir` or something beneath it (for deciding what a directory
 * must allow, e.g. exec on a mount). Lexical, so an over-estimate for globs is possible only
 * through "**" and wildcards, never an under-estimate.
 */
export function patternReaches(pattern: string, dir: string): boolean {
  const { p } = compile(pattern);
  const d = normalizePath(dir);
  const comps = d === "/" ? [] : d.slice(1).split("/");
  const segs = p.segments;
  const walk = (s: number, c: number): boolean => {
    if (c === comps.length) return s < segs.length || p.subtree;
    if (s === segs.length) return p.subtree;
    const seg = segs[s]!;
    if (seg.kind === "globstar") return walk(s + 1, c) || walk(s, c + 1);
    const ok = seg.kind === "literal" ? seg.text === comps[c] : seg.re.test(comps[c]!);
    return ok && walk(s + 1, c + 1);
  };
  return patternMatches(pattern, d) || walk(0, 0);
}

export interface RuleMatch<R> {
  readonly rule: R;
  readonly index: number;
}

/** The rule that decides `absPath` by the precedence in the file header; undefined when none matches. */
export function matchRule<R extends { readonly path: string }>(
  rules: readonly R[],
  absPath: string,
): RuleMatch<R> | undefined {
  const target = normalizePath(absPath);
  let best: RuleMatch<R> | undefined;
  let bestRank: Rank | undefined;
  rules.forEach((rule, index) => {
    const c = compile(rule.path);
    const cover = coverDepth(c, target);
    if (cover < 0) return;
    const r = rank(c.p, cover, index);
    if (greater(r, bestRank)) {
      best = { rule, index };
      bestRank = r;
    }
  });
  return best;
}

/**
 * matchRule with the rules indexed once, for callers that match many paths against one policy
 * (the sentry's exec check). Glob-free rules go into maps, and a lookup walks up the path's
 * ancestors instead of scanning them; each glob rule is compiled to one RegExp, tried only when
 * the path is beneath its literal prefix.
 */
export function createPathMatcher<R extends { readonly path: string }>(
  rules: readonly R[],
): (absPath: string) => RuleMatch<R> | undefined {
  const exact = new Map<string, RuleMatch<R>>();
  const subtree = new Map<string, RuleMatch<R>>();
  const globs: { c: Compiled; m: RuleMatch<R> }[] = [];
  rules.forEach((rule, index) => {
    const c = compile(rule.path);
    if (c.re !== undefined) globs.push({ c, m: { rule, index } });
    else (c.p.subtree ? subtree : exact).set(c.p.base, { rule, index });
  });
  // The glob-free winner: the exact rule, else the deepest subtree; `litDir` is where it matched.
  let litDir = "/";
  const literalMatch = (target: string): RuleMatch<R> | undefined => {
    const own = exact.get(target);
    if (own !== undefined) {
      litDir = target;
      return own;
    }
    let dir = target;
    for (;;) {
      const m = subtree.get(dir);
      if (m !== undefined) {
        litDir = dir;
        return m;
      }
      if (dir === "/") return undefined;
      const slash = dir.lastIndexOf("/");
      dir = slash === 0 ? "/" : dir.slice(0, slash);
    }
  };
  if (globs.length === 0) return (absPath) => literalMatch(normalizePath(absPath));
  return (absPath) => {
    const target = normalizePath(absPath);
    let best = literalMatch(target);
    // A glob-free rule's literal prefix and literal count are its depth; it has no "**".
    const d = depth(litDir);
    const exactHit = best !== undefined && exact.get(target) === best;
    let bestRank: Rank | undefined = best && [d, exactHit ? 1 : 0, d, d, 0, best.index];
    for (const g of globs) {
      const cover = coverDepth(g.c, target);
      if (cover < 0) continue;
      const r = rank(g.c.p, cover, g.m.index);
      if (greater(r, bestRank)) {
        best = g.m;
        bestRank = r;
      }
    }
    return best;
  };
}

/** Whether the policy lets the workload execute `absPath` (process.exec.allow; absent means any). */
export function execAllowed(policy: { readonly process: { readonly exec?: { readonly allow: readonly string[] } | undefined } }, absPath: string): boolean {
  const allow = policy.process.exec?.allow;
  if (allow === undefined) return true;
  const target = normalizePath(absPath);
  return allow.some((pattern) => coverDepth(compile(pattern), target) >= 0);
}
