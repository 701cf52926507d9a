// The benchmark's working directory: the C probes built with gcc, the policies and the
// source file the workloads use, in a world-readable directory under /var/tmp (the
// sandbox's /tmp is private, and root inside the sandbox is an unprivileged host uid).
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultSpec } from "../runsc/commands/spec.js";

/** A problem that stops the benchmark before anything is measured (exit status 1). */
export class SetupError extends Error {}

export interface BenchDir {
  readonly dir: string;
  readonly loop: string;
  readonly supervisor: string;
  readonly timeit: string;
  readonly helloC: string;
  /** Traps getppid to the sentry, which has no handler for it and answers allow. */
  readonly trapGetppidPolicy: string;
  /** Traps openat to the sentry, which performs the open and injects the fd. */
  readonly trapOpenatPolicy: string;
  /** The default policy with filesystem.root: overlay. */
  readonly overlayPolicy: string;
  /** A host-owned file (0644 root) that the overlay's root inside may write. */
  readonly hostOwned: string;
  /** A generated C project (PROJECT_FILES sources and a Makefile), world-writable. */
  readonly project: string;
  /** The default policy with the project read-write. */
  readonly buildPolicy: string;
  /** An OCI bundle of a busybox rootfs running `true`, or why there is none. */
  readonly bundle: string | { missing: string };
  remove(): void;
}

/** How many .c files the generated project has. */
export const PROJECT_FILES = 50;

/** A small C project: n sources of a few functions each, main.c calling them, a Makefile. */
function writeProject(dir: string, n: number): void {
  mkdirSync(dir, { mode: 0o777 });
  chmodSync(dir, 0o777);
  const names = Array.from({ length: n }, (_, i) => `mod${String(i).padStart(2, "0")}`);
  for (const m of names) {
    const body = [`#include <string.h>`, `#include <stdio.h>`, ``];
    for (let f = 0; f < 8; f++) {
      body.push(`static int ${m}_h${f}(const char *s) { int h = ${f}; while (*s) h = h * 31 + *s++; return h; }`);
    }
    body.push(`int ${m}(void) { char b[64]; snprintf(b, sizeof b, "%s", "${m}"); return ${Array.from({ length: 8 }, (_, f) => `${m}_h${f}(b)`).join(" ^ ")} + (int)strlen(b); }`, ``);
    writeFileSync(join(dir, `${m}.c`), body.join("\n"));
  }
  const main = [`#include <stdio.h>`, ...names.map((m) => `int ${m}(void);`), `int main(void) {`, `  int x = 0;`, ...names.map((m) => `  x ^= ${m}();`), `  printf("%d\\n", x);`, `  return 0;`, `}`, ``];
  writeFileSync(join(dir, "main.c"), main.join("\n"));
  const objs = [...names, "main"].map((m) => `${m}.o`).join(" ");
  writeFileSync(join(dir, "Makefile"), `CFLAGS = -O2\n\nprog: ${objs}\n\t$(CC) -o $@ $^\n\n%.o: %.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n\nclean:\n\trm -f prog *.o\n`);
}

const PROBES = [
  { name: "loop", flags: [] },
  { name: "supervisor", flags: ["-pthread"] },
  { name: "timeit", flags: [] },
] as const;

function trapPolicy(name: string, syscall: string, why: string): string {
  return [
    `# ${why}`,
    "apiVersion: runsc-ts/v1",
    "kind: Policy",
    `name: ${name}`,
    "syscalls:",
    "  rules:",
    `    - { names: [${syscall}], action: trap }`,
    "",
  ].join("\n");
}

const OVERLAY_POLICY = [
  "# the default policy, with a writable root whose writes land in memory",
  "apiVersion: runsc-ts/v1",
  "kind: Policy",
  "name: bench-overlay",
  "extends: default",
  "filesystem:",
  "  root: overlay",
  "",
].join("\n");

/** The default policy with the generated project writable: what a build job needs. */
function buildPolicy(project: string): string {
  return [
    "# the default policy, with the project to build read-write",
    "apiVersion: runsc-ts/v1",
    "kind: Policy",
    "name: bench-build",
    "extends: default",
    "filesystem:",
    "  rules:",
    `    - { path: ${project}/**, access: read-write }`,
    "",
  ].join("\n");
}

const HELLO_C = '#include <stdio.h>\n\nint main(void) {\n  puts("hello");\n  return 0;\n}\n';

/** The gcc version line, or a SetupError saying how to get gcc. */
export function requireGcc(): string {
  const r = spawnSync("gcc", ["--version"], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) {
    throw new SetupError(
      "gcc is required to build the benchmark's C probes (bench/c/*.c) and for the gcc workload; " +
        "install it (Debian: apt-get install gcc libc6-dev) and run again",
    );
  }
  return r.stdout.split("\n")[0] ?? "gcc";
}

/** Creates the directory and builds everything in it. */
/**
 * A bundle for the OCI runtimes: a rootfs of Debian's static busybox (the applets `true`,
 * `sh` and `sleep`), and runc's default spec running `true`, without a terminal.
 */
function writeBundle(dir: string): string | { missing: string } {
  const busybox = "/bin/busybox";
  if (!existsSync(busybox) || spawnSync("ldd", [busybox]).status === 0) return { missing: "a static /bin/busybox (apt-get install busybox-static)" };
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "proc", "dev", "sys", "tmp", "etc"]) mkdirSync(join(rootfs, d), { recursive: true, mode: 0o755 });
  copyFileSync(busybox, join(rootfs, "bin/busybox"));
  chmodSync(join(rootfs, "bin/busybox"), 0o755);
  for (const applet of ["true", "sh", "sleep"]) symlinkSync("busybox", join(rootfs, "bin", applet));
  const spec = defaultSpec({ rootless: false }) as { process: { terminal: boolean; args: string[] }; root: { path: string } };
  spec.process.terminal = false;
  spec.process.args = ["true"];
  spec.root.path = rootfs;
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec, null, 2));
  return dir;
}

export function prepare(srcDir: string): BenchDir {
  const dir = mkdtempSync("/var/tmp/runsc-ts-bench-");
  let bundle: string | { missing: string } = { missing: "not made" };
  chmodSync(dir, 0o755);
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    for (const p of PROBES) {
      const src = join(srcDir, `${p.name}.c`);
      if (!existsSync(src)) throw new SetupError(`missing ${src}`);
      const out = join(dir, p.name);
      const r = spawnSync("gcc", ["-O2", "-Wall", "-o", out, src, ...p.flags], { encoding: "utf8" });
      if (r.error !== undefined || r.status !== 0) {
        throw new SetupError(`gcc failed on ${src}:\n${r.stderr || r.error?.message || ""}`);
      }
      chmodSync(out, 0o755);
    }
    const files: Array<[string, string]> = [
      ["hello.c", HELLO_C],
      ["trap-getppid.yaml", trapPolicy("bench-trap-getppid", "getppid", "getppid goes to the sentry: a pure round trip")],
      ["trap-openat.yaml", trapPolicy("bench-trap-openat", "openat", "openat goes to the sentry, which opens and injects the fd")],
      ["overlay.yaml", OVERLAY_POLICY],
      ["build.yaml", buildPolicy(join(dir, "project"))],
      // A file the host's root owns: under the overlay root, root inside writes it through the sentry.
      ["host-owned", "written by the benchmark\n"],
    ];
    for (const [name, text] of files) {
      writeFileSync(join(dir, name), text);
      chmodSync(join(dir, name), 0o644);
    }
    writeProject(join(dir, "project"), PROJECT_FILES);
    bundle = writeBundle(join(dir, "bundle"));
  } catch (err) {
    remove();
    throw err;
  }
  return {
    dir,
    loop: join(dir, "loop"),
    supervisor: join(dir, "supervisor"),
    timeit: join(dir, "timeit"),
    helloC: join(dir, "hello.c"),
    trapGetppidPolicy: join(dir, "trap-getppid.yaml"),
    trapOpenatPolicy: join(dir, "trap-openat.yaml"),
    overlayPolicy: join(dir, "overlay.yaml"),
    hostOwned: join(dir, "host-owned"),
    project: join(dir, "project"),
    buildPolicy: join(dir, "build.yaml"),
    bundle,
    remove,
  };
}
