// Capability numbers: include/uapi/linux/capability.h. Bit N of a capability set is capability N.

export const CAP_CHOWN = 0;
export const CAP_DAC_OVERRIDE = 1;
export const CAP_DAC_READ_SEARCH = 2;
export const CAP_FOWNER = 3;
export const CAP_FSETID = 4;
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;
export const CAP_NET_BIND_SERVICE = 10;
export const CAP_SYS_ADMIN = 21;

/** A capability's bit in a capability set. */
export function capBit(cap: number): bigint {
  return 1n << BigInt(cap);
}
