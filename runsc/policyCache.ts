// Policies as the commands load them: validated once per content, then read back from a
// root-only cache, so that a run with an unchanged policy loads neither the YAML parser nor
// the schema. The cache key covers the policy text and the schema it was validated against.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPoliciesDir, readPolicyText, resolvePolicyPath } from "../sentry/policy/files.js";
import type { Policy } from "../sentry/policy/schema.js";
import { RUNTIME_ROOT } from "./sandbox/maskFile.js";

const CACHE_DIR = join(RUNTIME_ROOT, "policies");

/** Loads a policy by name or path; throws PolicyError like the loader. */
export async function loadPolicy(nameOrPath: string): Promise<Policy> {
  const dir = defaultPoliciesDir();
  const path = resolvePolicyPath(nameOrPath, dir);
  const text = readPolicyText(path);
  let schema = "";
  try {
    schema = readFileSync(join(dir, "schema.json"), "utf8");
  } catch {
    // no schema to key on: do not use the cache
  }
  const key = createHash("sha256").update(schema).update("\0").update(text).digest("hex");
  const file = join(CACHE_DIR, `${key}.json`);
  if (schema !== "") {
    try {
      return JSON.parse(readFileSync(file, "utf8")) as Policy;
    } catch {
      // not cached yet
    }
  }
  const { parsePolicy } = await import("../sentry/policy/load.js");
  const policy = parsePolicy(text, path);
  if (schema !== "") {
    try {
      mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}`;
      writeFileSync(tmp, JSON.stringify(policy), { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      // a cache we cannot write only costs time
    }
  }
  return policy;
}
