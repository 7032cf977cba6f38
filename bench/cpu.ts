/**
 * CPU time of a process and every process below it (cluster workers), read from /proc.
 * Requests per second swing by half between runs on a shared machine; the CPU time the process
 * under test spends per request is the steadier figure, so the table's ratios are built from it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** Clock ticks per second for /proc's utime and stime (100 on Linux almost everywhere). */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export const CPU_MEASURABLE = existsSync('/proc/self/stat');

/** utime + stime of one process, in microseconds; 0 when it has gone. */
function ownCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)) {
      if (tid !== '') out.push(Number(tid));
    }
  } catch {
    // The process ended, or the kernel has no children file: count the process alone.
  }
  return out;
}

/** CPU microseconds used so far by `pid` and all its descendants. */
export function treeCpu(pid: number): number {
  let total = ownCpu(pid);
  for (const child of childrenOf(pid)) total += treeCpu(child);
  return total;
}
