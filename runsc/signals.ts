// The signals a foreground runsc-ts passes on to what it runs (`do`, `run`, `exec`): the
// terminal's and job control's. One list, so that the commands cannot drift apart.
export const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT"] as const;
