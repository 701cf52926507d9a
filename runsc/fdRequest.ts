// Bytes and the descriptors that come with them (SCM_RIGHTS), read from a paused connection
// of a node:net server: the container's monitor reads its requests so, a warm process
// (service/warm.ts) the client's command, and the containerd shim a console's master.
import type { Socket } from "node:net";
import type { NativeBinding } from "../native/binding.js";
import { EAGAIN } from "../platform/abi/errno.js";

/** The longest receiveWithFds blocks the event loop for a peer's bytes. */
const BLOCKING_WAIT_MS = 5;

/**
 * recvmsg on a paused connection until enough came (done), the peer closed, or a client's
 * 10 s passed, without blocking the event loop: the bytes and the descriptors that came.
 */
export async function receiveWithFds(native: NativeBinding, conn: Socket, done: (parts: readonly Buffer[], fds: readonly number[]) => boolean): Promise<{ parts: Buffer[]; fds: number[] }> {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new Error("the connection has no descriptor");
  const parts: Buffer[] = [];
  const fds: number[] = [];
  for (let wait = 1, waited = 0, blocked = false; !done(parts, fds); ) {
    const r = native.recvFds(fd, 65536);
    if (typeof r === "number") {
      if (r !== -EAGAIN) throw new Error(`recvmsg: errno ${-r}`);
      // What the peer is sending as it connects comes within a moment: waited for once,
      // briefly, blocking (a timer's millisecond would be most of a command's time).
      if (!blocked) {
        blocked = true;
        if (native.waitReadable(fd, BLOCKING_WAIT_MS) === 1) continue;
      }
      if (waited > 10_000) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
      waited += wait;
      wait = Math.min(wait * 2, 20);
      continue;
    }
    fds.push(...r.fds);
    if (r.data.length === 0) break;
    parts.push(r.data);
  }
  return { parts, fds };
}

/** One request line and its descriptors: a client has 10 s to send it. */
export async function receiveRequest(native: NativeBinding, conn: Socket): Promise<{ text: string; fds: number[] }> {
  const whole = (parts: readonly Buffer[]): boolean => parts.length > 0 && parts[parts.length - 1]!.includes(0x0a);
  const { parts, fds } = await receiveWithFds(native, conn, whole);
  if (!whole(parts)) {
    for (const d of fds) native.close(d);
    throw new Error("no whole request came");
  }
  // Decoded once the bytes are all here: a character may span two reads.
  return { text: Buffer.concat(parts).toString(), fds };
}
