// execve(2) and execveat(2), checked against the policy's exec allowlist.
//
// exec cannot be performed on the task's behalf (the new image must replace the caller),
// so an allowed exec is answered with `allow` and the kernel re-reads the path. How the
// check-then-exec race is closed:
//   * the allowlist's complement that the workload can write to (its private /tmp and
//     /dev/shm) is mounted noexec, so a racing thread cannot swap in a file it made;
//   * hidden paths are masked by mounts, so the kernel refuses them whatever the string;
//   * the check resolves the path the way the kernel will (in the sandbox's root, task
//     credentials, symlinks followed) and matches the file it names, not the string.
// What remains open: a multi-threaded caller racing the string between two existing,
// visible, read-only files, one allowed and one not. A verified exec stop (ptrace
// platform) closes that; until then the note in the syscall table says so.
import type { Reply, TrapEvent } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { EACCES, EINVAL } from "../abi/errno.js";
import { AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CLOEXEC, O_NOFOLLOW, O_PATH } from "../abi/fcntl.js";
import { errnoReply } from "../errors/errors.js";
import type { Kernel } from "../kernel/task.js";
import { asSentry, asTask, closeDirfd, copyInPath, ensureValid, openDirfd, taskCreds } from "../kernel/task.js";
import type { HandlerTable } from "./handlers.js";

const linkBuf = new Uint8Array(4096);
const decoder = new TextDecoder();

/** The path, inside the sandbox, of the file an exec of (dirfd, path, flags) would run. */
function execTarget(k: Kernel, ev: TrapEvent, dirfd: number, pathIdx: number, flags: number): string | number {
  const path = copyInPath(k, ev, pathIdx);
  const empty = path.len === 0 && (flags & AT_EMPTY_PATH) !== 0;
  const creds = taskCreds(k, ev.pid);
  const dir = openDirfd(k, ev.pid, dirfd, path, empty);
  let fd = -1;
  try {
    ensureValid(k);
    asTask(k, creds);
    const open = flags & AT_SYMLINK_NOFOLLOW ? O_PATH | O_NOFOLLOW : O_PATH;
    fd = empty ? dir : k.native.openat2(dir, path.bytes, path.len, open | O_CLOEXEC, 0, 0);
    if (fd < 0) return -fd;
    asSentry(k);
    // d_path of our descriptor, relative to this thread's root: the sandbox's root.
    const self = Buffer.from(`self/fd/${fd}`);
    const n = k.native.readlinkAt(k.procFd, self, self.length, linkBuf);
    if (n < 0) return -n;
    return decoder.decode(linkBuf.subarray(0, n));
  } finally {
    if (fd >= 0 && fd !== dir) k.native.close(fd);
    closeDirfd(k, dir);
  }
}

function checkExec(k: Kernel, ev: TrapEvent, dirfd: number, pathIdx: number, flags: number): Reply {
  if (!k.exec.restricted) return ALLOW;
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return errnoReply(EINVAL);
  const target = execTarget(k, ev, dirfd, pathIdx, flags);
  if (typeof target === "number") return errnoReply(target);
  return k.exec.allowed(target) ? ALLOW : errnoReply(EACCES);
}

export const execHandlers: HandlerTable = {
  execve: (k, ev) => checkExec(k, ev, AT_FDCWD, 0, 0),
  execveat: (k, ev) => checkExec(k, ev, ev.argInt(0), 1, ev.argInt(4)),
};
