// Where the time goes: CPU of the local MongoDB-wire server, of the Kafka broker and of this
// process, so that figures taken while the machine runs faster or slower can still be compared.
import { readFileSync } from 'node:fs';
import { projectRoot } from '../stackEnv.ts';

export type CpuMs = { server: number; kafka: number; node: number };

/** CPU time (ms) a process of the local stack has used (from its pid file; NaN without one). */
function stackCpuMs(service: 'mongodb' | 'kafka'): number {
  try {
    const pid = readFileSync(`${projectRoot}.stack/run/${service}.pid`, 'utf8').trim();
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1_000) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts measuring; the returned function gives the CPU ms spent since by the MongoDB-wire server,
 * by the Kafka broker and by this process (the workers under test run in it, with the benchmark's
 * readers).
 */
export function cpuMeter(): () => CpuMs {
  const server = stackCpuMs('mongodb');
  const kafka = stackCpuMs('kafka');
  const node = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(node);
    return { server: stackCpuMs('mongodb') - server, kafka: stackCpuMs('kafka') - kafka, node: (used.user + used.system) / 1_000 };
  };
}

/** CPU ms per unit (command, erasure) of each, to three decimals. */
export function perUnit(cpu: CpuMs, units: number): CpuMs {
  const of = (ms: number) => Math.round((ms / Math.max(units, 1)) * 1_000) / 1_000;
  return { server: of(cpu.server), kafka: of(cpu.kafka), node: of(cpu.node) };
}
