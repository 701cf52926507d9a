// The policy cache's bound: what pruning keeps and removes.
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pruneCache } from "../../../runsc/policyCache.js";

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An entry (or a part) in dir, last used `ago` seconds before now. */
function entry(name: string, ago: number): void {
  const path = join(dir, name);
  writeFileSync(path, "{}");
  const t = new Date(Date.now() - ago * 1000);
  utimesSync(path, t, t);
}

describe("pruneCache", () => {
  it("keeps the entries used most recently and removes the rest", () => {
    dir = mkdtempSync(join(tmpdir(), "policy-cache-"));
    for (let i = 0; i < 10; i++) entry(`e${i}.json`, i * 10);
    pruneCache(dir, 4);
    expect(readdirSync(dir).sort()).toEqual(["e0.json", "e1.json", "e2.json", "e3.json"]);
  });

  it("leaves a cache within its bound as it is", () => {
    dir = mkdtempSync(join(tmpdir(), "policy-cache-"));
    for (let i = 0; i < 3; i++) entry(`e${i}.json`, i);
    pruneCache(dir, 3);
    expect(readdirSync(dir)).toHaveLength(3);
  });

  it("removes parts whose writer died, not those being written", () => {
    dir = mkdtempSync(join(tmpdir(), "policy-cache-"));
    entry("a.json", 0);
    entry("a.json.4242", 3600);
    entry("b.json.4343", 1);
    pruneCache(dir, 10);
    expect(readdirSync(dir).sort()).toEqual(["a.json", "b.json.4343"]);
  });
});
