// What the policy unit tests share: the smallest valid header, and the lines of the
// PolicyError a load throws.
import { expect } from "vitest";
import { PolicyError } from "../../sentry/policy/load.js";

export const HEAD = "apiVersion: runsc-ts/v1\nkind: Policy\nname: t\n";

/** The formatted lines of the PolicyError `fn` throws (one per issue). */
export function errorLines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    const e = err as PolicyError;
    expect(e.message.split("\n")).toHaveLength(e.issues.length);
    return e.message.split("\n");
  }
  throw new Error("expected a PolicyError, got success");
}
