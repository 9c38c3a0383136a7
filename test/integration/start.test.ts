import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { serviceVariables } from '../../shared/config.ts';
import { projectRoot } from '../../scripts/stackEnv.ts';
import { cleanup, deletesTopicsOf, randomName, waitFor } from '../helpers/services.ts';
import { freePort } from '../helpers/suiteProcess.ts';

/** `npm start` as a user runs it: the environment without the four service variables, plus `env`. */
function npmStart(env: Record<string, string>) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !(serviceVariables as readonly string[]).includes(name) && !name.startsWith('BOARD_')));
  const profilesEnv = env['PROFILES_ENV'] ?? randomName('start');
  deletesTopicsOf(profilesEnv);
  const child = spawn(process.execPath, ['scripts/start.ts'], { cwd: projectRoot, env: { ...base, LOG_LEVEL: 'info', ...env, PROFILES_ENV: profilesEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, output: () => output };
}

describe('npm start', () => {
  it('with NODE_ENV=production and no services configured, stops at once naming them, and starts nothing', async () => {
    const started = Date.now();
    const run = npmStart({ NODE_ENV: 'production' });
    expect(await run.exit).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const name of serviceVariables) expect(run.output()).toContain(`${name}: is required`);
    expect(run.output()).not.toContain('[stack]');
  });

  it('on the local stack without dashboard credentials, makes them, keeps them in .stack/ and shows where the dashboard is', async () => {
    const file = `${projectRoot}.stack/board-password`;
    const existed = existsSync(file);
    const port = await freePort();
    const run = npmStart({ OPS_PORT: String(port) });
    await waitFor('the suite ready', () => {
      if (run.child.exitCode !== null) throw new Error(`exited: ${run.output().slice(-1_000)}`);
      return run.output().includes('"suite ready"');
    }, { timeoutMs: 60_000 });
    const password = readFileSync(file, 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(run.output()).toContain(`the dashboard is at http://127.0.0.1:${port}/admin/queues, user admin`);
    // Shown once: when it was made.
    expect(run.output().includes(password)).toBe(!existed);
    const page = (authorization?: string) => fetch(`http://127.0.0.1:${port}/admin/queues`, authorization ? { headers: { authorization } } : {});
    expect((await page()).status).toBe(401);
    expect((await page(`Basic ${Buffer.from(`admin:${password}`).toString('base64')}`)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
  }, 90_000);
});
