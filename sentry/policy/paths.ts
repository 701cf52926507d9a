// Path rules as pure functions: lexical normalisation, most-specific-rule lookup, the exec allow list.
//
// A pattern is an absolute path, optionally ending in "/**": "/a/**" matches "/a" and everything
// beneath it, "/a" matches only "/a". Paths are compared lexically after normalisation; symlinks
// are the resolver's business, not this module's. When several rules match, the one with the
// deepest path wins; at the same depth an exact path beats a subtree; for the same pattern the
// later rule wins.

import type { Policy } from "./schema.js";

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

/** A pattern split into its normalised path and whether it covers the subtree beneath it. */
export interface ParsedPattern {
  readonly base: string;
  readonly subtree: boolean;
}

export function parsePathPattern(pattern: string): ParsedPattern {
  if (pattern.endsWith("/**")) {
    const base = pattern.slice(0, -3);
    return { base: normalizePath(base === "" ? "/" : base), subtree: true };
  }
  return { base: normalizePath(pattern), subtree: false };
}

function covers(p: ParsedPattern, normalized: string): boolean {
  if (!p.subtree) return p.base === normalized;
  return p.base === "/" || normalized === p.base || normalized.startsWith(`${p.base}/`);
}

/** Whether `pattern` ("/a" or "/a/**") matches the absolute path. */
export function patternMatches(pattern: string, absPath: string): boolean {
  return covers(parsePathPattern(pattern), normalizePath(absPath));
}

function depth(base: string): number {
  return base === "/" ? 0 : base.split("/").length - 1;
}

export interface RuleMatch<R> {
  readonly rule: R;
  readonly index: number;
}

/**
 * The rule that decides `absPath`: the deepest matching path; at equal depth an exact path over
 * a subtree; for the same pattern the later rule. Undefined when no rule matches.
 */
export function matchRule<R extends { readonly path: string }>(
  rules: readonly R[],
  absPath: string,
): RuleMatch<R> | undefined {
  const target = normalizePath(absPath);
  let best: RuleMatch<R> | undefined;
  let bestRank = -1;
  rules.forEach((rule, index) => {
    const p = parsePathPattern(rule.path);
    if (!covers(p, target)) return;
    const rank = depth(p.base) * 2 + (p.subtree ? 0 : 1);
    if (rank >= bestRank) {
      best = { rule, index };
      bestRank = rank;
    }
  });
  return best;
}

/**
 * matchRule with the rules indexed once: a lookup walks up the path's ancestors instead of
 * scanning every rule, for callers that match many paths against one policy.
 */
export function createPathMatcher<R extends { readonly path: string }>(
  rules: readonly R[],
): (absPath: string) => RuleMatch<R> | undefined {
  const exact = new Map<string, RuleMatch<R>>();
  const subtree = new Map<string, RuleMatch<R>>();
  rules.forEach((rule, index) => {
    const p = parsePathPattern(rule.path);
    (p.subtree ? subtree : exact).set(p.base, { rule, index });
  });
  return (absPath) => {
    let dir = normalizePath(absPath);
    const own = exact.get(dir);
    if (own !== undefined) return own;
    for (;;) {
      const m = subtree.get(dir);
      if (m !== undefined) return m;
      if (dir === "/") return undefined;
      const slash = dir.lastIndexOf("/");
      dir = slash === 0 ? "/" : dir.slice(0, slash);
    }
  };
}

/** Whether the policy lets the workload execute `absPath` (process.exec.allow; absent means any). */
export function execAllowed(policy: Pick<Policy, "process">, absPath: string): boolean {
  const allow = policy.process.exec?.allow;
  if (allow === undefined) return true;
  const target = normalizePath(absPath);
  return allow.some((pattern) => covers(parsePathPattern(pattern), target));
}
