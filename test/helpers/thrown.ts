// The error fn throws, for tests that look at more than its message; throws if fn does not.
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}
