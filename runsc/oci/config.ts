// A bundle's config.json (OCI runtime spec, config.md and config-linux.md), checked with zod:
// every field runsc-ts reads has its type, and a mismatch is an error naming the file and
// the field path (`config.json: mounts[2].destination: expected an absolute path, got
// "proc"`). Properties runsc-ts does not know are ignored, as the spec requires of runtimes.
import { z } from "zod";
import type { OciSeccomp } from "../../sentry/policy/oci.js";
import { OciConfigError } from "./errors.js";

export { OciConfigError };

const Uint32 = z.number().int().min(0).max(0xffffffff);
const Int64 = z.union([z.number().int(), z.bigint()]);

const AbsolutePath = z.string().refine((p) => p.startsWith("/"), { error: (iss) => `expected an absolute path, got ${JSON.stringify(iss.input)}` });

/** The seccomp profile (config-linux.md "Seccomp"), as sentry/policy/oci.ts reads it. */
export const SeccompProfile = z.looseObject({
  defaultAction: z.string(),
  defaultErrnoRet: z.number().int().min(0).max(4095).optional(),
  architectures: z.array(z.string()).optional(),
  flags: z.array(z.string()).optional(),
  syscalls: z
    .array(
      z.looseObject({
        names: z.array(z.string()).min(1),
        action: z.string(),
        errnoRet: z.number().int().min(0).max(4095).optional(),
        args: z.array(z.looseObject({ index: z.number().int().min(0).max(5), value: Int64, valueTwo: Int64.optional(), op: z.string() })).optional(),
      }),
    )
    .optional(),
});

const Mount = z.looseObject({
  destination: AbsolutePath,
  type: z.string().optional(),
  source: z.string().optional(),
  options: z.array(z.string()).optional(),
  uidMappings: z.array(z.looseObject({ containerID: Uint32, hostID: Uint32, size: Uint32 })).optional(),
  gidMappings: z.array(z.looseObject({ containerID: Uint32, hostID: Uint32, size: Uint32 })).optional(),
});

const IdMapping = z.looseObject({ containerID: Uint32, hostID: Uint32, size: Uint32 });

const CAPABILITY = /^CAP_[A-Z_]+$/;
const Capabilities = z.array(z.string().regex(CAPABILITY, { error: (iss) => `expected a capability like CAP_CHOWN, got ${JSON.stringify(iss.input)}` }));

const Process = z.looseObject({
  terminal: z.boolean().optional(),
  consoleSize: z.looseObject({ height: Uint32, width: Uint32 }).optional(),
  user: z.looseObject({
    uid: Uint32,
    gid: Uint32,
    umask: Uint32.optional(),
    additionalGids: z.array(Uint32).optional(),
  }),
  args: z.array(z.string()).min(1, { error: "expected at least the program to run" }),
  env: z.array(z.string().refine((e) => e.includes("="), { error: (iss) => `expected KEY=VALUE, got ${JSON.stringify(iss.input)}` })).optional(),
  cwd: AbsolutePath,
  capabilities: z
    .looseObject({
      bounding: Capabilities.optional(),
      effective: Capabilities.optional(),
      inheritable: Capabilities.optional(),
      permitted: Capabilities.optional(),
      ambient: Capabilities.optional(),
    })
    .optional(),
  rlimits: z.array(z.looseObject({ type: z.string().regex(/^RLIMIT_[A-Z]+$/), soft: Int64, hard: Int64 })).optional(),
  noNewPrivileges: z.boolean().optional(),
  oomScoreAdj: z.number().int().min(-1000).max(1000).optional(),
  apparmorProfile: z.string().optional(),
  selinuxLabel: z.string().optional(),
});

/** A process alone (exec --process). */
export const OciProcessSchema = Process;

export const NAMESPACE_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"] as const;

const Resources = z.looseObject({
  memory: z.looseObject({ limit: Int64.optional(), reservation: Int64.optional(), swap: Int64.optional(), kernel: Int64.optional(), swappiness: Int64.optional(), disableOOMKiller: z.boolean().optional() }).optional(),
  cpu: z.looseObject({ shares: Int64.optional(), quota: Int64.optional(), period: Int64.optional(), cpus: z.string().optional(), mems: z.string().optional() }).optional(),
  pids: z.looseObject({ limit: Int64 }).optional(),
  blockIO: z.looseObject({ weight: z.number().int().optional() }).optional(),
  devices: z.array(z.looseObject({ allow: z.boolean(), type: z.string().optional(), major: Int64.optional(), minor: Int64.optional(), access: z.string().optional() })).optional(),
});

/** linux.resources alone (update --resources). */
export const OciResourcesSchema = Resources;

const Hook = z.looseObject({ path: AbsolutePath, args: z.array(z.string()).optional(), env: z.array(z.string()).optional(), timeout: z.number().int().min(1).optional() });
const Hooks = z.looseObject({
  prestart: z.array(Hook).optional(),
  createRuntime: z.array(Hook).optional(),
  createContainer: z.array(Hook).optional(),
  startContainer: z.array(Hook).optional(),
  poststart: z.array(Hook).optional(),
  poststop: z.array(Hook).optional(),
});

const Linux = z.looseObject({
  namespaces: z.array(z.looseObject({ type: z.enum(NAMESPACE_TYPES), path: AbsolutePath.optional() })).optional(),
  uidMappings: z.array(IdMapping).optional(),
  gidMappings: z.array(IdMapping).optional(),
  devices: z
    .array(
      z.looseObject({
        type: z.enum(["c", "b", "u", "p"]),
        path: AbsolutePath,
        major: Int64.optional(),
        minor: Int64.optional(),
        fileMode: Uint32.optional(),
        uid: Uint32.optional(),
        gid: Uint32.optional(),
      }),
    )
    .optional(),
  cgroupsPath: z.string().optional(),
  resources: Resources.optional(),
  sysctl: z.record(z.string(), z.string()).optional(),
  seccomp: SeccompProfile.optional(),
  rootfsPropagation: z.enum(["private", "shared", "slave", "unbindable", "rprivate", "rshared", "rslave", "runbindable"]).optional(),
  maskedPaths: z.array(AbsolutePath).optional(),
  readonlyPaths: z.array(AbsolutePath).optional(),
  mountLabel: z.string().optional(),
});

export const OciConfig = z.looseObject({
  ociVersion: z.string().regex(/^1\.\d+\.\d+/, { error: (iss) => `expected a 1.x.y version, got ${JSON.stringify(iss.input)}` }),
  root: z.looseObject({ path: z.string().min(1), readonly: z.boolean().optional() }),
  mounts: z.array(Mount).optional(),
  process: Process.optional(),
  hostname: z.string().optional(),
  domainname: z.string().optional(),
  hooks: Hooks.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  linux: Linux.optional(),
});

export type OciConfigDoc = z.infer<typeof OciConfig> & { linux?: { seccomp?: OciSeccomp } };

/** `mounts[2].destination` from ["mounts", 2, "destination"]. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("") || "(the document)";
}

/** Checks config.json's text; `file` names it in errors. Integers beyond 2^53 are read exactly. */
export function parseOciConfig(text: string, file: string): OciConfigDoc {
  let doc: unknown;
  try {
    // Values such as a memory limit of -1 or a seccomp argument mask need every bit.
    doc = JSON.parse(text, (_k, v: unknown, ctx?: { source?: string }) =>
      typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v) && ctx?.source !== undefined ? BigInt(ctx.source) : v,
    );
  } catch (err) {
    throw new OciConfigError(file, [`not JSON: ${(err as Error).message}`]);
  }
  const r = OciConfig.safeParse(doc);
  if (!r.success) {
    throw new OciConfigError(
      file,
      r.error.issues.map((i) => `${fieldPath(i.path)}: ${i.code === "invalid_type" && i.input === undefined ? "missing" : i.message}`),
    );
  }
  return r.data as OciConfigDoc;
}
