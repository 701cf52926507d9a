// Glob path rules made concrete for the mount plan: each glob is matched against the host's
// filesystem when the sandbox starts and replaced by the paths it matches then.
//
// A mount needs a concrete path, so "/home/*/.ssh/**" becomes "/home/alice/.ssh/**",
// "/home/bob/.ssh/**"... A file created later that the glob would match is not covered (the
// policy README says so). The walk:
//   * lists directories with node:fs, in sorted order, so the result is deterministic;
//   * never descends into a symbolic link for "**" (a link to an ancestor would loop, a link to
//     "/" would walk the host); a literal or one-component glob step follows a link to a
//     directory, as the mount of a literal path would, and the pattern bounds that walk;
//   * never enters /proc, /sys or /dev: the sandbox has its own there;
//   * stops with an error naming the rule after MAX_VISITED directory entries (all rules together);
//   * treats a directory it cannot list (EACCES, ENOENT, ENOTDIR, ELOOP) as empty.
import { lstatSync, readdirSync, statSync } from "node:fs";
import { literalPattern, parsePathPattern } from "../../sentry/policy/paths.js";
import type { ParsedPattern, Segment } from "../../sentry/policy/paths.js";
import { UsageError } from "../errors.js";

/** Directory entries a sandbox start may visit while expanding globs. */
export const MAX_VISITED = 200_000;

/** Host directories a glob never reaches into. */
const SKIPPED = new Set(["/proc", "/sys", "/dev"]);

/** A directory entry as the walk sees it (lstat-like: a link is a link). */
export interface Entry {
  readonly name: string;
  readonly isDirectory: boolean;
  readonly isSymbolicLink: boolean;
}

/** The filesystem calls the expansion makes; node:fs by default, a fake in tests. */
export interface FsAccess {
  /** Entries of a directory; throws an error with a `code` when it cannot be listed. */
  readdir(path: string): Entry[];
  /** "dir" when path is (or links to) a directory, "other" when it exists, undefined when nothing is there. */
  kind(path: string): "dir" | "other" | undefined;
}

export const nodeFs: FsAccess = {
  readdir: (path) =>
    readdirSync(path, { withFileTypes: true }).map((d) => ({ name: d.name, isDirectory: d.isDirectory(), isSymbolicLink: d.isSymbolicLink() })),
  kind: (path) => {
    try {
      return statSync(path).isDirectory() ? "dir" : "other";
    } catch {
      // A dangling link still is a name in its directory.
      try {
        lstatSync(path);
        return "other";
      } catch {
        return undefined;
      }
    }
  },
};

export interface ExpandOptions {
  /** Cap on visited directory entries (default MAX_VISITED). */
  maxVisited?: number;
}

/** A glob rule that cannot be expanded (too large a walk, beneath /proc...): one line for the user. */
export class GlobError extends UsageError {}

const UNLISTABLE = new Set(["EACCES", "ENOENT", "ENOTDIR", "ELOOP", "EPERM"]);

function join(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** The precedence of a rule among rules that expand to the same concrete path (paths.ts, 3-6). */
function tieRank(p: ParsedPattern, index: number): readonly number[] {
  return [p.literalPrefix, p.literals, -p.globstars, index];
}

/**
 * The rules with each glob replaced by the concrete paths it matches on the host now (each
 * keeping the rule's access; a subtree glob "P/**" becomes one "M/**" per match M of P), and
 * glob-free rules unchanged. Concrete paths are written as literal patterns (paths.ts
 * literalPattern). The result is ordered by the source rules' tie-breakers in paths.ts (literal
 * prefix, literal components, fewer "**", file order), so that of two rules for the same
 * concrete path the one that wins comes later: a mount plan that stably sorts by depth then
 * applies them in that order. Glob-free rules for the same path stay in file order.
 */
export function expandRules<R extends { readonly path: string }>(
  rules: readonly R[],
  fsAccess: FsAccess = nodeFs,
  options: ExpandOptions = {},
): R[] {
  const max = options.maxVisited ?? MAX_VISITED;
  let visited = 0;
  const expanded = rules.map((rule, index) => {
    const p = parsePathPattern(rule.path);
    const key = tieRank(p, index);
    if (!p.glob) return { key, out: [rule] };
    const within = [...SKIPPED].find((s) => p.base === s || p.base.startsWith(`${s}/`));
    if (within !== undefined) {
      throw new GlobError(
        `filesystem.rules[${index}] ${rule.path}: a glob cannot be expanded beneath ${within} (the sandbox has its own ${within}); name the paths literally`,
      );
    }
    const found = new Set<string>();
    // Several "**" can reach one directory at one step along different splits: walk it once.
    const seen = new Set<string>();
    const list = (dir: string): Entry[] => {
      let entries: Entry[];
      try {
        entries = fsAccess.readdir(dir);
      } catch (err) {
        if (UNLISTABLE.has((err as NodeJS.ErrnoException).code ?? "")) return [];
        throw err;
      }
      visited += entries.length;
      if (visited > max) {
        throw new GlobError(
          `filesystem.rules[${index}] ${rule.path}: expanding the glob visited more than ${max} directory entries; narrow the pattern (a longer literal prefix, fewer "**")`,
        );
      }
      return entries.filter((e) => !SKIPPED.has(join(dir, e.name))).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    };
    const walk = (dir: string, i: number): void => {
      const at = `${i}:${dir}`;
      if (seen.has(at)) return;
      seen.add(at);
      const seg: Segment | undefined = p.segments[i];
      if (seg === undefined) {
        found.add(dir);
        return;
      }
      const last = i === p.segments.length - 1;
      switch (seg.kind) {
        case "literal": {
          const child = join(dir, seg.text);
          if (SKIPPED.has(child)) return;
          const k = fsAccess.kind(child);
          if (k === undefined) return;
          if (last) found.add(child);
          else if (k === "dir") walk(child, i + 1);
          return;
        }
        case "glob":
          for (const e of list(dir)) {
            if (!seg.re.test(e.name)) continue;
            const child = join(dir, e.name);
            if (last) found.add(child);
            else if (e.isDirectory || (e.isSymbolicLink && fsAccess.kind(child) === "dir")) walk(child, i + 1);
          }
          return;
        case "globstar":
          walk(dir, i + 1);
          for (const e of list(dir)) if (e.isDirectory && !e.isSymbolicLink) walk(join(dir, e.name), i);
          return;
      }
    };
    if (fsAccess.kind(p.base) === "dir") walk(p.base, p.literalPrefix);
    const out = [...found].sort().map((m) => ({ ...rule, path: p.subtree ? `${m === "/" ? "" : literalPattern(m)}/**` : literalPattern(m) }));
    return { key, out };
  });
  const compare = (a: readonly number[], b: readonly number[]): number => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return 0;
  };
  return expanded.sort((a, b) => compare(a.key, b.key)).flatMap((e) => e.out);
}
