// How far a bench row's figures can be trusted. Two signs of noise, measured
// around each run: other work on the machine (the CPU it used while the run
// ran, which the run's own processes could not have), and the spread of the
// receiver's rate between the rounds of a run (frequency scaling, a noisy
// neighbour, a throttled VM all show there, whatever their cause).

/** Average cores of other work at or above which a row is called noisy. */
export const BUSY_CORES = 0.2;
/** A spread of the rounds' rates ((max - min) / median) at or above which a row is called noisy. */
export const NOISY_SPREAD = 0.1;
/** The length of a round, and of the warm-up left out before the first. */
export const ROUND_MS = 500;

/** CPU time counters, in clock ticks: the machine's busy and all, and this process's with its reaped children. */
export interface CpuTicks { busy: number; total: number; ours: number }

/**
 * The counters from /proc/stat's first line and /proc/self/stat's text. A
 * process's children count in `ours` once reaped (cutime, cstime), so the
 * reading after a run must wait for its children to have exited.
 */
export function cpuTicks(procStat: string, selfStat: string): CpuTicks {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice; guest time is in user already.
  const [user, nice, system, idle, iowait, irq, softirq, steal] = procStat.split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  // The fields after the command name (which may hold spaces and parentheses): utime is the 12th.
  const fields = selfStat.slice(selfStat.lastIndexOf(')') + 2).split(' ');
  const ours = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  return { busy, total: busy + idle + iowait, ours };
}

/** Average cores other work kept busy between two readings on a machine of `cpus`; null without ticks between them. */
export function otherCores(before: CpuTicks, after: CpuTicks, cpus: number): number | null {
  const total = after.total - before.total;
  if (total <= 0) return null;
  return Math.max(0, (after.busy - before.busy - (after.ours - before.ours)) / total) * cpus;
}

/** One progress report: when (ms) and how many datagrams in all. */
export interface Sample { at: number; datagrams: number }

/**
 * The spread of the rate over rounds of at least ROUND_MS, from the samples
 * of one receiver: (max - min) / median of the rounds' rates. The rounds run
 * from ROUND_MS after the first datagram (the warm-up) to the sample before
 * the last that counted more (the sender stopped somewhere after it). Null
 * with fewer than two rounds.
 */
export function spread(samples: readonly Sample[]): number | null {
  const first = samples.findIndex((s) => s.datagrams > 0);
  if (first < 0) return null;
  let last = samples.length - 1;
  while (last > first && samples[last].datagrams === samples[last - 1].datagrams) last--;
  const rates: number[] = [];
  let from = samples.findIndex((s, i) => i > first && s.at - samples[first].at >= ROUND_MS);
  if (from < 0) return null;
  for (let i = from + 1; i < last; i++) {
    if (samples[i].at - samples[from].at < ROUND_MS) continue;
    rates.push((samples[i].datagrams - samples[from].datagrams) / (samples[i].at - samples[from].at));
    from = i;
  }
  if (rates.length < 2) return null;
  rates.sort((a, b) => a - b);
  const median = rates.length % 2 === 1 ? rates[rates.length >> 1] : (rates[rates.length / 2 - 1] + rates[rates.length / 2]) / 2;
  return median > 0 ? (rates[rates.length - 1] - rates[0]) / median : null;
}
