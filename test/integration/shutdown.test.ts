import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { randomName } from '../helpers/services.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** SPEC §7: SIGTERM / SIGINT stop consuming, finish the batch in flight, commit, close, exit 0. */
describe('the suite process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('on %s drains and exits 0 within 10 s', async (signal) => {
    const child = spawn(process.execPath, ['workers/suite.ts'], {
      cwd: root,
      env: { ...process.env, ...inject('services'), PROFILES_ENV: randomName('shutdown'), OPS_PORT: '0', BOARD_DISABLED: 'true', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"suite ready"')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before ready: ${output.slice(-500)}`)));
    });
    const signalledAt = Date.now();
    child.kill(signal);
    expect(await exit).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(output).toContain('"stopped"');
  });

  it('refuses to start without dashboard credentials, naming the variables', async () => {
    const child = spawn(process.execPath, ['workers/suite.ts'], {
      cwd: root,
      env: { ...process.env, ...inject('services'), PROFILES_ENV: randomName('noboard'), OPS_PORT: '0', BOARD_USER: '', BOARD_PASSWORD: '', BOARD_DISABLED: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    expect(code).toBe(1);
    expect(stderr).toMatch(/BOARD_USER/);
    expect(stderr).toMatch(/BOARD_PASSWORD/);
  });
});
