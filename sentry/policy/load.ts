// Loads policy YAML: parses with source positions, validates against the schema, reports every issue as FILE:LINE:COL.

import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document } from "yaml";
import type { z } from "zod";
import { dirname, resolve } from "node:path";
import { defaultPoliciesDir, PolicyError, readPolicyText, resolvePolicyPath, type PolicyIssue } from "./files.js";
import { PolicySchema, type Policy } from "./schema.js";
import { knownKeysAt, policyErrorMap, unknownKeyMessage } from "./schemaErrors.js";

export { defaultPoliciesDir, formatIssue, PolicyError, readPolicyText, resolvePolicyPath } from "./files.js";
export type { PolicyIssue } from "./files.js";


/** `filesystem.rules[2].access` from ["filesystem", "rules", 2, "access"]. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = String(seg);
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) out += out === "" ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

type YamlDoc = Document.Parsed;

/** Where in the source a field is: its value, or (for unknown and duplicate keys) its key. */
class SourceMap {
  /** Offsets where each line starts, from the text itself (yaml's LineCounter misses the
   * newlines inside values the parser rejected). */
  private readonly lineStarts: number[] = [0];

  constructor(
    private readonly doc: YamlDoc,
    text: string,
  ) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.lineStarts[lo]! + 1 };
  }

  /**
   * The offset of the node at `path`, or of its key when `key` is set. A path that does not
   * exist in the source (a missing key) resolves to the nearest enclosing node that does.
   */
  offsetOf(path: readonly PropertyKey[], key = false): number {
    let node: unknown = this.doc.contents;
    let offset = startOf(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      if (isAlias(node)) node = node.resolve(this.doc);
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pairs = node.items.filter((p) => keyString(p.key) === String(seg));
        const pair = pairs[pairs.length - 1]; // the last of duplicate keys is the one that counts
        if (pair === undefined) return offset;
        const keyOffset = startOf(pair.key) ?? offset;
        if (last && key) return keyOffset;
        // An empty value ("key:" and nothing after) has no place of its own: point at the key.
        node = pair.value;
        offset = isEmptyScalar(node) ? keyOffset : (startOf(node) ?? keyOffset);
      } else if (isSeq(node) && typeof seg === "number") {
        const item: unknown = node.items[seg];
        if (item === undefined) return offset;
        node = item;
        offset = startOf(node) ?? offset;
      } else {
        return offset;
      }
    }
    return offset;
  }
}

function startOf(node: unknown): number | undefined {
  if (node !== null && typeof node === "object" && "range" in node) {
    const range = (node as { range?: readonly number[] | null }).range;
    return range?.[0] ?? undefined;
  }
  return undefined;
}

/** YAML 1.2 core schema tags, which resolve to what a policy holds. */
const CORE_TAGS = new Set(["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`));

function foreignTags(node: unknown, path: PropertyKey[]): { path: PropertyKey[]; offset: number; tag: string }[] {
  const out: { path: PropertyKey[]; offset: number; tag: string }[] = [];
  const tag = node !== null && typeof node === "object" ? (node as { tag?: string }).tag : undefined;
  if (tag !== undefined && !CORE_TAGS.has(tag)) {
    out.push({ path, offset: startOf(node) ?? 0, tag: tag.replace("tag:yaml.org,2002:", "!!") });
    return out;
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = keyString(pair.key);
      out.push(...foreignTags(pair.key, path), ...foreignTags(pair.value, k === undefined ? path : [...path, k]));
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => out.push(...foreignTags(item, [...path, i])));
  }
  return out;
}

function keyString(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined;
}

function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1];
}

/**
 * Keys the schema cannot judge: duplicates (the parser is told to allow them so this can say
 * where) and keys that are not plain scalars (`? [a, b]`, `*alias`).
 */
function keyProblems(doc: YamlDoc): { path: PropertyKey[]; offset: number; message: string; fatal: boolean }[] {
  const found: { path: PropertyKey[]; offset: number; message: string; fatal: boolean }[] = [];
  const walk = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const k = keyString(pair.key);
        const offset = startOf(pair.key) ?? startOf(node) ?? 0;
        if (k === undefined) {
          found.push({ path, offset, message: "a key must be a plain string", fatal: true });
          continue;
        }
        if (seen.has(k)) found.push({ path: [...path, k], offset, message: `duplicate key ${JSON.stringify(k)}`, fatal: false });
        seen.add(k);
        walk(pair.value, [...path, k]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  walk(doc.contents, []);
  return found;
}

/** Values the schema accepts that this version cannot run yet; reported as errors by the loader. */
function unimplemented(data: unknown): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  void data;
  return out;
}

function zodIssues(issues: readonly z.core.$ZodIssue[]): { path: PropertyKey[]; key: boolean; message: string }[] {
  const out: { path: PropertyKey[]; key: boolean; message: string }[] = [];
  for (const iss of issues) {
    if (iss.code === "unrecognized_keys") {
      const known = knownKeysAt(iss.path);
      for (const k of iss.keys) out.push({ path: [...iss.path, k], key: true, message: unknownKeyMessage(k, known) });
    } else if (iss.message === "missing required key" && iss.path.length > 0) {
      out.push({ path: iss.path, key: false, message: `missing required key "${String(iss.path.at(-1))}"` });
    } else {
      out.push({ path: iss.path, key: false, message: iss.message });
    }
  }
  return out;
}

function yamlMessage(code: string, message: string, text: string, offset: number): string {
  if (code === "MULTIPLE_DOCS") return "invalid YAML: a policy file holds exactly one document";
  // The lexer also reports tokens of its own making (such as the end of an unclosed flow
  // collection): quote a token only when it is the source's text at that place.
  const m = /^Unexpected ([\w-]+) token in YAML stream: (".*")$/.exec(message);
  if (m !== null) {
    let token: string | undefined;
    try {
      token = JSON.parse(m[2]!) as string;
    } catch {
      token = undefined;
    }
    if (token === undefined || text.slice(offset, offset + token.length) !== token) return `invalid YAML: unexpected ${m[1]}`;
  }
  return `invalid YAML: ${message}`;
}

/**
 * Parses and validates policy YAML, with what it `extends` (resolved from fileName's
 * directory, or a name in the policies folder). Throws PolicyError.
 */
export function parsePolicy(text: string, fileName: string): Policy {
  return parseWithSource(text, fileName).policy;
}

/** A policy and every file it was built from (itself first), for caches keyed by content. */
export function parsePolicyWithSources(text: string, fileName: string): { policy: Policy; files: { path: string; text: string }[] } {
  const r = parseWithSource(text, fileName);
  return { policy: r.policy, files: r.files };
}

/** How deep `extends` may chain. */
const MAX_EXTENDS = 8;

/** One file of an `extends` chain: its own text's source map and values, and the result. */
interface SourceNode {
  file: string;
  src: SourceMap;
  own: Record<string, unknown>;
  merged: Record<string, unknown>;
  parent: SourceNode | undefined;
}

function parseWithSource(
  text: string,
  fileName: string,
  chain: readonly string[] = [],
): { policy: Policy; src: SourceMap; raw: Record<string, unknown>; files: { path: string; text: string }[]; node: SourceNode } {
  const own = parseOne(text, fileName);
  const files = [{ path: fileName, text }];
  const parentRef = own.raw.extends;
  if (typeof parentRef !== "string") {
    return { ...own, files, node: { file: fileName, src: own.src, own: own.raw, merged: own.raw, parent: undefined } };
  }
  const at = (message: string): never => {
    throw new PolicyError([{ file: fileName, ...own.src.position(own.src.offsetOf(["extends"])), path: "extends", message }]);
  };
  const parentPath = parentRef.includes("/") || parentRef.endsWith(".yaml") || parentRef.endsWith(".yml")
    ? resolve(dirname(fileName), parentRef)
    : resolvePolicyPath(parentRef, defaultPoliciesDir());
  const seen = [...chain, resolve(fileName)];
  if (seen.includes(resolve(parentPath))) at(`extends makes a cycle: ${[...seen, resolve(parentPath)].join(" -> ")}`);
  if (seen.length >= MAX_EXTENDS) at(`extends chains more than ${MAX_EXTENDS} policies`);
  let parentText: string;
  try {
    parentText = readPolicyText(parentPath);
  } catch (err) {
    return at(err instanceof PolicyError ? (err.issues[0]?.message ?? err.message) : String(err));
  }
  const parent = parseWithSource(parentText, parentPath, seen);
  const merged = mergePolicies(parent.raw, own.raw);
  const result = PolicySchema.safeParse(merged, { error: policyErrorMap });
  if (!result.success) at(`merged with ${parentPath}: ${result.error.issues.map((i) => i.message).join("; ")}`);
  const node: SourceNode = { file: fileName, src: own.src, own: own.raw, merged, parent: parent.node };
  return { policy: result.data as Policy, src: own.src, raw: merged, files: [...files, ...parent.files], node };
}

function get(obj: unknown, path: readonly PropertyKey[]): unknown {
  let v = obj;
  for (const seg of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

const listOf = (obj: unknown, path: readonly PropertyKey[]): unknown[] => {
  const v = get(obj, path);
  return Array.isArray(v) ? v : [];
};

/**
 * "FILE:LINE" of a field of the merged policy, in the file it came from (mergePolicies'
 * rules, in reverse): the child's own values, else its parent's, recursively.
 */
function locateIn(node: SourceNode, path: readonly PropertyKey[]): string {
  const here = (p: readonly PropertyKey[]): string => `${node.file}:${node.src.position(node.src.offsetOf(p)).line}`;
  const parent = node.parent;
  if (parent === undefined) return here(path);
  const [a, b, c] = path;
  const rest = path.slice(3);
  if (a === "syscalls" && b === "rules" && typeof c === "number") {
    const n = listOf(node.own, ["syscalls", "rules"]).length;
    return c < n ? here(path) : locateIn(parent, ["syscalls", "rules", c - n, ...rest]);
  }
  if (a === "filesystem" && b === "rules" && typeof c === "number") {
    const n = listOf(parent.merged, ["filesystem", "rules"]).length;
    return c < n ? locateIn(parent, path) : here(["filesystem", "rules", c - n, ...rest]);
  }
  if (a === "syscalls" && (b === "allow" || b === "deny") && typeof c === "number") {
    const name = listOf(node.merged, ["syscalls", b])[c];
    const mine = listOf(node.own, ["syscalls", b]).indexOf(name);
    if (mine >= 0) return here(["syscalls", b, mine]);
    return locateIn(parent, ["syscalls", b, listOf(parent.merged, ["syscalls", b]).indexOf(name)]);
  }
  // A value the child sets is the child's; anything else comes from the parent.
  for (let i = path.length; i > 0; i--) {
    if (get(node.own, path.slice(0, i)) !== undefined) return here(path);
  }
  return locateIn(parent, path);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * child extends parent (policies/README.md, "extends"): a value the child sets replaces the
 * parent's; syscalls.allow and syscalls.deny are unions in which the child's word on a name
 * wins; the child's syscalls.rules come before the parent's (first match wins); the child's
 * filesystem.rules come after the parent's (for the same path the later rule wins); a
 * child's process.exec.allow replaces the parent's.
 */
export function mergePolicies(parent: Record<string, unknown>, child: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...parent };
  for (const [key, value] of Object.entries(child)) {
    if (key === "extends") continue;
    const before = out[key];
    if (key === "syscalls" && isRecord(before) && isRecord(value)) {
      const s: Record<string, unknown> = { ...before, ...value };
      const list = (r: Record<string, unknown>, k: string): string[] => (Array.isArray(r[k]) ? (r[k] as string[]) : []);
      const allow = list(value, "allow");
      const deny = list(value, "deny");
      s.allow = [...new Set([...list(before, "allow").filter((n) => !deny.includes(n)), ...allow])];
      s.deny = [...new Set([...list(before, "deny").filter((n) => !allow.includes(n)), ...deny])];
      s.rules = [...(Array.isArray(value.rules) ? value.rules : []), ...(Array.isArray(before.rules) ? before.rules : [])];
      out[key] = s;
    } else if (key === "filesystem" && isRecord(before) && isRecord(value)) {
      const f: Record<string, unknown> = { ...before, ...value };
      f.rules = [...(Array.isArray(before.rules) ? before.rules : []), ...(Array.isArray(value.rules) ? value.rules : [])];
      f.files = [...(Array.isArray(before.files) ? before.files : []), ...(Array.isArray(value.files) ? value.files : [])];
      out[key] = f;
    } else if (isRecord(before) && isRecord(value)) {
      out[key] = { ...before, ...value };
    } else {
      out[key] = value;
    }
  }
  delete out.extends;
  return out;
}

/** Flow collections nested deeper than this are refused before parsing. */
const MAX_NESTING = 64;
/** Block content starting further right than this (indentation and "- " markers) is refused. */
const MAX_INDENT = 256;

/**
 * The offset where "[" / "{" nesting first goes deeper than MAX_NESTING, or undefined. The
 * YAML parser recurses per level; a small hostile file must not exhaust the stack (V8 can
 * even abort the process then). Quoted strings and comments are skipped.
 */
function nestingTooDeep(text: string): number | undefined {
  // Block nesting: indentation, and "- "/"? " markers before a line's content.
  let lineStart = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && text[i] !== "\n") continue;
    const line = text.slice(lineStart, i);
    const content = line.search(/[^ \t\-?]|[-?](?![ \t])/);
    if ((content < 0 ? line.length : content) > MAX_INDENT) return lineStart;
    lineStart = i + 1;
  }
  let depth = 0;
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== "") {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = "";
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl;
    } else if (c === "[" || c === "{") {
      if (++depth > MAX_NESTING) return i;
    } else if ((c === "]" || c === "}") && depth > 0) depth--;
  }
  return undefined;
}

function parseOne(text: string, fileName: string): { policy: Policy; src: SourceMap; raw: Record<string, unknown> } {
  const tooDeep = nestingTooDeep(text);
  if (tooDeep !== undefined) {
    const at = new SourceMap(parseDocument(""), text).position(tooDeep);
    throw new PolicyError([{ file: fileName, ...at, path: "", message: `nesting deeper than ${MAX_NESTING} levels: not a policy` }]);
  }
  // YAML 1.1's !!omap, !!set, !!timestamp, !!binary... stay unresolved (a positioned
  // warning): their values are not what a policy's fields hold.
  const doc = parseDocument(text, { keepSourceTokens: true, prettyErrors: false, uniqueKeys: false, resolveKnownTags: false });
  const src = new SourceMap(doc, text);
  const issues: PolicyIssue[] = [];
  const add = (offset: number, path: readonly PropertyKey[], message: string): void => {
    issues.push({ file: fileName, ...src.position(offset), path: formatFieldPath(path), message });
  };
  const fail = (): never => {
    const sorted = issues
      .map((issue, i) => ({ issue, i }))
      .sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || (a.issue.col ?? 0) - (b.issue.col ?? 0) || a.i - b.i)
      .map(({ issue }) => issue);
    throw new PolicyError(sorted);
  };

  for (const e of doc.errors) add(e.pos[0], [], yamlMessage(e.code, e.message, text, e.pos[0]));
  // An unresolved tag is reported below, at its field.
  for (const e of doc.warnings) {
    if (e.code !== "TAG_RESOLVE_FAILED") add(e.pos[0], [], yamlMessage(e.code, e.message, text, e.pos[0]));
  }
  if (doc.errors.length > 0) fail();
  // A tag the policy language has no use for (!!omap, !!set, !!timestamp, !!binary, or
  // one of the writer's own) is refused at the field it is on.
  const tagged = foreignTags(doc.contents, []);
  for (const t of tagged) {
    // At the tag itself (the node's own range starts after it, maybe lines below).
    const bang = text.lastIndexOf("!", Math.max(0, t.offset - 1));
    add(bang >= 0 ? bang : t.offset, t.path, `the YAML tag ${t.tag} is not allowed in a policy`);
  }
  if (tagged.length > 0) fail();

  if (doc.contents === null || isEmptyScalar(doc.contents)) {
    add(0, [], "the policy is empty: expected a mapping with apiVersion, kind and name");
    fail();
  }
  if (!isMap(doc.contents)) {
    const what = isSeq(doc.contents) ? "a sequence" : "a scalar";
    add(startOf(doc.contents) ?? 0, [], `the policy must be a mapping of keys such as apiVersion, kind and name, got ${what}`);
    fail();
  }

  const keys = keyProblems(doc);
  for (const k of keys) add(k.offset, k.path, k.message);
  if (keys.some((k) => k.fatal)) fail();

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    add(0, [], `invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
    fail();
  }

  const result = PolicySchema.safeParse(data, { error: policyErrorMap });
  if (!result.success) {
    for (const i of zodIssues(result.error.issues)) add(src.offsetOf(i.path, i.key), i.path, i.message);
  }
  for (const u of unimplemented(data)) add(src.offsetOf(u.path), u.path, u.message);

  if (issues.length > 0 || !result.success) fail();
  return { policy: result.data as Policy, src, raw: data as Record<string, unknown> };
}

/** Where a field of a policy file is: "FILE:LINE". */
export type Locate = (path: readonly PropertyKey[]) => string;

/** Reads and validates a policy file, with a way to name the line of any of its fields. */
export function loadPolicyWithSource(path: string): { policy: Policy; locate: Locate } {
  const { policy, node } = parseWithSource(readPolicyText(path), path);
  return { policy, locate: (field) => locateIn(node, field) };
}

/** Reads and validates a policy file. Throws PolicyError, also when the file cannot be read. */
export function loadPolicyFile(path: string): Policy {
  return parsePolicy(readPolicyText(path), path);
}
