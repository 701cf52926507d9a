// An OCI `linux.seccomp` profile from a file — a bundle's config.json or the profile alone,
// as Docker and podman write it — checked for the fields sentry/policy/oci.ts reads, with
// errors that name the file and the field.
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { OciSeccomp } from "../sentry/policy/oci.js";
import { UsageError } from "./errors.js";

const Int = z.union([z.number().int(), z.bigint()]);

const Profile = z.looseObject({
  defaultAction: z.string(),
  defaultErrnoRet: z.number().int().min(0).max(4095).optional(),
  architectures: z.array(z.string()).optional(),
  syscalls: z
    .array(
      z.looseObject({
        names: z.array(z.string()).min(1),
        action: z.string(),
        errnoRet: z.number().int().min(0).max(4095).optional(),
        args: z.array(z.looseObject({ index: z.number().int().min(0).max(5), value: Int, valueTwo: Int.optional(), op: z.string() })).optional(),
      }),
    )
    .optional(),
});

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

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
  const r = Profile.safeParse(profile);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = fieldPath([...(inConfig ? ["linux", "seccomp"] : []), ...issue.path]);
    throw new UsageError(`${file}: ${at}: ${issue.message}`);
  }
  return r.data as OciSeccomp;
}
