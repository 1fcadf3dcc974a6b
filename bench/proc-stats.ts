/**
 * Per-process counters from /proc for the benchmarks: resident memory and
 * CPU time (user and system) of a pid. Linux only; every reader returns null
 * when the process is gone.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of utime/stime in /proc/PID/stat on every Linux we run on. */
const CLOCK_TICKS_PER_S = 100;

/** VmRSS in bytes, or null. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

export interface CpuTimes {
  userS: number;
  systemS: number;
}

/** CPU seconds the process used so far (all its threads), or null. */
export function cpuTimes(pid: number): CpuTimes | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    return { userS: Number(rest[11]) / CLOCK_TICKS_PER_S, systemS: Number(rest[12]) / CLOCK_TICKS_PER_S };
  } catch {
    return null;
  }
}

/**
 * Nanoseconds the process's threads have run on a CPU so far (the first field of each
 * /proc/PID/task/TID/schedstat, summed), or null. Far finer than utime/stime's 10 ms ticks: what a few
 * hundred pings cost a process can be told apart.
 */
export function runTimeNs(pid: number): number | null {
  try {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return total;
  } catch {
    return null;
  }
}

/**
 * Voluntary context switches of the process's threads so far (each time a thread blocked: a wake-up when it
 * next runs), summed over /proc/PID/task/TID/status, or null.
 */
export function voluntarySwitches(pid: number): number | null {
  try {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const m = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
        if (m !== null) total += Number(m[1]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return total;
  } catch {
    return null;
  }
}

export const MIB = 1024 * 1024;
