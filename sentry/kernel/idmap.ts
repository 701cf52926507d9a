// User namespace id maps: /proc/PID/uid_map and gid_map as the sentry reads them, and the
// ids a task names translated to the host's.

/** One user namespace map (uid_map or gid_map): [inside, outside, count] rows. */
export type IdMap = readonly (readonly [inside: number, outside: number, count: number])[];

/** The host id an id inside maps to, or undefined (the kernel's EINVAL for chown). */
export function hostId(map: IdMap, id: number): number | undefined {
  for (const [inside, outside, count] of map) if (id >= inside && id - inside < count) return outside + (id - inside);
  return undefined;
}

/** The id inside a host id maps to, or undefined (unmapped: the overflow id). */
export function insideId(map: IdMap, host: number): number | undefined {
  for (const [inside, outside, count] of map) if (host >= outside && host - outside < count) return inside + (host - outside);
  return undefined;
}

/** Whether a host id has a mapping inside. */
export function mappedInside(map: IdMap, host: number): boolean {
  return map.some(([, outside, count]) => host >= outside && host - outside < count);
}

/** Whether the map is the host's own (a container without a user namespace). */
export function isHostMap(map: IdMap): boolean {
  return map.some(([inside, outside, count]) => inside === 0 && outside === 0 && count >= 0xffffffff);
}

/** Parses /proc/PID/uid_map or gid_map. */
export function parseIdMap(text: string): IdMap {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every((n) => Number.isInteger(n)))
    .map(([a, b, c]) => [a!, b!, c!] as const);
}
