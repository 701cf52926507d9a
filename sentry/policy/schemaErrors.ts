// The messages a policy's schema errors are given: what was expected, the keys a mapping
// accepts (with a "did you mean" for a misspelt one), read from PolicySchema.
import { z } from "zod";
import { describeValue, didYouMean } from "./language.js";
import { PolicySchema } from "./schema.js";

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping",
  array: "a sequence",
};

/** The keys an object schema at `path` (inside PolicySchema) accepts, or undefined. */
export function knownKeysAt(path: readonly PropertyKey[]): string[] | undefined {
  let s: z.core.$ZodType | undefined = PolicySchema;
  let i = 0;
  while (s !== undefined) {
    const def = s._zod.def as z.core.$ZodTypeDef & {
      innerType?: z.core.$ZodType;
      element?: z.core.$ZodType;
      shape?: Record<string, z.core.$ZodType>;
      in?: z.core.$ZodType;
    };
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === "pipe") s = def.in;
    else if (i === path.length) return def.shape === undefined ? undefined : Object.keys(def.shape);
    else if (def.type === "array") {
      s = def.element;
      i++;
    } else if (def.shape !== undefined) {
      s = def.shape[String(path[i])];
      i++;
    } else return undefined;
  }
  return undefined;
}

/** `unknown key "alow" (did you mean "allow"?)` */
export function unknownKeyMessage(key: string, known: readonly string[] | undefined): string {
  return `unknown key ${JSON.stringify(key)}${known === undefined ? "" : didYouMean(key, known)}`;
}

/**
 * Per-parse zod error map giving the policy's wording to zod's own issues (custom checks carry
 * their own messages). Pass it as `PolicySchema.safeParse(data, { error: policyErrorMap })`.
 */
export function policyErrorMap(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined) return "missing required key";
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    case "invalid_value": {
      if (iss.input === undefined) return "missing required key";
      const values = iss.values.map((v) => (typeof v === "string" ? v : String(v)));
      if (values.length === 1) return `expected ${describeValue(iss.values[0])}, got ${describeValue(iss.input)}`;
      return `expected one of ${values.join(", ")}, got ${describeValue(iss.input)}`;
    }
    case "too_small":
      if (iss.origin === "array" || iss.origin === "string") {
        return iss.minimum === 1 ? "must not be empty" : `must have at least ${iss.minimum} entries`;
      }
      return `must be at least ${iss.minimum}, got ${describeValue(iss.input)}`;
    case "too_big":
      if (iss.origin === "string") return `must be at most ${iss.maximum} characters`;
      if (iss.origin === "array") return `must have at most ${iss.maximum} entries`;
      return `must be at most ${iss.maximum}, got ${describeValue(iss.input)}`;
    case "unrecognized_keys": {
      const known = iss.inst instanceof z.ZodObject ? Object.keys(iss.inst.shape) : undefined;
      return iss.keys.map((k) => unknownKeyMessage(k, known)).join("; ");
    }
    default:
      return undefined;
  }
}
