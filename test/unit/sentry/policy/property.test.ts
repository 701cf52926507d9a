// Property tests of policy compilation: random register-only syscall rules, written as YAML and
// loaded, compiled to BPF and run in the interpreter, decide exactly what the evaluator decides
// for the same registers; those decisions follow the precedence policies/README.md writes down;
// compiling is deterministic; and tracing never changes a decision.
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { compileFilter } from "../../../../platform/seccomp/compile.js";
import { LoadedFilter } from "../../../../platform/seccomp/interpreter.js";
import { errnoByName } from "../../../../platform/abi/errno.js";
import { sysnoByName, sysnoName } from "../../../../platform/abi/sysno_amd64.js";
import {
  compilePolicy,
  evaluateDecision,
  type CompiledPolicy,
  type CompileOptions,
  type Decision,
} from "../../../../sentry/filter/compile.js";
import { parsePolicy } from "../../../../sentry/policy/load.js";
import type { Policy } from "../../../../sentry/policy/schema.js";
import type { FilterAction } from "../../../../sentry/syscalls/syscall.js";
import { CRED_SYSCALLS } from "../../../../sentry/syscalls/sys_cred.js";
import { tableByName } from "../../../../sentry/syscalls/table_amd64.js";
import { RET_ERRNO, RET_KILL_PROCESS, RET_USER_NOTIF, ret } from "../../../helpers/seccomp.js";

// Written out (include/uapi/linux/seccomp.h, include/uapi/linux/audit.h,
// arch/x86/include/uapi/asm/unistd.h), independent of the modules under test.
const ARCH_X86_64 = 0xc000003e;
const ARCH_I386 = 0x40000003;
const X32_BIT = 0x40000000;
const ENOSYS = 38;
const EPERM = 1;

const SEED = 20240611;

const U64 = (1n << 64n) - 1n;
const U32 = 0xffffffffn;

/**
 * Syscalls the random rules name: ordinary ones the table allows, the table's argument rules
 * (ioctl, clone, unshare, personality, seccomp), its denials, what the sentry must decide
 * (execve, execveat, connect, sendto) and credential changes (trapped whenever anything is).
 */
const POOL = [
  "read",
  "write",
  "openat",
  "close",
  "mmap",
  "mprotect",
  "getpid",
  "kill",
  "futex",
  "socket",
  "bind",
  "listen",
  "accept4",
  "prctl",
  "fcntl",
  "lseek",
  "getrandom",
  "madvise",
  "ioctl",
  "clone",
  "unshare",
  "personality",
  "seccomp",
  "ptrace",
  "bpf",
  "io_uring_setup",
  "mount",
  "execve",
  "execveat",
  "connect",
  "sendto",
  "setuid",
  "umask",
  "setgroups",
] as const;
type Name = (typeof POOL)[number];

/** Errno names, aliases included, with their numbers (asm-generic/errno-base.h, errno.h, glibc). */
const ERRNOS: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EAGAIN: 11,
  EWOULDBLOCK: 11,
  EACCES: 13,
  EFAULT: 14,
  EEXIST: 17,
  EINVAL: 22,
  ENOTTY: 25,
  EDEADLK: 35,
  EDEADLOCK: 35,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
  ENOTSUP: 95,
  EAFNOSUPPORT: 97,
  ECONNREFUSED: 111,
  EHWPOISON: 133,
};

const OPS = ["eq", "ne", "lt", "le", "gt", "ge", "masked-eq"] as const;
type Op = (typeof OPS)[number];

/** A value as a policy author writes it: an integer (maybe negative) or a hex string. */
type Written = number | string;

interface CondSpec {
  readonly index: number;
  readonly op: Op;
  readonly value: Written;
  readonly mask?: Written;
}

interface RuleSpec {
  readonly names: readonly Name[];
  readonly args: readonly CondSpec[];
  readonly action: string;
}

interface PolicySpec {
  readonly default: string;
  readonly allow: readonly Name[];
  readonly deny: readonly Name[];
  readonly rules: readonly RuleSpec[];
  readonly network: "none" | "host";
  readonly exec: boolean;
  readonly trace: undefined | "all" | readonly Name[];
  /** Rendering choices for the YAML text. */
  readonly style: { readonly flow: boolean; readonly quoteActions: boolean; readonly omitEmpty: boolean };
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Register values where the 32-bit halves of a 64-bit comparison change. */
const BOUNDARIES: readonly bigint[] = [
  0n,
  1n,
  2n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  0x100000000n,
  0x100000001n,
  0x1ffffffffn,
  (1n << 53n) - 1n,
  1n << 53n,
  0x7fffffff00000000n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0x8000000000000001n,
  0xffffffff00000000n,
  0xffffffff7fffffffn,
  0xffffffff80000000n,
  U64 - 1n,
  U64,
];

const u64 = fc.bigInt({ min: 0n, max: U64 });

const boundaryValue: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...BOUNDARIES) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...BOUNDARIES), fc.integer({ min: -2, max: 2 })).map(([b, d]) => BigInt.asUintN(64, b + BigInt(d))) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: U32 }) },
  { weight: 1, arbitrary: fc.tuple(fc.bigInt({ min: 0n, max: U32 }), fc.constantFrom(0n, 1n, U32)).map(([lo, hi]) => (hi << 32n) | lo) },
  { weight: 2, arbitrary: u64 },
);

/** Masks: contiguous runs, single bits, one half, all ones, zero, anything. */
const maskValue: fc.Arbitrary<bigint> = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 63 })).map(([w, s]) => BigInt.asUintN(64, ((1n << BigInt(w)) - 1n) << BigInt(s))),
  fc.integer({ min: 0, max: 63 }).map((b) => 1n << BigInt(b)),
  fc.constantFrom(0n, U32, U32 << 32n, U64, 0xff00ff00ff00ff00n),
  u64,
);

/** One of the ways to write `v` that the schema accepts. */
function writtenForms(v: bigint): fc.Arbitrary<Written> {
  const forms: fc.Arbitrary<Written>[] = [
    fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean()).map(([pad, upper]) => {
      let digits = v.toString(16);
      digits = "0".repeat(Math.min(pad, 16 - digits.length)) + digits;
      return `0x${upper ? digits.toUpperCase() : digits}`;
    }),
  ];
  if (v <= BigInt(Number.MAX_SAFE_INTEGER)) forms.push(fc.constant(Number(v)));
  const negative = v - (1n << 64n); // two's complement
  if (v !== 0n && negative >= BigInt(Number.MIN_SAFE_INTEGER)) forms.push(fc.constant(Number(negative)));
  return fc.oneof(...forms);
}

const written = (values: fc.Arbitrary<bigint>): fc.Arbitrary<Written> => values.chain(writtenForms);

const condSpec: fc.Arbitrary<CondSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      index: fc.integer({ min: 0, max: 5 }),
      op: fc.constantFrom("eq", "ne", "lt", "le", "gt", "ge"),
      value: written(boundaryValue),
    }),
  },
  {
    weight: 3,
    // masked-eq, mostly with a value inside the mask (one that some register can match).
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 5 }), maskValue, boundaryValue, fc.integer({ min: 0, max: 4 }))
      .chain(([index, mask, raw, pick]) => {
        const value = pick === 0 ? raw : raw & mask;
        return fc.record({ index: fc.constant(index), op: fc.constant<Op>("masked-eq"), value: writtenForms(value), mask: writtenForms(mask) });
      }),
  },
);

const errnoAction = fc.constantFrom(...Object.keys(ERRNOS)).map((n) => `errno(${n})`);
const action: fc.Arbitrary<string> = fc.oneof(fc.constantFrom("allow", "kill", "trap", "log"), errnoAction);

const ruleSpec: fc.Arbitrary<RuleSpec> = fc.record({
  names: fc.uniqueArray(fc.constantFrom(...POOL), { minLength: 1, maxLength: 3 }),
  // Mostly conditional; an empty list (always matches) cuts the rules after it.
  args: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 6, arbitrary: fc.array(condSpec, { minLength: 1, maxLength: 3 }) }),
  action,
});

const policySpec: fc.Arbitrary<PolicySpec> = fc
  .record({
    default: fc.oneof({ weight: 3, arbitrary: fc.constant("allow") }, { weight: 3, arbitrary: action }),
    lists: fc.uniqueArray(fc.tuple(fc.constantFrom(...POOL), fc.boolean()), { maxLength: 6, selector: ([n]) => n }),
    rules: fc.array(ruleSpec, { maxLength: 8 }),
    network: fc.constantFrom("none", "host"),
    exec: fc.boolean(),
    trace: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constant("all") },
      { weight: 1, arbitrary: fc.uniqueArray(fc.constantFrom(...POOL), { minLength: 1, maxLength: 4 }) },
    ),
    style: fc.record({ flow: fc.boolean(), quoteActions: fc.boolean(), omitEmpty: fc.boolean() }),
  })
  .map(({ lists, ...rest }) => ({
    ...rest,
    allow: lists.filter(([, a]) => a).map(([n]) => n),
    deny: lists.filter(([, a]) => !a).map(([n]) => n),
  }));

/** How one register of a query is chosen: freely, zero (the commonest value), or from the conditions of a rule. */
const ARG_MODES = ["noise", "boundary", "satisfy", "near", "zero"] as const;

interface Query {
  /** Which syscall: mostly one the rules name, else one of POOL; a raw number when `raw` is set. */
  readonly pick: number;
  readonly named: boolean;
  readonly raw: number | undefined;
  readonly arch: number;
  /** Satisfy the conditions of one rule of the syscall (chosen by `rule`) before perturbing. */
  readonly rule: number | undefined;
  readonly modes: readonly (typeof ARG_MODES)[number][];
  readonly noise: readonly bigint[];
}

const query: fc.Arbitrary<Query> = fc.record({
  pick: fc.nat(),
  named: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  raw: fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 1023 }) },
    { weight: 1, arbitrary: fc.constantFrom(0xffffffff, X32_BIT, X32_BIT | 1, X32_BIT - 1, 0xfffffffe) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
  ),
  arch: fc.oneof({ weight: 30, arbitrary: fc.constant(ARCH_X86_64) }, { weight: 1, arbitrary: fc.constantFrom(ARCH_I386, 0, 0xc00000b7) }),
  rule: fc.option(fc.nat(), { freq: 3 }),
  modes: fc.array(fc.constantFrom(...ARG_MODES), { minLength: 6, maxLength: 6 }),
  noise: fc.array(boundaryValue, { minLength: 6, maxLength: 6 }),
});

// ---------------------------------------------------------------------------------------------
// From a spec to YAML text and to the Policy the loader must produce

function yamlValue(v: Written): string {
  return typeof v === "number" ? String(v) : `"${v}"`;
}

function yamlList(items: readonly string[], flow: boolean, indent: string): string {
  if (flow || items.length === 0) return ` [${items.join(", ")}]`;
  return items.map((i) => `\n${indent}- ${i}`).join("");
}

function renderYaml(spec: PolicySpec): string {
  const act = (a: string): string => (spec.style.quoteActions ? `'${a}'` : a);
  const { flow, omitEmpty } = spec.style;
  const out = ["apiVersion: runsc-ts/v1", "kind: Policy", "name: prop", "syscalls:"];
  const start = out.length;
  if (!(omitEmpty && spec.default === "allow")) out.push(`  default: ${act(spec.default)}`);
  if (!(omitEmpty && spec.allow.length === 0)) out.push(`  allow:${yamlList(spec.allow, flow, "    ")}`);
  if (!(omitEmpty && spec.deny.length === 0)) out.push(`  deny:${yamlList(spec.deny, flow, "    ")}`);
  if (!(omitEmpty && spec.rules.length === 0)) {
    out.push(spec.rules.length === 0 ? "  rules: []" : "  rules:");
    for (const r of spec.rules) {
      out.push(`    - names:${yamlList(r.names, flow, "        ")}`);
      if (!(omitEmpty && r.args.length === 0)) {
        const conds = r.args.map((c) => {
          const mask = c.mask === undefined ? "" : `, mask: ${yamlValue(c.mask)}`;
          return `{ index: ${c.index}, op: ${c.op}, value: ${yamlValue(c.value)}${mask} }`;
        });
        out.push(`      args:${yamlList(conds, flow, "        ")}`);
      }
      out.push(`      action: ${act(r.action)}`);
    }
  }
  if (out.length === start) out[start - 1] = "syscalls: {}";
  out.push("network:", `  mode: ${spec.network}`);
  if (spec.exec) out.push("process:", "  exec:", `    allow: [${EXEC_ALLOW.join(", ")}]`);
  return `${out.join("\n")}\n`;
}

const EXEC_ALLOW = ["/usr/**", "/bin/**"];

/** The syscalls section of the Policy the spec describes, with the schema's defaults filled in. */
function expectedSyscalls(spec: PolicySpec): Policy["syscalls"] {
  return {
    default: spec.default,
    allow: [...spec.allow],
    deny: [...spec.deny],
    rules: spec.rules.map((r) => ({
      names: [...r.names],
      args: r.args.map((c) => ({ index: c.index, op: c.op, value: c.value, ...(c.mask === undefined ? {} : { mask: c.mask }) })),
      action: r.action,
    })),
  };
}

function options(spec: PolicySpec): CompileOptions {
  if (spec.trace === undefined) return {};
  return { trace: spec.trace === "all" ? "all" : new Set<string>(spec.trace) };
}

// ---------------------------------------------------------------------------------------------
// Queries: a syscall number and registers biased towards the rules' conditions

const toU64 = (v: Written): bigint => BigInt.asUintN(64, BigInt(v));

/** A register value for which `c` holds (when one exists), derived from `noise`. */
function satisfying(c: CondSpec, noise: bigint): bigint {
  const v = toU64(c.value);
  switch (c.op) {
    case "eq":
    case "le":
    case "ge":
      return v;
    case "ne":
      return noise === v ? v ^ 1n : noise;
    case "lt":
      return v === 0n ? 0n : noise % v;
    case "gt":
      return v === U64 ? U64 : v + 1n + (noise % (U64 - v));
    case "masked-eq": {
      const m = toU64(c.mask ?? 0);
      return (noise & ~m & U64) | (v & m);
    }
  }
}

/** A value next to where `c` changes: off by one, or with one 32-bit half changed. */
function near(c: CondSpec, noise: bigint): bigint {
  const v = toU64(c.value);
  const variants = [v - 1n, v + 1n, v ^ (1n << 32n), v ^ 1n, v & U32, v & (U32 << 32n), v ^ (U32 << 32n), v ^ U32];
  if (c.op === "masked-eq") {
    const m = toU64(c.mask ?? 0);
    const bits = [...Array(64).keys()].filter((b) => (m >> BigInt(b)) & 1n);
    const flip = bits.length === 0 ? 0n : 1n << BigInt(bits[Number(noise % BigInt(bits.length))]!);
    variants.push(((noise & ~m) | (v & m)) ^ flip);
  }
  return BigInt.asUintN(64, variants[Number(noise % BigInt(variants.length))]!);
}

/** Up to 40 queries per policy; a failure shrinks to the one that shows it. */
const queries = fc.array(query, { minLength: 1, maxLength: 40, size: "max" });

function queryName(spec: PolicySpec, q: Query): Name {
  const named = [...new Set(spec.rules.flatMap((r) => r.names))];
  return q.named && named.length > 0 ? named[q.pick % named.length]! : POOL[q.pick % POOL.length]!;
}

function queryNr(spec: PolicySpec, q: Query): number {
  return q.raw ?? sysnoByName(queryName(spec, q))!;
}

function queryArgs(spec: PolicySpec, q: Query, nr: number): bigint[] {
  const name = sysnoName(nr);
  const rules = spec.rules.filter((r) => name !== undefined && (r.names as readonly string[]).includes(name));
  const args = q.noise.map((n, i) => {
    if (q.modes[i] === "zero") return 0n;
    return q.modes[i] === "boundary" ? BOUNDARIES[Number(n % BigInt(BOUNDARIES.length))]! : n;
  });
  const chosen = q.rule === undefined || rules.length === 0 ? undefined : rules[q.rule % rules.length];
  for (const c of chosen?.args ?? []) args[c.index] = satisfying(c, q.noise[c.index]!);
  const conds = rules.flatMap((r) => r.args);
  for (let i = 0; i < 6; i++) {
    const mine = conds.filter((c) => c.index === i);
    if (mine.length === 0) continue;
    const c = mine[Number(q.noise[i]! % BigInt(mine.length))]!;
    if (q.modes[i] === "satisfy" && chosen === undefined) args[i] = satisfying(c, q.noise[i]!);
    if (q.modes[i] === "near") args[i] = near(c, q.noise[i]!);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// What the filter must return, given the decisions


function actions(d: Decision): FilterAction[] {
  return "rules" in d ? [...d.rules.map((r) => r.action), d.otherwise] : [d.action];
}

/**
 * The filter's answer for `nr` on x86_64 with `args`, from the decisions alone: unknown numbers
 * fail with ENOSYS; a syscall traced, or a credential change while anything reaches the
 * sentry, traps unless its decision kills; otherwise the decision's action.
 */
function expectedReturn(cp: CompiledPolicy, opts: CompileOptions, nr: number, arch: number, args: readonly bigint[]): number {
  if (arch !== ARCH_X86_64) return RET_KILL_PROCESS;
  const u = nr >>> 0;
  if (u >= X32_BIT && u !== 0xffffffff) return RET_KILL_PROCESS;
  const d = cp.decisions[u];
  if (d === undefined) return (RET_ERRNO | ENOSYS) >>> 0;
  const a = evaluateDecision(d, (i) => args[i] ?? 0n);
  const name = sysnoName(u) ?? "";
  const anyTrap = opts.trace !== undefined || cp.decisions.some((x) => x !== undefined && actions(x).some((y) => y.kind === "trap"));
  const traced =
    opts.trace === "all" ||
    (opts.trace !== undefined && opts.trace.has(name)) ||
    (anyTrap && (CRED_SYSCALLS as readonly string[]).includes(name));
  return traced && a.kind !== "kill" ? RET_USER_NOTIF : ret(a);
}

// ---------------------------------------------------------------------------------------------
// What policies/README.md says the decision is, computed from the spec and the table

const ALLOW: FilterAction = { kind: "allow" };
const TRAP: FilterAction = { kind: "trap" };

function specAction(text: string): FilterAction {
  const m = /^errno\((\w+)\)$/.exec(text);
  if (m !== null) return { kind: "errno", errno: ERRNOS[m[1]!]! };
  return { kind: text } as FilterAction;
}

function holds(op: Op, v: bigint, value: bigint, mask: bigint | undefined): boolean {
  switch (op) {
    case "eq":
      return v === value;
    case "ne":
      return v !== value;
    case "lt":
      return v < value;
    case "le":
      return v <= value;
    case "gt":
      return v > value;
    case "ge":
      return v >= value;
    case "masked-eq":
      return (v & (mask ?? 0n)) === value;
  }
}

/** Steps 1-3: the table, then a non-allow default in place of what it allows, then the lists. */
function baseDecision(spec: PolicySpec, name: Name, args: readonly bigint[]): FilterAction {
  if (spec.allow.includes(name)) return ALLOW;
  if (spec.deny.includes(name)) return { kind: "errno", errno: EPERM };
  const e = tableByName(name);
  if (e === undefined) throw new Error(`${name} is not in the table`);
  let t: FilterAction;
  switch (e.handling) {
    case "kernel":
      t = ALLOW;
      break;
    case "sentry":
      t = TRAP;
      break;
    case "denied":
      t = { kind: "errno", errno: errnoByName(e.errno ?? "EPERM")! };
      break;
    case "args":
      t = (e.argRules ?? []).find((r) => r.when.every((c) => holds(c.op, args[c.index]!, c.value, c.mask)))?.action ?? e.otherwise ?? ALLOW;
      break;
  }
  // "default, when it is not allow, replaces every table decision except the table's denials".
  const denial = t.kind === "errno" || t.kind === "kill";
  return spec.default !== "allow" && !denial ? specAction(spec.default) : t;
}

/** Steps 1-5 of policies/README.md for one syscall of the pool. */
function referenceDecision(spec: PolicySpec, name: Name, args: readonly bigint[]): FilterAction {
  const mine = spec.rules.filter((r) => r.names.includes(name));
  const hit = mine.find((r) => r.args.every((c) => holds(c.op, args[c.index]!, toU64(c.value), c.mask === undefined ? undefined : toU64(c.mask))));
  const decided = hit === undefined ? baseDecision(spec, name, args) : specAction(hit.action);
  const trapAllowed = (a: FilterAction): FilterAction => (a.kind === "allow" || a.kind === "log" ? TRAP : a);
  if (spec.exec && (name === "execve" || name === "execveat")) return trapAllowed(decided);
  if (spec.network === "none" && name === "connect") return trapAllowed(decided);
  if (spec.network === "none" && name === "socket") {
    // Families that leave the network namespace fail first, unless every call is refused.
    const unconditional = mine.length === 0 || mine[0]!.args.length === 0;
    if (unconditional && (decided.kind === "errno" || decided.kind === "kill")) return decided;
    const low = (i: number): bigint => args[i]! & 0xffffffffn;
    if (![1n, 2n, 10n, 16n, 17n].includes(low(0))) return { kind: "errno", errno: 97 /* EAFNOSUPPORT */ };
    if (low(0) === 16n && ![0n, 4n, 16n].includes(low(2))) return { kind: "errno", errno: 93 /* EPROTONOSUPPORT */ };
    return decided;
  }
  if (spec.network === "none" && name === "sendto") {
    // Only a sendto decided without looking at its registers is split on the address
    // (arg 4): with it the sentry decides, without it the kernel runs it.
    const plain = mine.length === 0 || mine[0]!.args.length === 0;
    if (plain && decided.kind === "allow") return args[4] === 0n ? ALLOW : TRAP;
    return trapAllowed(decided);
  }
  return decided;
}

// ---------------------------------------------------------------------------------------------

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

function describeQuery(nr: number, arch: number, args: readonly bigint[]): string {
  return `nr ${nr >>> 0} (${sysnoName(nr >>> 0) ?? "?"}) arch ${hex(arch)} args [${args.map(hex).join(", ")}]`;
}

function load(spec: PolicySpec): Policy {
  return parsePolicy(renderYaml(spec), "property.yaml");
}

describe("random register-only rules", () => {
  it("load from YAML into exactly the policy they describe", () => {
    fc.assert(
      fc.property(policySpec, (spec) => {
        const policy = load(spec);
        expect(policy.syscalls).toEqual(expectedSyscalls(spec));
        expect(policy.network.mode).toBe(spec.network);
        expect(policy.process.exec?.allow).toEqual(spec.exec ? EXEC_ALLOW : undefined);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  /**
   * Compiles `policy` (made from `spec`), runs each query through the BPF interpreter and
   * throws where the filter and the decisions disagree. Returns how many were compared.
   */
  function filterAgrees(spec: Parameters<typeof options>[0], queries: Parameters<typeof queryNr>[1][], policy: Policy): number {
    const opts = options(spec);
    const cp = compilePolicy(policy, opts);
    const filter = new LoadedFilter(compileFilter(cp.filter));
    for (const q of queries) {
      const nr = queryNr(spec, q);
      const args = queryArgs(spec, q, nr);
      const got = filter.run({ nr, arch: q.arch, ip: 0n, args });
      const want = expectedReturn(cp, opts, nr, q.arch, args);
      if (got !== want) {
        throw new Error(`${describeQuery(nr, q.arch, args)}: filter returned ${hex(got)}, decisions say ${hex(want)}\n${renderYaml(spec)}`);
      }
    }
    return queries.length;
  }

  it("compiled to BPF and run in the interpreter, decide as evaluateDecision does", () => {
    let compared = 0;
    fc.assert(
      fc.property(policySpec, queries, (spec, queries) => {
        compared += filterAgrees(spec, queries, load(spec));
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(compared).toBeGreaterThan(300 * 10);
  });

  it("built as a Policy object, decide as evaluateDecision does", () => {
    fc.assert(
      fc.property(policySpec, queries, (spec, queries) => {
        // Everything but the syscalls section from the loader, with its defaults.
        const policy: Policy = { ...load({ ...spec, rules: [], allow: [], deny: [] }), syscalls: expectedSyscalls(spec) };
        filterAgrees(spec, queries, policy);
      }),
      { seed: SEED + 1, numRuns: 100 },
    );
  });

  it("decide what policies/README.md says: rules in file order, then lists, default and table", () => {
    fc.assert(
      fc.property(policySpec, queries, (spec, queries) => {
        const cp = compilePolicy(load(spec), options(spec));
        for (const q of queries) {
          const name = queryName(spec, q);
          const nr = sysnoByName(name)!;
          const args = queryArgs(spec, q, nr);
          const got = evaluateDecision(cp.decisions[nr]!, (i) => args[i]!);
          const want = referenceDecision(spec, name, args);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            throw new Error(`${describeQuery(nr, ARCH_X86_64, args)}: decided ${JSON.stringify(got)}, README says ${JSON.stringify(want)}\n${renderYaml(spec)}`);
          }
        }
      }),
      { seed: SEED + 2, numRuns: 300 },
    );
  });

  it("compile to the same program every time", () => {
    fc.assert(
      fc.property(policySpec, (spec) => {
        const policy = load(spec);
        const first = compileFilter(compilePolicy(policy, options(spec)).filter);
        const again = compileFilter(compilePolicy(structuredClone(policy), options(spec)).filter);
        const reloaded = compileFilter(compilePolicy(load(spec), options(spec)).filter);
        expect(again).toEqual(first);
        expect(reloaded).toEqual(first);
      }),
      { seed: SEED + 3, numRuns: 100 },
    );
  });

  it("keep their decisions and layers when everything or some syscalls are traced", () => {
    fc.assert(
      fc.property(policySpec, fc.uniqueArray(fc.constantFrom(...POOL), { maxLength: 5 }), (spec, some) => {
        const policy = load(spec);
        const plain = compilePolicy(policy);
        for (const trace of ["all", new Set<string>(some)] as const) {
          const traced = compilePolicy(policy, { trace });
          expect(traced.decisions).toEqual(plain.decisions);
          expect(traced.layers).toEqual(plain.layers);
        }
      }),
      { seed: SEED + 4, numRuns: 100 },
    );
  });
});
