// Path rule semantics: trailing /** subtrees, exact paths, most specific wins, later wins on ties, exec allow list.

import { describe, expect, it } from "vitest";
import {
  createPathMatcher,
  execAllowed,
  matchRule,
  normalizePath,
  patternMatches,
} from "../../../../sentry/policy/paths.js";

describe("normalizePath", () => {
  it.each([
    ["/", "/"],
    ["/a/b/", "/a/b"],
    ["//a///b", "/a/b"],
    ["/a/./b", "/a/b"],
    ["/a/b/../c", "/a/c"],
    ["/../..", "/"],
    ["/a/..", "/"],
  ])("%s → %s", (input, want) => {
    expect(normalizePath(input)).toBe(want);
  });

  it("refuses a relative path", () => {
    expect(() => normalizePath("etc/shadow")).toThrow(/absolute/);
  });
});

describe("patternMatches", () => {
  it.each([
    ["/a/**", "/a", true],
    ["/a/**", "/a/b/c", true],
    ["/a/**", "/a/", true],
    ["/a/**", "/ab", false],
    ["/a/**", "/", false],
    ["/a", "/a", true],
    ["/a", "/a/", true],
    ["/a", "/a/b", false],
    ["/a", "/ab", false],
    ["/**", "/", true],
    ["/**", "/anything/at/all", true],
    ["/etc/shadow", "/etc/./shadow", true],
    ["/etc/shadow", "/etc/x/../shadow", true],
    ["/root/**", "/tmp/../root/.ssh/id_ed25519", true],
    ["/a/b/**", "/a/b/../c", false],
  ])("%s against %s → %s", (pattern, path, want) => {
    expect(patternMatches(pattern, path)).toBe(want);
  });
});

describe("matchRule", () => {
  const rules = [
    { path: "/**", access: "read" },                // 0
    { path: "/data/**", access: "read-write" },     // 1
    { path: "/data/secret/**", access: "none" },    // 2
    { path: "/data/secret/ok", access: "read" },    // 3
    { path: "/etc/shadow", access: "none" },        // 4
    { path: "/srv/**", access: "none" },            // 5
    { path: "/srv", access: "read" },               // 6
    { path: "/srv/**", access: "read-write" },      // 7 same pattern as 5, later: wins over 5
    { path: "/opt/", access: "exec" },              // 8 trailing slash is the same path as /opt
  ] as const;

  it.each([
    ["/", 0],
    ["/usr/bin/env", 0],
    ["/data", 1],
    ["/data/x/y", 1],
    ["/data/secret", 2],
    ["/data/secret/key.pem", 2],
    ["/data/secret/ok", 3],
    ["/data/secret/ok/deeper", 2],
    ["/etc/shadow", 4],
    ["/etc/shadow-", 0],
    ["/etc", 0],
    ["/srv", 6],
    ["/srv/www", 7],
    ["/opt", 8],
    ["/opt/tool", 0],
    ["/data/secret/../public", 1],
  ])("%s → rule %i", (path, want) => {
    expect(matchRule(rules, path)?.index).toBe(want);
    expect(createPathMatcher(rules)(path)?.index).toBe(want);
  });

  it("returns the rule itself with its index", () => {
    expect(matchRule(rules, "/etc/shadow")).toEqual({ rule: rules[4], index: 4 });
  });

  it("matches nothing without a covering rule", () => {
    const few = [{ path: "/etc/shadow" }, { path: "/root/**" }];
    expect(matchRule(few, "/etc/passwd")).toBeUndefined();
    expect(createPathMatcher(few)("/etc/passwd")).toBeUndefined();
    expect(matchRule([], "/")).toBeUndefined();
  });

  it("lets the later of two equal paths win", () => {
    const twice = [{ path: "/x/**", n: 1 }, { path: "/x/**", n: 2 }, { path: "/x/y", n: 3 }, { path: "/x/y", n: 4 }];
    expect(matchRule(twice, "/x/z")?.rule.n).toBe(2);
    expect(matchRule(twice, "/x/y")?.rule.n).toBe(4);
    expect(createPathMatcher(twice)("/x/z")?.rule.n).toBe(2);
    expect(createPathMatcher(twice)("/x/y")?.rule.n).toBe(4);
  });
});

describe("execAllowed", () => {
  const limited = { process: { exec: { allow: ["/usr/**", "/bin/**", "/opt/tool"] } } };

  it.each([
    ["/usr/bin/python3", true],
    ["/usr", true],
    ["/bin/sh", true],
    ["/opt/tool", true],
    ["/opt/tool2", false],
    ["/opt/tool/x", false],
    ["/tmp/payload", false],
    ["/usr/../tmp/payload", false],
    ["/usrx/bin", false],
  ])("%s → %s", (path, want) => {
    expect(execAllowed(limited, path)).toBe(want);
  });

  it("allows anything when process.exec is absent", () => {
    expect(execAllowed({ process: {} }, "/tmp/anything")).toBe(true);
  });
});
