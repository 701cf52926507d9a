// Virtualised /proc files: meminfo, cpuinfo, stat, uptime, loadavg and the CPU range files,
// rewritten from real host texts (captured on a 2-CPU x86-64 host, trimmed) and from
// synthetic 4-CPU texts for trimming to fewer CPUs.
import { describe, expect, it } from "vitest";

import {
  countCpus,
  cpuinfo,
  cpuRange,
  LoadAverage,
  meminfo,
  stat,
  uptime,
  visibleCpus,
} from "../../../../sentry/proc/files.js";

const MIB = 1024 * 1024;

/** A host's /proc/meminfo (24 GiB, no swap), trimmed. */
const HOST_MEMINFO = [
  "MemTotal:       24683620 kB",
  "MemFree:        24190680 kB",
  "MemAvailable:   24325164 kB",
  "Buffers:            1760 kB",
  "Cached:           295208 kB",
  "SwapCached:            0 kB",
  "Active:           198548 kB",
  "Inactive:          93648 kB",
  "Active(anon):       1512 kB",
  "Inactive(anon):     2672 kB",
  "Active(file):     197036 kB",
  "Inactive(file):    90976 kB",
  "Unevictable:       10748 kB",
  "SwapTotal:             0 kB",
  "SwapFree:              0 kB",
  "AnonPages:          6056 kB",
  "Shmem:              8952 kB",
  "CommitLimit:    12341808 kB",
  "VmallocTotal:   34359738367 kB",
  "HugePages_Total:       0",
  "Hugepagesize:       2048 kB",
  "DirectMap2M:    25137152 kB",
  "",
].join("\n");

/** The value, in kB, of field name in a meminfo text. */
function field(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}:`));
  const m = line === undefined ? null : /(\d+)(?: kB)?$/.exec(line);
  return m === null ? undefined : Number(m[1]);
}

/** The line of field name in a meminfo text. */
function lineOf(text: string, name: string): string | undefined {
  return text.split("\n").find((l) => l.startsWith(`${name}:`));
}

/** One x86 /proc/cpuinfo block, as the kernel prints it (flags trimmed). */
function cpuBlock(processor: number, apicid: number, cpus: number): string {
  return [
    `processor\t: ${processor}`,
    "vendor_id\t: AuthenticAMD",
    "cpu family\t: 26",
    "model\t\t: 2",
    "model name\t: AMD EPYC",
    "stepping\t: 1",
    "cpu MHz\t\t: 2096.035",
    "cache size\t: 1024 KB",
    "physical id\t: 0",
    `siblings\t: ${cpus}`,
    `core id\t\t: ${apicid}`,
    `cpu cores\t: ${cpus}`,
    `apicid\t\t: ${apicid}`,
    `initial apicid\t: ${apicid}`,
    "fpu\t\t: yes",
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx",
    "bogomips\t: 4192.06",
    "address sizes\t: 48 bits physical, 48 bits virtual",
    "power management:",
    "",
    "",
  ].join("\n");
}

/** The host's 2-CPU /proc/cpuinfo (each block ends with a blank line, as on the host). */
const HOST_CPUINFO = cpuBlock(0, 0, 2) + cpuBlock(1, 1, 2);

/** A synthetic 4-CPU cpuinfo; processors numbers as given (0..3 unless a CPU is offline). */
function fourCpus(numbers: readonly number[] = [0, 1, 2, 3]): string {
  return numbers.map((n) => cpuBlock(n, n, 4)).join("");
}

/** The host's 2-CPU /proc/stat (intr trimmed). */
const HOST_STAT = [
  "cpu  1153157 298 433016 2784147 3197 0 13112 0 0 0",
  "cpu0 553188 298 221486 1411199 514 0 6501 0 0 0",
  "cpu1 599969 0 211529 1372948 2683 0 6610 0 0 0",
  "intr 20842497 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 8 0 0 0 0 4402 1297 0 370 1 349048",
  "ctxt 71216615",
  "btime 1795885729",
  "processes 288638",
  "procs_running 1",
  "procs_blocked 0",
  "softirq 7079723 0 1012958 7595 79060 349020 0 8 2422779 0 3208303",
  "",
].join("\n");

/** A synthetic 4-CPU /proc/stat whose per-CPU lines are named as given. */
function fourCpuStat(names: readonly string[] = ["cpu0", "cpu1", "cpu2", "cpu3"]): string {
  return [
    "cpu  1000 40 600 8000 20 0 100 0 0 0",
    `${names[0]} 100 10 50 2000 5 0 10 0 0 0`,
    `${names[1]} 200 20 100 2000 5 0 20 0 0 0`,
    `${names[2]} 300 0 200 2000 5 0 30 0 0 0`,
    `${names[3]} 400 10 250 2000 5 0 40 0 0 0`,
    "intr 1234 0 0 7",
    "ctxt 5678",
    "procs_running 3",
    "",
  ].join("\n");
}

describe("visibleCpus", () => {
  it("shows the host's CPUs without a limit", () => {
    expect(visibleCpus(2, {})).toBe(2);
  });

  it("rounds a fractional limit up and caps it to [1, host]", () => {
    expect(visibleCpus(4, { cpus: 1.5 })).toBe(2);
    expect(visibleCpus(4, { cpus: 0.25 })).toBe(1);
    expect(visibleCpus(2, { cpus: 8 })).toBe(2);
    expect(visibleCpus(4, { cpus: 0 })).toBe(1);
  });
});

describe("countCpus", () => {
  it("counts the processor entries", () => {
    expect(countCpus(HOST_CPUINFO)).toBe(2);
    expect(countCpus(fourCpus())).toBe(4);
    expect(countCpus("")).toBe(0);
  });
});

describe("meminfo", () => {
  it("comes back unchanged with neither limit nor usage", () => {
    expect(meminfo(HOST_MEMINFO, {}, {})).toBe(HOST_MEMINFO);
  });

  it("shows a 512 MiB limit with 100 MiB used", () => {
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 512 * MIB }, { memoryBytes: 100 * MIB });
    expect(lineOf(text, "MemTotal")).toBe("MemTotal:         524288 kB");
    expect(lineOf(text, "MemFree")).toBe("MemFree:          421888 kB");
    expect(field(text, "MemAvailable")).toBe(421888);
  });

  it("keeps the host's total when the limit is larger than the host", () => {
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 1024 * 1024 * MIB }, { memoryBytes: 100 * MIB });
    expect(field(text, "MemTotal")).toBe(24683620);
    expect(field(text, "MemFree")).toBe(24683620 - 102400);
    // The host has less available than the sandbox's free memory: the host's value stands.
    expect(field(text, "MemAvailable")).toBe(24325164);
  });

  it("shows the host's total less the usage when only usage is known", () => {
    const text = meminfo(HOST_MEMINFO, {}, { memoryBytes: 1024 * MIB });
    expect(field(text, "MemTotal")).toBe(24683620);
    expect(field(text, "MemFree")).toBe(24683620 - 1048576);
  });

  it("caps the host's free and available memory at the limit when usage is unknown", () => {
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 512 * MIB }, {});
    expect(field(text, "MemTotal")).toBe(524288);
    expect(field(text, "MemFree")).toBe(524288);
    expect(field(text, "MemAvailable")).toBe(524288);
  });

  it("shows no free memory when usage exceeds the limit", () => {
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 100 * MIB }, { memoryBytes: 150 * MIB });
    expect(field(text, "MemFree")).toBe(0);
    expect(field(text, "MemAvailable")).toBe(0);
  });

  it("floors byte counts to kB", () => {
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 512 * MIB }, { memoryBytes: 100 * MIB + 1 });
    expect(field(text, "MemFree")).toBe(421887);
  });

  const expected = {
    Cached: 51200,
    Shmem: 4096,
    "Active(anon)": 40960,
    "Inactive(anon)": 10240,
    "Active(file)": 20480,
    "Inactive(file)": 30720,
    Active: 61440,
    Inactive: 40960,
    // MemFree 421888 plus the reclaimable inactive file cache.
    MemAvailable: 452608,
  };

  it("takes the cache figures from a cgroup v2 memory.stat", () => {
    const memoryStat = {
      anon: 50 * MIB,
      file: 50 * MIB,
      shmem: 4 * MIB,
      active_anon: 40 * MIB,
      inactive_anon: 10 * MIB,
      active_file: 20 * MIB,
      inactive_file: 30 * MIB,
      file_mapped: 3 * MIB,
    };
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 512 * MIB }, { memoryBytes: 100 * MIB, memoryStat });
    for (const [name, kb] of Object.entries(expected)) expect([name, field(text, name)]).toEqual([name, kb]);
  });

  it("takes the cache figures from a cgroup v1 memory.stat, hierarchical totals first", () => {
    const memoryStat = {
      cache: 1 * MIB,
      shmem: 1 * MIB,
      active_anon: 1 * MIB,
      inactive_anon: 1 * MIB,
      active_file: 1 * MIB,
      inactive_file: 1 * MIB,
      total_cache: 50 * MIB,
      total_rss: 50 * MIB,
      total_shmem: 4 * MIB,
      total_active_anon: 40 * MIB,
      total_inactive_anon: 10 * MIB,
      total_active_file: 20 * MIB,
      total_inactive_file: 30 * MIB,
    };
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 512 * MIB }, { memoryBytes: 100 * MIB, memoryStat });
    for (const [name, kb] of Object.entries(expected)) expect([name, field(text, name)]).toEqual([name, kb]);
  });

  it("uses v1's local keys when there are no totals", () => {
    const memoryStat = { cache: 8 * MIB, inactive_file: 6 * MIB, shmem: 2 * MIB };
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 512 * MIB }, { memoryBytes: 100 * MIB, memoryStat });
    expect(field(text, "Cached")).toBe(8192);
    expect(field(text, "Inactive(file)")).toBe(6144);
    expect(field(text, "Shmem")).toBe(2048);
    // One part of Active/Inactive unknown: the host's sums stand.
    expect(lineOf(text, "Active")).toBe(lineOf(HOST_MEMINFO, "Active"));
    expect(lineOf(text, "Inactive")).toBe(lineOf(HOST_MEMINFO, "Inactive"));
  });

  it("passes every other line through unchanged", () => {
    const memoryStat = { file: 50 * MIB, shmem: 4 * MIB, active_anon: MIB, inactive_anon: MIB, active_file: MIB, inactive_file: MIB };
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 512 * MIB }, { memoryBytes: 100 * MIB, memoryStat });
    const rewritten = new Set(["MemTotal", "MemFree", "MemAvailable", "Cached", "Shmem", "Active", "Inactive"]);
    const hostLines = HOST_MEMINFO.split("\n");
    const lines = text.split("\n");
    expect(lines).toHaveLength(hostLines.length);
    hostLines.forEach((hostLine, i) => {
      const name = hostLine.split(":")[0] ?? "";
      if (!rewritten.has(name.replace(/\((anon|file)\)$/, ""))) expect(lines[i]).toBe(hostLine);
    });
    expect(lineOf(text, "SwapTotal")).toBe("SwapTotal:             0 kB");
    expect(lineOf(text, "Buffers")).toBe("Buffers:            1760 kB");
    expect(lineOf(text, "HugePages_Total")).toBe("HugePages_Total:       0");
    expect(text.endsWith("kB\n")).toBe(true);
  });

  it("keeps the column where the numbers end", () => {
    const memoryStat = { file: 7 * MIB, shmem: MIB, active_anon: MIB, inactive_anon: MIB, active_file: MIB, inactive_file: MIB };
    const text = meminfo(HOST_MEMINFO, { memoryBytes: 3 * MIB }, { memoryBytes: MIB, memoryStat });
    const hostLines = HOST_MEMINFO.split("\n");
    text.split("\n").forEach((line, i) => {
      expect(line.length).toBe(hostLines[i]?.length);
      expect(line.indexOf(" kB")).toBe(hostLines[i]?.indexOf(" kB"));
    });
    expect(lineOf(text, "MemTotal")).toBe("MemTotal:           3072 kB");
  });

  it("keeps a space before a number wider than the host's field", () => {
    const text = meminfo("MemTotal:  1 kB\nCached:  1 kB\n", {}, { memoryStat: { file: 123456 * 1024 } });
    expect(text).toBe("MemTotal:  1 kB\nCached: 123456 kB\n");
  });

  it("passes odd lines through without throwing", () => {
    const odd = "MemTotal: lots kB\nMemFree:\ngarbage\n\nMemAvailable 7 kB\n";
    expect(meminfo(odd, { memoryBytes: 512 * MIB }, { memoryBytes: 100 * MIB })).toBe(odd);
    expect(meminfo(HOST_MEMINFO, { memoryBytes: Number.NaN }, { memoryBytes: -1 })).toBe(HOST_MEMINFO);
  });
});

describe("cpuinfo", () => {
  it("leaves the host's text when the sandbox sees all its CPUs or more", () => {
    expect(cpuinfo(HOST_CPUINFO, 2)).toBe(HOST_CPUINFO);
    expect(cpuinfo(HOST_CPUINFO, 8)).toBe(HOST_CPUINFO);
  });

  it("keeps the host's first block for one CPU", () => {
    const text = cpuinfo(HOST_CPUINFO, 1);
    expect(text).toBe(cpuBlock(0, 0, 1));
    expect(countCpus(text)).toBe(1);
    expect(text.endsWith("power management:\n\n")).toBe(true);
  });

  it("trims 4 CPUs to 2, with siblings and cpu cores to match", () => {
    const text = cpuinfo(fourCpus(), 2);
    expect(text).toBe(cpuBlock(0, 0, 2) + cpuBlock(1, 1, 2));
    expect(text).toContain("siblings\t: 2\n");
    expect(text).toContain("cpu cores\t: 2\n");
    expect(text).not.toContain("processor\t: 2");
  });

  it("renumbers processors that are not 0..n-1", () => {
    const text = cpuinfo(fourCpus([0, 2, 4, 6]), 2);
    expect(text.split("\n").filter((l) => l.startsWith("processor"))).toEqual(["processor\t: 0", "processor\t: 1"]);
    // Only the processor number changes: the APIC ids are the host's.
    expect(text).toContain("apicid\t\t: 2\n");
  });

  it("keeps a host that ends without a blank line that way", () => {
    const host = fourCpus().replace(/\n\n$/, "\n");
    const text = cpuinfo(host, 3);
    expect(countCpus(text)).toBe(3);
    expect(text.endsWith("power management:\n")).toBe(true);
    expect(text.endsWith("\n\n")).toBe(false);
  });

  it("keeps blocks that are not processors", () => {
    const host = "processor\t: 0\nBogoMIPS\t: 38.40\n\nprocessor\t: 1\nBogoMIPS\t: 38.40\n\nHardware\t: BCM2835\nRevision\t: a02082\n";
    expect(cpuinfo(host, 1)).toBe("processor\t: 0\nBogoMIPS\t: 38.40\n\nHardware\t: BCM2835\nRevision\t: a02082\n");
  });

  it("does not throw on odd input", () => {
    expect(cpuinfo("", 1)).toBe("");
    expect(cpuinfo("nonsense\n", 1)).toBe("nonsense\n");
    expect(cpuinfo(HOST_CPUINFO, Number.NaN)).toBe(HOST_CPUINFO);
  });
});

describe("stat", () => {
  it("leaves the host's text when the sandbox sees all its CPUs or more", () => {
    expect(stat(HOST_STAT, 2)).toBe(HOST_STAT);
    expect(stat(HOST_STAT, 3)).toBe(HOST_STAT);
  });

  it("keeps one CPU of the host's two, the aggregate equal to it", () => {
    const lines = stat(HOST_STAT, 1).split("\n");
    expect(lines.slice(0, 3)).toEqual([
      "cpu  553188 298 221486 1411199 514 0 6501 0 0 0",
      "cpu0 553188 298 221486 1411199 514 0 6501 0 0 0",
      "intr 20842497 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 8 0 0 0 0 4402 1297 0 370 1 349048",
    ]);
  });

  it("trims 4 CPUs to 2 and sums the aggregate from them", () => {
    expect(stat(fourCpuStat(), 2)).toBe(
      [
        "cpu  300 30 150 4000 10 0 30 0 0 0",
        "cpu0 100 10 50 2000 5 0 10 0 0 0",
        "cpu1 200 20 100 2000 5 0 20 0 0 0",
        "intr 1234 0 0 7",
        "ctxt 5678",
        "procs_running 3",
        "",
      ].join("\n"),
    );
  });

  it("renumbers the kept CPUs in order of appearance", () => {
    const lines = stat(fourCpuStat(["cpu2", "cpu5", "cpu6", "cpu7"]), 2).split("\n");
    expect(lines[1]).toBe("cpu0 100 10 50 2000 5 0 10 0 0 0");
    expect(lines[2]).toBe("cpu1 200 20 100 2000 5 0 20 0 0 0");
    expect(lines.some((l) => /^cpu[2-7] /.test(l))).toBe(false);
  });

  it("keeps the aggregate's column count", () => {
    const host = "cpu  9 9 9 9\ncpu0 1 2 3\ncpu1 4 5 6 7 8\ncpu2 1 1 1 1\n";
    expect(stat(host, 2)).toBe("cpu  5 7 9 7\ncpu0 1 2 3\ncpu1 4 5 6 7 8\n");
  });

  it("sums beyond the range of doubles exactly", () => {
    const host = "cpu  0 0\ncpu0 9007199254740993 1\ncpu1 9007199254740993 1\ncpu2 5 5\n";
    expect(stat(host, 2).split("\n")[0]).toBe("cpu  18014398509481986 2");
  });
});

describe("uptime", () => {
  it("counts idle time as the CPUs' time not used by the sandbox", () => {
    expect(uptime(100, 2, { cpuSeconds: 50 })).toBe("100.00 150.00\n");
    expect(uptime(12.5, 2, {})).toBe("12.50 25.00\n");
  });

  it("never shows negative idle time", () => {
    expect(uptime(10, 1, { cpuSeconds: 25 })).toBe("10.00 0.00\n");
  });
});

describe("LoadAverage", () => {
  /** The three averages of a LoadAverage's text. */
  function averages(load: LoadAverage): number[] {
    return load.text(0, 0, 0).split(" ").slice(0, 3).map(Number);
  }

  it("shows zeros before the first sample, and the sample's tasks after it", () => {
    const load = new LoadAverage();
    expect(load.text(1, 10, 42)).toBe("0.00 0.00 0.00 1/10 42\n");
    load.sample(1000, 3);
    expect(load.text(3, 12, 43)).toBe("3.00 3.00 3.00 3/12 43\n");
  });

  it("applies the kernel's formula once after exactly one 5 s interval", () => {
    const load = new LoadAverage();
    load.sample(0, 0);
    load.sample(4999, 100);
    expect(load.text(100, 200, 7)).toBe("0.00 0.00 0.00 100/200 7\n");
    load.sample(5000, 100);
    // 100 * (1 - exp(-5/period)) for 60, 300 and 900 s.
    expect(load.text(100, 200, 7)).toBe("8.00 1.65 0.55 100/200 7\n");
    expect(averages(load)).toEqual([60, 300, 900].map((p) => Number((100 * (1 - Math.exp(-5 / p))).toFixed(2))));
  });

  it("approaches 2 over 60 s with 2 runnable tasks", () => {
    const load = new LoadAverage();
    load.sample(0, 0);
    let previous = averages(load);
    for (let t = 5000; t <= 60_000; t += 5000) {
      load.sample(t, 2);
      const now = averages(load);
      expect(now[0]).toBeGreaterThan(previous[0] ?? Infinity);
      expect(now[0]).toBeLessThan(2);
      previous = now;
    }
    // 2 * (1 - e^-1), 2 * (1 - e^-0.2), 2 * (1 - e^-(1/15)).
    expect(load.text(2, 9, 1)).toBe("1.26 0.36 0.13 2/9 1\n");
    load.sample(3_600_000, 2);
    expect(averages(load)[0]).toBe(2);
  });

  it("gives the same averages sampled lazily as sampled every 5 s", () => {
    const stepwise = new LoadAverage();
    const lazy = new LoadAverage();
    stepwise.sample(0, 0);
    lazy.sample(0, 0);
    for (let t = 5000; t <= 60_000; t += 5000) stepwise.sample(t, 2);
    lazy.sample(60_000, 2);
    expect(lazy.text(2, 9, 1)).toBe(stepwise.text(2, 9, 1));
  });

  it("carries a partial interval over to the next sample", () => {
    const carried = new LoadAverage();
    carried.sample(0, 0);
    carried.sample(7000, 2);
    carried.sample(10_000, 2);
    const whole = new LoadAverage();
    whole.sample(0, 0);
    whole.sample(10_000, 2);
    expect(carried.text(2, 2, 2)).toBe(whole.text(2, 2, 2));
    expect(averages(whole)[0]).toBeGreaterThan(0.16);
  });

  it("decays towards zero when nothing runs", () => {
    const load = new LoadAverage();
    load.sample(0, 4);
    load.sample(60_000, 0);
    // 4 * e^-1, 4 * e^-0.2, 4 * e^-(1/15).
    expect(load.text(0, 5, 9)).toBe("1.47 3.27 3.74 0/5 9\n");
  });
});

describe("cpuRange", () => {
  it("shows one CPU as 0 and more as a range", () => {
    expect(cpuRange(1)).toBe("0\n");
    expect(cpuRange(2)).toBe("0-1\n");
    expect(cpuRange(4)).toBe("0-3\n");
  });
});
