// The ids a sandbox's user namespace maps: root inside is HOST_ID_BASE outside, an
// unprivileged uid that owns nothing on the host.

/** Host ids that the sandbox's ids 0..ID_RANGE-1 map to. */
export const HOST_ID_BASE = 100000;
export const ID_RANGE = 65536;

/** Whether a host id is one of the sandbox's. */
export function isSandboxId(id: number): boolean {
  return id >= HOST_ID_BASE && id < HOST_ID_BASE + ID_RANGE;
}
