// Where the time goes: CPU of the local MongoDB-wire server and of this process, so that figures
// taken while the machine runs faster or slower can still be compared.
import { readFileSync } from 'node:fs';
import { projectRoot } from '../stackEnv.ts';

export type CpuMs = { server: number; node: number };

/** CPU time (ms) the local MongoDB-wire server has used (from its pid file; NaN without one). */
function serverCpuMs(): number {
  try {
    const pid = readFileSync(`${projectRoot}.stack/run/mongodb.pid`, 'utf8').trim();
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1_000) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts measuring; the returned function gives the CPU ms spent since, by the server and by this
 * process (the workers under test run in it, with the benchmark's readers).
 */
export function cpuMeter(): () => CpuMs {
  const server = serverCpuMs();
  const node = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(node);
    return { server: serverCpuMs() - server, node: (used.user + used.system) / 1_000 };
  };
}
