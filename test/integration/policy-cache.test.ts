// The validated-policy cache in the runtime directory stays bounded however many distinct
// policies are loaded (it is in /run: memory), and a policy in use stays cached.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPolicy, MAX_CACHED } from "../../runsc/policyCache.js";
import { POLICY_CACHE_DIR } from "../../runsc/runtimeDir.js";
import { hostFixtureDir, removeHostDir, writePolicy } from "../helpers/sandbox.js";

let fixtures: string;
beforeAll(() => {
  fixtures = hostFixtureDir("policy-cache");
});
afterAll(() => removeHostDir(fixtures));

const entries = (): string[] => readdirSync(POLICY_CACHE_DIR).filter((n) => n.endsWith(".json"));

describe("the policy cache", () => {
  it(`keeps at most ${MAX_CACHED} policies, the ones used last among them`, async () => {
    const kept = writePolicy(fixtures, "kept", "extends: default\nhostname: kept\n");
    await loadPolicy(kept);
    for (let i = 0; i < MAX_CACHED + 20; i++) {
      await loadPolicy(writePolicy(fixtures, `once-${i}`, `extends: default\nhostname: once-${i}\n`));
      // In use all along: never the least recently used.
      if (i % 10 === 0) await loadPolicy(kept);
    }
    // Other test files may be adding entries at the same moment: a few more than the bound.
    expect(entries().length).toBeLessThanOrEqual(MAX_CACHED + 4);
    // `kept` is among them (an entry holds the policy it was built into).
    const holds = (hostname: string): boolean =>
      entries().some((n) => {
        try {
          return readFileSync(join(POLICY_CACHE_DIR, n), "utf8").includes(`"hostname":"${hostname}"`);
        } catch {
          return false; // removed meanwhile
        }
      });
    expect(holds("kept")).toBe(true);
    expect(holds("once-0")).toBe(false);
  });
});
