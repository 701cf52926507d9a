// Policy files without the policy language: where they are, reading them, and the error
// that names file, line, column and field. Light enough for every command to import.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A policy file larger than this is refused before parsing. */
const MAX_POLICY_BYTES = 1 << 20;

/** One problem in a policy file. line and col are 1-based; both are absent when no position applies. */
export interface PolicyIssue {
  readonly file: string;
  readonly line?: number;
  readonly col?: number;
  /** The field, in dots and [i] (`filesystem.rules[2].access`); "" for the file or document as a whole. */
  readonly path: string;
  readonly message: string;
}

/** `FILE:LINE:COL FIELD.PATH: MESSAGE`, leaving out the parts an issue does not have. */
export function formatIssue(issue: PolicyIssue): string {
  const where = issue.line === undefined ? `${issue.file}:` : `${issue.file}:${issue.line}:${issue.col ?? 1}`;
  return issue.path === "" ? `${where} ${issue.message}` : `${where} ${issue.path}: ${issue.message}`;
}

/** A policy that cannot be read or is not valid; `.message` has one formatted line per issue. */
export class PolicyError extends Error {
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "PolicyError";
    this.issues = issues;
  }
}

/** A policy file's text. Throws PolicyError when it cannot be read. */
export function readPolicyText(path: string): string {
  try {
    // Refuse what is not a regular file before opening it: a FIFO would block the read.
    const st = statSync(path);
    if (!st.isFile()) throw new Error(`${st.isDirectory() ? "EISDIR: is a directory" : "not a regular file"}, '${path}'`);
    if (st.size > MAX_POLICY_BYTES) throw new Error(`larger than ${MAX_POLICY_BYTES} bytes`);
    return readFileSync(path, "utf8");
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new PolicyError([{ file: path, path: "", message: `cannot read policy: ${message}` }]);
  }
}

/**
 * A policy argument as a file path: a bare name ("default", "strict") is `<policiesDir>/<name>.yaml`;
 * anything containing "/" or ending in .yaml/.yml is a path and is returned as given.
 */
export function resolvePolicyPath(nameOrPath: string, policiesDir: string): string {
  if (nameOrPath.includes("/") || nameOrPath.endsWith(".yaml") || nameOrPath.endsWith(".yml")) return nameOrPath;
  return join(policiesDir, `${nameOrPath}.yaml`);
}

/**
 * The repository's (or installed package's) policies/ folder. Found by walking up from this
 * module, which runs both from source (sentry/policy/) and compiled (dist/sentry/policy/).
 */
export function defaultPoliciesDir(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, "policies");
    if (existsSync(join(candidate, "default.yaml"))) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`cannot find policies/default.yaml in ${start} or any directory above it`);
}
