// The policy's JSON Schema (for editors, via the yaml-language-server modeline), generated from the zod schema.

import { z } from "zod";
import { PolicySchema, policyMeta } from "./schema.js";

/**
 * JSON Schema (draft 2020-12) of what a policy file may contain: the schema's input side, so
 * keys with defaults are optional and the defaults are shown.
 */
export function policyJsonSchema(): object {
  return z.toJSONSchema(PolicySchema, { io: "input", target: "draft-2020-12", metadata: policyMeta });
}

/** policies/schema.json as committed: pretty-printed, with a trailing newline. */
export function policyJsonSchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
