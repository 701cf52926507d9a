// policies/schema.json must be what the zod schema generates; UPDATE_SCHEMA=1 rewrites it instead.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { policyJsonSchema, policyJsonSchemaText } from "../../../../sentry/policy/jsonschema.js";

const committed = join(dirname(fileURLToPath(import.meta.url)), "../../../../policies/schema.json");

describe("policies/schema.json", () => {
  it("matches the schema generated from the zod schema", () => {
    const generated = policyJsonSchemaText();
    if (process.env.UPDATE_SCHEMA === "1") {
      writeFileSync(committed, generated);
      return;
    }
    expect(existsSync(committed), "policies/schema.json is missing: run with UPDATE_SCHEMA=1").toBe(true);
    expect(readFileSync(committed, "utf8"), "policies/schema.json is stale: run with UPDATE_SCHEMA=1").toBe(generated);
  });

  it("is strict, requires the identity keys and lists every syscall name", () => {
    const schema = policyJsonSchema() as {
      additionalProperties?: unknown;
      required?: string[];
      $defs?: { SyscallName?: { enum?: string[] } };
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(["apiVersion", "kind", "name"]);
    expect(schema.$defs?.SyscallName?.enum).toContain("openat2");
  });
});
