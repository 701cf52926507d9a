// The benchmark's table: one row per case, medians and ratios, plain text that reads in a
// terminal and pastes into a note.

export type Unit = "µs" | "ms" | "MiB";

export interface Target {
  /** How the target reads, e.g. "≤1.05× native". */
  readonly text: string;
  /** Undefined when the figures it needs are missing. */
  readonly ok: boolean | undefined;
}

export interface Row {
  readonly label: string;
  readonly unit: Unit;
  readonly native?: number;
  readonly cLimit?: number;
  readonly runsc?: number;
  /** runsc-ts (or the row's subject) over native. */
  readonly xNative?: number;
  /** runsc-ts (or the row's subject) over the C limit. */
  readonly xC?: number;
  readonly target?: Target;
}

/** A section title between rows. */
export interface Heading {
  readonly heading: string;
}

export type Line = Row | Heading;

/** ratio a/b, undefined unless both are finite and b is positive. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return undefined;
  return a / b;
}

/** A target of the form "subject ≤ max × reference". */
export function atMost(max: number, reference: string, r: number | undefined): Target {
  return { text: `≤${max.toFixed(2).replace(/0$/, "")}× ${reference}`, ok: r === undefined ? undefined : r <= max };
}

function num(v: number | undefined, unit: Unit): string {
  if (v === undefined || !Number.isFinite(v)) return "—";
  const digits = Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0;
  return `${v.toFixed(digits)} ${unit}`;
}

function times(r: number | undefined): string {
  return r === undefined ? "" : `${r.toFixed(2)}×`;
}

const COLUMNS = ["case", "native", "C limit", "runsc-ts", "×native", "×C", "target", ""] as const;
const RIGHT = [false, true, true, true, true, true, false, false];

/** The table as text. */
export function formatTable(lines: readonly Line[]): string {
  const cells: (string[] | string)[] = lines.map((l) => {
    if ("heading" in l) return l.heading;
    const verdict = l.target === undefined || l.target.ok === undefined ? "" : l.target.ok ? "ok" : "MISS";
    return [
      l.label,
      num(l.native, l.unit),
      num(l.cLimit, l.unit),
      num(l.runsc, l.unit),
      times(l.xNative),
      times(l.xC),
      l.target?.text ?? "",
      verdict,
    ];
  });
  const width = COLUMNS.map((c, i) =>
    Math.max(c.length, ...cells.map((r) => (typeof r === "string" ? 0 : [...r[i]!].length))),
  );
  const pad = (s: string, i: number): string => {
    const fill = " ".repeat(Math.max(0, width[i]! - [...s].length));
    return RIGHT[i] ? fill + s : s + fill;
  };
  const row = (r: readonly string[]): string => r.map(pad).join("  ").trimEnd();
  const rule = width.map((w) => "-".repeat(w)).join("  ");
  const out = [row(COLUMNS), rule];
  for (const r of cells) out.push(typeof r === "string" ? `${r}` : row(r));
  return out.join("\n");
}
