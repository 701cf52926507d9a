// Synchronous, complete writes to a file descriptor, for output that shares stdio with a
// workload.
import { writeSync } from "node:fs";

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of text to fd, synchronously, waiting out EAGAIN: the descriptor may be a
 * non-blocking pipe that a slow reader fills (we share stdio with the workload, whose
 * programs may set O_NONBLOCK on it). Never through process.stdout/stderr, which would make
 * our stdio non-blocking for the workload too.
 */
export function writeFully(fd: number, text: string | Uint8Array): void {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      const n = writeSync(fd, buf);
      buf = buf.subarray(n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

