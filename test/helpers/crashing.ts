import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { cleanup } from './services.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts crashingWorker.ts against the test stack and this test's topics (`env`) and database
 * (`database`); resolves once it is ready, with the signal it will end by. Killed after the test
 * if it is still running.
 */
export async function startCrashingWorker(options: {
  worker: 'profile' | 'deletion';
  at: 'afterWrite' | 'afterProduce' | 'afterPublish' | 'profile';
  database: string;
  env: Record<string, string>;
}): Promise<{ exited: Promise<NodeJS.Signals | null> }> {
  const child = spawn(process.execPath, ['test/helpers/crashingWorker.ts'], {
    cwd: root,
    env: { ...process.env, ...inject('services'), ...options.env, CRASH_WORKER: options.worker, CRASH_AT: options.at, CRASH_DB: options.database, BOARD_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  // Never left running after the test, should it not reach its crash point.
  cleanup(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.on('exit', () => reject(new Error(`the crashing ${options.worker} worker exited before it was ready`)));
  });
  return { exited };
}
