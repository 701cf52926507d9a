// Errors of runsc-ts itself: one line for the user, exit status 125 (like `docker run`).
export const EXIT_RUNTIME_ERROR = 125;

export class UsageError extends Error {}

/** An error of runsc-ts itself (exit status 125), as opposed to the workload's. */
export class SandboxError extends Error {}
