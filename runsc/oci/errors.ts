// The OCI runtime's errors, apart from the schema (zod loads only where a document is checked).

/** An error of a lifecycle command: its message, and the exit status runc gives for it. */
export class ContainerError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A config.json (or process, or resources) document that does not match the spec: one line per problem. */
export class OciConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join("\n"));
  }
}
