// --metrics-address: its text, and the socket address it names (without the endpoint's
// libraries: create makes a container's listening socket before its monitor runs).
import { isIPv4, isIPv6 } from "node:net";

export class MetricsAddressError extends Error {}

/** --metrics-address: HOST:PORT, [IPV6]:PORT, localhost:PORT or :PORT (every IPv4 address). */
export function parseMetricsAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port > 0 && port < 65536)) throw new MetricsAddressError(`--metrics-address: expected HOST:PORT (127.0.0.1:9100, [::1]:9100, :9100), got ${JSON.stringify(text)}`);
  const host = m[1] ?? (m[2] === "" ? "0.0.0.0" : m[2] === "localhost" ? "127.0.0.1" : m[2]!);
  if (m[1] !== undefined ? !isIPv6(host) : !isIPv4(host)) throw new MetricsAddressError(`--metrics-address: ${JSON.stringify(host)} is not an IP address (or localhost)`);
  return { host, port };
}

/** The address as a struct sockaddr_in or sockaddr_in6, for a socket made outside Node (create's, for a monitor). */
export function sockaddrOf(a: { host: string; port: number }): Uint8Array {
  if (isIPv4(a.host)) {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setUint16(0, 2 /* AF_INET */, true);
    v.setUint16(2, a.port, false);
    a.host.split(".").forEach((x, i) => (b[4 + i] = Number(x)));
    return b;
  }
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, 10 /* AF_INET6 */, true);
  v.setUint16(2, a.port, false);
  const [head, tail] = a.host.split("::") as [string, string | undefined];
  const words = (s: string | undefined): number[] => (s === undefined || s === "" ? [] : s.split(":").map((w) => parseInt(w, 16)));
  const h = words(head);
  const t = words(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((w, i) => v.setUint16(8 + i * 2, w, false));
  return b;
}
