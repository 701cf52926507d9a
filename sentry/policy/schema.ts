// The policy language: the zod schema that defines it, action parsing, and name checks with suggestions.
//
// The schema is the single source of truth: policies/schema.json is generated from it
// (jsonschema.ts), load.ts positions its issues in the YAML source, and the rest of the sentry
// consumes the parsed `Policy`. Every object is strict, so an unknown key is an error.
// Validated values stay in their written form (actions as "errno(EPERM)", argument values as
// integers or hex strings); parseAction() and argValue() turn them into machine values.

import { z } from "zod";
import {
  checkAction,
  checkArgConstant,
  checkPathPattern,
  checkSyscallName,
  describeValue,
  HOSTNAME_MAX,
  HOSTNAME_PATTERN,
  SYSCALL_NAMES,
} from "./language.js";
import { NETWORK_MODES, parseEgressTarget, parsePortSpec } from "./network.js";
import { matchRule, parsePathPattern } from "./paths.js";

export * from "./language.js";

export const POLICY_API_VERSION = "runsc-ts/v1";
export const POLICY_KIND = "Policy";

// ---------------------------------------------------------------------------------------------
// The schema

/** Metadata for the JSON Schema generator only: descriptions, $defs ids, editor hints. */
export type PolicyMeta = { id?: string; title?: string; description?: string; [k: string]: unknown };
export const policyMeta = z.registry<PolicyMeta>();

function doc<T extends z.ZodType>(schema: T, meta: PolicyMeta): T {
  policyMeta.add(schema, meta);
  return schema;
}

/**
 * `when` for cross-field refinements: run them whenever the value is a mapping, even if one of
 * its fields already failed, so every issue is reported at once. Such a refinement must cope
 * with fields of the wrong type.
 */
function isMapping(payload: { value: unknown }): boolean {
  return typeof payload.value === "object" && payload.value !== null && !Array.isArray(payload.value);
}

function refined(check: (s: string) => string | undefined) {
  return z.string().superRefine((s, ctx) => {
    const message = check(s);
    if (message !== undefined) ctx.addIssue({ code: "custom", message, input: s });
  });
}

const SyscallName = doc(refined(checkSyscallName), {
  id: "SyscallName",
  description: "An x86_64 syscall name, as in syscall_64.tbl.",
  enum: [...SYSCALL_NAMES],
});

const ActionString = doc(
  refined((s) => {
    const r = checkAction(s);
    return r.ok ? undefined : r.message;
  }),
  {
    id: "Action",
    description:
      "allow (the kernel runs it), errno(NAME) (fails with that errno), kill (the process is killed), " +
      "trap (to the sentry), log (allowed and logged by the kernel).",
    pattern: "^(allow|kill|trap|log|errno\\([A-Z0-9]+\\))$",
    examples: ["allow", "errno(EPERM)", "errno(EACCES)", "errno(ENOSYS)", "kill", "trap", "log"],
  },
);

const PathPattern = doc(refined(checkPathPattern), {
  id: "PathPattern",
  description:
    'An absolute path whose components may be globs: "*" (any characters within one component, dotfiles included), "?" (one character), "[a-z]"/"[!a]" (a character class), "**" as a whole component (zero or more components). A trailing "/**" means the path and everything beneath it. No braces: write one rule per alternative.',
  pattern: "^/",
});

/** network.unix: a path pattern, or @NAME (@NAME* a prefix) for an abstract socket. */
const UnixSocketName = doc(
  refined((s) => (s.startsWith("@") ? (s.length > 1 ? undefined : "expected @NAME, an abstract socket's name") : checkPathPattern(s))),
  { description: "A path pattern, or @NAME (an abstract socket; @NAME* for any name that begins so)." },
);

const HEX_VALUE = /^0x[0-9a-fA-F]{1,16}$/;

function argValueMessage(input: unknown): string {
  if (input === undefined) return "missing required key";
  if (typeof input === "number" && Number.isInteger(input) && !Number.isSafeInteger(input)) {
    return `${input} is beyond the integers a YAML number holds exactly (2^53); write it as a hex string such as "0xffffffffffffffff"`;
  }
  return `expected an integer, a hex string such as "0x10" (at most 64 bits) or a name such as AF_UNIX, got ${describeValue(input)}`;
}

// Each branch carries the message too: zod reports a branch's own issue when only one branch
// has the input's type.
const ArgValue = doc(
  z.union(
    [
      z.number().int({ error: (iss) => argValueMessage(iss.input) }),
      z.string().superRefine((text, ctx) => {
        if (HEX_VALUE.test(text)) return;
        // Not hex: a name such as AF_UNIX or CLONE_NEWUSER|CLONE_NEWNET.
        if (text.startsWith("0x") || /^[0-9-]/.test(text)) {
          ctx.addIssue({ code: "custom", message: argValueMessage(text), input: text });
          return;
        }
        const bad = checkArgConstant(text);
        if (bad !== undefined) ctx.addIssue({ code: "custom", message: bad, input: text });
      }),
    ],
    { error: (iss) => argValueMessage(iss.input) },
  ),
  {
    id: "ArgValue",
    description:
      'A 64-bit register value: an integer (negative ones are two\'s complement), a hex string such as "0xffffffff", or a name such as AF_UNIX or CLONE_NEWUSER|CLONE_NEWNET.',
  },
);

export const ARG_OPS = ["eq", "ne", "lt", "le", "gt", "ge", "masked-eq"] as const;

const ArgRule = doc(
  z
    .strictObject({
      index: z.number().int().min(0).max(5),
      op: z.enum(ARG_OPS),
      value: ArgValue,
      mask: ArgValue.optional(),
    })
    .superRefine(
      (a, ctx) => {
        if (!(ARG_OPS as readonly string[]).includes(a.op)) return;
        if (a.op === "masked-eq" && a.mask === undefined) {
          ctx.addIssue({ code: "custom", path: ["mask"], message: "op masked-eq needs a mask", input: a });
        } else if (a.op !== "masked-eq" && a.mask !== undefined) {
          ctx.addIssue({ code: "custom", path: ["mask"], message: "mask is only allowed with op masked-eq", input: a.mask });
        }
      },
      { when: isMapping },
    ),
  {
    description:
      "A condition on syscall argument `index` (0-5): `arg op value`, or for masked-eq `(arg & mask) == value`.",
  },
);

const SyscallRule = doc(
  z.strictObject({
    names: z.array(SyscallName).min(1),
    args: z.array(ArgRule).default(() => []),
    action: ActionString,
  }),
  { description: "An action for the named syscalls, when every condition in args holds." },
);

const Syscalls = doc(
  z
    .strictObject({
      default: doc(ActionString.default("allow"), {
        description: 'Action for syscalls no list or rule names; "allow" means the built-in table decides.',
      }),
      allow: doc(z.array(SyscallName).default(() => []), {
        description: "Syscalls the kernel runs, overriding the built-in table.",
      }),
      deny: doc(z.array(SyscallName).default(() => []), { description: "Syscalls that fail with EPERM." }),
      rules: z.array(SyscallRule).default(() => []),
    })
    .superRefine(
      (s, ctx) => {
        if (!Array.isArray(s.allow) || !Array.isArray(s.deny)) return;
        const allowed = new Set(s.allow);
        s.deny.forEach((name, i) => {
          if (allowed.has(name)) {
            ctx.addIssue({
              code: "custom",
              path: ["deny", i],
              message: `syscall "${name}" is in both allow and deny`,
              input: name,
            });
          }
        });
      },
      { when: isMapping },
    ),
  { description: "Which syscalls run, fail or kill." },
);

export const FS_ROOT_MODES = ["readonly", "overlay", "writable"] as const;
/** The /proc files the sandbox can see virtualised (sentry/proc/files.ts). */
export const PROC_FILES = ["meminfo", "cpuinfo", "stat", "uptime", "loadavg"] as const;
export type ProcFileName = (typeof PROC_FILES)[number];
export const FS_ACCESS = ["none", "read", "read-write", "exec"] as const;

const FilesystemRule = doc(
  z.strictObject({
    path: PathPattern,
    access: doc(z.enum(FS_ACCESS), {
      description: "none: hidden; read: read-only; read-write: readable and writable; exec: read-only and executable.",
    }),
  }),
  {
    description:
      "Access to a path, subtree or glob. When rules overlap the most specific path wins; for the same path the later rule wins. A glob is expanded to the paths that exist when the sandbox starts.",
  },
);

const Filesystem = doc(
  z.strictObject({
    root: doc(z.enum(FS_ROOT_MODES).default("readonly"), {
      description:
        "The container root: readonly; writable (the host's own permissions decide, and writes reach the host); or overlay (writable, but every write lands in an in-memory layer that ends with the sandbox: the base stays byte-identical).",
    }),
    overlay: doc(
      z
        .strictObject({
          size: doc(
            refined((s) => (/^([1-9][0-9]*[kmgKMG]?|([1-9][0-9]?|100)%)$/.test(s) ? undefined : `expected a size like 512m, 2g or 25% (of memory), got ${JSON.stringify(s)}`)).default("25%"),
            { description: "At most this much written data (tmpfs size=: bytes with k/m/g, or a share of memory).", examples: ["512m", "25%"] },
          ),
          dir: doc(
            refined((p) => checkPathPattern(p) ?? (/[*?[]/.test(p) || p === "/" ? "the overlay's directory is one path, not a glob or /" : undefined)).optional(),
            {
              description:
                "Keep the writes in this host directory (its upper/ and work/, made when missing) instead of memory: they stay there after the sandbox, and the next sandbox with the same directory starts from them. The sandbox does not see the directory itself.",
            },
          ),
        })
        .prefault({}),
      { description: "The writable layer of root: overlay." },
    ),
    tmp: doc(z.boolean().default(true), { description: "A private writable tmpfs at /tmp." }),
    proc: doc(
      z
        .strictObject({
          virtualize: doc(z.array(doc(z.enum(PROC_FILES), { description: "A /proc file shown from the sandbox's limits and usage." })).default(() => []), {
            description:
              "/proc files the sandbox sees from its own limits and usage instead of the host's: meminfo (memory limit and usage), cpuinfo and stat (as many CPUs as the CPU limit allows; with cpuinfo, /sys/devices/system/cpu/online and sched_getaffinity too), uptime (since the sandbox started), loadavg (its own tasks).",
          }),
        })
        .prefault({}),
      { description: "The sandbox's /proc." },
    ),
    files: doc(
      z
        .array(
          z.strictObject({
            path: refined(
              (p) =>
                checkPathPattern(p) ??
                (p.endsWith("/**") ? "a synthetic file is one path, not a subtree" : /[*?[]/.test(p) ? "a synthetic file is one path, not a glob" : undefined),
            ),
            content: z.string().max(1 << 20),
          }),
        )
        .default(() => []),
      {
        description:
          "Files the workload sees with the given content (read-only), in place of what the root has there: /etc/hostname, /etc/resolv.conf...",
      },
    ),
    rules: z.array(FilesystemRule).default(() => []),
  }),
  { description: "What the workload sees of the filesystem." },
);


export const NETWORK_PROTOCOLS = ["tcp", "udp", "any"] as const;

/** A port (1-65535) or a range "8000-8080" (sentry/policy/network.ts). */
const PortSpec = doc(
  z.union([z.number(), z.string()], { error: (iss) => portSpecMessage(iss.input) }).superRefine((p, ctx) => {
    const r = parsePortSpec(p);
    if (typeof r === "string") ctx.addIssue({ code: "custom", message: r, input: p });
  }),
  { id: "PortSpec", description: 'A port (1-65535) or a range such as "8000-8080".', examples: [443, "8000-8080"] },
);

function portSpecMessage(input: unknown): string {
  if (input === undefined) return "missing required key";
  return `expected a port or a range like 8000-8080, got ${describeValue(input)}`;
}

const Ports = doc(
  z.union([PortSpec, z.array(PortSpec).min(1)], { error: (iss) => portSpecMessage(iss.input) }),
  { description: 'A port, a range such as "8000-8080", or a list of them.' },
);

const EgressRule = doc(
  z.strictObject({
    to: doc(refined((t) => { const r = parseEgressTarget(t); return typeof r === "string" ? r : undefined; }), {
      description:
        'Where to: "*", an IP address, a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or a host name (resolved when the sandbox starts; its addresses are written to the sandbox\'s /etc/hosts).',
    }),
    ports: Ports.optional(),
    protocol: doc(z.enum(NETWORK_PROTOCOLS).default("tcp"), {
      description: "tcp (default), udp or any. A container decides both; a `do` sandbox carries TCP connections only, and refuses a udp rule when it starts.",
    }),
  }),
  { description: "Connections the workload may open to the host's network (mode proxy). Absent ports: any port." },
);

const BindRule = doc(
  z.strictObject({
    ports: Ports,
    protocol: doc(z.enum(NETWORK_PROTOCOLS).default("any"), { description: "tcp, udp or any (default)." }),
  }),
  { description: "Local ports the workload may bind (port 0, any ephemeral port, always may)." },
);

const Network = doc(
  z
    .strictObject({
      mode: doc(z.enum(NETWORK_MODES).default("none"), {
        description:
          "none: the sandbox's own network, loopback only; host: the host's network; proxy: the sandbox's own network, with TCP connections the egress rules allow carried to the host's.",
      }),
      egress: doc(z.array(EgressRule).optional(), {
        description: "mode proxy: the connections that may leave the sandbox; absent or empty: none.",
      }),
      bind: doc(z.array(BindRule).optional(), {
        description: "mode host or proxy: the local ports the workload may bind; absent: any.",
      }),
      unix: doc(z.array(UnixSocketName).optional(), {
        description:
          "Unix sockets beyond the sandbox's own that the workload may connect or send to, by the path it sees (a host directory bound in, the host's tree: /var/run/docker.sock; a directory's sockets: /run/app/**), or @NAME for an abstract one (@NAME* for a prefix). They count as network: under mode none or proxy, and in every container, a pathname socket that is not on one of the sandbox's own filesystems (its /tmp, its tmpfs mounts, its overlay root) is refused with EACCES unless named here; so is, for a container on the host's network, an abstract socket that no process of the container listens on.",
      }),
    })
    .superRefine(
      (n, ctx) => {
        const mode = n.mode ?? "none";
        if (n.egress !== undefined && mode !== "proxy" && (NETWORK_MODES as readonly string[]).includes(mode)) {
          ctx.addIssue({
            code: "custom",
            path: ["egress"],
            message: "applies only with mode: proxy (host gives the host's whole network; none gives none)",
            input: n.egress,
          });
        }
        if (n.bind !== undefined && mode === "none") {
          ctx.addIssue({
            code: "custom",
            path: ["bind"],
            message: "applies only with mode: host or proxy (none has only the sandbox's own loopback)",
            input: n.bind,
          });
        }
      },
      { when: isMapping },
    ),
  { description: "Network access, including unix sockets reachable through the filesystem." },
);

/** process.signals: whom kill(2) and its family may reach. */
export const SIGNAL_SCOPES = ["sandbox", "self"] as const;
export type SignalScope = (typeof SIGNAL_SCOPES)[number];

const Process = doc(
  z.strictObject({
    exec: doc(
      z
        .strictObject({
          allow: doc(z.array(PathPattern).default(() => []), {
            description: "Paths (exact, a trailing /** subtree, or globs) the workload may execute.",
          }),
          entrypoint: doc(z.boolean().default(false), {
            description: "true: the command the sandbox starts may be executed too (as its resolved file).",
          }),
        })
        .superRefine(
          (e, ctx) => {
            if (Array.isArray(e.allow) && e.allow.length === 0 && e.entrypoint !== true) {
              ctx.addIssue({
                code: "custom",
                path: ["allow"],
                message: "process.exec allows nothing: list paths in allow, or set entrypoint: true",
                input: e.allow,
              });
            }
          },
          { when: isMapping },
        ),
      { description: "Files the workload may execute; absent means any." },
    ).optional(),
    maxProcesses: doc(z.number().int().min(1).max(4194304).optional(), {
      description: "At most this many processes and threads per user in the sandbox (RLIMIT_NPROC); absent: the host's limit.",
    }),
    hostRoot: doc(z.boolean().default(false), {
      description:
        "Containers: true keeps root inside host root, as under runc — no user namespace of the container's own, its image and volumes not idmapped. Each container created so is logged. (`runsc-ts do` always maps root inside to an unprivileged host id.)",
    }),
    signals: doc(z.enum(SIGNAL_SCOPES).default("sandbox"), {
      description:
        "Which processes the workload may signal: sandbox (any process of the sandbox; its PID namespace confines the rest) or self (only its own thread group, decided by the sentry; anything else fails with EPERM).",
    }),
  }),
  { description: "Process controls." },
);

const POLICY_NAME = /^[a-z0-9][a-z0-9-]*$/;
const HOSTNAME = HOSTNAME_PATTERN;

export const PolicySchema = doc(
  z.strictObject({
    apiVersion: z.literal(POLICY_API_VERSION),
    kind: z.literal(POLICY_KIND),
    name: doc(
      z
        .string()
        .max(63)
        .regex(POLICY_NAME, {
          error: (iss) =>
            `expected lowercase letters, digits and "-", starting with a letter or digit, got ${describeValue(iss.input)}`,
        }),
      { description: "The policy's name: lowercase letters, digits and '-'." },
    ),
    description: z.string().optional(),
    extends: doc(z.string().min(1).optional(), {
      description:
        "Another policy this one builds on: a name in policies/ (\"default\") or a path relative to this file. See policies/README.md for how the two merge.",
    }),
    syscalls: Syscalls.prefault({}),
    filesystem: Filesystem.prefault({}),
    network: Network.prefault({}),
    process: Process.prefault({}),
    hostname: doc(
      z
        .string()
        .max(HOSTNAME_MAX)
        .regex(HOSTNAME, {
          error: (iss) =>
            `expected a hostname (dot-separated labels of letters, digits and "-", not starting or ending with "-"), got ${describeValue(iss.input)}`,
        })
        .optional(),
      { description: "The sandbox's hostname (RFC 1123)." },
    ),
    audit: doc(z.boolean().default(false), { description: "true: log what would be denied, deny nothing." }),
  }).superRefine((p, ctx) => overlayExecCheck(p, ctx), { when: isMapping }),
  {
    title: "runsc-ts policy",
    description: "A runsc-ts sandbox policy (apiVersion runsc-ts/v1).",
  },
);

/**
 * filesystem.root: overlay and process.exec compose only where the workload cannot replace
 * what it may run: under an overlay root it may write its own file over any path, and the
 * allowlist names paths. So each allowed path must lie where a read or exec rule binds the
 * host's files read-only over the overlay, with no read-write rule beneath.
 */
interface OverlayExecView {
  readonly filesystem?: { readonly root?: string; readonly rules?: readonly { readonly path: string; readonly access: string }[] };
  readonly process?: { readonly exec?: { readonly allow?: readonly string[] } };
}

function overlayExecCheck(p: OverlayExecView, ctx: z.core.$RefinementCtx): void {
  if (p.filesystem?.root !== "overlay" || p.process?.exec === undefined) return;
  const rules = p.filesystem.rules ?? [];
  (p.process.exec.allow ?? []).forEach((pattern, i) => {
    let parsed: ReturnType<typeof parsePathPattern>;
    try {
      parsed = parsePathPattern(pattern);
    } catch {
      return; // the pattern's own error says what is wrong
    }
    const base = parsed.base;
    // A file by name: a rule on it; a glob or subtree: its directory, where new files would go.
    const suggested = !parsed.glob && !parsed.subtree ? base : base === "/" ? "/**" : `${base}/**`;
    const access = matchRule(rules, base)?.rule.access;
    const writableBeneath = rules.find((r) => r.access === "read-write" && parsePathPattern(r.path).base.startsWith(base === "/" ? "/" : `${base}/`));
    if ((access === "read" || access === "exec") && writableBeneath === undefined) return;
    ctx.addIssue({
      code: "custom",
      path: ["process", "exec", "allow", i],
      message:
        `${pattern}: under filesystem.root: overlay the workload may write its own file there, and it would run; ` +
        `add a rule that keeps it read-only ({ path: ${suggested}, access: exec })` +
        (writableBeneath !== undefined ? ` without ${writableBeneath.path}: read-write beneath it` : ""),
      input: pattern,
    });
  });
}

/** A validated policy with every default filled in. */
export type Policy = z.infer<typeof PolicySchema>;
/** What a policy file may contain (defaults optional). */
export type PolicyInput = z.input<typeof PolicySchema>;
export type SyscallRule = Policy["syscalls"]["rules"][number];
export type ArgRule = SyscallRule["args"][number];
export type FilesystemRule = Policy["filesystem"]["rules"][number];
