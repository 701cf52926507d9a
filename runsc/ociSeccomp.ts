// An OCI `linux.seccomp` profile from a file — a bundle's config.json or the profile alone,
// as Docker and podman write it — checked for the fields sentry/policy/oci.ts reads, with
// errors that name the file and the field.
import { readFileSync } from "node:fs";
import type { OciSeccomp } from "../sentry/policy/oci.js";
import { UsageError } from "./errors.js";
import { fieldPath, SeccompProfile } from "./oci/config.js";

/** Reads FILE: `.linux.seccomp` of a config.json, else the whole document as the profile. */
export function readOciSeccomp(file: string): OciSeccomp {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  const inConfig = typeof doc === "object" && doc !== null && "linux" in doc;
  const profile = inConfig ? (doc as { linux?: { seccomp?: unknown } }).linux?.seccomp : doc;
  if (profile === undefined) throw new UsageError(`${file}: linux.seccomp: missing (the config has no seccomp profile)`);
  const r = SeccompProfile.safeParse(profile);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = fieldPath([...(inConfig ? ["linux", "seccomp"] : []), ...issue.path]);
    throw new UsageError(`${file}: ${at}: ${issue.message}`);
  }
  return r.data as OciSeccomp;
}
