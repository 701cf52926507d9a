// The policy language's values without its schema: action parsing, argument values, path
// patterns, name checks with suggestions. Free of zod, so that code which only consumes a
// validated Policy (the compiler, the sentry) does not load the schema.
import { SYSCALLS_AMD64, sysnoByName } from "../../platform/abi/sysno_amd64.js";
import { CLONE_FLAGS } from "../../platform/abi/clone.js";
import { errnoByName, errnoName, LAST_ERRNO } from "../../platform/abi/errno.js";
import { OPEN_FLAGS, PATH_MAX } from "../../platform/abi/fcntl.js";
import { FAMILY_NAMES, SOCK_FLAGS, SOCK_TYPES } from "../../platform/abi/socket.js";
import { tryParsePathPattern } from "./paths.js";

/** Longest hostname sethostname(2) accepts (__NEW_UTS_LEN, include/uapi/linux/utsname.h). */
export const HOSTNAME_MAX = 64;

// ---------------------------------------------------------------------------------------------
// Suggestions

/** Edit distance (insertions, deletions, substitutions) between two strings. */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The candidate a mistyped word most likely meant: the closest one within edit distance 2
 * (case-insensitive), else the shortest candidate the word is a prefix of (3+ characters).
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  let prefix: string | undefined;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    const d = levenshtein(w, lc);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
    if (w.length >= 3 && lc.startsWith(w) && (prefix === undefined || c.length < prefix.length)) prefix = c;
  }
  if (best !== undefined && bestDistance <= 2 && bestDistance < w.length) return best;
  return prefix;
}

/** ` (did you mean "x"?)`, or "" when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const s = suggest(word, candidates);
  return s === undefined ? "" : ` (did you mean "${s}"?)`;
}

/** A value as a policy author wrote it, for messages: strings quoted, collections by kind. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return "a sequence";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// Names

export const SYSCALL_NAMES: readonly string[] = SYSCALLS_AMD64.map(([, name]) => name);

/** Canonical errno names, in number order (aliases such as EWOULDBLOCK are accepted but not listed). */
const ERRNO_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (let n = 1; n <= LAST_ERRNO; n++) {
    const name = errnoName(n);
    if (name !== undefined) names.push(name);
  }
  return names;
})();

/** Why `name` is not an x86_64 syscall name, or undefined when it is one. */
export function checkSyscallName(name: string): string | undefined {
  if (sysnoByName(name) !== undefined) return undefined;
  return `unknown syscall "${name}"${didYouMean(name, SYSCALL_NAMES)}`;
}

/** Why `name` is not an errno name, or undefined when it is one. */
export function checkErrnoName(name: string): string | undefined {
  if (errnoByName(name) !== undefined) return undefined;
  return `unknown errno name "${name}"${didYouMean(name, ERRNO_NAMES)}`;
}

// ---------------------------------------------------------------------------------------------
// Actions

/**
 * What happens to a syscall. In seccomp terms: allow = SECCOMP_RET_ALLOW, errno = the syscall
 * fails with that errno, kill = SECCOMP_RET_KILL_PROCESS, trap = to the sentry
 * (SECCOMP_RET_USER_NOTIF), log = allowed and logged (SECCOMP_RET_LOG).
 */
export type Action =
  | { kind: "allow" }
  | { kind: "kill" }
  | { kind: "trap" }
  | { kind: "log" }
  | { kind: "errno"; errno: number };

const ACTION_KEYWORDS = ["allow", "kill", "trap", "log"] as const;
const ACTION_FORMS = "allow, kill, trap, log or errno(NAME) such as errno(EPERM)";
const ERRNO_ACTION = /^errno\(([A-Za-z0-9_]+)\)$/;

/** Parses an action string, or says why it is not one. */
export function checkAction(text: string): { ok: true; action: Action } | { ok: false; message: string } {
  for (const k of ACTION_KEYWORDS) if (text === k) return { ok: true, action: { kind: k } };
  const m = ERRNO_ACTION.exec(text);
  if (m !== null) {
    const name = m[1] ?? "";
    const errno = errnoByName(name);
    if (errno === undefined) return { ok: false, message: checkErrnoName(name) ?? "" };
    return { ok: true, action: { kind: "errno", errno } };
  }
  return {
    ok: false,
    message: `expected an action: ${ACTION_FORMS}, got ${describeValue(text)}${didYouMean(text, ACTION_KEYWORDS)}`,
  };
}

/** parseAction("errno(EACCES)") → { kind: "errno", errno: 13 }; throws on anything the schema rejects. */
export function parseAction(text: string): Action {
  const r = checkAction(text);
  if (!r.ok) throw new Error(r.message);
  return r.action;
}

/** The written form of an action (the inverse of parseAction, canonical errno names). */
export function formatAction(action: Action): string {
  if (action.kind !== "errno") return action.kind;
  return `errno(${errnoName(action.errno) ?? String(action.errno)})`;
}

// ---------------------------------------------------------------------------------------------
// Paths

/**
 * Why `text` is not a path pattern of this version of the language, or undefined when it is
 * one: an absolute path whose components may be globs ("*", "?", "[a-z]", "**" as a whole
 * component); a trailing "/**" means the path and everything beneath it (paths.ts).
 */
export function checkPathPattern(text: string): string | undefined {
  if (!text.startsWith("/")) return `expected an absolute path starting with "/", got ${describeValue(text)}`;
  if (text.includes("\0")) return "a path must not contain a NUL byte";
  if (text.length > PATH_MAX) return `a path must be at most ${PATH_MAX} characters`;
  if (text.split("/").some((c) => c === "." || c === "..")) {
    return `a path must not contain "." or ".." components, got ${describeValue(text)}`;
  }
  const parsed = tryParsePathPattern(text);
  return parsed.ok ? undefined : parsed.message;
}

/** An argument value as the 64-bit unsigned register contents it compares against. */
export function argValue(v: number | string): bigint {
  if (typeof v === "string" && !v.startsWith("0x")) {
    let out = 0n;
    for (const part of v.split("|")) {
      const c = ARG_CONSTANTS.get(part.trim());
      if (c === undefined) throw new Error(checkArgConstant(v) ?? `unknown constant ${v}`);
      out |= c;
    }
    return out;
  }
  return BigInt.asUintN(64, BigInt(v));
}

/**
 * Names a rule's argument value may use instead of a number (from platform/abi): address
 * families (AF_UNIX), socket types and flags (SOCK_STREAM, SOCK_CLOEXEC), clone flags
 * (CLONE_NEWUSER), open flags (O_CREAT); joined with "|" for a combination.
 */
export const ARG_CONSTANTS: ReadonlyMap<string, bigint> = new Map<string, bigint>([
  ...FAMILY_NAMES.flatMap((name, n): [string, bigint][] => (name ? [[name, BigInt(n)]] : [])),
  ["AF_LOCAL", 1n],
  ...[...SOCK_TYPES, ...SOCK_FLAGS, ...CLONE_FLAGS, ...OPEN_FLAGS].map(([name, n]): [string, bigint] => [name, BigInt(n)]),
]);

/** Why text is not a symbolic argument value ("AF_UNIX", "CLONE_NEWUSER|CLONE_NEWNET"), or undefined. */
export function checkArgConstant(text: string): string | undefined {
  for (const part of text.split("|").map((p) => p.trim())) {
    if (!ARG_CONSTANTS.has(part)) return `unknown constant "${part}"${didYouMean(part, ARG_CONSTANTS.keys())}`;
  }
  return undefined;
}

/** RFC 1123 host names: dot-separated labels of letters, digits and "-", no "-" at either end. */
export const HOSTNAME_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Why text is not a hostname sethostname(2) takes, or undefined when it is one. */
export function checkHostname(text: string): string | undefined {
  if (text.length > HOSTNAME_MAX) return `a hostname is at most ${HOSTNAME_MAX} characters`;
  if (!HOSTNAME_PATTERN.test(text)) {
    return `expected a hostname (dot-separated labels of letters, digits and "-", not starting or ending with "-"), got ${describeValue(text)}`;
  }
  return undefined;
}
