// One request line and the descriptors that come with it (SCM_RIGHTS), read from a paused
// connection of a node:net server: the container's monitor reads its requests so, and a
// warm process (service/warm.ts) the client's command.
import type { Socket } from "node:net";
import type { NativeBinding } from "../native/binding.js";
import { EAGAIN } from "../platform/abi/errno.js";

/** recvmsg until the line's end, without blocking the event loop; a client has 10 s to send it. */
export async function receiveRequest(native: NativeBinding, conn: Socket): Promise<{ text: string; fds: number[] }> {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new Error("the connection has no descriptor");
  const parts: Buffer[] = [];
  const fds: number[] = [];
  const whole = (): boolean => parts.length > 0 && parts[parts.length - 1]!.includes(0x0a);
  for (let wait = 1, waited = 0; !whole(); ) {
    const r = native.recvFds(fd, 65536);
    if (typeof r === "number") {
      if (r !== -EAGAIN) throw new Error(`recvmsg: errno ${-r}`);
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
  if (!whole()) {
    for (const d of fds) native.close(d);
    throw new Error("no whole request came");
  }
  // Decoded once the bytes are all here: a character may span two reads.
  return { text: Buffer.concat(parts).toString(), fds };
}
