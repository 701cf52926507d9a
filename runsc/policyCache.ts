// Policies as the commands load them: validated once per content, then read back from a
// root-only cache, so that a run with an unchanged policy loads neither the YAML parser nor
// the schema. An entry is keyed by the policy's text and the schema it was validated
// against, and records every file it was built from (`extends`), each checked on use. The
// cache holds at most MAX_CACHED entries: a new one pushes out those used least recently
// (a use touches its entry), so that policies written once (a test's, a pod's) do not pile up
// in /run, which is memory.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPoliciesDir, readPolicyText, resolvePolicyPath } from "../sentry/policy/files.js";
import type { Policy } from "../sentry/policy/schema.js";
import { ensurePrivateDir, POLICY_CACHE_DIR } from "./runtimeDir.js";

interface Entry {
  /** The files the policy was built from after the first, with the hash of each text. */
  extended: { path: string; sha256: string }[];
  policy: Policy;
}

/** The most entries the cache keeps. */
export const MAX_CACHED = 64;

/** How old a partly written entry (a writer that died before its rename) must be to be removed. */
const STALE_PART_MS = 60_000;

/**
 * Removes from dir all but the `keep` entries used most recently (by modification time), and
 * the parts of entries whose writer died. Entries another process removes meanwhile are skipped.
 */
export function pruneCache(dir: string, keep: number): void {
  const now = Date.now();
  const entries: { path: string; used: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      const used = statSync(path).mtimeMs;
      if (name.endsWith(".json")) entries.push({ path, used });
      else if (now - used > STALE_PART_MS) unlinkSync(path);
    } catch {
      // removed meanwhile
    }
  }
  if (entries.length <= keep) return;
  entries.sort((a, b) => b.used - a.used);
  for (const e of entries.slice(keep)) {
    try {
      unlinkSync(e.path);
    } catch {
      // removed meanwhile
    }
  }
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

function stillValid(e: Entry): boolean {
  try {
    return e.extended.every((f) => sha256(readFileSync(f.path, "utf8")) === f.sha256);
  } catch {
    return false;
  }
}

/** Marks an entry used now: the least recently used go first. */
function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // removed meanwhile: it is written again on the next miss
  }
}

/** Loads a policy by name or path; throws PolicyError like the loader. */
/** Each loaded policy's cache key: its files' and the schema's digest (loadPolicy). */
const keys = new WeakMap<Policy, string>();

/**
 * What identifies a policy loadPolicy returned: equal keys, equal policies (and equal
 * compilations: planDo keeps them by it). Undefined for a policy made otherwise.
 */
export function policyKey(policy: Policy): string | undefined {
  return keys.get(policy);
}

export async function loadPolicy(nameOrPath: string): Promise<Policy> {
  const { policy, key } = await loadKeyed(nameOrPath);
  if (key !== undefined) keys.set(policy, key);
  return policy;
}

/** The policy, and its key (the digest of the schema, its path and text, and the hashes of the files it extends) when it has one. */
async function loadKeyed(nameOrPath: string): Promise<{ policy: Policy; key?: string }> {
  const dir = defaultPoliciesDir();
  const path = resolvePolicyPath(nameOrPath, dir);
  const text = readPolicyText(path);
  let schema = "";
  try {
    schema = readFileSync(join(dir, "schema.json"), "utf8");
  } catch {
    // no schema to key on: do not use the cache
  }
  const key = createHash("sha256").update(schema).update("\0").update(path).update("\0").update(text).digest("hex");
  const file = join(POLICY_CACHE_DIR, `${key}.json`);
  if (schema !== "") {
    try {
      const e = JSON.parse(readFileSync(file, "utf8")) as Entry;
      if (stillValid(e)) {
        touch(file);
        return { policy: e.policy, key: [key, ...e.extended.map((x) => x.sha256)].join(":") };
      }
    } catch {
      // not cached yet
    }
  }
  const { parsePolicyWithSources } = await import("../sentry/policy/load.js");
  const { policy, files } = parsePolicyWithSources(text, path);
  const extended = files.slice(1).map((f) => ({ path: f.path, sha256: sha256(f.text) }));
  if (schema !== "") {
    try {
      ensurePrivateDir(POLICY_CACHE_DIR);
      const entry: Entry = { extended, policy };
      const tmp = `${file}.${process.pid}`;
      writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600 });
      renameSync(tmp, file);
      pruneCache(POLICY_CACHE_DIR, MAX_CACHED);
    } catch {
      // a cache we cannot write only costs time
    }
  }
  return schema === "" ? { policy } : { policy, key: [key, ...extended.map((x) => x.sha256)].join(":") };
}
