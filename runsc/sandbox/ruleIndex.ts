// The path rules of a `do` plan as an index: each rule's depth and base, the rule that
// encloses a path, and the hidden directories with visible paths beneath ("opaque").
import { dirname } from "node:path";
import type { ParsedPattern } from "../../sentry/policy/paths.js";
import { parsePathPattern as parseUncached } from "../../sentry/policy/paths.js";
import type { FilesystemRule } from "../../sentry/policy/schema.js";

export function depthOf(pattern: string): number {
  const base = parsePathPattern(pattern).base;
  return base === "/" ? 0 : base.split("/").length - 1;
}

const parsedPatterns = new Map<string, ParsedPattern>();

/** parsePathPattern, once per pattern (a plan asks about each rule many times). */
export function parsePathPattern(pattern: string): ParsedPattern {
  let p = parsedPatterns.get(pattern);
  if (p === undefined) {
    p = parseUncached(pattern);
    if (parsedPatterns.size > 65536) parsedPatterns.clear();
    parsedPatterns.set(pattern, p);
  }
  return p;
}


/**
 * The rule whose path most closely encloses `base` (strictly above it), or undefined.
 * Rules are bind mounts or masks of whole subtrees, so any rule on an ancestor encloses.
 */
export function enclosing(rules: readonly FilesystemRule[], base: string): FilesystemRule | undefined {
  const byBase = indexOf(rules);
  for (let dir = base; dir !== "/"; ) {
    dir = dirname(dir);
    const r = byBase.get(dir);
    if (r !== undefined) return r;
  }
  return undefined;
}

const indexes = new WeakMap<readonly FilesystemRule[], Map<string, FilesystemRule>>();

/** The rule deciding each base path: the later one for the same path. */
export function indexOf(rules: readonly FilesystemRule[]): Map<string, FilesystemRule> {
  let m = indexes.get(rules);
  if (m === undefined) {
    m = new Map();
    for (const r of rules) m.set(parsePathPattern(r.path).base, r);
    indexes.set(rules, m);
  }
  return m;
}

/**
 * The hidden directories with visible paths beneath them: for each path, the rule that
 * decides it (the later one for the same path) is none and some visible rule lies beneath.
 */
export function opaqueOf(rules: readonly FilesystemRule[]): Set<string> {
  // Every directory above a visible path.
  const above = new Set<string>();
  for (const x of rules) {
    if (x.access === "none") continue;
    for (let dir = parsePathPattern(x.path).base; dir !== "/"; ) {
      dir = dirname(dir);
      if (above.has(dir)) break;
      above.add(dir);
    }
  }
  const out = new Set<string>();
  for (const [base, rule] of indexOf(rules)) {
    if (rule.access === "none" && (base === "/" || above.has(base))) out.add(base);
  }
  return out;
}

/** Whether a path's mount point lives in an opaque tmpfs (and must be created there). */
export function inOpaqueOf(rules: readonly FilesystemRule[], opaque: ReadonlySet<string>, base: string): boolean {
  const e = enclosing(rules, base);
  return e !== undefined && opaque.has(parsePathPattern(e.path).base);
}

/** Rules without repeats of the same rule (two symlinks to one place). */
export function dedupe(rules: readonly FilesystemRule[]): FilesystemRule[] {
  const seen = new Set<string>();
  return rules.filter((r) => {
    const key = `${r.path}\0${r.access}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

