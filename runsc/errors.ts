// Errors of runsc-ts itself: one line for the user, exit status 125 (like `docker run`).
export const EXIT_RUNTIME_ERROR = 125;

export class UsageError extends Error {}
