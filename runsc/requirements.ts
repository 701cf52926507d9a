// Kernel features runsc-ts relies on, probed at startup with a message naming what is missing.
import type { NativeBinding } from "../native/binding.js";

/** Linux 5.14: SECCOMP_ADDFD_FLAG_SEND, the last feature the sentry cannot do without. */
const MIN_KERNEL: readonly [number, number] = [5, 14];

/** Returns a one-line description of what this kernel lacks, or undefined when it has all. */
export function missingKernelFeatures(native: NativeBinding): string | undefined {
  const p = native.probe();
  const missing: string[] = [];
  const m = /^(\d+)\.(\d+)/.exec(p.release);
  const [maj, min] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (maj < MIN_KERNEL[0] || (maj === MIN_KERNEL[0] && min < MIN_KERNEL[1])) {
    missing.push(`Linux >= ${MIN_KERNEL.join(".")} (seccomp ADDFD with FLAG_SEND)`);
  }
  if (!p.userNotif) missing.push("seccomp user notification (SECCOMP_RET_USER_NOTIF)");
  if (!p.openat2) missing.push("openat2(2)");
  if (!p.pidfdOpen) missing.push("pidfd_open(2)");
  if (!p.pidfdGetfd) missing.push("pidfd_getfd(2)");
  if (!p.mountSetattr) missing.push("mount_setattr(2)");
  if (missing.length === 0) return undefined;
  return `this kernel (${p.release}) lacks: ${missing.join(", ")}`;
}

/** True when the running kernel is at least major.minor. */
export function kernelAtLeast(native: NativeBinding, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(native.probe().release);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}
