// Host names of network.egress rules: resolved once when the sandbox starts, before the
// workload runs, and written into the sandbox's /etc/hosts so that programs inside resolve
// them without DNS (the sandbox's own network namespace has no route to a name server).
import { lookup as dnsLookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import type { Policy } from "../../sentry/policy/schema.js";
import { egressHostNames } from "../../sentry/policy/network.js";
import { SandboxError } from "../errors.js";

/** All addresses of a name, as node:dns lookup({all: true}) gives them. */
export type Lookup = (name: string) => Promise<readonly { address: string; family: number }[]>;

const systemLookup: Lookup = (name) => dnsLookup(name, { all: true, verbatim: true });

/**
 * The addresses of every host name the policy's egress rules name (lowercase name ->
 * addresses). An unresolvable name is a SandboxError naming its rule.
 */
export async function resolveEgressHosts(policy: Policy, lookup: Lookup = systemLookup): Promise<Record<string, string[]>> {
  if (policy.network.mode !== "proxy") return {};
  const names = egressHostNames(policy.network);
  const out: Record<string, string[]> = {};
  await Promise.all(
    names.map(async ({ name, rule }) => {
      let found: readonly { address: string }[];
      try {
        found = await lookup(name);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw new SandboxError(`network.egress[${rule}].to: cannot resolve host name "${name}" (${code})`);
      }
      if (found.length === 0) throw new SandboxError(`network.egress[${rule}].to: host name "${name}" has no addresses`);
      out[name] = [...new Set([...(out[name] ?? []), ...found.map((a) => a.address)])];
    }),
  );
  return out;
}

/**
 * The policy with /etc/hosts as a synthetic file (filesystem.files): the policy's own
 * /etc/hosts content when it gives one, else the host's, plus a line per name and address.
 * Unchanged when there are no names.
 */
export function withEgressHosts(policy: Policy, hostNames: Readonly<Record<string, readonly string[]>>, hostHosts?: string): Policy {
  const names = Object.keys(hostNames).sort();
  if (names.length === 0) return policy;
  const own = policy.filesystem.files.filter((f) => f.path === "/etc/hosts").at(-1)?.content;
  let base = own ?? hostHosts;
  if (base === undefined) {
    try {
      base = readFileSync("/etc/hosts", "utf8");
    } catch {
      base = "127.0.0.1\tlocalhost\n::1\tlocalhost\n";
    }
  }
  const lines = names.flatMap((n) => hostNames[n]!.map((a) => `${a}\t${n}`));
  const content = `${base}${base === "" || base.endsWith("\n") ? "" : "\n"}# network.egress host names\n${lines.join("\n")}\n`;
  return {
    ...policy,
    filesystem: {
      ...policy.filesystem,
      files: [...policy.filesystem.files.filter((f) => f.path !== "/etc/hosts"), { path: "/etc/hosts", content }],
    },
  };
}
