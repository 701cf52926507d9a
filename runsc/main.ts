// runsc-ts: the command line, run by Node in this process (bin/runsc-ts's client runs most
// commands in a warm process instead: runsc/service/warm.ts).
import { runCli } from "./cli.js";

await runCli(process.argv.slice(2));
