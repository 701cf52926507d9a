// Script: writes policies/schema.json from the zod schema (`node dist/sentry/policy/gen-schema.js [OUT]`).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { policyJsonSchemaText } from "./jsonschema.js";
import { defaultPoliciesDir } from "./load.js";

const out = process.argv[2] ?? join(defaultPoliciesDir(), "schema.json");
writeFileSync(out, policyJsonSchemaText());
process.stdout.write(`wrote ${out}\n`);
